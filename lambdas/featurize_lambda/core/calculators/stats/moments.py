"""Variance, duplicates, energy, changes, skewness and kurtosis."""

from __future__ import annotations

import numpy as np

from ...registry import simple
from ...segments import Segments
from ._shared import _U, _cached, _count, _exact_rows, _maximum, _minimum, _spread, _value_runs, _within


@simple("variance_larger_than_standard_deviation", empty=0.0)
def variance_larger_than_standard_deviation(s: Segments) -> np.ndarray:
    """``np.var(x) > np.sqrt(np.var(x))``, i.e. variance above 1; ties at 1 are redone with numpy."""
    spread = _spread(s)
    variance = spread.variance
    out = (variance > np.sqrt(variance)).astype(np.float64)
    if not spread.exact:
        tolerance = spread.std_tolerance
        rows = np.flatnonzero(np.abs(variance - 1) <= 2 * spread.std * tolerance + tolerance**2 + 4 * _U)
        out[rows] = _exact_rows(s, rows, lambda b: np.var(b, axis=1) > np.sqrt(np.var(b, axis=1)))
    return out


@simple("has_duplicate_max")
def has_duplicate_max(s: Segments) -> np.ndarray:
    return _count(s, s.values == s.broadcast(_maximum(s))) >= 2


@simple("has_duplicate_min")
def has_duplicate_min(s: Segments) -> np.ndarray:
    return _count(s, s.values == s.broadcast(_minimum(s))) >= 2


@simple("has_duplicate", empty=0.0)
def has_duplicate(s: Segments) -> np.ndarray:
    """Fewer distinct values than values (``np.unique``: all NaN count as one value)."""
    segment, _, _ = _value_runs(s)
    return np.bincount(segment, minlength=len(s)) < s.lengths


@simple("abs_energy", empty=0.0)
def abs_energy(s: Segments) -> np.ndarray:
    return s.sum(s.values * s.values)


def _abs_change_sum(s: Segments) -> np.ndarray:
    def build() -> np.ndarray:
        change = np.zeros(len(s.values))
        if len(s.values) > 1:
            change[1:] = np.abs(np.diff(s.values))
        change[~_within(s)] = 0.0
        return s.sum(change)

    return _cached(s, "abs_change_sum", build)


@simple("mean_abs_change")
def mean_abs_change(s: Segments) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s.lengths > 1, _abs_change_sum(s) / (s.lengths - 1), np.nan)


@simple("absolute_sum_of_changes", empty=0.0)
def absolute_sum_of_changes(s: Segments) -> np.ndarray:
    return _abs_change_sum(s)


@simple("mean_change")
def mean_change(s: Segments) -> np.ndarray:
    last = s.values[s.stops - 1]
    first = s.values[s.starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s.lengths > 1, (last - first) / (s.lengths - 1), np.nan)


@simple("mean_second_derivative_central")
def mean_second_derivative_central(s: Segments) -> np.ndarray:
    """``(x[-1] - x[-2] - x[1] + x[0]) / (2 (n - 2))`` in tsfresh's order of operations."""
    long = s.lengths > 2
    top = len(s.values) - 1
    x0 = s.values[s.starts]
    x1 = s.values[np.minimum(s.starts + 1, top)]
    last = s.values[s.stops - 1]
    before_last = s.values[np.maximum(s.stops - 2, 0)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(long, (last - before_last - x1 + x0) / (2 * (s.lengths - 2)), np.nan)


@simple("variation_coefficient")
def variation_coefficient(s: Segments) -> np.ndarray:
    """``np.std(x) / np.mean(x)``, NaN for a zero mean.

    Outside the exact regime a mean near zero makes the quotient sensitive to the mean's last bits:
    such series (mean within ``1e10`` times the rounding bound of zero) are recomputed with numpy.
    """
    spread = _spread(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(spread.mean == 0, np.nan, spread.std / spread.mean)
    if not spread.exact:

        def exact(block: np.ndarray) -> np.ndarray:
            average = np.mean(block, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(average == 0, np.nan, np.std(block, axis=1) / average)

        rows = np.flatnonzero(np.abs(spread.mean) <= 1e10 * spread.mean_tolerance)
        out[rows] = _exact_rows(s, rows, exact)
    return out


def _central_moments(s: Segments, skip_nan: bool):
    """``(count, m2, m3, m4)``: sums of powers of deviations from the mean, two-pass.

    Values are shifted by their segment's minimum first, so a constant series gives exactly zero
    moments (as pandas' streaming algorithm does) and near-constant series keep their precision.
    """
    x = s.values
    nan = np.isnan(x)
    shift = np.fmin.reduceat(x, s.starts)  # ignores NaN
    shifted = x - s.broadcast(np.where(np.isnan(shift), 0.0, shift))
    if skip_nan:
        count = s.lengths - _count(s, nan)
        shifted = np.where(nan, 0.0, shifted)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s.sum(shifted) / count
        deviation = np.where(nan, 0.0, shifted - s.broadcast(mean))
    else:
        count = s.lengths.astype(np.float64)
        deviation = shifted - s.broadcast(s.sum(shifted) / count)
    square = deviation * deviation
    return count, s.sum(square), s.sum(square * deviation), s.sum(square * square)


@simple("skewness")
def skewness(s: Segments) -> np.ndarray:
    """pandas' ``Series.skew(skipna=False)``: adjusted Fisher-Pearson G1.

    pandas accumulates the moments in one streaming pass and gives NaN for fewer than 3 values and
    for a constant series (0/0).
    """
    n, m2, m3, _ = _central_moments(s, skip_nan=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = m3 / (m2 * np.sqrt(m2)) * ((n * np.sqrt(n - 1.0)) / (n - 2.0))
    return np.where(n < 3, np.nan, result)


@simple("kurtosis")
def kurtosis(s: Segments) -> np.ndarray:
    """pandas' ``Series.kurtosis()`` (NaN skipped): adjusted Fisher-Pearson G2, pandas' formula.

    NaN for fewer than 4 non-NaN values and for a constant series.
    """
    n, m2, _, m4 = _central_moments(s, skip_nan=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        inner = n * (n + 1.0) * (m4 / (m2 * m2)) - 3.0 * (n - 1.0)
        result = (n - 1.0) / ((n - 2.0) * (n - 3.0)) * inner
    return np.where(n < 4, np.nan, result)
