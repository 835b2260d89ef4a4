"""Helpers of the dynamics calculators: the per-chunk cache and work buffers, range and lag sums."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from ...registry import Params, Result
from ...segments import Segments

T = TypeVar("T")


def _cached(s: Segments, key: str, make: Callable[[], T]) -> T:
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
    return buffer[:size]


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

    return _cached(s, "centered", make)


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
