"""Calculators tsfresh computes with scipy.signal and friends (Welch, Ricker CWT, peak search), in numpy.

tsfresh 0.21.2 calls ``scipy.signal.welch``, ``pywt.cwt`` (Mexican hat), ``scipy.signal.find_peaks_cwt``
and ``stumpy.core.mass``; none of them is available in the Lambda, so each is re-implemented here
with the same arithmetic, vectorized over every series of a chunk (equal-length series are processed
as 2-D blocks; the peak search runs over all series at once). Only the Lempel-Ziv parse is a
per-series Python loop, because it is inherently sequential.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..registry import Params, Result, combiner, output_format, parametrized
from ..segments import Segments

# --------------------------------------------------------------------------------------------------
# Welch's power spectral density (scipy.signal.welch with tsfresh's arguments)
# --------------------------------------------------------------------------------------------------

#: tsfresh's ``max_length_per_segment``: nperseg = min(len(x), 256).
_WELCH_MAX_NPERSEG = 256


@lru_cache(maxsize=64)
def _hann_periodic(m: int) -> np.ndarray:
    """``scipy.signal.get_window("hann_periodic", m)``, computed as scipy computes it."""
    if m <= 1:
        return np.ones(m)
    fac = np.linspace(-np.pi, np.pi, m + 1)
    w = np.zeros(m + 1)
    for k, a in enumerate((0.5, 0.5)):
        w += a * np.cos(k * fac)
    w = w[:-1]
    w.setflags(write=False)
    return w


def _blocks(s: Segments) -> list[tuple[np.ndarray, np.ndarray]]:
    """``s.blocks()``, with a copy-free fast path when all series have one length and lie back to back."""
    n = len(s)
    if n:
        length = int(s.lengths[0])
        first = int(s.starts[0])
        if (s.lengths == length).all() and (np.diff(s.starts) == length).all():
            return [(np.arange(n), s.values[first : first + n * length].reshape(n, length))]
    return s.blocks()


def _welch_block(block: np.ndarray) -> np.ndarray:
    """``scipy.signal.welch(x, nperseg=min(len(x), 256))[1]`` for every row of ``block`` at once.

    Hann (periodic) window, segments of ``nperseg`` with 50 % overlap, each segment's mean
    removed, density scaling, one-sided spectrum, mean over segments. The operations follow
    scipy's ``ShortTimeFFT`` path step by step (including the summation order of the final mean), so
    the result agrees to rounding.
    """
    rows, length = block.shape
    nperseg = min(length, _WELCH_MAX_NPERSEG)
    noverlap = nperseg // 2
    hop = nperseg - noverlap
    n_slices = (length - noverlap) // hop
    window = _hann_periodic(nperseg)
    # ShortTimeFFT.fac_psd: 1 / sqrt(sum(win**2) / T), summed with Python's sequential sum
    window = window * (1 / np.sqrt(np.cumsum(window**2)[-1] / 1.0))
    slices = np.lib.stride_tricks.sliding_window_view(block, nperseg, axis=1)[:, : n_slices * hop : hop]
    slices = slices - np.mean(slices, axis=-1, keepdims=True)  # detrend="constant"
    slices *= window
    spectrum = np.fft.rfft(slices, n=nperseg, axis=-1)  # (rows, slices, n_freq)
    power = spectrum.real**2
    power += spectrum.imag**2
    power[..., 1 : -1 if nperseg % 2 == 0 else None] *= 2  # one-sided: double all but DC/Nyquist
    if n_slices == 1:
        return power[:, 0]
    # scipy averages along a contiguous last axis: numpy sums fewer than 8 values sequentially
    # (which a reduction over the middle axis also does), more pairwise (needs that layout).
    if n_slices < 8:
        return power.sum(axis=1) / n_slices
    return np.ascontiguousarray(np.swapaxes(power, 1, 2)).mean(axis=-1)


#: (weak reference to the last Segments, its Welch spectra), replaced as a whole.
_welch_cache: tuple = (None, None)


def _welch_blocks(s: Segments) -> list[tuple[np.ndarray, np.ndarray]]:
    """Welch spectra per block of equal-length series: ``[(segment indices, (n, n_freq)), ...]``.

    The spectra of the last chunk are kept (by weak reference to its Segments) so that
    ``spkt_welch_density`` and every parameter of ``fourier_entropy`` share one computation.
    """
    global _welch_cache
    ref, cached = _welch_cache
    if ref is not None and ref() is s:
        return cached
    result = [(rows, _welch_block(block)) for rows, block in _blocks(s)]
    _welch_cache = (weakref.ref(s), result)
    return result


@combiner("spkt_welch_density")
def spkt_welch_density(s: Segments, params: Sequence[Params]) -> Result:
    """Welch power spectral density at frequency index ``coeff`` (NaN beyond the spectrum)."""
    coeffs = [int(p["coeff"]) for p in params]
    out = np.full((len(coeffs), len(s)), np.nan)
    for rows, pxx in _welch_blocks(s):
        for i, c in enumerate(coeffs):
            if 0 <= c < pxx.shape[1]:
                out[i, rows] = pxx[:, c]
    return [(f"coeff_{c}", out[i]) for i, c in enumerate(coeffs)]


def _linspace_rows(first: np.ndarray, last: np.ndarray, num: int) -> np.ndarray:
    """``np.linspace(first[i], last[i], num)`` for every i (same arithmetic as the scalar call)."""
    div = num - 1
    delta = last - first
    y = np.arange(0, num, dtype=np.float64).reshape(1, -1)
    step = delta / div if div > 0 else delta
    if div > 0:
        zero = step == 0
        y = np.where(zero[:, None], (y / div) * delta[:, None], y * step[:, None])
    y = y + first[:, None]
    if num > 1:
        y[:, -1] = last
    return y


def _binned_entropy_rows(values: np.ndarray, max_bins: int) -> np.ndarray:
    """tsfresh's ``binned_entropy`` (``np.histogram`` with equal bins) for every row of ``values``."""
    rows, n = values.shape
    out = np.full(rows, np.nan)
    if n == 0 or max_bins < 1:
        return out
    first = values.min(axis=1)
    last = values.max(axis=1)
    ok = np.isfinite(first) & np.isfinite(last)  # NaN rows: tsfresh returns NaN; inf: numpy raises
    if not ok.any():
        return out
    v = values[ok]
    first, last = first[ok], last[ok]
    same = first == last
    first = np.where(same, first - 0.5, first)
    last = np.where(same, last + 0.5, last)
    edges = _linspace_rows(first, last, max_bins + 1)
    valid = (edges[:, 1:] > edges[:, :-1]).all(axis=1)  # else numpy raises "Too many bins"
    # numpy's uniform-bin fast path, including its one-ulp corrections at the edges
    index = (((v - first[:, None]) / (last - first)[:, None]) * max_bins).astype(np.intp)
    index[index == max_bins] -= 1
    row = np.arange(len(v))[:, None]
    index -= v < edges[row, index]
    index += (v >= edges[row, index + 1]) & (index != max_bins - 1)
    hist = np.bincount((index + row * max_bins).ravel(), minlength=len(v) * max_bins).reshape(len(v), max_bins)
    probs = hist / n
    probs[probs == 0] = 1.0
    entropy = -np.sum(probs * np.log(probs), axis=1)
    out[np.flatnonzero(ok)] = np.where(valid, entropy, np.nan)
    return out


