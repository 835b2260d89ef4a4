"""Sample and approximate entropy: exact template matching by sorting."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ...registry import Param, Params, parametrized, simple
from ...segments import Segments

_EPS = float(np.finfo(np.float64).eps)

#: Template pairs formed at once by the entropy search: bounds its memory.
_PAIR_CHUNK = 1_000_000
#: Values of the series handled at once by the entropy search.
_VALUE_CHUNK = 250_000


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
