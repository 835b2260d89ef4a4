"""Spectra: ``np.fft.rfft`` coefficients and aggregates per block of equal-length series."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...registry import Param, Params, Result, combiner
from ...segments import Segments
from ._shared import _all_nan, _invalid

_FFT_ATTRS = {"real", "imag", "abs", "angle"}


@combiner("fft_coefficient", params={"coeff": Param(int, low=0), "attr": Param(str, choices=tuple(sorted(_FFT_ATTRS)))})
def fft_coefficient(s: Segments, params: Sequence[Params]) -> Result:
    """Real/imaginary part, modulus or angle (degrees) of ``np.fft.rfft(x)[coeff]``.

    One ``rfft`` per block of equal-length series; a coefficient beyond the spectrum is NaN.
    """
    suffixes = [f'attr_"{p["attr"]}"__coeff_{p["coeff"]}' for p in params]
    if not params or _invalid(params, lambda p: p["coeff"] >= 0 and p["attr"] in _FFT_ATTRS):
        return _all_nan(s, suffixes)
    size = max(int(p["coeff"]) for p in params) + 1
    spectrum = np.full((len(s), size), complex(np.nan, np.nan))
    for rows, block in s.blocks():
        transformed = np.fft.rfft(block, axis=1)
        keep = min(size, transformed.shape[1])
        spectrum[rows, :keep] = transformed[:, :keep]
    parts = {}
    for attr in {p["attr"] for p in params}:
        if attr == "real":
            parts[attr] = spectrum.real
        elif attr == "imag":
            parts[attr] = spectrum.imag
        elif attr == "abs":
            parts[attr] = np.abs(spectrum)
        else:
            parts[attr] = np.angle(spectrum, deg=True)
    return [(suffix, parts[p["attr"]][:, int(p["coeff"])]) for suffix, p in zip(suffixes, params, strict=True)]


_FFT_AGGREGATES = {"centroid", "variance", "skew", "kurtosis"}


@combiner("fft_aggregated", params={"aggtype": Param(str, choices=tuple(sorted(_FFT_AGGREGATES)))})
def fft_aggregated(s: Segments, params: Sequence[Params]) -> Result:
    """Centroid, variance, skew and kurtosis of ``|rfft(x)|`` as a distribution over its indices.

    tsfresh's formulas, including its kurtosis (``... - 3 * centroid``) and NaN skew/kurtosis when the
    spectral variance is below 0.5.
    """
    suffixes = [f'aggtype_"{p["aggtype"]}"' for p in params]
    if not params or _invalid(params, lambda p: p["aggtype"] in _FFT_AGGREGATES):
        return _all_nan(s, suffixes)
    moments = np.empty((4, len(s)))
    for rows, block in s.blocks():
        spectrum = np.abs(np.fft.rfft(block, axis=1))
        index = np.arange(spectrum.shape[1], dtype=float)
        total = spectrum.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for power in range(1, 5):
                moments[power - 1, rows] = spectrum.dot(index**power) / total
    m1, m2, m3, m4 = moments
    variance = m2 - m1**2
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = (m3 - 3 * m1 * variance - m1**3) / variance**1.5
        kurtosis = (m4 - 4 * m1 * m3 + 6 * m2 * m1**2 - 3 * m1) / variance**2
    small = variance < 0.5
    values = {
        "centroid": m1,
        "variance": variance,
        "skew": np.where(small, np.nan, skew),
        "kurtosis": np.where(small, np.nan, kurtosis),
    }
    return [(suffix, values[p["aggtype"]]) for suffix, p in zip(suffixes, params, strict=True)]