@parametrized("fourier_entropy")
def fourier_entropy(s: Segments, bins: int) -> np.ndarray:
    """Binned entropy of the Welch spectrum scaled to its maximum (NaN for a flat-zero spectrum)."""
    out = np.full(len(s), np.nan)
    for rows, pxx in _welch_blocks(s):
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = pxx / np.max(pxx, axis=1, keepdims=True)
        out[rows] = _binned_entropy_rows(scaled, bins)
    return out


# --------------------------------------------------------------------------------------------------
# Lempel-Ziv complexity
# --------------------------------------------------------------------------------------------------


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


@parametrized("lempel_ziv_complexity")
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


# --------------------------------------------------------------------------------------------------
# Query similarity count (stumpy.core.mass in tsfresh)
# --------------------------------------------------------------------------------------------------

#: stumpy's config.STUMPY_DENOM_THRESHOLD.
_STUMPY_DENOM_THRESHOLD = 1e-14


def _query_distances(block: np.ndarray, query: np.ndarray, normalize: bool) -> np.ndarray:
    """Distance of ``query`` to every subsequence of every row (stumpy's ``mass`` / ``mass_absolute``)."""
    m = len(query)
    windows = np.lib.stride_tricks.sliding_window_view(block, m, axis=1)  # (rows, L - m + 1, m)
    finite = np.isfinite(windows).all(axis=-1)
    if not np.isfinite(query).all():
        return np.full(finite.shape, np.inf)
    if not normalize:
        clean = np.where(np.isfinite(windows), windows, 0.0)
        distance = np.sqrt(np.sum((clean - query) ** 2, axis=-1))
        return np.where(finite, distance, np.inf)
    clean = np.where(np.isfinite(windows), windows, 0.0)
    mean_t = clean.mean(axis=-1)
    std_t = clean.std(axis=-1)
    const_t = finite & (np.ptp(clean, axis=-1) == 0)
    qt = clean @ query
    mean_q, std_q = query.mean(), query.std()
    const_q = np.ptp(query) == 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        denom = np.maximum(std_q * std_t * m, _STUMPY_DENOM_THRESHOLD)
        rho = np.minimum((qt - (mean_q * mean_t) * m) / denom, 1.0)
        squared = np.abs(2 * m * (1.0 - rho))
    if const_q:
        squared = np.where(const_t, 0.0, float(m))
    else:
        squared = np.where(const_t, float(m), squared)
    squared = np.where(finite, squared, np.inf)
    return np.sqrt(squared)


@combiner("query_similarity_count")
def query_similarity_count(s: Segments, params: Sequence[Params]) -> Result:
    """How many subsequences lie within ``threshold`` of ``query`` (z-normalized Euclidean by default).

    tsfresh's preset ``{"query": None, "threshold": 0.0}`` gives NaN (no query, or one shorter than 3
    points). With a query, the distance profile follows stumpy's ``mass`` formula (constant
    subsequences: 0 if the query is constant too, else sqrt(m); non-finite ones: inf); a series shorter
    than the query gives NaN (stumpy raises). Distances are computed in numpy, so a subsequence whose
    distance equals the threshold to rounding may be counted differently from stumpy.
    """
    out = []
    for param in params:
        values = np.full(len(s), np.nan)
        query = param.get("query", None)
        q = np.asarray(query).astype(float)
        if query is not None and q.ndim == 1 and q.size >= 3:
            threshold = param.get("threshold", 0.0)
            normalize = param.get("normalize", True)
            for rows, block in s.blocks():
                if block.shape[1] < q.size:
                    continue
                distance = _query_distances(block, q, bool(normalize))
                values[rows] = np.sum(distance <= threshold, axis=1)
        out.append((output_format(param), values))
    return out
