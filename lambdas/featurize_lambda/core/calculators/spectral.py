"""Calculators tsfresh computes with scipy.signal and friends (Welch, Ricker CWT, peak search), in numpy.

tsfresh 0.21.2 calls ``scipy.signal.welch``, ``pywt.cwt`` (Mexican hat), ``scipy.signal.find_peaks_cwt``
and ``stumpy.core.mass``; none of them is available in the Lambda, so each is re-implemented here
with the same arithmetic, vectorized over every series of a chunk (equal-length series are processed
as 2-D blocks; the peak search runs over all series at once). Only the Lempel-Ziv parse is a
per-series Python loop, because it is inherently sequential.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..registry import Param, Params, Result, combiner, output_format, parametrized
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
    with np.errstate(invalid="ignore"):  # inf - inf in a segment: NaN, as in scipy
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


@combiner(
    "spkt_welch_density",
    params={"coeff": Param(int)},
    notes=(
        "Each value belongs to its own coefficient; tsfresh misassigns values when coefficients beyond the "
        "spectrum come before smaller ones in the parameter list."
    ),
)
def spkt_welch_density(s: Segments, params: Sequence[Params]) -> Result:
    """Welch power spectral density at frequency index ``coeff`` (NaN beyond the spectrum).

    A negative ``coeff`` counts from the end, as Python indexing in tsfresh does. Deviation: when
    some coefficients lie beyond the spectrum, tsfresh lists the available values first and the NaNs
    last, so with an unsorted parameter list (``[{"coeff": 200}, {"coeff": 2}]`` on a short series)
    its values land on the wrong names; here every coefficient gets its own value.
    """
    coeffs = [int(p["coeff"]) for p in params]
    out = np.full((len(coeffs), len(s)), np.nan)
    for rows, pxx in _welch_blocks(s):
        n_freq = pxx.shape[1]
        for i, c in enumerate(coeffs):
            if -n_freq <= c < n_freq:
                out[i, rows] = pxx[:, c]
    return [(f"coeff_{c}", out[i]) for i, c in enumerate(coeffs)]


def _linspace_rows(first: np.ndarray, last: np.ndarray, num: int) -> np.ndarray:
    """``np.linspace(first[i], last[i], num)`` for every i (same arithmetic as the scalar call)."""
    div = num - 1
    y = np.arange(0, num, dtype=np.float64).reshape(1, -1)
    with np.errstate(invalid="ignore"):  # NaN or infinite bounds give NaN edges, as in numpy
        delta = last - first
        if div > 0:
            step = delta / div
            zero = step == 0
            y = np.where(zero[:, None], (y / div) * delta[:, None], y * step[:, None])
        else:
            y = y * delta[:, None]
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


@parametrized("fourier_entropy", params={"bins": Param(int, low=1)})
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


# --------------------------------------------------------------------------------------------------
# Query similarity count (stumpy.core.mass in tsfresh)
# --------------------------------------------------------------------------------------------------

#: stumpy's config.STUMPY_DENOM_THRESHOLD.
_STUMPY_DENOM_THRESHOLD = 1e-14


#: Window values (rows x windows x query length) materialized at once by query_similarity_count.
_QUERY_BATCH_CELLS = 4_000_000


def _query_counts(block: np.ndarray, query: np.ndarray, normalize: bool, threshold: float) -> np.ndarray:
    """Per row, how many subsequences lie within ``threshold`` of ``query`` (windows taken in batches)."""
    rows, length = block.shape
    m = len(query)
    windows = np.lib.stride_tricks.sliding_window_view(block, m, axis=1)  # a view: (rows, L - m + 1, m)
    step = max(1, _QUERY_BATCH_CELLS // (rows * m))
    counts = np.zeros(rows)
    for first in range(0, length - m + 1, step):
        counts += np.sum(_query_distances(windows[:, first : first + step], query, normalize) <= threshold, axis=1)
    return counts


def _query_distances(windows: np.ndarray, query: np.ndarray, normalize: bool) -> np.ndarray:
    """Distance of ``query`` to each window (stumpy's ``mass`` / ``mass_absolute`` formulas)."""
    m = len(query)
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


@combiner(
    "query_similarity_count",
    params={
        "query": Param(tuple, optional=True, nullable=True),
        "threshold": Param(float, optional=True),
        "normalize": Param(bool, optional=True),
    },
    notes=(
        "A query longer than the series gives NaN for that query only (tsfresh/stumpy raise for the whole "
        "calculator); with a query, a distance equal to the threshold to rounding may count differently."
    ),
)
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
        q = np.asarray(query, dtype=float) if query is not None else np.empty(0)
        if q.ndim == 1 and q.size >= 3:
            threshold = param.get("threshold", 0.0)
            normalize = param.get("normalize", True)
            for rows, block in s.blocks():
                if block.shape[1] < q.size:
                    continue
                values[rows] = _query_counts(block, q, bool(normalize), threshold)
        out.append((output_format(param), values))
    return out


# --------------------------------------------------------------------------------------------------
# Continuous wavelet transform coefficients (pywt.cwt with the Mexican hat in tsfresh 0.21.2)
# --------------------------------------------------------------------------------------------------

#: pywt's "mexh" wavelet is sampled on [-8, 8] at 2**12 points (pywt.cwt's default precision).
_MEXH_BOUND = 8.0
_PYWT_PRECISION = 12


@lru_cache(maxsize=1)
def _mexh_integral() -> tuple[np.ndarray, float]:
    """pywt's ``integrate_wavelet("mexh", precision=12)``: the running integral and the grid step.

    The wavelet is evaluated with ``math`` (C's libm), as pywt's C code does, so the table is
    bit-identical to pywt's.
    """
    grid = np.linspace(-_MEXH_BOUND, _MEXH_BOUND, 2**_PYWT_PRECISION)
    norm = math.sqrt(3) * math.sqrt(math.sqrt(math.pi))
    psi = np.array([(1 - t**2) * math.exp(-(t**2) / 2) * 2 / norm for t in grid.tolist()])
    step = grid[1] - grid[0]
    integral = np.cumsum(psi)
    integral *= step
    integral.setflags(write=False)
    return integral, float(step)


@lru_cache(maxsize=256)
def _mexh_kernel(scale: float) -> np.ndarray:
    """The reversed, resampled integral pywt convolves with at one scale (``int_psi_scale``)."""
    integral, step = _mexh_integral()
    j = (np.arange(scale * (2 * _MEXH_BOUND) + 1) / (scale * step)).astype(int)
    j = j[j < integral.size]
    kernel = integral[j][::-1].copy()
    kernel.setflags(write=False)
    return kernel


def _convolve_at(row: np.ndarray, kernel: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``np.convolve(row, kernel)[targets]``, bit for bit: the very dot products numpy performs.

    ``np.convolve`` correlates the longer input with the reversed shorter one, one BLAS dot product
    per output (a plain sequential sum in the middle part when the shorter input has at most 11
    values); ``np.dot`` on the same slices calls the same BLAS routine.
    """
    if len(row) >= len(kernel):
        a, b = row, np.ascontiguousarray(kernel[::-1])
    else:
        a, b = kernel, np.ascontiguousarray(row[::-1])
    n1, n2 = len(a), len(b)
    out = []
    dot = np.dot
    for t in targets.tolist():
        lo, hi = max(0, t - n2 + 1), min(n1, t + 1)
        first = max(0, n2 - 1 - t)
        if n2 <= 11 and n2 - 1 <= t <= n1 - 1:  # numpy's small_correlate: a plain sequential sum
            total = 0.0
            for p, q in zip(a[lo:hi].tolist(), b[first : first + hi - lo].tolist(), strict=True):
                total += p * q
            out.append(total)
        else:
            out.append(dot(a[lo:hi], b[first : first + hi - lo]))
    return np.array(out, dtype=np.float64)


#: Relative tolerance the vectorized CWT must provably meet before its result is used (a tenth of
#: the 1e-9 promised), and the absolute floor below which a difference does not matter.
_CWT_SAFE_RTOL = 1e-10
_CWT_SAFE_ATOL = 1e-13


def _cwt_coefficients_block(block: np.ndarray, scale: float, coeffs: list[int]) -> np.ndarray:
    """``pywt.cwt(x, [scale], "mexh")[0][0, coeffs]`` for every row of ``block`` (coeffs < length).

    pywt convolves the whole series with the kernel (length ``16 * scale + 1``), differentiates and
    keeps the centre. Only the first coefficients are wanted, so the two convolution values each
    one needs are computed directly, as one small matrix product for the whole block.

    A coefficient is a difference of two convolution values, so on series with a large offset it
    cancels: the rounding of the sums (pywt's as well as ours) then shows at the 1e-9 level. A
    rigorous bound on the rounding error of a dot product (n * eps * sum of |terms|, whatever the
    summation order) tells which rows are affected; those, and rows with a non-finite value, are
    recomputed with exactly numpy's dot products (:func:`_convolve_at`), so they agree bit for bit.
    """
    rows, length = block.shape
    kernel = _mexh_kernel(scale)
    k = len(kernel)
    offset = (k - 2) // 2  # floor(d): where pywt's crop starts in the differentiated convolution
    needed = np.asarray(coeffs, dtype=np.int64) + offset
    targets = np.unique(np.concatenate([needed, needed + 1]))  # convolution indices
    m_stop = min(length, int(targets.max()) + 1)
    lag = targets[None, :] - np.arange(m_stop)[:, None]  # kernel index per (data point, target)
    inside = (lag >= 0) & (lag < k)
    weights = np.where(inside, kernel[np.clip(lag, 0, k - 1)], 0.0)
    data = block[:, :m_stop]
    finite = np.isfinite(data).all(axis=1)
    clean = np.where(finite[:, None], data, 0.0)
    conv = clean @ weights
    magnitude = np.abs(clean) @ np.abs(weights)
    where = np.searchsorted(targets, needed)
    root = np.sqrt(scale)
    out = -root * (conv[:, where + 1] - conv[:, where])
    eps = np.finfo(np.float64).eps
    gamma = m_stop * eps / (1 - m_stop * eps)
    error = 2.01 * (root * gamma * (magnitude[:, where + 1] + magnitude[:, where]) + 2 * eps * np.abs(out))
    unsafe = ~((error <= _CWT_SAFE_RTOL * np.abs(out)) | (error <= _CWT_SAFE_ATOL))
    unsafe[~finite] = True
    for r in np.flatnonzero(unsafe.any(axis=1)):
        cols = np.flatnonzero(unsafe[r])
        exact = _convolve_at(block[r], kernel, np.concatenate([needed[cols], needed[cols] + 1]))
        with np.errstate(invalid="ignore"):
            out[r, cols] = -root * (exact[len(cols) :] - exact[: len(cols)])
    return out


@combiner(
    "cwt_coefficients",
    params={"widths": Param(tuple, item=int), "coeff": Param(int, low=0), "w": Param(int, low=1)},
)
def cwt_coefficients(s: Segments, params: Sequence[Params]) -> Result:
    """Mexican-hat continuous wavelet transform coefficient ``coeff`` at width ``w`` (pywt's ``cwt``).

    NaN for a coefficient beyond the series. If tsfresh would raise for the parameter set (``w`` not in
    ``widths``, a non-positive width), every value is NaN.
    """
    names = [f"coeff_{p['coeff']}__w_{p['w']}__widths_{tuple(p['widths'])}" for p in params]
    out = np.full((len(params), len(s)), np.nan)
    scales = [p["w"] for p in params]
    valid = all(
        p["w"] in tuple(p["widths"]) and all(w > 0 and len(_mexh_kernel(w)) > 2 for w in p["widths"]) for p in params
    )
    if not valid:
        return list(zip(names, out, strict=True))
    for rows, block in _blocks(s):
        length = block.shape[1]
        for scale in dict.fromkeys(scales):
            which = [i for i, p in enumerate(params) if p["w"] == scale]
            coeffs = [int(params[i]["coeff"]) for i in which]
            coeffs = [c + length if c < 0 else c for c in coeffs]  # Python indexing, as tsfresh
            keep = [(i, c) for i, c in zip(which, coeffs, strict=True) if 0 <= c < length]
            if not keep:
                continue
            values = _cwt_coefficients_block(block, scale, [c for _, c in keep])
            for j, (i, _) in enumerate(keep):
                out[i, rows] = values[:, j]
    return list(zip(names, out, strict=True))


# --------------------------------------------------------------------------------------------------
# Number of CWT peaks (scipy.signal.find_peaks_cwt with tsfresh's Ricker wavelet)
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _ricker_kernel(points: int, width: int) -> np.ndarray:
    """The array scipy's ``_cwt`` convolves with: ``conj(_ricker(points, width)[::-1])`` (tsfresh's copy)."""
    a = np.int64(width)
    amplitude = 2 / (np.sqrt(3 * a) * (np.pi**0.25))
    wsq = a**2
    vec = np.arange(0, points) - (points - 1.0) / 2
    xsq = vec**2
    mod = 1 - xsq / wsq
    gauss = np.exp(-xsq / (2 * wsq))
    kernel = np.conj((amplitude * mod * gauss)[::-1]).copy()
    kernel.setflags(write=False)
    return kernel


def _scipy_convolve_uses_fft(length: int, points: int) -> bool:
    """``scipy.signal.choose_conv_method`` for a 1-D float "same" convolution (kernel <= data)."""
    full = length + points - 1
    fft_ops = 3 * full * np.log(full)
    direct_ops = length * points - (points // 2) * ((points + 1) // 2)
    return 3.2646654e-9 * fft_ops < 2.8478277e-10 * direct_ops + -1e-3


def _next_fast_len_real(target: int) -> int:
    """``scipy.fft.next_fast_len(target, real=True)``: the smallest 2-3-5-smooth number >= target."""
    best = 1 << max(target - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < target:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def _ricker_cwt(s: Segments, n: int) -> np.ndarray:
    """scipy's ``_cwt(x, _ricker, widths=1..n)`` for every series: ``(n, len(s.values))``, row = width.

    Each row is ``scipy.signal.convolve(x, kernel, mode="same")`` with a kernel of
    ``min(10 * width, len(x))`` points. scipy picks direct or FFT convolution by its cost model; the
    same choice is made here. The direct convolution is ``np.convolve`` (what scipy calls), one C call
    per series and width, because the peak search compares neighbouring values strictly: ties and
    near-ties on plateaus or symmetric stretches are decided by the last bit, which any other
    summation order would change. FFT convolutions are batched over each block of equal-length
    series (numpy's pocketfft gives scipy's bits).
    """
    out = np.empty((n, len(s.values)))
    for rows, block in _blocks(s):
        length = block.shape[1]
        cols = s.starts[rows, None] + np.arange(length)
        for width in range(1, n + 1):
            points = min(10 * width, length)
            kernel = _ricker_kernel(points, width)
            if _scipy_convolve_uses_fft(length, points):
                size = _next_fast_len_real(length + points - 1)
                spectrum = np.fft.rfft(block, size, axis=1) * np.fft.rfft(kernel, size)
                start = (points - 1) // 2
                out[width - 1, cols] = np.fft.irfft(spectrum, size, axis=1)[:, start : start + length]
            else:
                target = out[width - 1]
                for start in s.starts[rows].tolist():
                    target[start : start + length] = np.convolve(s.values[start : start + length], kernel, mode="same")
    return out


def _window_percentile(values: np.ndarray, start: np.ndarray, stop: np.ndarray, per: float) -> np.ndarray:
    """``scipy.stats.scoreatpercentile(values[start:stop], per)`` for many windows at once.

    Windows of one size are copied as rows of a sliding-window view and sorted row-wise (NaN last,
    as scipy's ``np.sort``); the interpolation repeats scipy's arithmetic.
    """
    size = stop - start
    out = np.empty(len(start))
    for width in np.unique(size).tolist():
        which = np.flatnonzero(size == width)
        ordered = np.lib.stride_tricks.sliding_window_view(values, width)[start[which]]  # a copy
        ordered.sort(axis=1)
        position = per / 100.0 * (width - 1)
        low = int(position)
        if low == position:
            out[which] = ordered[:, low] * 1 / 1.0
        else:
            w0, w1 = (low + 1) - position, position - low
            out[which] = (ordered[:, low] * w0 + ordered[:, low + 1] * w1) / (w0 + w1)
    return out


def _count_ridge_peaks(s: Segments, cwt: np.ndarray) -> np.ndarray:
    """scipy's ``_identify_ridge_lines`` + ``_filter_ridge_lines`` on every series at once; peaks per series.

    The ridge search walks the rows from the widest scale down; each row is handled for all series
    together. Every relative maximum (strictly above both neighbours; never a series' end) joins
    the ridge line whose last column is nearest (ties: the earliest line, as ``np.argmin``) if it is
    within ``width / 4``, else starts a new line; a line not extended for more than
    ``ceil(widths[0]) = 1`` rows is closed. Columns of different series are kept apart by a key
    offset larger than any distance. A line counts if it spans ``ceil(n / 4)`` rows and its
    signal-to-noise ratio is not below 1: the CWT value at the point scipy reads (through its sorting
    code, the last point added) over the 10th percentile of the smallest-scale row in a window of
    ``ceil(len / 20)`` around it. Noise is computed only for the lines that need it.
    """
    n = cwt.shape[0]
    total = len(s.values)
    lengths = s.lengths
    segment = s.segment_of_row
    position = s.position
    length_of = np.repeat(lengths, lengths)
    interior = (position > 0) & (position < length_of - 1)
    spread = int(lengths.max()) + n + 2
    key_of = np.arange(total, dtype=np.int64) + segment * spread
    max_distances = np.arange(1, n + 1) / 4.0
    gap_thresh = 1.0  # np.ceil(widths[0])

    act_g = np.empty(0, dtype=np.int64)  # global index of each open line's last point
    act_len = np.empty(0, dtype=np.int64)
    act_row = np.empty(0, dtype=np.int64)
    act_gap = np.empty(0, dtype=np.int64)
    done_g, done_len, done_row = [], [], []
    for r in range(n - 1, -1, -1):
        row = cwt[r]
        maxima = interior.copy()
        maxima[1:] &= row[1:] > row[:-1]
        maxima[:-1] &= row[:-1] > row[1:]
        g = np.flatnonzero(maxima)
        act_gap += 1
        attach = np.zeros(len(g), dtype=bool)
        if len(act_g) and len(g):
            q = key_of[g]
            order = np.argsort(key_of[act_g], kind="stable")
            keys = key_of[act_g][order]
            at = np.searchsorted(keys, q, side="left")
            has_right = at < len(keys)
            right_key = keys[np.minimum(at, len(keys) - 1)]
            d_right = np.where(has_right, right_key - q, np.iinfo(np.int64).max)
            right_line = order[np.minimum(at, len(keys) - 1)]
            has_left = at > 0
            left_key = keys[np.maximum(at - 1, 0)]
            left_first = np.searchsorted(keys, left_key, side="left")
            d_left = np.where(has_left, q - left_key, np.iinfo(np.int64).max)
            left_line = order[left_first]
            line = np.where(
                d_left < d_right, left_line, np.where(d_right < d_left, right_line, np.minimum(left_line, right_line))
            )
            attach = np.minimum(d_left, d_right) <= max_distances[r]
            lines, points = line[attach], g[attach]
            if len(lines):
                act_len += np.bincount(lines, minlength=len(act_g))
                act_gap[lines] = 0
                act_row[lines] = r
                # several maxima may join one line; its last point is the last one (rightmost)
                unique, last = np.unique(lines[::-1], return_index=True)
                act_g[unique] = points[::-1][last]
        fresh = g[~attach]
        act_g = np.concatenate([act_g, fresh])
        act_len = np.concatenate([act_len, np.ones(len(fresh), dtype=np.int64)])
        act_row = np.concatenate([act_row, np.full(len(fresh), r, dtype=np.int64)])
        act_gap = np.concatenate([act_gap, np.zeros(len(fresh), dtype=np.int64)])
        closed = act_gap > gap_thresh
        if closed.any():
            done_g.append(act_g[closed])
            done_len.append(act_len[closed])
            done_row.append(act_row[closed])
            keep = ~closed
            act_g, act_len, act_row, act_gap = act_g[keep], act_len[keep], act_row[keep], act_gap[keep]
    all_g = np.concatenate([*done_g, act_g])
    all_len = np.concatenate([*done_len, act_len])
    all_row = np.concatenate([*done_row, act_row])
    long_enough = all_len >= np.ceil(n / 4)
    all_g, all_row = all_g[long_enough], all_row[long_enough]
    counts = np.zeros(len(s))
    if not len(all_g):
        return counts
    seg = segment[all_g]
    length = lengths[seg]
    column = position[all_g]
    window = np.ceil(length / 20).astype(np.int64)
    half, odd = window // 2, window % 2
    first = s.starts[seg]
    lo = first + np.maximum(column - half, 0)
    hi = first + np.minimum(column + half + odd, length)
    noise = _window_percentile(cwt[0], lo, hi, 10)
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.abs(cwt[all_row, all_g] / noise)
    passed = ~(snr < 1)
    return np.bincount(seg[passed], minlength=len(s)).astype(np.float64)


#: Cells of the CWT matrix (widths x values) held at once; larger chunks are searched in groups.
_PEAKS_BATCH_CELLS = 4_000_000


@parametrized("number_cwt_peaks", params={"n": Param(int, low=1)})
def number_cwt_peaks(s: Segments, n: int) -> np.ndarray:
    """How many peaks ``scipy.signal.find_peaks_cwt(x, widths=1..n, wavelet=ricker)`` finds (a count).

    Counts match scipy exactly: the CWT rows are scipy's bit for bit and the ridge search and SNR
    filter follow its rules. Series are searched in groups of at most ``_PEAKS_BATCH_CELLS / n``
    values to bound memory.
    """
    n = int(n)
    if n < 1:  # scipy reads widths[0]: tsfresh raises
        return np.full(len(s), np.nan)
    out = np.empty(len(s))
    limit = max(1, _PEAKS_BATCH_CELLS // n)
    first = 0
    lengths = s.lengths.tolist()
    while first < len(s):
        last, size = first + 1, lengths[first]
        while last < len(s) and size + lengths[last] <= limit:
            size += lengths[last]
            last += 1
        group = Segments.from_series([s.series(i) for i in range(first, last)])
        out[first:last] = _count_ridge_peaks(group, _ricker_cwt(group, n))
        first = last
    return out
