"""Thresholds on the spread and the values: standard deviation, sigma ranges, symmetry, quantiles, counts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...registry import Param, Params, Result, combiner, parametrized
from ...segments import Segments
from ._shared import (
    _U,
    _any,
    _blocks,
    _count,
    _exact_rows,
    _groups,
    _has_nan,
    _maximum,
    _minimum,
    _padded,
    _quantiles,
    _sorted,
    _spread,
    _take,
    _within,
)


def _range(s: Segments) -> np.ndarray:
    return _maximum(s) - _minimum(s)


@parametrized("large_standard_deviation")
def large_standard_deviation(s: Segments, r: float) -> np.ndarray:
    """``np.std(x) > r * (max - min)``; outside the exact regime near-ties are redone with numpy."""
    spread = _spread(s)
    threshold = r * _range(s)
    out = (spread.std > threshold).astype(np.float64)
    if not spread.exact:
        slack = spread.std_tolerance + 4 * _U * (spread.std + np.abs(threshold))
        rows = np.flatnonzero(np.abs(spread.std - threshold) <= slack)
        out[rows] = _exact_rows(s, rows, lambda b: np.std(b, axis=1) > r * (np.max(b, axis=1) - np.min(b, axis=1)))
    return out


@parametrized("ratio_beyond_r_sigma")
def ratio_beyond_r_sigma(s: Segments, r: float) -> np.ndarray:
    """Share of values farther than ``r * np.std(x)`` from ``np.mean(x)``, exact at the threshold."""
    spread = _spread(s)
    if spread.exact:
        threshold = r * spread.std
        out = np.empty(len(s))
        for rows, index in _blocks(s):
            beyond = _take(s, spread.distance, rows, index) > threshold[rows, None]
            out[rows] = np.count_nonzero(beyond, axis=1) / s.lengths[rows]
        return out
    threshold = s.broadcast(r * spread.std)
    out = _count(s, spread.distance > threshold) / s.lengths
    slack = s.broadcast(spread.mean_tolerance + r * spread.std_tolerance) + 4 * _U * (spread.distance + threshold)
    rows = np.flatnonzero(_any(s, np.abs(spread.distance - threshold) <= slack))

    def exact(block: np.ndarray) -> np.ndarray:
        far = np.abs(block - np.mean(block, axis=1, keepdims=True)) > r * np.std(block, axis=1, keepdims=True)
        return np.sum(far, axis=1) / block.shape[1]

    out[rows] = _exact_rows(s, rows, exact)
    return out


def _median(s: Segments) -> np.ndarray:
    """``np.median`` per segment from the shared segmented sort (NaN if the series has NaN)."""
    ordered = _sorted(s)
    low = ordered[s.starts + (s.lengths - 1) // 2]
    middle = np.where(s.lengths % 2 == 1, low, (low + ordered[s.starts + s.lengths // 2]) / 2)
    return np.where(_has_nan(s), np.nan, middle)


@combiner("symmetry_looking", params={"r": Param(float)})
def symmetry_looking(s: Segments, params: Sequence[Params]) -> Result:
    """``|mean - median| < r * (max - min)`` for every r at once; near-ties redone with numpy."""
    spread = _spread(s)
    difference = np.abs(spread.mean - _median(s))
    extent = _range(s)
    out = []
    for param in params:
        r = param["r"]
        threshold = r * extent
        values = (difference < threshold).astype(np.float64)
        if not spread.exact:
            slack = 2 * spread.mean_tolerance + 4 * _U * (difference + np.abs(threshold))

            def exact(block: np.ndarray, r: float = r) -> np.ndarray:
                gap = np.abs(np.mean(block, axis=1) - np.median(block, axis=1))
                return gap < r * (np.max(block, axis=1) - np.min(block, axis=1))

            rows = np.flatnonzero(np.abs(difference - threshold) <= slack)
            values[rows] = _exact_rows(s, rows, exact)
        out.append((f"r_{r}", values))
    return out


@parametrized("quantile", params={"q": Param(float, low=0, high=1)})
def quantile(s: Segments, q: float) -> np.ndarray:
    result = _quantiles(_sorted(s), s.starts, s.lengths, q)
    return np.where(_has_nan(s), np.nan, result)


@parametrized("value_count", empty=0.0)
def value_count(s: Segments, value: float) -> np.ndarray:
    if np.isnan(value):
        return _count(s, np.isnan(s.values))
    return _count(s, s.values == value)


@parametrized("range_count", empty=0.0)
def range_count(s: Segments, min: float, max: float) -> np.ndarray:
    return _count(s, (s.values >= min) & (s.values < max))


@parametrized("number_crossing_m", empty=0.0)
def number_crossing_m(s: Segments, m: float) -> np.ndarray:
    positive = s.values > m
    change = np.zeros(len(positive), dtype=bool)
    change[1:] = positive[1:] != positive[:-1]
    return _count(s, change & _within(s))


@parametrized("count_above")
def count_above(s: Segments, t: float) -> np.ndarray:
    return _count(s, s.values >= t) / s.lengths


@parametrized("count_below")
def count_below(s: Segments, t: float) -> np.ndarray:
    return _count(s, s.values <= t) / s.lengths


@parametrized("mean_n_absolute_max", params={"number_of_maxima": Param(int, low=1)})
def mean_n_absolute_max(s: Segments, number_of_maxima: int) -> np.ndarray:
    """Mean of the ``n`` largest absolute values (NaN unless the series is longer than ``n``).

    Row-wise ``np.partition`` of padded blocks, then numpy's mean of the ascending top ``n``.
    """
    if number_of_maxima <= 0:
        raise ValueError(f"number_of_maxima={number_of_maxima} must be positive")
    k = number_of_maxima
    out = np.full(len(s), np.nan)
    magnitude = np.abs(s.values)
    for rows, width in _groups(s):
        keep = rows[s.lengths[rows] > k]
        if not len(keep):
            continue
        matrix, _ = _padded(s, magnitude, keep, width, -1.0)  # padding sorts first
        top = np.sort(np.partition(matrix, width - k, axis=1)[:, width - k :], axis=1)
        out[keep] = np.mean(top, axis=1)
    return np.where(_has_nan(s) & (s.lengths > k), np.nan, out)
