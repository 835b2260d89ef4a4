"""Continuous wavelet transform coefficients (``pywt.cwt`` with the Mexican hat in tsfresh 0.21.2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ...registry import Param, Params, Result, combiner
from ...segments import Segments
from ._shared import _blocks

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
