"""Calculators tsfresh computes with statsmodels (ADF, AR, PACF) and the entropy estimators, in numpy.

tsfresh 0.21.2 calls statsmodels for three of these (``adfuller``, ``AutoReg``, ``pacf``) and loops over
the templates of a series in Python for the two entropies. Here:

- the least-squares fits (ADF, AR) run as *batched* Householder QR factorizations, one
  ``numpy.linalg.qr`` call per block of equal-length series, on centered columns (the constant of the
  regression is eliminated exactly, Frisch-Waugh). One factorization of the largest ADF design gives
  every nested lag model of the lag search (residual sums of squares and last-column t-values are the
  tails of the triangular factor);
- a series whose fit is not well determined in floating point — a rank-deficient or near-singular
  design, a constant regressor, an almost-perfect fit, two lag orders whose information criteria are
  too close to tell apart, non-finite values — is recomputed one at a time by a numpy transcription
  of statsmodels' own arithmetic (SVD pseudo-inverse, ``matrix_rank``, the same expression order), so
  that it reproduces statsmodels' result, rounding and all, where the problem is decided by rounding;
- PACF runs the Levinson-Durbin recursion for every series at once; a series where the recursion
  amplifies rounding (random walks, nearly deterministic series) takes statsmodels' own numpy calls;
- the entropies count template matches exactly with a sort-and-window search (pairs are only formed
  between templates whose first coordinates are within the tolerance), for every series at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from ..registry import Param, Params, Result, combiner, parametrized, simple
from ..segments import Segments

_EPS = float(np.finfo(np.float64).eps)

#: Elements of one batched design matrix (series x rows x columns): bounds the memory of a QR batch.
_BATCH_ELEMENTS = 4_000_000
#: Template pairs formed at once by the entropy search: bounds its memory.
_PAIR_CHUNK = 1_000_000
#: Values of the series handled at once by the entropy search.
_VALUE_CHUNK = 250_000


# --------------------------------------------------------------------------------------------------
# statsmodels, transcribed: the reference path for single series
# --------------------------------------------------------------------------------------------------


class _MissingDataError(Exception):
    """statsmodels' ``MissingDataError`` (raised for non-finite regressors)."""


class _OLS:
    """``statsmodels OLS(endog, exog).fit()`` (method "pinv"), operation by operation.

    Only what the ADF test and AutoReg read is computed. The expressions, their order and the memory
    layouts of the arrays follow statsmodels 0.15 (tsfresh's dependency) so that ill-determined fits
    round the same way (checked bit for bit in the tests).
    """

    def __init__(self, endog: np.ndarray, exog: np.ndarray) -> None:
        # ModelData._handle_constant: the only data check with missing="none"
        if not np.isfinite(np.max(exog, axis=0)).all():
            raise _MissingDataError("exog contains inf or nans")
        if not np.isfinite(exog).all():
            raise np.linalg.LinAlgError("SVD did not converge")
        # tools.pinv_extended
        u, s, vt = np.linalg.svd(exog.conjugate(), False)
        s_orig = np.copy(s)
        cutoff = 1e-15 * np.maximum.reduce(s)
        s = np.where(s > cutoff, 1.0 / np.where(s > cutoff, s, 1.0), 0.0)
        pinv = np.dot(np.transpose(vt), np.multiply(s[:, np.newaxis], np.transpose(u)))
        self.normalized_cov_params = np.dot(pinv, np.transpose(pinv))
        self.rank = int(np.linalg.matrix_rank(np.diag(s_orig)))
        self.params = np.dot(pinv, endog)
        self.nobs = float(exog.shape[0])
        self._endog, self._exog = endog, exog

    @property
    def llf(self) -> float:
        nobs2 = self.nobs / 2.0
        nobs = float(self.nobs)
        resid = self._endog - np.dot(self._exog, self.params)
        ssr = np.sum(resid**2)
        return -nobs2 * np.log(2 * np.pi) - nobs2 * np.log(ssr / nobs) - nobs2

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * float(self.rank)

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * float(self.rank)

    @property
    def tvalues(self) -> np.ndarray:
        wresid = self._endog - np.dot(self._exog, self.params)
        scale = np.dot(wresid, wresid) / (self.nobs - self.rank)
        bse = np.sqrt(np.diag(self.normalized_cov_params * scale))
        return self.params / bse


def _lagmat_in(x: np.ndarray, maxlag: int) -> np.ndarray:
    """statsmodels ``lagmat(x[:, None], maxlag, trim="both", original="in")`` (a view of a fresh array)."""
    nobs = x.shape[0]
    lm = np.zeros((nobs + maxlag, maxlag + 1))
    for k in range(maxlag + 1):
        lm[k : nobs + k, k] = x
    return lm[maxlag:nobs, 0:]


