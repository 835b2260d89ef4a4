"""Distribution, count, location and reoccurrence calculators (tsfresh names), vectorized per chunk.

Every calculator works on all series of a chunk at once: segment reductions (``np.add.reduceat``),
cumulative counts, and row-wise numpy on 2-D blocks of (padded) equal-length series.

Exactness where tsfresh compares floats. Several calculators compare values with a mean or a standard
deviation (``x > mean``, ``std > r * range``...). A sum computed in a different order than numpy's
pairwise summation can differ in the last bits, which would flip such a comparison when a value sits
exactly on the threshold (a constant series of 0.1, a symmetric series whose mean is one of its
values). Two regimes keep these exact:

- few distinct lengths (the usual case): numpy's row-wise reductions on equal-length 2-D blocks,
  which give bit for bit what numpy gives on each series alone, i.e. what tsfresh computes;
- many distinct lengths: fast segment reductions, then the series where some comparison lies within
  a rigorous rounding-error bound of its threshold are recomputed the first way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import NamedTuple

import numpy as np

from ..registry import Param, Params, Result, combiner, parametrized, simple
from ..segments import Segments

#: Unit roundoff of float64.
_U = np.finfo(np.float64).eps / 2

# ----------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------


def _cached(s: Segments, key: str, build: Callable[[], object]):
    """Per-chunk intermediate shared between calculators (and between parameter sets of one).

    ``Segments`` is frozen; like its own ``cached_property`` attributes, the value lives in the
    instance ``__dict__``, so it is dropped together with the chunk.
    """
    store = s.__dict__
    key = "_stats_" + key
    if key not in store:
        store[key] = build()
    return store[key]


def _count(s: Segments, mask: np.ndarray) -> np.ndarray:
    """Per-segment number of True entries of ``mask`` (aligned with ``values``), as float."""
    if not len(mask):
        return np.zeros(len(s))
    if _one_block(s):
        return np.count_nonzero(mask.reshape(len(s), -1), axis=1).astype(np.float64)
    total = np.cumsum(mask, dtype=np.int64)
    before = np.where(s.starts > 0, total[s.starts - 1], 0)
    return (total[s.stops - 1] - before).astype(np.float64)


def _within(s: Segments) -> np.ndarray:
    """Whether value ``i`` and value ``i - 1`` are in the same segment (False for each segment's first)."""

    def build() -> np.ndarray:
        same = np.ones(len(s.values), dtype=bool)
        same[s.starts] = False
        return same

    return _cached(s, "within", build)


def _any(s: Segments, mask: np.ndarray) -> np.ndarray:
    return _count(s, mask) > 0


def _has_nan(s: Segments) -> np.ndarray:
    return _cached(s, "has_nan", lambda: _any(s, np.isnan(s.values)))


def _abs_sum(s: Segments) -> np.ndarray:
    return _cached(s, "abs_sum", lambda: s.sum(np.abs(s.values)))


def _maximum(s: Segments) -> np.ndarray:
    return _cached(s, "maximum", lambda: np.maximum.reduceat(s.values, s.starts))


def _minimum(s: Segments) -> np.ndarray:
    return _cached(s, "minimum", lambda: np.minimum.reduceat(s.values, s.starts))


def _groups(s: Segments) -> list[tuple[np.ndarray, int]]:
    """Segments grouped for padded 2-D work: ``[(rows, width)]``, padding at most doubling a group.

    Rows of one group have lengths in ``(width / 2, width]`` (a power-of-two class), so a handful of
    groups covers any mix of lengths.
    """

    def build() -> list[tuple[np.ndarray, int]]:
        lengths = s.lengths
        if len(lengths) and (lengths == lengths[0]).all():
            return [(np.arange(len(lengths)), int(lengths[0]))]
        klass = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
        out = []
        for k in np.unique(klass):
            rows = np.flatnonzero(klass == k)
            out.append((rows, int(lengths[rows].max())))
        return out

    return _cached(s, "groups", build)


def _padded(
    s: Segments, x: np.ndarray, rows: np.ndarray, width: int, fill: float, reverse: bool = False, copy: bool = True
):
    """Rows of ``x`` as a ``(len(rows), width)`` matrix padded with ``fill`` after each series.

    Returns ``(matrix, index)``: ``index`` holds each cell's position in ``x`` (-1 for padding), or is
    None when the matrix is ``x`` reshaped (one contiguous block of equal lengths; a view unless
    ``copy``). ``reverse`` puts each series backwards (``x[::-1]``), padding still last.
    """
    if len(rows) == len(s) and width * len(s) == len(x) and (s.lengths == width).all():
        matrix = x.reshape(len(s), width)
        if reverse:
            matrix = matrix[:, ::-1]
        return (matrix.copy() if copy else matrix), None
    offsets = np.arange(width)
    inside = offsets < s.lengths[rows, None]
    index = (s.stops[rows, None] - 1 - offsets) if reverse else (s.starts[rows, None] + offsets)
    index = np.where(inside, index, -1)
    matrix = x[index]
    matrix[~inside] = fill
    return matrix, index


def _scatter(out: np.ndarray, matrix: np.ndarray, index: np.ndarray | None) -> None:
    """Write a padded matrix back to its positions (the inverse of :func:`_padded`)."""
    if index is None:
        out[:] = matrix.ravel()
    else:
        inside = index >= 0
        out[index[inside]] = matrix[inside]


def _segment_sort(s: Segments, x: np.ndarray) -> np.ndarray:
    """``x`` sorted within each segment (NaN last, as ``np.sort``): row-wise sorts of padded blocks.

    Much faster than a two-key ``np.lexsort`` (about 1 ms against 25 ms for 200 x 1,000 values).
    """
    out = np.empty_like(x)
    for rows, width in _groups(s):
        matrix, index = _padded(s, x, rows, width, np.nan)
        matrix.sort(axis=1)  # padding is NaN: it sorts after every value, NaN values included
        _scatter(out, matrix, index)
    return out


def _sorted(s: Segments) -> np.ndarray:
    """Values sorted within each segment (shared by all calculators of a chunk)."""
    if "sorted_values" in s.__dict__:  # Segments.sorted_values already computed: reuse it
        return s.sorted_values
    return _cached(s, "sorted", lambda: _segment_sort(s, s.values))


def _few_lengths(s: Segments) -> bool:
    """Whether row-wise numpy on blocks of equal length is the way (few distinct lengths)."""
    return _cached(s, "few_lengths", lambda: s.distinct_lengths() <= max(8, len(s) // 16))


def _one_block(s: Segments) -> bool:
    """Whether the chunk is one contiguous block of equal lengths (``values`` reshapes to it)."""

    def build() -> bool:
        lengths = s.lengths
        return bool(len(lengths)) and bool((lengths == lengths[0]).all()) and lengths[0] * len(lengths) == len(s.values)

    return _cached(s, "one_block", build)


def _blocks(s: Segments) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Equal-length blocks as ``[(rows, index)]``, ``index`` holding the rows' value positions.

    ``index`` is None when the whole chunk is one contiguous block, which is then a reshaped view.
    """

    def build() -> list[tuple[np.ndarray, np.ndarray | None]]:
        lengths = s.lengths
        if _one_block(s):
            return [(np.arange(len(lengths)), None)]
        out = []
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            out.append((rows, s.starts[rows, None] + np.arange(length)))
        return out

    return _cached(s, "blocks", build)


def _take(s: Segments, x: np.ndarray, rows: np.ndarray, index: np.ndarray | None) -> np.ndarray:
    """One block of ``x`` (aligned with ``values``) as a 2-D array."""
    return x.reshape(len(rows), -1) if index is None else x[index]


def _rowwise(s: Segments, function: Callable[[np.ndarray], np.ndarray], x: np.ndarray | None = None) -> np.ndarray:
    """``function(block)`` (row-wise numpy, one value or one row of values per series) for every series."""
    out = None
    for rows, index in _blocks(s):
        result = np.asarray(function(_take(s, s.values if x is None else x, rows, index)))
        if out is None:
            out = np.empty((len(s),) + result.shape[1:])
        out[rows] = result
    return out


def _exact_rows(s: Segments, rows: np.ndarray, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``function(block)`` (row-wise numpy on equal-length 2-D blocks) for some segments only.

    Numpy's row-wise reductions on a C-contiguous block give bit for bit what they give on each row
    alone, so this reproduces tsfresh's per-series numpy exactly. ``function`` gives one value or
    one row of values per series.
    """
    out = None
    if len(rows):
        sub = Segments(s.values, s.starts[rows], s.lengths[rows])
        for positions, block in sub.blocks():
            result = np.asarray(function(block))
            if out is None:
                out = np.empty((len(rows),) + result.shape[1:])
            out[positions] = result
    return np.empty(0) if out is None else out


def _quantiles(sorted_values: np.ndarray, starts: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """``np.quantile(x, q)`` (method "linear") of the first ``counts`` sorted values after each start.

    Reproduces numpy's arithmetic step by step (virtual index ``(n - 1) * q``, the index adjustment at
    the upper bound and numpy's two-sided ``_lerp``), so the result is bit for bit numpy's.
    ``counts`` must be positive.
    """
    n = counts.astype(np.int64)
    virtual = (n - 1) * np.float64(q)
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous_index = np.where(above, n - 1, previous).astype(np.int64)
    following_index = np.where(above, n - 1, following).astype(np.int64)
    below = virtual < 0
    previous_index[below] = 0
    following_index[below] = 0
    # numpy takes gamma against its adjusted index, -1 (the last value) at the upper bound
    gamma = virtual - np.where(above, -1.0, np.where(below, 0.0, previous))
    a = sorted_values[starts + previous_index]
    b = sorted_values[starts + following_index]
    diff_b_a = b - a
    with np.errstate(invalid="ignore"):
        result = a + diff_b_a * gamma
        return np.where(gamma >= 0.5, b - diff_b_a * (1 - gamma), result)


class _Spread(NamedTuple):
    """Mean and spread of every series, and how far they may be from numpy's (0 when exact)."""

    mean: np.ndarray
    variance: np.ndarray
    std: np.ndarray
    distance: np.ndarray  # |x - mean|, aligned with values
    exact: bool  # bit for bit np.mean / np.var / np.std
    mean_tolerance: np.ndarray
    std_tolerance: np.ndarray


def _spread(s: Segments) -> _Spread:
    """``np.mean``, ``np.var``, ``np.std`` and ``|x - mean|`` of every series, shared by calculators.

    With few distinct lengths they are numpy's, bit for bit (row-wise on blocks). Otherwise they come
    from two-pass segment sums, with pessimistic bounds of their difference to numpy's: the fast
    sum and numpy's pairwise sum both lie within ``(n - 1) u sum|x|`` of the exact sum.
    """

    def build() -> _Spread:
        if _few_lengths(s):
            mean, variance = np.empty(len(s)), np.empty(len(s))
            distance = np.empty(len(s.values))
            for rows, index in _blocks(s):
                block = _take(s, s.values, rows, index)
                mean[rows] = np.mean(block, axis=1)
                variance[rows] = np.var(block, axis=1)
                away = np.abs(block - mean[rows, None])
                if index is None:
                    distance[:] = away.ravel()
                else:
                    distance[index] = away
            zero = np.zeros(len(s))
            return _Spread(mean, variance, np.sqrt(variance), distance, True, zero, zero)
        mean = s.mean()
        deviation = s.values - s.broadcast(mean)
        variance = s.sum(deviation * deviation) / s.lengths
        std = np.sqrt(variance)
        mean_tolerance = 4 * _U * _abs_sum(s)
        std_tolerance = 8 * (s.lengths + 2) * _U * std + mean_tolerance
        return _Spread(mean, variance, std, np.abs(deviation), False, mean_tolerance, std_tolerance)

    return _cached(s, "spread", build)


def _mean_with_ties(s: Segments) -> np.ndarray:
    """Per-segment mean equal to ``np.mean`` wherever a value could compare equal to it.

    Outside the exact regime, a segment with a value within the rounding bound of the fast mean is
    recomputed with numpy, so ``x > mean`` and ``x < mean`` come out exactly as in tsfresh.
    """

    def build() -> np.ndarray:
        spread = _spread(s)
        if spread.exact:
            return spread.mean
        mean = spread.mean.copy()
        near = spread.distance <= s.broadcast(spread.mean_tolerance)
        rows = np.flatnonzero(_any(s, near))
        mean[rows] = _exact_rows(s, rows, lambda block: np.mean(block, axis=1))
        return mean

    return _cached(s, "mean_ties", build)


def _value_runs(s: Segments):
    """Runs of equal values in each sorted segment (``np.unique`` per series, NaN as one value).

    Returns ``(segment, length, value)`` per run, in segment order.
    """

    def build():
        ordered = _sorted(s)
        new = ~_within(s)
        if len(ordered) > 1:
            same = ordered[1:] == ordered[:-1]
            same |= np.isnan(ordered[1:]) & np.isnan(ordered[:-1])
            new[1:] |= ~same
        first = np.flatnonzero(new)
        length = np.diff(np.append(first, len(ordered)))
        return s.segment_of_row[first], length, ordered[first]

    return _cached(s, "value_runs", build)


def _longest_run(s: Segments, condition: np.ndarray) -> np.ndarray:
    """Length of the longest run of True inside each segment (0 if none)."""
    starts_run = condition.copy()
    starts_run[1:] &= ~(condition[:-1] & _within(s)[1:])
    first = np.flatnonzero(starts_run)
    out = np.zeros(len(s))
    if not len(first):
        return out
    # a run ends at the first False after its start or at its segment's end
    falses = np.flatnonzero(~condition)
    next_false = np.searchsorted(falses, first)
    end = np.where(next_false < len(falses), falses[np.minimum(next_false, len(falses) - 1)], len(condition))
    segment = s.segment_of_row[first]
    end = np.minimum(end, s.stops[segment])
    length = (end - first).astype(np.float64)
    # runs are in segment order: take the maximum over each segment's runs
    has = np.unique(segment)
    firsts = np.searchsorted(segment, has)
    out[has] = np.maximum.reduceat(length, firsts)
    return out


# ----------------------------------------------------------------------------------------------------
# Variance, duplicates, energy, changes
# ----------------------------------------------------------------------------------------------------


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

    pandas 3.x (tsfresh's oracle here) accumulates the moments in one streaming pass and gives NaN
    for fewer than 3 values and for a constant series (0/0); pandas 2.x gave 0.0 for a constant
    series and zeroed moments below 1e-14. featurize follows pandas 3.x regardless of the installed
    pandas.
    """
    n, m2, m3, _ = _central_moments(s, skip_nan=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = m3 / (m2 * np.sqrt(m2)) * ((n * np.sqrt(n - 1.0)) / (n - 2.0))
    return np.where(n < 3, np.nan, result)


@simple("kurtosis")
def kurtosis(s: Segments) -> np.ndarray:
    """pandas' ``Series.kurtosis()`` (NaN skipped): adjusted Fisher-Pearson G2, pandas 3.x's formula.

    NaN for fewer than 4 non-NaN values and for a constant series (pandas 2.x gave 0.0 there).
    """
    n, m2, _, m4 = _central_moments(s, skip_nan=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        inner = n * (n + 1.0) * (m4 / (m2 * m2)) - 3.0 * (n - 1.0)
        result = (n - 1.0) / ((n - 2.0) * (n - 3.0)) * inner
    return np.where(n < 4, np.nan, result)


# ----------------------------------------------------------------------------------------------------
# Mean-relative counts and strikes, locations
# ----------------------------------------------------------------------------------------------------


def _above_mean(s: Segments) -> np.ndarray:
    return s.values > s.broadcast(_mean_with_ties(s))


def _below_mean(s: Segments) -> np.ndarray:
    return s.values < s.broadcast(_mean_with_ties(s))


@simple("longest_strike_below_mean", empty=0.0)
def longest_strike_below_mean(s: Segments) -> np.ndarray:
    return _longest_run(s, _below_mean(s))


@simple("longest_strike_above_mean", empty=0.0)
def longest_strike_above_mean(s: Segments) -> np.ndarray:
    return _longest_run(s, _above_mean(s))


@simple("count_above_mean", empty=0.0)
def count_above_mean(s: Segments) -> np.ndarray:
    return _count(s, _above_mean(s))


@simple("count_below_mean", empty=0.0)
def count_below_mean(s: Segments) -> np.ndarray:
    return _count(s, _below_mean(s))


def _arg(s: Segments, function: Callable, fill: float, reverse: bool) -> np.ndarray:
    """``np.argmax`` / ``np.argmin`` of every series (or of it reversed), row-wise on padded blocks.

    The padding (``-inf`` for argmax, ``inf`` for argmin) comes after the values, so it is never the
    first extreme; NaN wins as in numpy.
    """
    out = np.empty(len(s), dtype=np.int64)
    for rows, width in _groups(s):
        matrix, _ = _padded(s, s.values, rows, width, fill, reverse=reverse, copy=False)
        out[rows] = function(matrix, axis=1)
    return out


@simple("last_location_of_maximum")
def last_location_of_maximum(s: Segments) -> np.ndarray:
    """``1.0 - np.argmax(x[::-1]) / len(x)``."""
    return 1.0 - _arg(s, np.argmax, -np.inf, reverse=True) / s.lengths


@simple("first_location_of_maximum")
def first_location_of_maximum(s: Segments) -> np.ndarray:
    return _arg(s, np.argmax, -np.inf, reverse=False) / s.lengths


@simple("last_location_of_minimum")
def last_location_of_minimum(s: Segments) -> np.ndarray:
    return 1.0 - _arg(s, np.argmin, np.inf, reverse=True) / s.lengths


@simple("first_location_of_minimum")
def first_location_of_minimum(s: Segments) -> np.ndarray:
    return _arg(s, np.argmin, np.inf, reverse=False) / s.lengths


# ----------------------------------------------------------------------------------------------------
# Reoccurring values (np.unique / value_counts per series)
# ----------------------------------------------------------------------------------------------------


@simple("percentage_of_reoccurring_values_to_all_values")
def percentage_of_reoccurring_values_to_all_values(s: Segments) -> np.ndarray:
    segment, length, _ = _value_runs(s)
    distinct = np.bincount(segment, minlength=len(s))
    return np.bincount(segment, weights=length > 1, minlength=len(s)) / distinct


@simple("percentage_of_reoccurring_datapoints_to_all_datapoints")
def percentage_of_reoccurring_datapoints_to_all_datapoints(s: Segments) -> np.ndarray:
    """pandas' ``value_counts`` drops NaN: NaN values never reoccur but count in the length."""
    segment, length, value = _value_runs(s)
    weight = np.where((length > 1) & ~np.isnan(value), length, 0)
    return np.bincount(segment, weights=weight, minlength=len(s)) / s.lengths


@simple("sum_of_reoccurring_values", empty=0.0)
def sum_of_reoccurring_values(s: Segments) -> np.ndarray:
    """Sum of the distinct values seen twice or more.

    tsfresh multiplies every distinct value by 0 or 1, so a NaN or an infinity seen once makes the
    sum NaN (``0 * inf``); the same products are summed here.
    """
    segment, length, value = _value_runs(s)
    return np.bincount(segment, weights=(length > 1) * value, minlength=len(s))


@simple("sum_of_reoccurring_data_points", empty=0.0)
def sum_of_reoccurring_data_points(s: Segments) -> np.ndarray:
    """Sum of the values seen twice or more: ``count * value`` with the count zeroed below 2, as tsfresh."""
    segment, length, value = _value_runs(s)
    return np.bincount(segment, weights=np.where(length > 1, length, 0) * value, minlength=len(s))


@simple("ratio_value_number_to_time_series_length")
def ratio_value_number_to_time_series_length(s: Segments) -> np.ndarray:
    segment, _, _ = _value_runs(s)
    return np.bincount(segment, minlength=len(s)) / s.lengths


# ----------------------------------------------------------------------------------------------------
# Benford
# ----------------------------------------------------------------------------------------------------


@cache
def _decimal_table() -> tuple[np.ndarray, np.ndarray]:
    """``float("ke<e>")`` (correctly rounded) for k = 1..10 and every float64 decimal exponent."""
    exponents = np.arange(-330, 311)
    return exponents, np.array([[float(f"{k}e{e}") for e in exponents] for k in range(1, 11)])


def _leading_digits(v: np.ndarray) -> np.ndarray:
    """First digit of ``np.format_float_scientific(v)`` (the shortest round-trip repr), 0 for 0.

    The shortest repr ``S`` of ``v`` rounds to ``v`` and float rounding is monotone, so its decimal
    exponent is the largest ``e`` with ``float(1e<e>) <= v`` and its first digit the largest ``k``
    with ``float(ke<e>) <= v`` (two one-digit decimals never round to the same normal float). This
    gets ``0.3`` (stored as 0.2999...) right, where ``floor(v / 10**e)`` says 2. Subnormal values,
    where several one-digit decimals round to the same float, are formatted by numpy.
    """
    exponents, table = _decimal_table()
    flat = table.ravel()
    columns = len(exponents)
    out = np.zeros(len(v), dtype=np.int64)
    positive = np.flatnonzero(v > 0)
    w = v[positive]
    with np.errstate(divide="ignore"):
        e = np.floor(np.log10(w)).astype(np.int64) - exponents[0]
    e = np.clip(e, 1, columns - 2)
    e -= flat[e] > w
    e += flat[e + 1] <= w
    # a first guess of the digit, off by at most one near a digit boundary, then corrected
    with np.errstate(invalid="ignore", over="ignore"):
        digit = np.clip(np.floor(w / flat[e]), 1, 9).astype(np.int64)
    digit -= flat[(digit - 1) * columns + e] > w
    digit += (digit < 9) & (flat[np.minimum(digit, 8) * columns + e] <= w)
    out[positive] = digit
    tiny = np.flatnonzero(w < 1e-300)
    for i in tiny:
        out[positive[i]] = int(str(np.format_float_scientific(w[i]))[:1])
    return out


@simple("benford_correlation")
def benford_correlation(s: Segments) -> np.ndarray:
    """Pearson correlation (``np.corrcoef``) of first-digit frequencies with Benford's law."""
    digits = _leading_digits(np.abs(np.nan_to_num(s.values)))
    counts = np.bincount(s.segment_of_row * 10 + digits, minlength=10 * len(s)).reshape(len(s), 10)
    data = counts[:, 1:] / s.lengths[:, None]
    benford = np.log10(1 + 1 / np.arange(1, 10))
    benford = benford - benford.mean()
    data = data - data.mean(axis=1, keepdims=True)
    factor = np.true_divide(1, 8)
    covariance = (data @ benford) * factor
    std_benford = np.sqrt(np.dot(benford, benford) * factor)
    std_data = np.sqrt(np.einsum("ij,ij->i", data, data) * factor)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(covariance / std_benford / std_data, -1, 1)


# ----------------------------------------------------------------------------------------------------
# Thresholds on the spread
# ----------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------
# Binned entropy, change quantiles, index mass quantile
# ----------------------------------------------------------------------------------------------------


@parametrized("binned_entropy", params={"max_bins": Param(int, low=1)})
def binned_entropy(s: Segments, max_bins: int) -> np.ndarray:
    """``np.histogram(x, bins=max_bins)`` entropy, with numpy's bin edges and edge corrections.

    NaN for a series with NaN (tsfresh) and where numpy raises: infinity (a non-finite range) or bin
    edges that do not increase (a range too narrow for the bins at the values' magnitude).
    """
    bins = int(max_bins)
    k = np.arange(bins + 1, dtype=np.float64)

    def outer_edges(first: np.ndarray, last: np.ndarray):
        flat = first == last
        first = np.where(flat, first - 0.5, first)
        last = np.where(flat, last + 0.5, last)
        delta = last - first
        step = delta / bins
        with np.errstate(invalid="ignore"):
            edges = np.where((step == 0)[:, None], k / bins * delta[:, None], k * step[:, None]) + first[:, None]
        edges[:, -1] = last
        return first, delta, edges

    first, delta, edges = outer_edges(_minimum(s), _maximum(s))
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(first) & np.isfinite(delta) & (edges[:, :-1] < edges[:, 1:]).all(axis=1))
    if bad.any():  # edges of [0, 1] as placeholders that index safely; their result is NaN
        first, delta, edges[bad] = np.where(bad, 0.0, first), np.where(bad, 1.0, delta), k / bins
    segment = s.segment_of_row
    x = np.where(s.broadcast(bad), first[segment], s.values)
    with np.errstate(invalid="ignore"):
        index = (((x - first[segment]) / delta[segment]) * bins).astype(np.intp)
    index[index == bins] -= 1
    index -= x < edges[segment, index]
    index += (x >= edges[segment, index + 1]) & (index != bins - 1)
    histogram = np.bincount(segment * bins + index, minlength=len(s) * bins).reshape(len(s), bins)
    probabilities = histogram / s.lengths[:, None]
    probabilities[probabilities == 0] = 1.0
    entropy = -np.sum(probabilities * np.log(probabilities), axis=1)
    return np.where(bad, np.nan, entropy)


def _pairs(s: Segments) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive pairs of non-NaN values inside each series: ``(segment, smaller, larger, change)``."""

    def build():
        x = s.values
        valid = ~np.isnan(x)
        pair = np.flatnonzero(valid[1:] & valid[:-1] & _within(s)[1:]) + 1
        before, after = x[pair - 1], x[pair]
        return s.segment_of_row[pair], np.minimum(before, after), np.maximum(before, after), after - before

    return _cached(s, "pairs", build)


def _corridor(s: Segments, ql: float, qh: float) -> tuple[np.ndarray, np.ndarray]:
    """Changes inside the corridor ``[quantile(ql), quantile(qh)]`` (pandas ``qcut`` bin 0).

    Returns ``(segment, change)`` of every consecutive pair whose two values both lie in the corridor;
    the quantiles (NaN dropped, as ``qcut``) are computed once per distinct level.
    """

    def level(q: float) -> np.ndarray:
        def build() -> np.ndarray:
            valid = s.lengths - _count(s, np.isnan(s.values))
            out = np.full(len(s), np.nan)
            rows = np.flatnonzero(valid > 0)
            out[rows] = _quantiles(_sorted(s), s.starts[rows], valid[rows], q)
            return out

        return _cached(s, f"quantile_nan_dropped_{q!r}", build)

    segment, smaller, larger, change = _pairs(s)
    low, high = level(ql), level(qh)
    # pandas bins with searchsorted, where NaN sorts last: a NaN upper quantile (np.quantile's
    # ``inf - inf`` at an infinite maximum) lets every value at or above the lower one in
    high_open = np.isnan(high)
    inside = np.flatnonzero((smaller >= low[segment]) & ((larger <= high[segment]) | high_open[segment]))
    return segment[inside], change[inside]


def _corridor_aggregates(s: Segments, ql: float, qh: float) -> dict[tuple[bool, str], np.ndarray]:
    """mean, var and std of the corridor's changes, signed and absolute (0.0 where there is none)."""

    def build() -> dict[tuple[bool, str], np.ndarray]:
        segment, change = _corridor(s, ql, qh)
        count = s.count_by(segment)
        none = count == 0
        out = {}
        for isabs in (False, True):
            values = np.abs(change) if isabs else change
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = s.sum_by(values, segment) / count
                deviation = values - mean[segment]
                variance = s.sum_by(deviation * deviation, segment) / count
            out[isabs, "mean"] = np.where(none, 0.0, mean)
            out[isabs, "var"] = np.where(none, 0.0, variance)
            out[isabs, "std"] = np.where(none, 0.0, np.sqrt(variance))
        return out

    return _cached(s, f"corridor_{ql!r}_{qh!r}", build)


@parametrized("change_quantiles", params={"ql": Param(float, low=0, high=1), "qh": Param(float, low=0, high=1)})
def change_quantiles(s: Segments, ql: float, qh: float, isabs: bool, f_agg: str) -> np.ndarray:
    """Aggregate of the changes inside a quantile corridor.

    Quantiles are computed once per level, the corridor (pairs whose two values lie inside) and its
    mean, var and std (signed and absolute) once per ``(ql, qh)``, then shared by the grid's other
    parameter sets. ``median`` is computed from a segmented sort; any other numpy reduction per
    series (no vectorized form for an arbitrary function).
    """
    if ql >= qh:
        return np.zeros(len(s))
    if f_agg in ("mean", "var", "std"):
        return _corridor_aggregates(s, ql, qh)[bool(isabs), f_agg]
    segment, change = _corridor(s, ql, qh)
    if isabs:
        change = np.abs(change)
    out = np.zeros(len(s))
    if f_agg == "median":
        ordered = change[np.lexsort((change, segment))]
        count = np.bincount(segment, minlength=len(s))
        begin = np.concatenate(([0], np.cumsum(count)[:-1]))
        rows = np.flatnonzero(count)
        c, b = count[rows], begin[rows]
        low = ordered[b + (c - 1) // 2]
        out[rows] = np.where(c % 2 == 1, low, (low + ordered[b + c // 2]) / 2)
        return out
    aggregator = getattr(np, f_agg)
    for row in np.unique(segment):
        out[row] = aggregator(change[segment == row])
    return out


@combiner("index_mass_quantile", params={"q": Param(float, low=0, high=1)})
def index_mass_quantile(s: Segments, params: Sequence[Params]) -> Result:
    """Relative index where the cumulated ``|x|`` first reaches ``q`` of its total, for every q at once.

    One cumulated sum over the whole chunk is non-decreasing, so the first index of a series whose
    mass reaches ``q`` is one ``searchsorted`` for ``start + q * total``: a handful of passes over the
    values for all series and levels. That cumulated sum is not numpy's per-series ``cumsum`` bit for
    bit, so a series where the mass at the found index or just before it lies within a rigorous
    rounding bound of ``q`` is recomputed with numpy, as are series with NaN, infinity or zero total.
    """
    levels = [param["q"] for param in params]
    magnitude = np.abs(s.values)
    total = s.sum(magnitude)
    irregular = ~np.isfinite(total) | (total == 0)
    if irregular.any():
        magnitude = np.where(s.broadcast(irregular), 0.0, magnitude)
        total = np.where(irregular, 1.0, total)
    cumulated = np.cumsum(magnitude)
    before = np.where(s.starts > 0, cumulated[s.starts - 1], 0.0)
    last = s.stops - 1
    # bound of |mass - numpy's mass|: the chunk-wide prefix sums' error, both totals' and the quotient's
    tolerance = 4 * _U * (s.stops * cumulated[last] / total + s.lengths + 1)
    result = np.empty((len(s), len(levels)))
    redo = irregular.copy()
    for j, level in enumerate(levels):
        found = np.searchsorted(cumulated, before + level * total, side="left")
        none = found > last  # no value reaches the level: numpy's argmax of all-False is 0
        found = np.clip(found, s.starts, last)
        result[:, j] = (np.where(none, 0, found - s.starts) + 1) / s.lengths
        mass = (cumulated[found] - before) / total
        previous = np.where(found > s.starts, (cumulated[np.maximum(found - 1, 0)] - before) / total, -np.inf)
        redo |= (np.abs(mass - level) <= tolerance) | (np.abs(previous - level) <= tolerance)

    def exact(block: np.ndarray) -> np.ndarray:
        magnitude = np.abs(block)
        total = np.sum(magnitude, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mass = np.cumsum(magnitude, axis=1) / total[:, None]
        values = [(np.argmax(mass >= level, axis=1) + 1) / block.shape[1] for level in levels]
        return np.where((total == 0)[:, None], np.nan, np.stack(values, axis=1))

    rows = np.flatnonzero(redo)
    if len(rows):
        result[rows] = _exact_rows(s, rows, exact)
    return [(f"q_{param['q']}", result[:, j]) for j, param in enumerate(params)]
