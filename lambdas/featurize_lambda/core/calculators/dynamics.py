"""Calculators of a series' dynamics: lags, autocorrelation, peaks, spectra, trends, entropies.

Every calculator works on all series of a chunk at once:

- lag statistics multiply the flat value array with a shifted copy of itself and sum the products
  per series with one ``np.add.reduceat`` over the pairs that stay inside their series (the many
  lags of ``agg_autocorrelation``: row-wise ``einsum`` on blocks of equal-length series);
- spectra run ``np.fft.rfft(axis=1)`` on the blocks of equal-length series (row by row the same
  numbers as tsfresh's one-dimensional calls);
- chunk aggregates gather the chunks of every series into one 2-D array and reduce it row-wise;
- regressions (``linear_trend``, ``agg_linear_trend``) use scipy's ``linregress`` formulas in
  closed form, with the Student-t p-value from a vectorized incomplete beta function;
- ordinal patterns (``permutation_entropy``) are integer codes from comparisons of shifted copies.

Intermediates shared by the parameter sets of one chunk (centered values, local maxima, work
buffers, Friedrich fits) are cached on the ``Segments`` object (:func:`_cached`).

Only ``friedrich_coefficients`` and ``max_langevin_fixed_point`` keep a Python loop per series, for
``np.polyfit`` and ``np.roots`` (least squares and eigenvalues have no batched form that gives
numpy's numbers); their binning and group means are vectorized.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..registry import Param, Params, Result, combiner, parametrized
from ..segments import Segments

# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------


def _cached(s: Segments, key: str, make: Callable[[], object]) -> object:
    """An intermediate result kept on the Segments object while it lives.

    ``Segments`` is a frozen dataclass, but (as ``functools.cached_property`` does) its instance
    dictionary is writable; a parametrized calculator is called once per parameter set with the same
    object, so shared intermediates (centered values, local maxima) are computed once.
    """
    store = s.__dict__
    name = "_dynamics_" + key
    if name not in store:
        store[name] = make()
    return store[name]


def _scratch(s: Segments, slot: int, size: int) -> np.ndarray:
    """A reusable work buffer of ``size`` floats (``size <= len(s.values)``), one per ``slot``.

    Fresh multi-megabyte temporaries cost page faults on every call; the lag calculators run once per
    lag, so they write their products into these cached buffers instead. Never returned to callers.
    """
    buffer = _cached(s, f"scratch_{slot}", lambda: np.empty(len(s.values)))
    return buffer[:size]  # type: ignore[index]


def _range_sums(a: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Sums of ``a[begin[i]:end[i]]`` for ascending, non-overlapping ranges (0 for an empty range)."""
    out = np.zeros(len(begin))
    nonempty = end > begin
    if not nonempty.any():
        return out
    index = np.empty(2 * int(nonempty.sum()), dtype=np.int64)
    index[0::2] = begin[nonempty]
    index[1::2] = end[nonempty]
    if index[-1] >= len(a):  # the last range runs to the end: reduceat's last slot does exactly that
        index = index[:-1]
    out[nonempty] = np.add.reduceat(a, index)[0::2]
    return out


def _head_sums(s: Segments, a: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-series sum of ``a[p]`` over the first ``max(n - span, 0)`` positions ``p`` of each series.

    ``a`` is a flat array of pair (or triple) terms aligned with ``s.values``: ``a[p]`` combines
    ``values[p]`` with ``values[p + span]``, so the positions kept are the pairs inside one series.
    """
    count = np.maximum(s.lengths - span, 0)
    return _range_sums(a, s.starts, s.starts + count), count


def _centered(s: Segments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x - mean, sum of squared deviations, population variance)`` of every series (cached)."""

    def make() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        centered = s.values - s.broadcast(s.mean())
        squares = s.sum(centered * centered)
        return centered, squares, squares / s.lengths

    return _cached(s, "centered", make)  # type: ignore[return-value]


def _lag_product(s: Segments, values: np.ndarray, lag: int) -> np.ndarray:
    """``values[p] * values[p + lag]`` over the flat array (pairs across series are dropped later).

    Written into scratch buffer 0: use the result before the next call.
    """
    n = len(values)
    if n <= lag:
        return np.empty(0)
    return np.multiply(values[: n - lag], values[lag:], out=_scratch(s, 0, n - lag))


def _lag_sums(s: Segments, centered: np.ndarray, max_lag: int) -> np.ndarray:
    """``sum_t c[t] * c[t + k]`` inside every series for ``k = 1 .. max_lag``: shape ``(series, max_lag)``.

    Row-wise ``einsum`` on blocks of equal-length series when lengths are few; otherwise one flat
    product and ``reduceat`` per lag.
    """
    out = np.zeros((len(s), max_lag))
    if s.distinct_lengths() <= max(8, len(s) // 16):
        for length in np.unique(s.lengths):
            rows = np.flatnonzero(s.lengths == length)
            block = centered[s.starts[rows, None] + np.arange(length)]
            for lag in range(1, min(max_lag, int(length) - 1) + 1):
                out[rows, lag - 1] = np.einsum("ij,ij->i", block[:, : length - lag], block[:, lag:])
        return out
    for lag in range(1, max_lag + 1):
        if not (s.lengths > lag).any():
            break
        out[:, lag - 1] = _head_sums(s, _lag_product(s, centered, lag), lag)[0]
    return out


def _has_nan(s: Segments) -> np.ndarray:
    return s.sum(np.isnan(s.values).astype(np.float64)) > 0


def _invalid(params: Sequence[Params], check: Callable[[Params], bool]) -> bool:
    """Whether any parameter set fails ``check`` (tsfresh then raises for the whole combiner)."""
    try:
        return not all(check(p) for p in params)
    except (KeyError, TypeError, ValueError):
        return True


def _all_nan(s: Segments, suffixes: Sequence[str]) -> Result:
    return [(suffix, np.full(len(s), np.nan)) for suffix in suffixes]


# --------------------------------------------------------------------------------------------------
# Lag statistics
# --------------------------------------------------------------------------------------------------


@parametrized("time_reversal_asymmetry_statistic", empty=0.0)
def time_reversal_asymmetry_statistic(s: Segments, lag: int) -> np.ndarray:
    """Mean of ``x[i+2l]^2 x[i+l] - x[i+l] x[i]^2``; 0 when ``2 * lag >= n`` (as tsfresh).

    Computed as ``x[i+l] (x[i+2l] - x[i]) (x[i+2l] + x[i])`` in reused buffers (the same number to
    rounding). A negative lag (tsfresh wraps around the series) gives NaN.
    """
    if lag < 0:
        return np.full(len(s), np.nan)
    x = s.values
    n = len(x)
    span = 2 * lag
    if n > span:
        terms = np.subtract(x[span:], x[: n - span], out=_scratch(s, 0, n - span))
        terms *= np.add(x[span:], x[: n - span], out=_scratch(s, 1, n - span))
        terms *= x[lag : n - lag]
    else:
        terms = np.empty(0)
    total, count = _head_sums(s, terms, span)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), 0.0)


