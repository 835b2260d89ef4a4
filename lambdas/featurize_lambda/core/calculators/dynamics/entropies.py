"""Permutation entropy: ordinal patterns as Lehmer codes from shifted comparisons."""

from __future__ import annotations

import math

import numpy as np

from ...registry import Param, parametrized
from ...segments import Segments


def _lehmer_weights(dimension: int) -> np.ndarray:
    return np.array([math.factorial(dimension - 1 - j) for j in range(dimension)], dtype=np.int64)


def _ordinal_codes(x: np.ndarray, begin: np.ndarray, dimension: int) -> np.ndarray:
    """The ordinal pattern of every window ``x[b : b + dimension]`` (``b`` in ``begin``) as an integer.

    The code is the Lehmer code of the window's ranks, ``sum_j #{k > j: x_k before x_j} (D-1-j)!``.
    Without ties it follows from comparisons of shifted copies of ``x`` (no window array at all);
    windows with ties (NaN ties NaN) take their ranks from ``np.argsort``, as tsfresh does, since
    numpy's default sort orders ties differently by length and platform.
    """
    n = len(x)
    count = n - dimension + 1
    weights = _lehmer_weights(dimension)
    has_nan = bool(np.isnan(x).any())
    digits = np.zeros((dimension - 1, count), dtype=np.uint8)  # digit j: #{k > j: x_k before x_j}
    tie = np.zeros(count, dtype=bool)
    for shift in range(1, dimension):
        first, second = x[: n - shift], x[shift:]
        before = second < first  # x[p + shift] sorts before x[p]
        equal = second == first
        if has_nan:
            missing_first, missing_second = np.isnan(first), np.isnan(second)
            before |= missing_first & ~missing_second
            equal |= missing_first & missing_second
        for j in range(dimension - shift):  # the pair (j, j + shift) of the window starting at p
            digits[j] += before[j : j + count]
            tie |= equal[j : j + count]
    digits = digits[:, begin]
    code = np.zeros(len(begin), dtype=np.int64)
    for j in range(dimension - 1):
        code += digits[j].astype(np.int64) * weights[j]
    tied = np.flatnonzero(tie[begin])
    if len(tied):
        order = np.argsort(x[begin[tied][:, None] + np.arange(dimension)], axis=1)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(dimension)[None, :], axis=1)
        lehmer = np.zeros(len(tied), dtype=np.int64)
        for j in range(dimension - 1):
            lehmer += (rank[:, j + 1 :] < rank[:, j : j + 1]).sum(axis=1) * weights[j]
        code[tied] = lehmer
    return code


@parametrized("permutation_entropy", params={"tau": Param(int, low=1), "dimension": Param(int, low=1)})
def permutation_entropy(s: Segments, tau: int, dimension: int) -> np.ndarray:
    """Entropy (natural log) of the ordinal patterns of windows of ``dimension`` values every ``tau``.

    Each window's pattern is an integer (:func:`_ordinal_codes`, the same patterns as tsfresh's
    ``argsort(argsort(window))`` rows), counted per series. NaN without a window.
    """
    out = np.full(len(s), np.nan)
    tau, dimension = int(tau), int(dimension)
    if dimension <= 1 or tau <= 0:  # tsfresh's _into_subchunks asserts
        return out
    windows = np.maximum((s.lengths - dimension) // tau + 1, 0)
    total = int(windows.sum())
    if not total:
        return out
    owner = np.repeat(np.arange(len(s)), windows)
    index = np.arange(total) - np.repeat(np.cumsum(windows) - windows, windows)
    code = _ordinal_codes(s.values, s.starts[owner] + tau * index, dimension)
    patterns = math.factorial(dimension)
    if patterns * len(s) <= 4 * total:
        counts = np.bincount(owner * patterns + code, minlength=patterns * len(s))
        unique = np.flatnonzero(counts)
        counts = counts[unique]
    else:
        unique, counts = np.unique(owner * patterns + code, return_counts=True)
    series = unique // patterns
    probability = counts / windows[series]
    entropy = -np.bincount(series, weights=probability * np.log(probability), minlength=len(s))
    has = windows > 0
    out[has] = entropy[has]
    return out
