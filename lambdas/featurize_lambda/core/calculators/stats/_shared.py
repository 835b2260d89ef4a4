"""Helpers of the stats calculators: the per-chunk cache, counts, blocks, sorts, quantiles, the spread.

Mean and spread are numpy's bit for bit wherever a comparison with them needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ...segments import Segments

#: Unit roundoff of float64.
_U = np.finfo(np.float64).eps / 2


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
        out: list[tuple[np.ndarray, np.ndarray | None]] = []
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
    if out is None:  # a chunk without series has no blocks
        return np.empty((0,))
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