@parametrized("c3", empty=0.0)
def c3(s: Segments, lag: int) -> np.ndarray:
    """Mean of ``x[i+2l] x[i+l] x[i]``; 0 when ``2 * lag >= n`` (as tsfresh); NaN for a negative lag."""
    if lag < 0:
        return np.full(len(s), np.nan)
    x = s.values
    n = len(x)
    span = 2 * lag
    if n > span:
        terms = np.multiply(x[span:], x[lag : n - lag], out=_scratch(s, 0, n - span))
        terms *= x[: n - span]
    else:
        terms = np.empty(0)
    total, count = _head_sums(s, terms, span)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


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
        return root.copy()  # type: ignore[union-attr]  (the cached array must not reach callers)
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

    return _cached(s, "local_maxima", make)  # type: ignore[return-value]


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
    done: dict[int, np.ndarray] = _cached(s, "peaks", dict)  # type: ignore[assignment]
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


# --------------------------------------------------------------------------------------------------
# Spectra
# --------------------------------------------------------------------------------------------------

_FFT_ATTRS = {"real", "imag", "abs", "angle"}


@combiner("fft_coefficient", params={"coeff": Param(int, low=0), "attr": Param(str, choices=tuple(sorted(_FFT_ATTRS)))})
def fft_coefficient(s: Segments, params: Sequence[Params]) -> Result:
    """Real/imaginary part, modulus or angle (degrees) of ``np.fft.rfft(x)[coeff]``.

    One ``rfft`` per block of equal-length series; a coefficient beyond the spectrum is NaN.
    """
    suffixes = [f'attr_"{p["attr"]}"__coeff_{p["coeff"]}' for p in params]
    if not params or _invalid(params, lambda p: p["coeff"] >= 0 and p["attr"] in _FFT_ATTRS):
        return _all_nan(s, suffixes)
    size = max(int(p["coeff"]) for p in params) + 1
    spectrum = np.full((len(s), size), complex(np.nan, np.nan))
    for rows, block in s.blocks():
        transformed = np.fft.rfft(block, axis=1)
        keep = min(size, transformed.shape[1])
        spectrum[rows, :keep] = transformed[:, :keep]
    parts = {}
    for attr in {p["attr"] for p in params}:
        if attr == "real":
            parts[attr] = spectrum.real
        elif attr == "imag":
            parts[attr] = spectrum.imag
        elif attr == "abs":
            parts[attr] = np.abs(spectrum)
        else:
            parts[attr] = np.angle(spectrum, deg=True)
    return [(suffix, parts[p["attr"]][:, int(p["coeff"])]) for suffix, p in zip(suffixes, params, strict=True)]


_FFT_AGGREGATES = {"centroid", "variance", "skew", "kurtosis"}


@combiner("fft_aggregated", params={"aggtype": Param(str, choices=tuple(sorted(_FFT_AGGREGATES)))})
def fft_aggregated(s: Segments, params: Sequence[Params]) -> Result:
    """Centroid, variance, skew and kurtosis of ``|rfft(x)|`` as a distribution over its indices.

    tsfresh's formulas, including its kurtosis (``... - 3 * centroid``) and NaN skew/kurtosis when the
    spectral variance is below 0.5.
    """
    suffixes = [f'aggtype_"{p["aggtype"]}"' for p in params]
    if not params or _invalid(params, lambda p: p["aggtype"] in _FFT_AGGREGATES):
        return _all_nan(s, suffixes)
    moments = np.empty((4, len(s)))
    for rows, block in s.blocks():
        spectrum = np.abs(np.fft.rfft(block, axis=1))
        index = np.arange(spectrum.shape[1], dtype=float)
        total = spectrum.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for power in range(1, 5):
                moments[power - 1, rows] = spectrum.dot(index**power) / total
    m1, m2, m3, m4 = moments
    variance = m2 - m1**2
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = (m3 - 3 * m1 * variance - m1**3) / variance**1.5
        kurtosis = (m4 - 4 * m1 * m3 + 6 * m2 * m1**2 - 3 * m1) / variance**2
    small = variance < 0.5
    values = {
        "centroid": m1,
        "variance": variance,
        "skew": np.where(small, np.nan, skew),
        "kurtosis": np.where(small, np.nan, kurtosis),
    }
    return [(suffix, values[p["aggtype"]]) for suffix, p in zip(suffixes, params, strict=True)]


# --------------------------------------------------------------------------------------------------
# Entropies
# --------------------------------------------------------------------------------------------------


def _lehmer_weights(dimension: int) -> np.ndarray:
    return np.array([math.factorial(dimension - 1 - j) for j in range(dimension)], dtype=np.int64)


