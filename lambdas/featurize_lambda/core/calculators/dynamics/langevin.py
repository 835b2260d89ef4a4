"""Langevin model (Friedrich et al. 2000): binned dynamics, polynomial fits and fixed points."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TypeGuard

import numpy as np

from ...registry import Param, Params, Result, combiner, parametrized
from ...segments import Segments
from ._shared import _all_nan, _cached, _invalid


def _is_integer(value: object) -> TypeGuard[int | np.integer]:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _qcut_quantiles(q: int) -> np.ndarray:
    """The quantile levels of ``pd.qcut(x, q)``, to bin values on the edges pandas computes.

    pandas 3 rounds the levels up where ``i / q`` is not representable in binary before it passes them
    to ``np.quantile``.
    """
    quantiles = np.linspace(0, 1, q + 1)
    np.putmask(quantiles, q * quantiles != np.arange(q + 1), np.nextafter(quantiles, 1))
    return quantiles


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

    ``pd.qcut(x[:-1], r)`` bins (numpy's linear quantiles of the non-NaN values at pandas'
    levels, ``ValueError`` on duplicate edges -> NaN), per-bin means of ``x[:-1]`` and
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
    return _cached(s, f"friedrich_{m}_{r!r}", lambda: _estimate_friedrich(s, m, r))


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
