"""Binned entropy, change quantiles and index mass quantile."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...registry import Param, Params, Result, combiner, parametrized
from ...segments import Segments
from ._shared import _U, _cached, _count, _exact_rows, _maximum, _minimum, _quantiles, _sorted, _within


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
