"""Lempel-Ziv complexity."""

from __future__ import annotations

import numpy as np

from ...registry import Param, parametrized
from ...segments import Segments
from ._shared import _linspace_rows


def _lz_symbols(s: Segments, bins: int) -> np.ndarray:
    """tsfresh's binning: ``searchsorted(linspace(min, max, bins + 1)[1:], x, side="left")`` per series.

    The bin index is estimated arithmetically for every value at once, then corrected against the
    exact ``linspace`` edges until it equals the number of edges below the value (what
    ``searchsorted`` returns). A series with a NaN has NaN edges, so every symbol is 0, as in tsfresh.
    """
    x = s.values
    if bins < 1:
        return np.zeros(len(x), dtype=np.int64)
    low = np.minimum.reduceat(x, s.starts)
    high = np.maximum.reduceat(x, s.starts)
    span = high - low
    edges = _linspace_rows(low, high, bins + 1)[:, 1:]  # (segments, bins)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        position = (x - np.repeat(low, s.lengths)) / np.repeat(span, s.lengths) * bins
        # how far the rounded position can be from the exact edges, in units of a bin
        slack = 64 * np.finfo(np.float64).eps * (np.maximum(np.abs(low), np.abs(high)) / span + 1) * bins
    floor = np.floor(position)
    usable = np.isfinite(floor)
    k = np.where(usable, np.minimum(np.maximum(floor, 0), bins), 0).astype(np.int64)
    finite = np.repeat(np.isfinite(span) & (span > 0), s.lengths)  # constant or NaN series: all 0
    k[~finite] = 0
    # values near an edge: count the edges strictly below the value exactly (searchsorted "left")
    fraction = position - floor
    near = np.repeat(slack, s.lengths)
    pos = np.flatnonzero(finite & ~((fraction > near) & (fraction < 1 - near)))
    flat = edges.ravel()
    base = s.segment_of_row[pos] * bins
    kk, xx = k[pos], x[pos]
    while len(pos):
        below = (kk > 0) & (flat[base + np.maximum(kk - 1, 0)] >= xx)
        above = (kk < bins) & (flat[base + np.minimum(kk, bins - 1)] < xx)
        move = below | above
        kk = kk - below + above
        k[pos] = kk
        pos, base, kk, xx = pos[move], base[move], kk[move], xx[move]
    return k


def _lz_phrase_count(sequence: list[int], base: int) -> int:
    """Number of phrases of tsfresh's Lempel-Ziv parse of ``sequence`` (symbols ``0 .. base - 1``).

    tsfresh grows a set of sub-words: at each position it takes the shortest sub-word not yet in the
    set. Every prefix of a stored sub-word is stored too, so the set is a trie and the parse is a walk
    down it: one dict look-up per symbol (tsfresh slices and hashes a tuple per step). A trailing
    sub-word that is already known is not counted, as in tsfresh.
    """
    trie: dict[int, int] = {}  # (node id * base + symbol) -> child node id * base
    get = trie.get
    node = 0
    last = 0
    for symbol in sequence:
        key = node + symbol
        child = get(key)
        if child is None:
            last += base
            trie[key] = last
            node = 0
        else:
            node = child
    return last // base


@parametrized("lempel_ziv_complexity", params={"bins": Param(int, low=1)})
def lempel_ziv_complexity(s: Segments, bins: int) -> np.ndarray:
    """Phrases of the Lempel-Ziv parse of the binned series, divided by its length.

    The binning is vectorized; the parse is sequential by nature and runs per series as a Python
    loop over symbols with a dict-based trie (about 0.1 µs per point).
    """
    symbols = _lz_symbols(s, int(bins)).tolist()
    base = max(int(bins), 0) + 1
    out = np.empty(len(s))
    for i, (start, n) in enumerate(zip(s.starts.tolist(), s.lengths.tolist(), strict=True)):
        out[i] = _lz_phrase_count(symbols[start : start + n], base) / n
    return out