def _ordinal_codes(x: np.ndarray, begin: np.ndarray, dimension: int) -> np.ndarray:
    """The ordinal pattern of every window ``x[b : b + dimension]`` (``b`` in ``begin``) as an integer.

    The code is the Lehmer code of the window's ranks, ``sum_j #{k > j: x_k before x_j} (D-1-j)!``.
    Without ties it follows from comparisons of shifted copies of ``x`` (no window array at all);
    windows with ties (NaN ties NaN) take their ranks from ``np.argsort``, as tsfresh does, since
    numpy's default sort orders ties differently by length and platform.
    """
    n = len(x)
    count = n - dimension + 1
    weights = _lehmer_weights(dimension)
    has_nan = bool(np.isnan(x).any())
    digits = np.zeros((dimension - 1, count), dtype=np.uint8)  # digit j: #{k > j: x_k before x_j}
    tie = np.zeros(count, dtype=bool)
    for shift in range(1, dimension):
        first, second = x[: n - shift], x[shift:]
        before = second < first  # x[p + shift] sorts before x[p]
        equal = second == first
        if has_nan:
            missing_first, missing_second = np.isnan(first), np.isnan(second)
            before |= missing_first & ~missing_second
            equal |= missing_first & missing_second
        for j in range(dimension - shift):  # the pair (j, j + shift) of the window starting at p
            digits[j] += before[j : j + count]
            tie |= equal[j : j + count]
    digits = digits[:, begin]
    code = np.zeros(len(begin), dtype=np.int64)
    for j in range(dimension - 1):
        code += digits[j].astype(np.int64) * weights[j]
    tied = np.flatnonzero(tie[begin])
    if len(tied):
        order = np.argsort(x[begin[tied][:, None] + np.arange(dimension)], axis=1)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(dimension)[None, :], axis=1)
        lehmer = np.zeros(len(tied), dtype=np.int64)
        for j in range(dimension - 1):
            lehmer += (rank[:, j + 1 :] < rank[:, j : j + 1]).sum(axis=1) * weights[j]
        code[tied] = lehmer
    return code


@parametrized("permutation_entropy", params={"tau": Param(int, low=1), "dimension": Param(int, low=1)})
def permutation_entropy(s: Segments, tau: int, dimension: int) -> np.ndarray:
    """Entropy (natural log) of the ordinal patterns of windows of ``dimension`` values every ``tau``.

    Each window's pattern is an integer (:func:`_ordinal_codes`, the same patterns as tsfresh's
    ``argsort(argsort(window))`` rows), counted per series. NaN without a window.
    """
    out = np.full(len(s), np.nan)
    tau, dimension = int(tau), int(dimension)
    if dimension <= 1 or tau <= 0:  # tsfresh's _into_subchunks asserts
        return out
    windows = np.maximum((s.lengths - dimension) // tau + 1, 0)
    total = int(windows.sum())
    if not total:
        return out
    owner = np.repeat(np.arange(len(s)), windows)
    index = np.arange(total) - np.repeat(np.cumsum(windows) - windows, windows)
    code = _ordinal_codes(s.values, s.starts[owner] + tau * index, dimension)
    patterns = math.factorial(dimension)
    if patterns * len(s) <= 4 * total:
        counts = np.bincount(owner * patterns + code, minlength=patterns * len(s))
        unique = np.flatnonzero(counts)
        counts = counts[unique]
    else:
        unique, counts = np.unique(owner * patterns + code, return_counts=True)
    series = unique // patterns
    probability = counts / windows[series]
    entropy = -np.bincount(series, weights=probability * np.log(probability), minlength=len(s))
    has = windows > 0
    out[has] = entropy[has]
    return out


# --------------------------------------------------------------------------------------------------
# Trends
# --------------------------------------------------------------------------------------------------


_TINY = 1.0e-20  # scipy's linregress guard against r = +-1


def _log_gamma_difference(a: float, h: float) -> float:
    """``lgamma(a) - lgamma(a + h)`` for ``0 < h <= 1``, without cancellation for large ``a``."""
    if a < 30:
        return math.lgamma(a) - math.lgamma(a + h)

    def series(z: float) -> float:  # Stirling's series beyond (z - 1/2) ln z - z + ln(2 pi) / 2
        z2 = z * z
        return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * z2)) / z2) / z2) / z2) / z

    return -h * math.log(a) - (a + h - 0.5) * math.log1p(h / a) + h + series(a) - series(a + h)


def _log_beta(a: float, b: float) -> float:
    """``ln B(a, b)``, accurate when one argument is large and the other small (b = 1/2 here)."""
    small, large = min(a, b), max(a, b)
    return math.lgamma(small) + _log_gamma_difference(large, small)


