"""Benford's law: correlation of the first-digit frequencies."""

from __future__ import annotations

from functools import cache

import numpy as np

from ...registry import simple
from ...segments import Segments


@cache
def _decimal_table() -> tuple[np.ndarray, np.ndarray]:
    """``float("ke<e>")`` (correctly rounded) for k = 1..10 and every float64 decimal exponent."""
    exponents = np.arange(-330, 311)
    return exponents, np.array([[float(f"{k}e{e}") for e in exponents] for k in range(1, 11)])


def _leading_digits(v: np.ndarray) -> np.ndarray:
    """First digit of ``np.format_float_scientific(v)`` (the shortest round-trip repr), 0 for 0.

    The shortest repr ``S`` of ``v`` rounds to ``v`` and float rounding is monotone, so its decimal
    exponent is the largest ``e`` with ``float(1e<e>) <= v`` and its first digit the largest ``k``
    with ``float(ke<e>) <= v`` (two one-digit decimals never round to the same normal float). This
    gets ``0.3`` (stored as 0.2999...) right, where ``floor(v / 10**e)`` says 2. Subnormal values,
    where several one-digit decimals round to the same float, are formatted by numpy.
    """
    exponents, table = _decimal_table()
    flat = table.ravel()
    columns = len(exponents)
    out = np.zeros(len(v), dtype=np.int64)
    positive = np.flatnonzero(v > 0)
    w = v[positive]
    with np.errstate(divide="ignore"):
        e = np.floor(np.log10(w)).astype(np.int64) - exponents[0]
    e = np.clip(e, 1, columns - 2)
    e -= flat[e] > w
    e += flat[e + 1] <= w
    # a first guess of the digit, off by at most one near a digit boundary, then corrected
    with np.errstate(invalid="ignore", over="ignore"):
        digit = np.clip(np.floor(w / flat[e]), 1, 9).astype(np.int64)
    digit -= flat[(digit - 1) * columns + e] > w
    digit += (digit < 9) & (flat[np.minimum(digit, 8) * columns + e] <= w)
    out[positive] = digit
    tiny = np.flatnonzero(w < 1e-300)
    for i in tiny:
        out[positive[i]] = int(str(np.format_float_scientific(w[i]))[:1])
    return out


@simple("benford_correlation")
def benford_correlation(s: Segments) -> np.ndarray:
    """Pearson correlation (``np.corrcoef``) of first-digit frequencies with Benford's law."""
    digits = _leading_digits(np.abs(np.nan_to_num(s.values)))
    counts = np.bincount(s.segment_of_row * 10 + digits, minlength=10 * len(s)).reshape(len(s), 10)
    data = counts[:, 1:] / s.lengths[:, None]
    benford = np.log10(1 + 1 / np.arange(1, 10))
    benford = benford - benford.mean()
    data = data - data.mean(axis=1, keepdims=True)
    factor = np.true_divide(1, 8)
    covariance = (data @ benford) * factor
    std_benford = np.sqrt(np.dot(benford, benford) * factor)
    std_data = np.sqrt(np.einsum("ij,ij->i", data, data) * factor)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(covariance / std_benford / std_data, -1, 1)
