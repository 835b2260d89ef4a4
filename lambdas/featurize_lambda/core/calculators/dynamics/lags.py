"""Lag statistics: time reversal asymmetry, c3, cid_ce, autocorrelations, peaks."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ...registry import Param, Params, Result, combiner, parametrized
from ...segments import Segments
from ._shared import _all_nan, _cached, _centered, _head_sums, _invalid, _lag_product, _lag_sums, _scratch


def _triple_mean(s: Segments, lag: int, terms: Callable[[np.ndarray, int, int], np.ndarray]) -> np.ndarray:
    """Per-series mean of ``terms(x, lag, count)``: terms of ``x[i]``, ``x[i+l]``, ``x[i+2l]`` for ``i < count``.

    ``terms`` runs over the flat value array (``count = len(x) - 2 lag``); only the triples inside one
    series are summed. 0 when ``2 * lag >= n`` (as tsfresh); NaN for a negative lag (tsfresh wraps
    around the series).
    """
    if lag < 0:
        return np.full(len(s), np.nan)
    span = 2 * lag
    count = len(s.values) - span
    total, counts = _head_sums(s, terms(s.values, lag, count) if count > 0 else np.empty(0), span)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, total / np.maximum(counts, 1), 0.0)


@parametrized("time_reversal_asymmetry_statistic", empty=0.0)
def time_reversal_asymmetry_statistic(s: Segments, lag: int) -> np.ndarray:
    """Mean of ``x[i+2l]^2 x[i+l] - x[i+l] x[i]^2``; 0 when ``2 * lag >= n`` (as tsfresh).

    Computed as ``x[i+l] (x[i+2l] - x[i]) (x[i+2l] + x[i])`` in reused buffers (the same number to
    rounding). A negative lag gives NaN.
    """

    def terms(x: np.ndarray, lag: int, count: int) -> np.ndarray:
        out = np.subtract(x[2 * lag :], x[:count], out=_scratch(s, 0, count))
        out *= np.add(x[2 * lag :], x[:count], out=_scratch(s, 1, count))
        out *= x[lag : lag + count]
        return out

    return _triple_mean(s, lag, terms)


@parametrized("c3", empty=0.0)
def c3(s: Segments, lag: int) -> np.ndarray:
    """Mean of ``x[i+2l] x[i+l] x[i]``; 0 when ``2 * lag >= n`` (as tsfresh); NaN for a negative lag."""

    def terms(x: np.ndarray, lag: int, count: int) -> np.ndarray:
        out = np.multiply(x[2 * lag :], x[lag : lag + count], out=_scratch(s, 0, count))
        out *= x[:count]
        return out

    return _triple_mean(s, lag, terms)


@parametrized("cid_ce", empty=0.0)
def cid_ce(s: Segments, normalize: bool) -> np.ndarray:
    """``sqrt(sum(diff(x)^2))``, divided by the standard deviation when normalizing (0 if it is 0).

    tsfresh z-transforms first; the square root of the raw squared differences over the standard
    deviation is the same number (to rounding).
    """

    def squared_changes() -> np.ndarray:
        change = np.diff(s.values)
        return np.sqrt(_head_sums(s, change * change, 1)[0])

    root = _cached(s, "cid_ce", squared_changes)
    if not normalize:
        return root.copy()  # the cached array must not reach callers
    std = np.sqrt(_centered(s)[2])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std != 0, root / np.where(std != 0, std, 1.0), 0.0)


@parametrized("autocorrelation", params={"lag": Param(int, low=0)})
def autocorrelation(s: Segments, lag: int) -> np.ndarray:
    """``sum((x[t] - m)(x[t+l] - m)) / ((n - l) var)``; NaN when ``n <= lag`` or the variance is ~0."""
    if lag < 0:  # tsfresh raises (mismatched shapes) or wraps around
        return np.full(len(s), np.nan)
    centered, _, var = _centered(s)
    total, count = _head_sums(s, _lag_product(s, centered, lag), lag)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / (count * var)
    # tsfresh: NaN if len(x) < lag, 0/0 if len(x) == lag, NaN if np.isclose(var, 0)
    out[(s.lengths <= lag) | (np.abs(var) <= 1e-8)] = np.nan
    return out


def _agg_autocorrelation_valid(param: Params) -> bool:
    return callable(getattr(np, param["f_agg"], None)) and int(param["maxlag"]) >= 0


@combiner("agg_autocorrelation", params={"f_agg": Param(str), "maxlag": Param(int, low=0)})
def agg_autocorrelation(s: Segments, params: Sequence[Params]) -> Result:
    """An aggregate (``np.<f_agg>``) of the autocorrelations at lags ``1 .. maxlag``.

    As tsfresh (statsmodels' ``acf(adjusted=True)``): ``acf[k] = (c_k / (n - k)) / (c_0 / n)`` with
    ``c_k = sum_t (x[t] - m)(x[t+k] - m)``, lags up to ``n - 1``; all zeros when the variance is below
    1e-10 or the series has one value. statsmodels switches to an FFT above 1250 values; the direct
    sums give the same numbers to rounding.
    """
    suffixes = [f'f_agg_"{p["f_agg"]}"__maxlag_{p["maxlag"]}' for p in params]
    if not params or _invalid(params, _agg_autocorrelation_valid):
        return _all_nan(s, suffixes)
    n = s.lengths
    max_lag = max(int(p["maxlag"]) for p in params)
    centered, squares, var = _centered(s)
    sums = _lag_sums(s, centered, max_lag)
    lags = np.arange(1, max_lag + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = (sums / np.maximum(n[:, None] - lags, 1)) / (squares / n)[:, None]
    zero = (np.abs(var) < 1e-10) | (n == 1)
    acf[zero] = 0.0
    available = np.where(zero, n, n - 1)  # tsfresh: a = [0] * n, else acf[1:] (n - 1 lags)
    out = []
    for suffix, param in zip(suffixes, params, strict=True):
        function = getattr(np, param["f_agg"])
        used = np.minimum(available, int(param["maxlag"]))
        values = np.empty(len(s))
        for count in np.unique(used):
            rows = np.flatnonzero(used == count)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                values[rows] = function(acf[rows, :count], axis=1)
        out.append((suffix, values))
    return out


def _local_maxima(s: Segments) -> np.ndarray:
    """Rows strictly greater than both neighbours inside their series (peaks of support 1)."""

    def make() -> np.ndarray:
        x = s.values
        if len(x) < 3:
            return np.empty(0, dtype=np.int64)
        centre = x[1:-1]
        peak = (centre > x[:-2]) & (centre > x[2:])  # peak[i - 1]: row i against rows i - 1 and i + 1
        first, last = s.starts, s.stops - 1  # no neighbour on one side inside the series
        peak[first[(first >= 1) & (first <= len(x) - 2)] - 1] = False
        peak[last[(last >= 1) & (last <= len(x) - 2)] - 1] = False
        return np.flatnonzero(peak) + 1

    return _cached(s, "local_maxima", make)


@parametrized("number_peaks", params={"n": Param(int, low=1)})
def number_peaks(s: Segments, n: int) -> np.ndarray:
    """Values greater than their ``n`` neighbours on both sides, counted per series.

    A peak of support ``n`` is one of support ``m < n`` that also beats the neighbours ``m + 1 .. n``
    away: the candidates start from the local maxima (or from the survivors of the largest support
    already computed for this chunk) and shrink shift by shift. ``n = 0`` gives NaN (tsfresh returns
    None).
    """
    n = int(n)
    if n < 1:
        return np.full(len(s), np.nan)
    x = s.values
    done: dict[int, np.ndarray] = _cached(s, "peaks", dict)
    support = max((m for m in done if m <= n), default=1)
    candidates = done[support] if support in done else _local_maxima(s)
    owner = np.searchsorted(s.starts, candidates, side="right") - 1
    position = candidates - s.starts[owner]
    candidates = candidates[(position >= n) & (position < s.lengths[owner] - n)]
    for shift in range(support + 1, n + 1):
        if not len(candidates):
            break
        centre = x[candidates]
        candidates = candidates[(centre > x[candidates - shift]) & (centre > x[candidates + shift])]
    done[n] = candidates
    owner = np.searchsorted(s.starts, candidates, side="right") - 1
    return np.bincount(owner, minlength=len(s)).astype(np.float64)
