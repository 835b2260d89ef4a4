"""statsmodels, transcribed: the reference path for single series (OLS by pinv, adfuller, AutoReg)."""

from __future__ import annotations

import numpy as np

from ._mackinnon import _mackinnonp


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


_AUTOLAGS = ("aic", "bic", "t-stat")
_T_STOP = 1.6448536269514722  # adfuller's "t-stat" autolag threshold, norm.ppf(0.95)
