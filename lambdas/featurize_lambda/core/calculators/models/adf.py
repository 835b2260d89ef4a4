"""``augmented_dickey_fuller``: one batched QR for the lag search of every autolag method."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ...registry import Param, Params, Result, combiner
from ...segments import Segments
from ._lstsq import _EPS, _batches, _centered_qr, _raw_accuracy
from ._mackinnon import _mackinnonp
from ._statsmodels import _AUTOLAGS, _T_STOP, _adf_maxlag, _adf_reference


def _adf_suffix(param: Params) -> tuple[str, str, str | None]:
    autolag = param.get("autolag", "AIC")
    return f'attr_"{param["attr"]}"__autolag_"{autolag}"', param["attr"], autolag


#: Safety factors on the error estimates: observed ADF t-value errors stay within 10 times the
#: estimate, AR coefficient errors within 3 times.
_MARGIN = 100.0
_AR_MARGIN = 10.0
#: A fast ADF t-value / AR coefficient is used when its estimated error, times the safety factor, is
#: below this fraction of its value (plus 1e-12 for AR coefficients, the oracle's absolute tolerance);
#: else the series goes through the statsmodels transcription.
_ADF_TARGET = 1e-9
_AR_TARGET = 1e-9


def _adf_fast(block: np.ndarray, autolags: Sequence[str | None]) -> dict:
    """ADF t-statistic and used lag for a block of equal-length, finite, non-constant series.

    One QR factorization of the largest design serves every lag-selection method of ``autolags``
    (each a valid adfuller ``autolag``); the final regressions are shared between methods that choose
    the same lag.

    Returns
    -------
    dict
        ``{autolag: (stat, usedlag, error)}``: ``error`` estimates the absolute error of statsmodels'
        own t-value (its SVD works on the raw design, whose conditioning decides its accuracy; ours is
        at least as accurate); it is infinite where the lag order cannot be decided in floating point
        or a column is constant (statsmodels then leaves out the constant). Such rows go through the
        reference.
    """
    count, n = block.shape
    maxlag = _adf_maxlag(n)
    nobs = n - 1 - maxlag
    diff = np.diff(block, axis=1)
    # columns: level, lagged differences 1..maxlag, the difference itself (the regressand)
    columns = [block[:, maxlag : n - 1]] + [diff[:, maxlag - j : n - 1 - j] for j in range(1, maxlag + 1)]
    r, means, constant = _centered_qr(columns + [diff[:, maxlag:]])
    k = maxlag + 1  # regressors besides the constant
    tail = r[:, :, k] ** 2
    ssr = np.cumsum(tail[:, ::-1], axis=1)[:, ::-1][:, 1:]  # ssr[:, p]: model with level + p lags
    kappa, norm_y = _raw_accuracy(r, means, nobs)
    choices = {}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # relative error of each nested model's residual norm
        error = _EPS * kappa[:, None] * (1 + norm_y[:, None] / np.sqrt(ssr))
        for autolag in autolags:
            method = autolag.lower() if autolag is not None else None
            undecided = constant.copy()
            usedlag = np.full(count, maxlag)
            if method in ("aic", "bic"):
                nobs2 = nobs / 2.0
                llf = -nobs2 * np.log(2 * np.pi) - nobs2 * np.log(ssr / float(nobs)) - nobs2
                penalty = 2.0 if method == "aic" else np.log(float(nobs))
                criterion = -2 * llf + penalty * np.arange(2, k + 2, dtype=np.float64)
                usedlag = np.argmin(criterion, axis=1)
                ordered = np.sort(criterion, axis=1)
                margin = ordered[:, 1] - ordered[:, 0] if k > 1 else np.full(count, np.inf)
                undecided |= ~(margin > _MARGIN * 4 * nobs * error.max(axis=1) + 1e-12 * np.abs(ordered[:, 0]))
            elif method == "t-stat":
                signs = np.sign(np.diagonal(r, axis1=1, axis2=2)[:, :k])
                df = nobs - np.arange(2, k + 2)
                tvalues = np.abs(r[:, :k, k] * signs / np.sqrt(ssr / df))
                significant = tvalues >= _T_STOP
                # the largest lag whose last coefficient is significant, else lag 0
                usedlag = np.where(significant.any(axis=1), k - 1 - np.argmax(significant[:, ::-1], axis=1), 0)
                examined = np.arange(k)[None, :] >= usedlag[:, None]
                close = ~(np.abs(tvalues - _T_STOP) > _MARGIN * error * (tvalues + 1))
                undecided |= (close & examined).any(axis=1)
            choices[autolag] = (usedlag, undecided)
    stat = np.full((count, k), np.nan)  # t-value of the final regression, by used lag
    final_error = np.full((count, k), np.inf)
    needed = np.zeros((count, k), dtype=bool)
    for usedlag, undecided in choices.values():
        needed[np.flatnonzero(~undecided), usedlag[~undecided]] = True
    for lag in np.flatnonzero(needed.any(axis=0)):
        rows = np.flatnonzero(needed[:, lag])
        stat[rows, lag], final_error[rows, lag] = _adf_final(block[rows], diff[rows], int(lag))
    out = {}
    for autolag, (usedlag, undecided) in choices.items():
        picked = (np.arange(count), usedlag)
        error = np.where(undecided, np.inf, final_error[picked])
        out[autolag] = (stat[picked], usedlag.astype(np.float64), error)
    return out


def _adf_final(block: np.ndarray, diff: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """t-value of the level in the ADF regression with ``lag`` lagged differences, and its absolute error."""
    n = block.shape[1]
    nobs = n - 1 - lag
    columns = [diff[:, lag - j : n - 1 - j] for j in range(1, lag + 1)] + [block[:, lag : n - 1]]
    r, means, constant = _centered_qr(columns + [diff[:, lag:]])
    k = lag + 1
    kappa, norm_y = _raw_accuracy(r, means, nobs)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = np.abs(r[:, k, k]) / math.sqrt(nobs - k - 1)
        stat = r[:, k - 1, k] * np.sign(r[:, k - 1, k - 1]) / scale
        error = _EPS * kappa * (1 + norm_y / np.abs(r[:, k, k])) * (np.abs(stat) + 1)
    error[constant | ~np.isfinite(error)] = np.inf
    return stat, error


@combiner(
    "augmented_dickey_fuller",
    params={
        "attr": Param(str, choices=("teststat", "pvalue", "usedlag")),
        "autolag": Param(str, choices=("AIC", "BIC", "t-stat"), optional=True, nullable=True),
    },
    rtol=1e-8,
    notes=(
        "rtol 1e-8: statsmodels' least squares (SVD of the raw design) is itself only accurate to its "
        "conditioning and MacKinnon's p-value amplifies a t-value's relative error up to ~40 times in the "
        "left tail; fits and lag choices that rounding could decide are recomputed the statsmodels way"
    ),
)
def augmented_dickey_fuller(s: Segments, params: Sequence[Params]) -> Result:
    """statsmodels' ``adfuller(x, autolag=...)`` (regression "c"), as tsfresh calls it.

    Per block of equal-length series: one batched QR of the largest lag design gives the residual sum
    of squares (hence AIC/BIC) and the last t-value of every nested lag model; the chosen lag's
    regression is one more batched QR per distinct lag. Series whose fit is not well determined in
    floating point (see the module docstring) go through a transcription of statsmodels, one by one.
    """
    wanted = {autolag for _, _, autolag in map(_adf_suffix, params)}
    results = {autolag: (np.full(len(s), np.nan), np.full(len(s), np.nan)) for autolag in wanted}
    for rows, block in s.blocks():
        n = block.shape[1]
        if _adf_maxlag(n) < 0:
            continue  # too short: NaN
        finite = np.isfinite(block).all(axis=1)
        constant = finite & (block.max(axis=1) == block.min(axis=1))
        easy = np.flatnonzero(finite & ~constant)
        hard = np.flatnonzero(~finite)
        # an unknown autolag makes statsmodels raise a ValueError: NaN
        known = [autolag for autolag in wanted if autolag is None or str(autolag).lower() in _AUTOLAGS]
        redo = {autolag: list(hard) for autolag in known}
        for part in _batches(easy, n * (_adf_maxlag(n) + 2)) if known else ():
            for autolag, (got, used, error) in _adf_fast(block[part], known).items():
                stat, lag = results[autolag]
                trusted = np.isfinite(error) & (_MARGIN * error <= _ADF_TARGET * np.abs(got) + 1e-13)
                stat[rows[part[trusted]]] = got[trusted]
                lag[rows[part[trusted]]] = used[trusted]
                redo[autolag].extend(part[~trusted])
        for autolag, indices in redo.items():
            stat, lag = results[autolag]
            for i in indices:
                stat[rows[i]], _, lag[rows[i]] = _adf_reference(block[i], autolag)
    out = []
    for suffix, attr, autolag in map(_adf_suffix, params):
        stat, lag = results[autolag]
        if attr == "teststat":
            out.append((suffix, stat))
        elif attr == "pvalue":
            out.append((suffix, _mackinnonp(stat)))
        elif attr == "usedlag":
            out.append((suffix, lag))
        else:
            out.append((suffix, np.full(len(s), np.nan)))
    return out