def _beta_fraction(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The continued fraction of the incomplete beta function (modified Lentz), all entries at once."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
    h = d.copy()
    active = np.arange(len(x))
    for m in range(1, 100_000):
        m2 = 2.0 * m
        aa, bb, xx = a[active], b[active], x[active]
        cc, dd = c[active], d[active]
        step = m * (bb - m) * xx / ((qam[active] + m2) * (aa + m2))
        dd = 1.0 + step * dd
        dd = 1.0 / np.where(np.abs(dd) < tiny, tiny, dd)
        cc = 1.0 + step / cc
        cc = np.where(np.abs(cc) < tiny, tiny, cc)
        factor = dd * cc
        step = -(aa + m) * (qab[active] + m) * xx / ((aa + m2) * (qap[active] + m2))
        dd = 1.0 + step * dd
        dd = 1.0 / np.where(np.abs(dd) < tiny, tiny, dd)
        cc = 1.0 + step / cc
        cc = np.where(np.abs(cc) < tiny, tiny, cc)
        delta = dd * cc
        h[active] *= factor * delta
        c[active], d[active] = cc, dd
        active = active[np.abs(delta - 1.0) > 1e-16]
        if not len(active):
            break
    return h


def _regularized_beta(
    a: np.ndarray, b: np.ndarray, x: np.ndarray, one_minus_x: np.ndarray, log_x: np.ndarray, log_1mx: np.ndarray
) -> np.ndarray:
    """``I_x(a, b)`` for ``x`` in [0, 1], given ``1 - x``, ``ln x`` and ``ln(1 - x)`` computed accurately.

    The continued fraction converges fast for ``x < (a + 1) / (a + b + 2)``; otherwise the symmetry
    ``I_x(a, b) = 1 - I_{1-x}(b, a)`` is used (Numerical Recipes, 6.4).
    """
    out = np.full(len(x), np.nan)
    ok = ~np.isnan(x)
    direct = ok & (x < (a + 1.0) / (a + b + 2.0))
    swap = ok & ~direct
    log_beta = np.array([_log_beta(p, q) for p, q in zip(a, b, strict=True)])
    for rows, p, q, y, log_y, log_1my, flip in (
        (direct, a, b, x, log_x, log_1mx, False),
        (swap, b, a, one_minus_x, log_1mx, log_x, True),
    ):
        if not rows.any():
            continue
        pp, qq = p[rows], q[rows]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            front = np.exp(pp * log_y[rows] + qq * log_1my[rows] - log_beta[rows]) / pp
            value = front * _beta_fraction(pp, qq, y[rows])
        value = np.where(front == 0.0, 0.0, value)
        out[rows] = 1.0 - value if flip else value
    return out


def _bgrat_coefficients(b: float, terms: int = 30) -> np.ndarray:
    """The data-independent coefficients ``d_n`` of BGRAT (TOMS 708) for a fixed ``b``."""
    c, d = [], []
    cn = 1.0
    for n in range(1, terms + 1):
        cn /= (2.0 * n) * (2.0 * n + 1.0)
        c.append(cn)
        total, coef = 0.0, b - n
        for i in range(1, n):
            total += coef * c[i - 1] * d[n - i - 1]
            coef += b
        d.append((b - 1.0) * cn + total / n)
    return np.array(d)


_BGRAT_HALF = _bgrat_coefficients(0.5)


def _beta_large_a_half(a: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    """``I_x(a, 1/2)`` for ``a > 15`` by the asymptotic expansion BGRAT (Didonato & Morris, TOMS 708).

    The expansion is in terms of ``Q(1/2, z) = erfc(sqrt(z))`` with ``z = -(a - 1/4) ln x``; it needs
    only ``ln x`` (accurate for ``x`` near 1, where the continued fraction loses digits for large a).
    """
    b = 0.5
    nu = a - 0.25
    z = -nu * log_x
    out = np.zeros(len(a))
    live = z < 700.0  # beyond, the p-value is below 1e-300
    if not live.any():
        return out
    a, nu, z, log_x = a[live], nu[live], z[live], log_x[live]
    log_r = b * np.log(z) - z - 0.5 * math.log(math.pi)  # r = exp(-z) z^b / Gamma(b)
    log_u = log_r - (np.array([_log_gamma_difference(float(v), b) for v in a]) + b * np.log(nu))
    q = np.array([math.erfc(math.sqrt(v)) for v in z])
    j = q * np.exp(-log_r)
    v = 0.25 / (nu * nu)
    t2 = 0.25 * log_x * log_x
    total = j.copy()
    t = np.ones(len(a))
    active = np.ones(len(a), dtype=bool)
    n2 = 0.0
    for d in _BGRAT_HALF:
        bp2n = b + n2
        j = (bp2n * (bp2n + 1.0) * j + (z + bp2n + 1.0) * t) * v
        n2 += 2.0
        t = t * t2
        term = d * j
        total = np.where(active, total + term, total)
        active &= np.abs(term) > 1e-16 * total
        if not active.any():
            break
    out[live] = np.exp(log_u) * total
    return out


def _beta_small_ay_half(a: np.ndarray, y: np.ndarray, log_x: np.ndarray) -> np.ndarray:
    """``I_y(1/2, a)`` by its series of positive terms (DLMF 8.17.8), fast for ``a * y <= 1``.

    ``I_y(p, q) = y^p (1 - y)^q / (p B(p, q)) * sum_k (p + q)_k / (p + 1)_k y^k``.
    """
    log_beta = np.array([_log_beta(0.5, float(v)) for v in a])
    with np.errstate(divide="ignore"):
        front = np.exp(0.5 * np.log(y) + a * log_x - math.log(0.5) - log_beta)
    total = np.ones(len(a))
    term = np.ones(len(a))
    for k in range(1000):
        term = term * (a + 0.5 + k) / (1.5 + k) * y
        total += term
        if (term <= 1e-17 * total).all():
            break
    return front * total


def _student_t_two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """``2 * P(T > |t|)`` for Student's t with ``df`` degrees of freedom (scipy's ``2 * stdtr(df, -|t|)``).

    ``2 P(T > |t|) = I_x(df / 2, 1 / 2)`` with ``x = df / (df + t^2)``; ``x``, ``1 - x`` and their
    logarithms are all formed from ``t^2 / df`` so that neither tail loses precision. Up to 30 degrees
    of freedom (or for ``x <= 0.7``) a continued fraction; beyond, a series (small ``t``) or the BGRAT
    expansion, where the continued fraction would lose digits to the rounding of ``x``: within
    about 1e-13 of the exact value (scipy's own ``stdtr`` with one degree of freedom and ``|t| < 1e-6``
    is off by more, 3e-9 at ``t = 1e-8``).
    """
    t = np.abs(np.asarray(t, dtype=np.float64))
    df = np.asarray(df, dtype=np.float64)
    out = np.full(len(t), np.nan)
    ok = ~np.isnan(t) & (df > 0)
    if not ok.any():
        return out
    t, df = t[ok], df[ok]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = (t * t) / df
        x = 1.0 / (1.0 + ratio)
        one_minus_x = np.where(np.isinf(ratio), 1.0, ratio / (1.0 + ratio))
        log_x = -np.log1p(ratio)
        log_1mx = np.where(np.isinf(ratio), 0.0, np.log(ratio) - np.log1p(ratio))
    a = df / 2.0
    result = np.empty(len(t))
    small = (a <= 15.0) | (one_minus_x >= 0.3)  # BGRAT is for x near 1 (TOMS 708 uses it below 0.3)
    if small.any():
        result[small] = _regularized_beta(
            a[small], np.full(int(small.sum()), 0.5), x[small], one_minus_x[small], log_x[small], log_1mx[small]
        )
    series = ~small & (a * one_minus_x <= 1.0)
    if series.any():
        result[series] = 1.0 - _beta_small_ay_half(a[series], one_minus_x[series], log_x[series])
    tail = ~small & ~series
    if tail.any():
        result[tail] = _beta_large_a_half(a[tail], log_x[tail])
    out[ok] = result
    return out


_LINREGRESS_ATTRS = {"slope", "intercept", "rvalue", "pvalue", "stderr", "intercept_stderr"}


#: Below this distance of |r| from 1, or this spread of the values relative to their mean (constant
#: series included), the moments are recomputed series by series with scipy's own numpy calls: there
#: ``1 - r^2`` (stderr, p-value) or the whole regression is a function of rounding.
_NEARLY_EXACT = 1e-6


def _linregress(s: Segments, attrs: set[str]) -> dict[str, np.ndarray]:
    """``scipy.stats.linregress(range(n), x)`` of every series, in closed form.

    scipy's formulas: ``np.cov(x, y, bias=1)`` moments (the ``x`` moment exact: ``(n^2 - 1) / 12``),
    ``r`` clipped to [-1, 1] (NaN/0 for zero moments), the p-value from Student's t with ``n - 2``
    degrees of freedom, the special case ``n == 2``; NaN throughout for one value or any NaN.

    For a (nearly) constant or exactly linear series, ``r`` is undefined or 1 up to rounding and the
    stderr and p-value (or all of the fit) are functions of that rounding; those few series get
    their moments from ``np.mean`` and ``np.cov`` as scipy computes them, so the rounding is scipy's.
    """
    n = s.lengths
    size = n.astype(np.float64)
    y_mean = s.mean()
    x_mean = (size - 1.0) / 2.0
    y_centered = s.values - s.broadcast(y_mean)
    x_centered = s.position - s.broadcast(x_mean)
    exact = n < 2**20
    x_squares = np.where(exact, (np.where(exact, n, 0) * (np.where(exact, n, 0) ** 2 - 1)) / 12.0,
                         size * (size * size - 1.0) / 12.0)  # fmt: skip
    inverse = 1.0 / size
    ssxm = x_squares * inverse
    ssxym = s.sum(x_centered * y_centered) * inverse
    ssym = s.sum(y_centered * y_centered) * inverse
    undefined = (n < 2) | _has_nan(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ssxym / np.sqrt(ssxm * ssym)
        constant = np.maximum.reduceat(s.values, s.starts) == np.minimum.reduceat(s.values, s.starts)
        flat = ssym <= (_NEARLY_EXACT * y_mean) ** 2
        for row in np.flatnonzero(~undefined & (constant | flat | ~(np.abs(r) < 1 - _NEARLY_EXACT))):
            y = s.series(row)
            y_mean[row] = np.mean(y)
            ssxm[row], ssxym[row], _, ssym[row] = np.cov(np.arange(len(y)), y, bias=1).flat
        degenerate = (ssxm == 0.0) | (ssym == 0.0)
        r = np.clip(ssxym / np.sqrt(ssxm * ssym), -1.0, 1.0)
        r = np.where(degenerate, np.where(ssxym == 0, np.nan, 0.0), r)
        slope = ssxym / ssxm
        out = {"slope": slope, "intercept": y_mean - slope * x_mean, "rvalue": r}
        df = size - 2.0
        two = n == 2
        if {"stderr", "intercept_stderr"} & attrs:
            stderr = np.where(two, 0.0, np.sqrt((1 - r**2) * ssym / ssxm / df))
            out["stderr"] = stderr
            out["intercept_stderr"] = np.where(two, 0.0, stderr * np.sqrt(ssxm + x_mean**2))
        if "pvalue" in attrs:
            t = r * np.sqrt(df / ((1.0 - r + _TINY) * (1.0 + r + _TINY)))
            pvalue = np.full(len(s), np.nan)
            many = n > 2
            pvalue[many] = _student_t_two_sided(t[many], df[many])
            if two.any():
                first = s.values[s.starts[two]]
                pvalue[two] = np.where(first == s.values[s.starts[two] + 1], 1.0, 0.0)
            out["pvalue"] = pvalue
    for values in out.values():
        values[undefined] = np.nan
    return out


@combiner("linear_trend", params={"attr": Param(str, choices=tuple(sorted(_LINREGRESS_ATTRS)))})
def linear_trend(s: Segments, params: Sequence[Params]) -> Result:
    """Attributes of ``scipy.stats.linregress(range(n), x)`` (pvalue, rvalue, intercept, slope, stderr)."""
    suffixes = [f'attr_"{p["attr"]}"' for p in params]
    if not params or _invalid(params, lambda p: p["attr"] in _LINREGRESS_ATTRS):
        return _all_nan(s, suffixes)
    fitted = _linregress(s, {p["attr"] for p in params})
    return [(suffix, fitted[p["attr"]]) for suffix, p in zip(suffixes, params, strict=True)]


_CHUNK_AGGREGATES = {"max", "min", "mean", "var", "std", "sum", "prod"}


def _chunk_aggregates(s: Segments, rows: np.ndarray, chunk_len: int, functions: set[str]) -> tuple:
    """Aggregates of consecutive chunks of ``chunk_len`` values (the last one shorter) of some series.

    The chunks are gathered into 2-D arrays (full chunks together, last chunks grouped by length) and
    reduced row-wise, which gives numpy's numbers for each chunk (``x[a:b].mean()`` in tsfresh).

    Returns
    -------
    tuple
        ``(starts, counts, {function: flat aggregates})``: where each series' aggregates begin in the
        flat arrays, how many there are (``ceil(n / chunk_len)``), and the aggregates in order.
    """
    n = s.lengths[rows]
    full, rest = np.divmod(n, chunk_len)
    counts = full + (rest > 0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    total = int(counts.sum())
    out = {name: np.empty(total) for name in functions}
    series_start = s.starts[rows]
    # full chunks of every series, one 2-D array
    chunk_series = np.repeat(np.arange(len(rows)), full)
    chunk_index = np.arange(int(full.sum())) - np.repeat(np.cumsum(full) - full, full)
    if len(chunk_series):
        block = s.values[(series_start[chunk_series] + chunk_len * chunk_index)[:, None] + np.arange(chunk_len)]
        target = starts[chunk_series] + chunk_index
        for name in functions:
            out[name][target] = getattr(block, name)(axis=1)
    # the shorter last chunks, grouped by length
    for length in np.unique(rest[rest > 0]):
        which = np.flatnonzero(rest == length)
        block = s.values[(series_start[which] + chunk_len * full[which])[:, None] + np.arange(length)]
        for name in functions:
            out[name][starts[which] + full[which]] = getattr(block, name)(axis=1)
    return starts, counts, out


@combiner(
    "agg_linear_trend",
    params={
        "attr": Param(str, choices=tuple(sorted(_LINREGRESS_ATTRS))),
        "chunk_len": Param(int, low=1),
        "f_agg": Param(str, choices=tuple(sorted(_CHUNK_AGGREGATES))),
    },
)
def agg_linear_trend(s: Segments, params: Sequence[Params]) -> Result:
    """``linregress`` of chunk aggregates (``f_agg`` over chunks of ``chunk_len``) against their index.

    NaN when ``chunk_len >= n`` (as tsfresh). One gather per chunk length, one regression per
    (chunk length, aggregate) over all series.
    """
    suffixes = [f'attr_"{p["attr"]}"__chunk_len_{p["chunk_len"]}__f_agg_"{p["f_agg"]}"' for p in params]
    if not params or _invalid(
        params,
        lambda p: p["attr"] in _LINREGRESS_ATTRS and p["f_agg"] in _CHUNK_AGGREGATES and int(p["chunk_len"]) > 0,
    ):
        return _all_nan(s, suffixes)
    fitted: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for chunk_len in sorted({int(p["chunk_len"]) for p in params}):
        wanted = [p for p in params if int(p["chunk_len"]) == chunk_len]
        functions = {p["f_agg"] for p in wanted}
        rows = np.flatnonzero(s.lengths > chunk_len)
        starts, counts, aggregates = _chunk_aggregates(s, rows, chunk_len, functions)
        for name in functions:
            attrs = {p["attr"] for p in wanted if p["f_agg"] == name}
            result = {attr: np.full(len(s), np.nan) for attr in attrs}
            if len(rows):
                inner = _linregress(Segments(aggregates[name], starts, counts), attrs)
                for attr in attrs:
                    result[attr][rows] = inner[attr]
            fitted[chunk_len, name] = result
    return [
        (suffix, fitted[int(p["chunk_len"]), p["f_agg"]][p["attr"]]) for suffix, p in zip(suffixes, params, strict=True)
    ]


def _energy_ratio_valid(param: Params) -> bool:
    parts, focus = int(param["num_segments"]), int(param["segment_focus"])
    return parts > 0 and -parts <= focus < parts  # tsfresh asserts, or the chunk list raises IndexError


@combiner("energy_ratio_by_chunks", params={"num_segments": Param(int, low=1), "segment_focus": Param(int, low=0)})
def energy_ratio_by_chunks(s: Segments, params: Sequence[Params]) -> Result:
    """Sum of squares of chunk ``segment_focus`` of ``np.array_split(x, num_segments)`` over the total.

    ``np.array_split``: the first ``n % num_segments`` chunks hold one value more; chunks may be empty
    (ratio 0). NaN when the total is 0.
    """
    suffixes = [f"num_segments_{p['num_segments']}__segment_focus_{p['segment_focus']}" for p in params]
    if not params or _invalid(params, _energy_ratio_valid):
        return _all_nan(s, suffixes)
    squares = s.values * s.values
    total = s.sum(squares)
    ratios = {}
    for parts in sorted({int(p["num_segments"]) for p in params}):
        size, extra = np.divmod(s.lengths, parts)
        j = np.arange(parts + 1)
        bounds = s.starts[:, None] + j * size[:, None] + np.minimum(j, extra[:, None])
        sums = _range_sums(squares, bounds[:, :-1].ravel(), bounds[:, 1:].ravel()).reshape(len(s), parts)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios[parts] = np.where((total == 0)[:, None], np.nan, sums / total[:, None])
    return [
        (suffix, ratios[int(p["num_segments"])][:, int(p["segment_focus"])])
        for suffix, p in zip(suffixes, params, strict=True)
    ]


# --------------------------------------------------------------------------------------------------
# Langevin model (Friedrich et al. 2000)
# --------------------------------------------------------------------------------------------------

#: pandas 3 rounds ``qcut``'s quantile levels up when ``i / q`` is not representable in binary and
#: passes them to ``np.quantile``; pandas 2 passes ``levels * 100`` to ``np.percentile`` (which divides
#: by 100 again). Either way the edges must be the installed pandas' to bin values on them alike.
_PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3


def _is_integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _qcut_quantiles(q: int) -> np.ndarray:
    """The quantile levels of ``pd.qcut(x, q)`` in the installed pandas."""
    quantiles = np.linspace(0, 1, q + 1)
    if _PANDAS_3:
        np.putmask(quantiles, q * quantiles != np.arange(q + 1), np.nextafter(quantiles, 1))
        return quantiles
    return np.true_divide(quantiles * 100.0, 100)


def _segmented_count_at_most(ordered: np.ndarray, start: np.ndarray, count: np.ndarray, probe: np.ndarray):
    """How many of each segment's sorted values are ``<= probe`` (a row-wise binary search).

    ``ordered[start[i]:start[i] + count[i]]`` is sorted; ``probe`` has one row per segment.
    """
    low = np.zeros(probe.shape, dtype=np.int64)
    high = np.broadcast_to(count[:, None], probe.shape).copy()
    for _ in range(int(count.max()).bit_length() + 1):
        searching = low < high
        if not searching.any():
            break
        middle = (low + high) // 2
        at = start[:, None] + np.minimum(middle, count[:, None] - 1)
        right = searching & (ordered[at] <= probe)
        low = np.where(right, middle + 1, low)
        high = np.where(searching & ~right, middle, high)
    return low


def _pandas_sums_sorted_groups() -> bool:
    """Whether this pandas sums sorted groups with ``np.add.reduceat`` (pandas 3.1's groupby fast path)."""
    try:
        from pandas.core.groupby import ops

        return hasattr(ops.BaseGrouper, "_reduceat_aggregate")
    except ImportError:  # pragma: no cover - pandas moved its internals
        return False


_PANDAS_REDUCEAT = _pandas_sums_sorted_groups()


class _Groups:
    """Rows grouped by a small integer id, in row order within each group (for :func:`_group_means`)."""

    def __init__(self, group: np.ndarray, groups: int) -> None:
        # a stable order without a stable sort: the keys (group, row) are unique
        self.order = np.argsort(group * len(group) + np.arange(len(group)))
        self.members = np.bincount(group, minlength=groups)
        self.first = np.cumsum(self.members) - self.members
        self.lanes = np.argsort(-self.members, kind="stable")  # longest groups first
        self.groups = groups


def _group_means(values: np.ndarray, by: _Groups, reduceat: np.ndarray) -> np.ndarray:
    """Per-group mean skipping NaN, with pandas' own summation (``groupby(...).mean()``).

    pandas sums each group in row order with Kahan compensation (``group_mean``); the same operations
    on every group at once (one step per row rank within the groups) give the same numbers. pandas
    3.1 instead takes ``np.add.reduceat`` over the groups when the group ids are sorted and the column
    has no NaN: ``reduceat`` marks the groups where that holds.
    """
    groups, members, first, lanes = by.groups, by.members, by.first, by.lanes
    sizes = members[lanes]
    ordered = values[by.order]
    total = np.zeros(groups)
    compensation = np.zeros(groups)
    seen = np.zeros(groups)
    for rank in range(int(sizes[0]) if groups else 0):
        active = lanes[: int(np.searchsorted(-sizes, -rank, side="left"))]
        value = ordered[first[active] + rank]
        present = ~np.isnan(value)
        y = value - compensation[active]
        t = total[active] + y
        fix = (t - total[active]) - y
        fix[fix != fix] = 0.0  # pandas GH#50367: infinities leave the compensation at 0
        total[active] = np.where(present, t, total[active])
        compensation[active] = np.where(present, fix, compensation[active])
        seen[active] += present
    fast = np.flatnonzero(reduceat & (members > 0))
    if len(fast):
        nonempty = np.flatnonzero(members > 0)
        sums = np.add.reduceat(ordered, first[nonempty])
        total[fast] = sums[np.searchsorted(nonempty, fast)]
        seen[fast] = members[fast]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, total / np.where(seen > 0, seen, 1.0), np.nan)


def _segment_argsort(values: np.ndarray, start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Indices sorting each contiguous segment ``values[start:start + count]`` (NaN last), in place.

    Row-wise ``argsort`` on blocks of equal-length segments; a lexsort when lengths are many.
    """
    distinct = np.unique(count[count > 0])
    if len(distinct) > max(8, len(count) // 16):
        return np.lexsort((values, np.repeat(np.arange(len(count)), count)))
    order = np.arange(len(values))
    for size in distinct:
        index = start[count == size][:, None] + np.arange(size)
        order[index] = np.take_along_axis(index, np.argsort(values[index], axis=1), axis=1)
    return order


def _friedrich(s: Segments, m: int, r: object) -> tuple[np.ndarray, np.ndarray]:
    """tsfresh's ``_estimate_friedrich_coefficients`` for every series (cached per ``(m, r)``).

    ``pd.qcut(x[:-1], r)`` bins (numpy's linear quantiles of the non-NaN values at the installed
    pandas' levels, ``ValueError`` on duplicate edges -> NaN), per-bin means of ``x[:-1]`` and
    ``diff(x)`` as pandas sums them (NaN differences skipped, empty bins dropped), then
    ``np.polyfit(means, deg=m)`` per series: least squares has no batched form with numpy's numbers,
    so this is a loop over the series.

    Returns
    -------
    tuple
        ``(coefficients, raised)``: shape ``(series, m + 1)``, highest power first (NaN where tsfresh
        gives NaN); and the series where tsfresh raises (no bin left to fit: ``np.polyfit`` rejects
        empty input).
    """
    return _cached(s, f"friedrich_{m}_{r!r}", lambda: _estimate_friedrich(s, m, r))  # type: ignore[return-value]


def _qcut_bins(s: Segments, signal: np.ndarray, r: int) -> np.ndarray:
    """``pd.qcut(signal, r)`` bin codes of every series (-1: NaN, or qcut raised for the series).

    ``signal`` holds the first ``n - 1`` values of every series, series after series.
    """
    codes = np.full(len(signal), -1, dtype=np.int64)
    count = np.maximum(s.lengths - 1, 0)
    first = np.cumsum(count) - count
    segment = np.repeat(np.arange(len(s)), count)
    order = _segment_argsort(signal, first, count)
    ordered = signal[order]
    present = count - np.bincount(segment, weights=np.isnan(signal), minlength=len(s)).astype(np.int64)
    live = np.flatnonzero(present > 0)
    if not len(live):
        return codes
    n, start = present[live], first[live]
    # the edges: np.quantile(method="linear") of the sorted values at qcut's levels
    virtual = (n[:, None] - 1) * _qcut_quantiles(r)[None, :]
    previous = np.floor(virtual)
    above = virtual >= (n[:, None] - 1)
    gamma = np.where(above, virtual + 1.0, virtual - previous)  # numpy: previous index -1 past the end
    low_index = np.where(above, n[:, None] - 1, previous.astype(np.int64))
    high_index = np.where(above, n[:, None] - 1, previous.astype(np.int64) + 1)
    low, high = ordered[start[:, None] + low_index], ordered[start[:, None] + high_index]
    difference = high - low
    edges = low + difference * gamma
    edges = np.where(gamma >= 0.5, high - difference * (1 - gamma), edges)
    if r + 1 != 2:  # duplicate edges: qcut raises ValueError, tsfresh returns NaN
        unique = ~(edges[:, 1:] == edges[:, :-1]).any(axis=1)
        live, n, start, edges = live[unique], n[unique], start[unique], edges[unique]
    if not len(live):
        return codes
    # value v goes to bin t - 1 where edges[t - 1] < v <= edges[t] (the first bin closed): in sorted
    # order, bin boundaries sit after the values <= each inner edge
    inner = _segmented_count_at_most(ordered, start, n, edges[:, 1:-1])
    boundary = (start[:, None] + inner)[inner < n[:, None]]
    cumulative = np.cumsum(np.bincount(boundary, minlength=len(ordered))[: len(ordered)])
    bin_sorted = cumulative - cumulative[first[segment]]
    binned = np.zeros(len(s), dtype=bool)
    binned[live] = True
    keep = binned[segment] & (np.arange(len(ordered)) - first[segment] < present[segment])
    codes[order[keep]] = bin_sorted[keep]
    return codes


def _estimate_friedrich(s: Segments, m: int, r: object) -> tuple[np.ndarray, np.ndarray]:
    count_series = len(s)
    coefficients = np.full((count_series, m + 1), np.nan)
    raised = np.zeros(count_series, dtype=bool)
    if not _is_integer(r) or r < 1:  # pandas raises ValueError: tsfresh returns NaN
        return coefficients, raised
    r = int(r)
    x = s.values
    rows = np.flatnonzero(s.position < np.repeat(s.lengths, s.lengths) - 1)
    signal, change = x[rows], x[rows + 1] - x[rows]
    segment = s.segment_of_row[rows]
    codes = _qcut_bins(s, signal, r)
    binned = np.zeros(count_series, dtype=bool)
    binned[segment[codes >= 0]] = True
    live = np.flatnonzero(binned)
    if not len(live):
        return coefficients, raised
    local = np.full(count_series, -1)
    local[live] = np.arange(len(live))
    # pandas 3.1 sums with reduceat when a series' bin codes never decrease (-1 first) and the column
    # has no NaN; the code sequence decreases where a later row has a smaller code in the same series
    same = segment[1:] == segment[:-1]
    decreasing = np.zeros(count_series, dtype=bool)
    decreasing[segment[1:][same & (codes[1:] < codes[:-1])]] = True
    sorted_codes = _PANDAS_REDUCEAT & ~decreasing
    nan_signal = np.bincount(segment, weights=np.isnan(signal), minlength=count_series) > 0
    nan_change = np.bincount(segment, weights=np.isnan(change), minlength=count_series) > 0
    keep = np.flatnonzero(codes >= 0)
    group = local[segment[keep]] * r + codes[keep]
    by = _Groups(group, len(live) * r)
    x_mean = _group_means(signal[keep], by, np.repeat((sorted_codes & ~nan_signal)[live], r))
    y_mean = _group_means(change[keep], by, np.repeat((sorted_codes & ~nan_change)[live], r))
    usable = np.flatnonzero(~np.isnan(x_mean) & ~np.isnan(y_mean))
    bounds = np.searchsorted(usable // r, np.arange(len(live) + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index, series in enumerate(live):
            chosen = usable[bounds[index] : bounds[index + 1]]
            if not len(chosen):
                raised[series] = True
                continue
            try:
                coefficients[series] = np.polyfit(x_mean[chosen], y_mean[chosen], deg=m)
            except (np.linalg.LinAlgError, ValueError):
                pass
    return coefficients, raised


def _friedrich_valid(param: Params) -> bool:
    return int(param["m"]) > 0 and int(param["coeff"]) >= 0


@combiner("friedrich_coefficients", params={"coeff": Param(int, low=0), "m": Param(int, low=1), "r": Param()})
def friedrich_coefficients(s: Segments, params: Sequence[Params]) -> Result:
    """Coefficients of the polynomial fitted to the binned dynamics ``diff(x)`` against ``x[:-1]``.

    See :func:`_friedrich`; a coefficient beyond the polynomial's degree is NaN.
    """
    suffixes = [f"coeff_{p['coeff']}__m_{p['m']}__r_{p['r']}" for p in params]
    if not params or _invalid(params, _friedrich_valid):
        return _all_nan(s, suffixes)
    results: dict[str, np.ndarray] = {}
    failed = np.zeros(len(s), dtype=bool)
    for suffix, param in zip(suffixes, params, strict=True):
        coefficients, raised = _friedrich(s, int(param["m"]), param["r"])
        failed |= raised
        coeff = int(param["coeff"])
        results[suffix] = coefficients[:, coeff] if coeff <= int(param["m"]) else np.full(len(s), np.nan)
    out = []
    for suffix, values in results.items():  # tsfresh keeps one column per name, like this dict
        values = values.copy()
        values[failed] = np.nan  # tsfresh raised for the whole combiner on these series
        out.append((suffix, values))
    return out


@parametrized("max_langevin_fixed_point", params={"m": Param(int, low=1)})
def max_langevin_fixed_point(s: Segments, r: object, m: int) -> np.ndarray:
    """Largest real part of the roots of the Friedrich polynomial (``np.roots``, one call per series)."""
    out = np.full(len(s), np.nan)
    if int(m) <= 0:
        return out
    coefficients, _ = _friedrich(s, int(m), r)
    for series in np.flatnonzero(np.isfinite(coefficients).all(axis=1)):
        roots = np.roots(coefficients[series])
        if len(roots):
            out[series] = np.max(np.real(roots))
    return out


@combiner(
    "linear_trend_timewise",
    params={"attr": Param(str, choices=tuple(sorted(_LINREGRESS_ATTRS)))},
    notes=(
        "yields no columns: tsfresh 0.21.2 computes it only for a series whose index is a pandas DatetimeIndex, "
        "and extract_features passes each series with the input's row index, so tsfresh skips it (with a warning)"
    ),
)
def linear_trend_timewise(s: Segments, params: Sequence[Params]) -> Result:
    """No columns, as tsfresh: it needs a DatetimeIndex, which ``extract_features`` never passes.

    tsfresh hands each series to its calculators with the input frame's row index; for a table read
    from a file that is never a DatetimeIndex, so tsfresh skips this calculator with a warning.
    """
    return []
