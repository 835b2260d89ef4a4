"""Number of CWT peaks (``scipy.signal.find_peaks_cwt`` with tsfresh's Ricker wavelet)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...registry import Param, parametrized
from ...segments import Segments
from ._shared import _blocks


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
