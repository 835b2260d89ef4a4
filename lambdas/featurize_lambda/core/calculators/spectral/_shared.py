"""Helpers of the spectral calculators: equal-length blocks without a copy, row-wise ``linspace``."""

from __future__ import annotations

import numpy as np

from ...segments import Segments


def _blocks(s: Segments) -> list[tuple[np.ndarray, np.ndarray]]:
    """``s.blocks()``, with a copy-free fast path when all series have one length and lie back to back."""
    n = len(s)
    if n:
        length = int(s.lengths[0])
        first = int(s.starts[0])
        if (s.lengths == length).all() and (np.diff(s.starts) == length).all():
            return [(np.arange(n), s.values[first : first + n * length].reshape(n, length))]
    return s.blocks()


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
