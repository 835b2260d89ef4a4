"""Welch's power spectral density (``scipy.signal.welch`` with tsfresh's arguments) and its entropy."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ...registry import Param, Params, Result, combiner, parametrized
from ...segments import Segments
from ._shared import _blocks, _linspace_rows

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