def _add_constant(x: np.ndarray, prepend: bool) -> np.ndarray:
    """statsmodels ``add_trend(x, "c", prepend, has_constant="skip")``."""
    nz_const = (np.ptp(x, axis=0) == 0) & (x[0] != 0)
    if np.any(nz_const):
        return np.column_stack([np.ones((len(x), 0)), x])
    ones = np.fliplr(np.vander(np.arange(1, len(x) + 1, dtype=np.float64), 1))
    return np.column_stack([ones, x] if prepend else [x, ones])


def _adf_maxlag(nobs: int) -> int:
    """adfuller's default ``maxlag`` for regression "c" (negative: the series is too short)."""
    maxlag = int(np.ceil(12.0 * np.power(nobs / 100.0, 1 / 4.0)))
    return min(nobs // 2 - 1 - 1, maxlag)


def _adf_reference(x: np.ndarray, autolag: str | None) -> tuple[float, float, float]:
    """``adfuller(x, autolag=autolag)[:3]`` for one series, with tsfresh's exceptions giving NaN."""
    try:
        with np.errstate(all="ignore"):
            return _adf_reference_raw(x, autolag)
    except (np.linalg.LinAlgError, ValueError, _MissingDataError):
        return np.nan, np.nan, np.nan


def _adf_reference_raw(x: np.ndarray, autolag: str | None) -> tuple[float, float, float]:
    if x.max() == x.min():
        raise ValueError("Invalid input, x is constant")
    maxlag = _adf_maxlag(x.shape[0])
    if maxlag < 0:
        raise ValueError("sample size is too short to use selected regression component")
    method = autolag.lower() if autolag is not None else None
    if method not in (None, "aic", "bic", "t-stat"):
        raise ValueError(f"unknown autolag {autolag!r}")
    xdiff = np.diff(x)
    xdall = _lagmat_in(xdiff, maxlag)
    nobs = xdall.shape[0]
    xdall[:, 0] = x[-nobs - 1 : -1]
    xdshort = xdiff[-nobs:]
    if method:
        full = _add_constant(xdall, prepend=True)
        startlag = full.shape[1] - xdall.shape[1] + 1
        results = {lag: _OLS(xdshort, full[:, :lag]) for lag in range(startlag, startlag + maxlag + 1)}
        if method == "aic":
            _, bestlag = min((v.aic, k) for k, v in results.items())
        elif method == "bic":
            _, bestlag = min((v.bic, k) for k, v in results.items())
        else:
            bestlag = startlag + maxlag
            for lag in range(startlag + maxlag, startlag - 1, -1):
                icbest = np.abs(results[lag].tvalues[-1])
                bestlag = lag
                if np.abs(icbest) >= _T_STOP:
                    break
        bestlag -= startlag
        xdall = _lagmat_in(xdiff, bestlag)
        nobs = xdall.shape[0]
        xdall[:, 0] = x[-nobs - 1 : -1]
        xdshort = xdiff[-nobs:]
        usedlag = bestlag
    else:
        usedlag = maxlag
    adfstat = float(_OLS(xdshort, _add_constant(xdall[:, : usedlag + 1], prepend=False)).tvalues[0])
    return adfstat, float(_mackinnonp(np.array([adfstat]))[0]), float(usedlag)


def _ar_reference(x: np.ndarray, k: int) -> np.ndarray:
    """``AutoReg(x, lags=k, trend="c").fit().params`` for one series (raises as statsmodels)."""
    n = x.shape[0]
    lm = np.zeros((n + k, k + 1))
    for i in range(k + 1):
        lm[i : n + i, i] = x
    design = np.c_[np.ones((n, 1)), lm[:n, 1:]][k:]
    endog = lm[k:n, 0]
    if endog.shape[0] < design.shape[1]:
        raise ValueError("The model specification cannot be estimated.")
    return _OLS(endog, design).params


# --------------------------------------------------------------------------------------------------
# MacKinnon's approximate p-value (statsmodels.tsa.adfvalues.mackinnonp, regression "c", N = 1)
# --------------------------------------------------------------------------------------------------

_AUTOLAGS = ("aic", "bic", "t-stat")
_T_STOP = 1.6448536269514722  # adfuller's "t-stat" autolag threshold, norm.ppf(0.95)
_TAU_MAX_C = 2.74
_TAU_MIN_C = -18.83
_TAU_STAR_C = -1.61
#: Polynomial coefficients, highest power first (statsmodels' tables, scaled as it scales them).
_TAU_C_SMALLP = (3.8269 * 1e-2, 1.4412 * 1, 2.1659 * 1)
_TAU_C_LARGEP = (-1.0368 * 1e-2, -1.2745 * 1e-1, 9.3202 * 1e-1, 1.7339 * 1)


def _norm_cdf(z: float) -> float:
    """Standard normal CDF as scipy's ``ndtr`` evaluates it (erf near 0, erfc in the tails)."""
    if math.isnan(z):
        return math.nan
    x = z * 0.7071067811865476
    a = abs(x)
    if a < 0.7071067811865476:
        return 0.5 + 0.5 * math.erf(x)
    y = 0.5 * math.erfc(a)
    return 1.0 - y if x > 0 else y


def _mackinnonp(stat: np.ndarray) -> np.ndarray:
    """MacKinnon (1994, 2010 tables) approximate p-values of ADF t-statistics (constant, no trend)."""
    out = np.empty(len(stat))
    for i, t in enumerate(stat.tolist()):
        if t > _TAU_MAX_C:
            out[i] = 1.0
        elif t < _TAU_MIN_C:
            out[i] = 0.0
        else:
            y = 0.0
            for c in _TAU_C_SMALLP if t <= _TAU_STAR_C else _TAU_C_LARGEP:  # numpy.polyval's Horner order
                y = y * t + c
            out[i] = _norm_cdf(y)
    return out


# --------------------------------------------------------------------------------------------------
# batched least squares
# --------------------------------------------------------------------------------------------------


def _batches(rows: np.ndarray, per_row: int) -> Iterator[np.ndarray]:
    """Split ``rows`` so that a batch's design has at most ``_BATCH_ELEMENTS`` elements."""
    size = max(1, _BATCH_ELEMENTS // max(per_row, 1))
    for first in range(0, len(rows), size):
        yield rows[first : first + size]


def _centered_qr(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """QR of the column-centered designs whose columns are ``columns`` (each series x rows).

    The centered columns are written as (series x columns x rows), each design matrix in Fortran order
    as LAPACK wants it.

    Returns
    -------
    tuple
        ``(r, means, constant)``: the triangular factors (series x columns x columns), the column
        means, and whether any column is constant over the rows (then the fit goes the reference way).
    """
    count, rows = columns[0].shape
    means = np.empty((count, len(columns)))
    constant = np.zeros(count, dtype=bool)
    centered = np.empty((count, len(columns), rows))
    for j, column in enumerate(columns):
        means[:, j] = column.mean(axis=1)
        constant |= column.max(axis=1) == column.min(axis=1)
        np.subtract(column, means[:, j, None], out=centered[:, j])
    return np.linalg.qr(centered.transpose(0, 2, 1), mode="r"), means, constant


def _condition(r: np.ndarray) -> np.ndarray:
    """2-norm condition number of the triangular factors ``r`` (inf if singular)."""
    if r.shape[-1] == 0:
        return np.ones(len(r))
    with np.errstate(divide="ignore", invalid="ignore"):
        sv = np.linalg.svd(np.where(np.isfinite(r), r, 0.0), compute_uv=False)
        return np.where(sv[:, -1] > 0, sv[:, 0] / sv[:, -1], np.inf)


#: Largest unscaled condition number of statsmodels' raw design for which its rounding is estimated.
_FIRST_ORDER = 1e10


def _raw_factor(r: np.ndarray, means: np.ndarray, nobs: int) -> np.ndarray:
    """Triangular factor of the raw design ``[1, X]`` as statsmodels sees it, from the centered one.

    ``r`` and ``means`` are :func:`_centered_qr`'s results for ``[regressors, regressand]``; the factor
    of ``[1, X]`` is ``[[sqrt(m), sqrt(m) mean(X)], [0, R_centered]]``.
    """
    k = r.shape[-1] - 1
    root = math.sqrt(nobs)
    raw = np.zeros((len(r), k + 1, k + 1))
    raw[:, 0, 0] = root
    raw[:, 0, 1:] = root * means[:, :k]
    raw[:, 1:, 1:] = r[:, :k, :k]
    return raw


def _raw_accuracy(r: np.ndarray, means: np.ndarray, nobs: int) -> tuple[np.ndarray, np.ndarray]:
    """Conditioning of the regression as statsmodels solves it: raw columns plus a column of ones.

    statsmodels' SVD solution is only as accurate as the raw design ``[1, X]`` allows. Measured on
    offsets, scales and nearly collinear lags, its error follows the condition number of the design
    with columns scaled to unit norm, or the ratio of the largest to the smallest column norm where
    that is larger (a column of ones next to tiny values); the unscaled condition number (the square
    of an offset) overstates it by orders of magnitude.

    Returns
    -------
    tuple
        ``(kappa, norm_y)``: that measure for the raw design and the norm of the raw regressand.
    """
    k = r.shape[-1] - 1
    raw = _raw_factor(r, means, nobs)
    norms = np.sqrt(np.einsum("bij,bij->bj", raw, raw))
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = _condition(raw / norms[:, None, :])
        spread = norms.max(axis=1) / norms.min(axis=1)
        kappa = np.maximum(scaled, spread)
        # beyond first order (an unscaled condition number near 1 / eps) the measure no longer holds
        kappa[np.isnan(kappa) | ~(_condition(raw) < _FIRST_ORDER)] = np.inf
    norm_y = np.sqrt(np.einsum("bi,bi->b", r[:, :, k], r[:, :, k]) + nobs * means[:, k] ** 2)
    return kappa, norm_y


# --------------------------------------------------------------------------------------------------
# augmented_dickey_fuller
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# ar_coefficient
# --------------------------------------------------------------------------------------------------


def _ar_fast(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """OLS of ``x[t]`` on a constant and ``x[t-1..t-k]`` for a block of equal-length finite series.

    Returns ``(params, error)``: the coefficients as statsmodels orders them (constant first) and a
    first-order bound on the absolute error of statsmodels' own coefficients, from a backward error of
    one rounding unit of its raw design ``D = [1, X]`` (``W`` the inverse of its triangular factor):
    ``|d beta_i| <= eps (|W_i| (|y| + |D| |beta|) + |(W W')_i| |D| |r|)``. Observed errors stay within
    3 times the bound. It is infinite where a column is constant or the design too ill-conditioned for
    a first-order bound (condition number 1e8 and up).
    """
    count, n = block.shape
    nobs = n - k
    lagged = [block[:, k - j : n - j] for j in range(1, k + 1)]
    r, means, constant = _centered_qr(lagged + [block[:, k:]])
    raw = _raw_factor(r, means, nobs)
    diagonal = np.diagonal(raw, axis1=1, axis2=2)
    regular = np.isfinite(raw).all(axis=(1, 2)) & (diagonal != 0).all(axis=1)
    eye = np.eye(k + 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # singular rows are solved with identity factors (and discarded): keeps the batched solves valid
        inverse = np.linalg.inv(np.where(regular[:, None, None], raw, eye))
        norm_d = np.sqrt(np.einsum("bij,bij->b", raw, raw))
        # |D|_F |W|_F bounds the condition number from above
        valid = regular & ~constant & (norm_d * np.sqrt(np.einsum("bij,bij->b", inverse, inverse)) < 1e8)
        beta = np.linalg.solve(np.where(regular[:, None, None], r[:, :k, :k], eye[:k, :k]), r[:, :k, k : k + 1])
        intercept = means[:, k] - np.einsum("bj,bj->b", means[:, :k], beta[:, :, 0])
        params = np.concatenate([intercept[:, None], beta[:, :, 0]], axis=1)
        norm_y = np.sqrt(np.einsum("bi,bi->b", r[:, :, k], r[:, :, k]) + nobs * means[:, k] ** 2)
        norm_b = np.sqrt(np.einsum("bi,bi->b", params, params))
        gram_inverse = inverse @ inverse.transpose(0, 2, 1)
        error = _EPS * (
            np.sqrt(np.einsum("bij,bij->bi", inverse, inverse)) * (norm_y + norm_d * norm_b)[:, None]
            + np.sqrt(np.einsum("bij,bij->bi", gram_inverse, gram_inverse)) * (norm_d * np.abs(r[:, k, k]))[:, None]
        )
    error[~valid] = np.inf
    return params, error


@combiner("ar_coefficient", params={"coeff": Param(int, low=0), "k": Param(int, low=0)})
def ar_coefficient(s: Segments, params: Sequence[Params]) -> Result:
    """statsmodels' ``AutoReg(x, lags=k, trend="c").fit().params``, once per distinct ``k``.

    Batched QR per block of equal-length series; ill-conditioned fits go through a transcription of
    statsmodels' SVD-based OLS. As tsfresh: a series too short for ``k`` lags gives NaN coefficients,
    except ``coeff == k``, which is 0 (tsfresh indexes a list of ``k`` NaNs and catches the
    IndexError); a non-finite value makes statsmodels raise an error tsfresh does not catch, so every
    column of the series is NaN.
    """
    fitted: dict[int, np.ndarray] = {}
    failed = np.zeros(len(s), dtype=bool)  # statsmodels' MissingDataError: the whole combiner fails
    for k in dict.fromkeys(param["k"] for param in params):
        coefficients = np.full((len(s), k + 1), np.nan)
        for rows, block in s.blocks():
            n = block.shape[1]
            if n - k < k + 1:
                coefficients[rows, k] = 0.0  # ValueError: [nan] * k, then IndexError for coeff k
                continue
            finite = np.isfinite(block).all(axis=1)
            redo = list(np.flatnonzero(~finite))
            for part in _batches(np.flatnonzero(finite), n * (k + 1)):
                got, error = _ar_fast(block[part], k)
                trusted = (np.isfinite(error) & (_AR_MARGIN * error <= _AR_TARGET * np.abs(got) + 1e-12)).all(axis=1)
                coefficients[rows[part[trusted]]] = got[trusted]
                redo.extend(part[~trusted])
            for i in redo:
                try:
                    with np.errstate(all="ignore"):
                        coefficients[rows[i]] = _ar_reference(block[i], k)
                except _MissingDataError:
                    failed[rows[i]] = True
                except (ZeroDivisionError, np.linalg.LinAlgError, ValueError):
                    coefficients[rows[i], :k] = np.nan
                    coefficients[rows[i], k] = 0.0
        fitted[k] = coefficients
    columns: dict[str, np.ndarray] = {}
    for param in params:
        k, p = param["k"], param["coeff"]
        values = fitted[k][:, p].copy() if 0 <= p <= k else np.full(len(s), np.nan)
        values[failed] = np.nan
        columns[f"coeff_{p}__k_{k}"] = values
    return list(columns.items())


# --------------------------------------------------------------------------------------------------
# partial_autocorrelation
# --------------------------------------------------------------------------------------------------


#: A series whose Levinson-Durbin recursion amplifies rounding more than this (largest ``acov[0] / sig[k]``)
#: takes statsmodels' own numpy calls (:func:`_pacf_statsmodels`). Below it, the batched path is within
#: 3e-11 (relative, 3e-14 absolute) of a correctly rounded PACF (tested; measured at most 2e-11 on AR(1)
#: series up to phi = 0.95, n = 5,000), so within 1e-9 of statsmodels however the machine's BLAS sums;
#: above it (random walks: 50-3,000; near-deterministic series: up to 1e8) the error grows with the
#: amplification, to 1e-8 and beyond, and only statsmodels' own calls round as statsmodels does.
_PACF_AMPLIFICATION = 10.0


def _levinson_durbin(acov: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels' ``levinson_durbin(acov, nlags=top, isacov=True)`` for every row: ``(pacf, sig)``.

    The dot product of each step is a plain row-wise sum: its order differs from BLAS's, which only
    matters where the recursion amplifies rounding, and those series are recomputed the statsmodels way.
    """
    count = len(acov)
    phi = np.zeros((count, top + 1, top + 1))
    sig = np.zeros((count, top + 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        phi[:, 1, 1] = acov[:, 1] / acov[:, 0]
        sig[:, 1] = acov[:, 0] - phi[:, 1, 1] * acov[:, 1]
        for k in range(2, top + 1):
            dot = np.einsum("ij,ij->i", phi[:, 1:k, k - 1], acov[:, k - 1 : 0 : -1])
            phi[:, k, k] = (acov[:, k] - dot) / sig[:, k - 1]
            phi[:, 1:k, k] = phi[:, 1:k, k - 1] - phi[:, k, k][:, None] * phi[:, k - 1 : 0 : -1, k - 1]
            sig[:, k] = sig[:, k - 1] * (1 - phi[:, k, k] ** 2)
    return np.diagonal(phi, axis1=1, axis2=2).copy(), sig


def _pacf_statsmodels(series: list[np.ndarray], order: int) -> np.ndarray:
    """``pacf(x, method="ld", nlags=order)[1:]`` for each series, with statsmodels' own numpy calls.

    ``acovf(x, adjusted=True, fft=False)`` takes ``np.correlate(xo, xo, "full")``, whose every lag is one
    ``dot`` of ``xo[k:]`` and ``xo[:n - k]`` (only the lags used are taken here); ``levinson_durbin`` takes
    ``np.dot`` of a column of its ``(order + 1) x (order + 1)`` coefficient matrix and the reversed
    autocovariances. Each series makes the same dot calls on the same memory layout (row ``j`` of
    ``phi`` below is such a matrix), so it gets statsmodels' result on any machine, whatever order the
    BLAS kernel sums in. The element-wise steps are exact in any order, so they run for all at once.
    """
    count = len(series)
    acov = np.empty((count, order + 1))
    phi = np.zeros((count, order + 1, order + 1))
    sig = np.zeros((count, order + 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for j, x in enumerate(series):
            xo = x - x.mean()
            n = len(xo)
            acov[j] = [np.dot(xo[k:], xo[: n - k]) for k in range(order + 1)]
            acov[j] /= n - np.arange(order + 1)
        phi[:, 1, 1] = acov[:, 1] / acov[:, 0]
        sig[:, 1] = acov[:, 0] - phi[:, 1, 1] * acov[:, 1]
        for k in range(2, order + 1):
            dot = [np.dot(phi[j, 1:k, k - 1], acov[j, 1:k][::-1]) for j in range(count)]
            phi[:, k, k] = (acov[:, k] - dot) / sig[:, k - 1]
            phi[:, 1:k, k] = phi[:, 1:k, k - 1] - phi[:, k, k][:, None] * phi[:, k - 1 : 0 : -1, k - 1]
            sig[:, k] = sig[:, k - 1] * (1 - phi[:, k, k] ** 2)
    return np.diagonal(phi, axis1=1, axis2=2)[:, 1:]


@combiner("partial_autocorrelation", params={"lag": Param(int, low=0)})
def partial_autocorrelation(s: Segments, params: Sequence[Params]) -> Result:
    """statsmodels' ``pacf(x, method="ld", nlags=...)`` as tsfresh calls it, for the largest lag asked.

    Adjusted autocovariances (divided by ``n - k``) of each block of equal-length series (row-wise
    pairwise sums), then the Levinson-Durbin recursion for every series at once. Where the recursion
    amplifies rounding (random walks, nearly deterministic series), the series is recomputed with
    statsmodels' own numpy calls (:func:`_pacf_statsmodels`), so that it rounds as statsmodels does. As
    tsfresh: lags of half the length or more are NaN, and so is every lag (lag 0 included) when no
    positive lag can be computed.
    """
    lags = [param["lag"] for param in params]
    demanded = max(lags)
    n = s.lengths
    max_lag = np.minimum(demanded, n // 2 - 1)
    top = int(max(max_lag.max(initial=0), 1))
    count = len(s)
    acov = np.zeros((count, top + 1))
    mean = np.zeros(count)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for rows, block in s.blocks():
            length = block.shape[1]
            mean[rows] = block.mean(axis=1)
            xo = block - mean[rows, None]  # bit for bit statsmodels' x - x.mean()
            width = min(top, length - 1) + 1
            if length <= 256:  # short series: every lag in one call (zero-padded windows), fewer calls
                padded = np.zeros((len(rows), length + width - 1))
                padded[:, :length] = xo
                windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)
                acov[rows, :width] = np.einsum("bt,btk->bk", xo, windows) / (length - np.arange(width))
            else:
                for k in range(width):
                    acov[rows, k] = np.einsum("ij,ij->i", xo[:, k:], xo[:, : length - k]) / (length - k)
        pacf, sig = _levinson_durbin(acov, top)
        within = np.arange(1, top + 1)[None, :] <= max_lag[:, None]
        amplification = np.where(within, acov[:, :1] / np.abs(sig[:, 1:]), 0.0).max(axis=1, initial=0.0)
    redo = np.flatnonzero((max_lag > 0) & ~(amplification <= _PACF_AMPLIFICATION))
    for order in np.unique(max_lag[redo]):
        rows = redo[max_lag[redo] == order]
        pacf[rows, 1 : order + 1] = _pacf_statsmodels([s.series(i) for i in rows], int(order))
    out = np.full((count, demanded + 1), np.nan)
    width = min(top, demanded) + 1
    out[:, :width] = pacf[:, :width]
    out[:, 0] = 1.0
    out[np.arange(demanded + 1)[None, :] > max_lag[:, None]] = np.nan
    out[(max_lag <= 0) | (n <= 1)] = np.nan
    return [(f"lag_{lag}", out[:, lag]) for lag in lags]


# --------------------------------------------------------------------------------------------------
# entropies: exact template matching by sorting
# --------------------------------------------------------------------------------------------------


def _std(s: Segments) -> np.ndarray:
    """``np.std`` of each series, bit for bit (row-wise on equal-length blocks)."""
    out = np.full(len(s), np.nan)
    with np.errstate(all="ignore"):
        for rows, block in s.blocks():
            if block.shape[1]:
                out[rows] = np.std(block, axis=1)
    return out


def _template_pairs(
    values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, m: int, radius: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Pairs of templates (length ``m``, every start ``0..n-m``) of the same series within ``radius``.

    Every unordered pair ``i != j`` whose Chebyshev distance may be at most the series' ``radius``
    is yielded (a superset: the caller compares the exact distances). Templates are sorted by their
    first value within each series; a vectorized binary search finds, for each template, the window of
    later templates whose first value is within the radius, so only those pairs are formed.

    Yields
    ------
    tuple
        ``(segment, i, j, d, e)`` in chunks: series index, template indices (numbered over all the
        series' templates, series after series), the Chebyshev distance ``d`` over ``m`` values and
        ``e`` over ``m + 1`` values (inf where one of the templates has no ``m + 1``-th value).
    """
    templates = lengths - m + 1
    segment = np.repeat(np.arange(len(lengths)), templates)
    first = np.concatenate([[0], np.cumsum(templates)[:-1]]).astype(np.int64)
    local = np.arange(len(segment)) - np.repeat(first, templates)
    at = starts[segment] + local
    order = np.lexsort((values[at], segment))
    key = values[at][order]
    bound = key + radius[segment] * (1 + 1e-9) + np.abs(key) * (4 * _EPS)
    # binary search: the first sorted index past the window of each template (within its series)
    lo = np.arange(len(key)) + 1
    hi = np.repeat(first + templates, templates)
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) // 2
        inside = np.zeros(len(key), dtype=bool)
        inside[active] = key[mid[active]] <= bound[active]
        lo = np.where(active & inside, mid + 1, lo)
        hi = np.where(active & ~inside, mid, hi)
    counts = lo - np.arange(len(key)) - 1
    total = np.cumsum(counts)
    last = len(values) - 1
    begin = 0
    while begin < len(key):
        base = total[begin - 1] if begin else 0
        end = int(np.searchsorted(total, base + _PAIR_CHUNK, side="right"))
        end = max(end, begin + 1)
        chunk = counts[begin:end]
        a = np.repeat(np.arange(begin, end), chunk)
        offset = np.arange(len(a)) - np.repeat(np.cumsum(chunk) - chunk, chunk)
        ti, tj = order[a], order[a + 1 + offset]
        gi, gj = at[ti], at[tj]
        d = np.abs(values[gi] - values[gj])
        for c in range(1, m):
            np.maximum(d, np.abs(values[gi + c] - values[gj + c]), out=d)
        seg = segment[ti]
        extends = (local[ti] < templates[seg] - 1) & (local[tj] < templates[seg] - 1)
        e = np.maximum(d, np.abs(values[np.minimum(gi + m, last)] - values[np.minimum(gj + m, last)]))
        e[~extends] = np.inf
        yield seg, ti, tj, d, e
        begin = end


def _value_groups(s: Segments, rows: np.ndarray) -> Iterator[np.ndarray]:
    """Split ``rows`` into groups of at most ``_VALUE_CHUNK`` values (one series may exceed it)."""
    if not len(rows):
        return
    cumulative = np.cumsum(s.lengths[rows])
    begin = 0
    while begin < len(rows):
        base = cumulative[begin - 1] if begin else 0
        end = max(int(np.searchsorted(cumulative, base + _VALUE_CHUNK, side="right")), begin + 1)
        yield rows[begin:end]
        begin = end


def _compact(s: Segments, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The values of series ``rows`` as one array: ``(values, starts, lengths)``."""
    lengths = s.lengths[rows]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    index = np.repeat(s.starts[rows] - starts, lengths) + np.arange(lengths.sum())
    return s.values[index], starts, lengths


@simple("sample_entropy")
def sample_entropy(s: Segments) -> np.ndarray:
    """tsfresh's sample entropy (m = 2, tolerance 0.2 std), with its counts and its edge cases.

    ``B`` counts ordered pairs of distinct length-2 templates (all ``n - 1``) within the tolerance
    (Chebyshev distance), ``A`` the same for length-3 templates (``n - 2``); result ``-log(A / B)``.
    Exact counts by the sorted-window search over all series at once.
    """
    n = s.lengths.astype(np.int64)
    tol = 0.2 * _std(s)
    has_nan = s.sum(np.isnan(s.values).astype(np.float64)) > 0 if len(s.values) else np.zeros(len(s), bool)
    count_b = np.zeros(len(s))
    count_a = np.zeros(len(s))
    # a non-finite tolerance (an infinite value) matches nothing, not even a template with itself
    nomatch = ~(tol >= 0)
    count_b[nomatch] = -np.maximum(n[nomatch] - 1, 0)
    count_a[nomatch] = -np.maximum(n[nomatch] - 2, 0)
    rows = np.flatnonzero(~nomatch & (n >= 3))
    for group in _value_groups(s, rows):
        values, starts, lengths = _compact(s, group)
        pairs_b = np.zeros(len(group))
        pairs_a = np.zeros(len(group))
        for seg, _, _, d, e in _template_pairs(values, starts, lengths, 2, tol[group]):
            limit = tol[group][seg]
            pairs_b += np.bincount(seg[d <= limit], minlength=len(group))
            pairs_a += np.bincount(seg[e <= limit], minlength=len(group))
        count_b[group] = 2 * pairs_b
        count_a[group] = 2 * pairs_a
    with np.errstate(divide="ignore", invalid="ignore"):
        result = -np.log(count_a / count_b)
    result[has_nan] = np.nan
    return result


def _approximate_entropy(s: Segments, m: int, factors: list[float]) -> np.ndarray:
    """tsfresh's approximate entropy for one ``m`` and several ``r`` (series x len(factors)).

    One candidate-pair search at the largest tolerance serves every ``r``: each pair's Chebyshev
    distances (over ``m`` and ``m + 1`` values) are binned by the smallest tolerance they meet, and
    cumulative counts per template give every ``C_i(r)``.
    """
    n = s.lengths.astype(np.int64)
    std = _std(s)
    order = np.argsort(factors, kind="stable")
    ordered = np.asarray(factors, dtype=np.float64)[order]
    with np.errstate(invalid="ignore"):
        r = ordered[None, :] * std[:, None]  # tsfresh: r *= np.std(x)
    out = np.full((len(s), len(factors)), np.nan)
    short = n <= m + 1
    out[short] = 0.0
    # m < 1: tsfresh's maximum over empty templates raises, NaN
    rows = np.flatnonzero(~short & np.isfinite(std)) if m >= 1 else np.zeros(0, dtype=np.int64)
    kinds = len(factors)
    for group in _value_groups(s, rows):
        values, starts, lengths = _compact(s, group)
        radius = r[group]
        templates = lengths - m + 1
        total = int(templates.sum())
        hist_m = np.zeros(total * (kinds + 1))
        hist_e = np.zeros(total * (kinds + 1))
        for seg, ti, tj, d, e in _template_pairs(values, starts, lengths, m, radius.max(axis=1)):
            # the bin of a pair: how many tolerances it exceeds (pairs come grouped by series)
            bounds = np.flatnonzero(np.diff(seg)) + 1
            runs = np.diff(np.concatenate([[0], bounds, [len(seg)]]))
            first_of_run = seg[np.concatenate([[0], bounds])] if len(seg) else seg
            bin_d = np.zeros(len(seg), dtype=np.int64)
            bin_e = np.zeros(len(seg), dtype=np.int64)
            for column in range(kinds):
                limit = np.repeat(radius[first_of_run, column], runs)
                bin_d += d > limit
                bin_e += e > limit
            for t in (ti, tj):
                hist_m += np.bincount(t * (kinds + 1) + bin_d, minlength=len(hist_m))
                hist_e += np.bincount(t * (kinds + 1) + bin_e, minlength=len(hist_e))
        segment = np.repeat(np.arange(len(group)), templates)
        first = np.concatenate([[0], np.cumsum(templates)[:-1]]).astype(np.int64)
        extends = (np.arange(total) - np.repeat(first, templates)) < np.repeat(templates - 1, templates)
        count_m = np.cumsum(hist_m.reshape(total, kinds + 1), axis=1)[:, :kinds] + 1
        count_e = np.cumsum(hist_e.reshape(total, kinds + 1), axis=1)[:, :kinds] + 1
        size = templates[segment].astype(np.float64)[:, None]
        log_m = np.log(count_m / size)
        log_e = np.where(extends[:, None], np.log(count_e / np.maximum(size - 1, 1)), 0.0)
        phi_m = np.add.reduceat(log_m, first, axis=0) / (lengths - m + 1.0)[:, None]
        phi_e = np.add.reduceat(log_e, first, axis=0) / (lengths - m + 0.0)[:, None]
        out[group[:, None], order[None, :]] = np.abs(phi_m - phi_e)
    negative = np.zeros(out.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        negative[:, order] = r < 0  # tsfresh raises a ValueError (before its length check): NaN
    out[negative] = np.nan
    return out


@parametrized(
    "approximate_entropy",
    empty=0.0,
    notes="the r values of one m share one exact template-pair search",
    params={"m": Param(int), "r": Param(float)},
    batch=True,
)
def approximate_entropy(segments: Segments, params: Sequence[Params]) -> list[np.ndarray]:
    """tsfresh's simple calculator ``approximate_entropy``, every parameter dict at once.

    The ``r`` values of one ``m`` share one pair search; the registry names the columns as it names any
    parametrized calculator's (``m_2__r_0.1``), empty series 0.
    """
    columns: dict[int, np.ndarray] = {}
    for m in dict.fromkeys(int(param["m"]) for param in params):
        index = [i for i, param in enumerate(params) if int(param["m"]) == m]
        values = _approximate_entropy(segments, m, [float(params[i]["r"]) for i in index])
        for column, i in enumerate(index):
            columns[i] = values[:, column]
    return [columns[i] for i in range(len(params))]
