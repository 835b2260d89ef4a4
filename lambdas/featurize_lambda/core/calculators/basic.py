"""tsfresh's MinimalFCParameters: segment reductions over every series at once."""

from __future__ import annotations

import numpy as np

from ..registry import simple
from ..segments import Segments


@simple("sum_values", empty=0.0)
def sum_values(s: Segments) -> np.ndarray:
    return s.sum(s.values)


@simple("median")
def median(s: Segments) -> np.ndarray:
    """``np.median`` of each series: one row-wise median per block of equal-length series.

    With many distinct lengths a segmented sort is cheaper than many small blocks.
    """
    if s.distinct_lengths() > max(8, len(s) // 16):
        ordered = s.sorted_values
        result = (ordered[s.starts + (s.lengths - 1) // 2] + ordered[s.starts + s.lengths // 2]) / 2
        has_nan = s.sum(np.isnan(s.values)) > 0  # np.median gives NaN for any NaN
        return np.where(has_nan, np.nan, result)
    out = np.empty(len(s))
    for rows, block in s.blocks():
        out[rows] = np.median(block, axis=1)
    return out


@simple("mean")
def mean(s: Segments) -> np.ndarray:
    return s.mean()


@simple("length", empty=0.0)
def length(s: Segments) -> np.ndarray:
    return s.lengths


@simple("standard_deviation")
def standard_deviation(s: Segments) -> np.ndarray:
    return np.sqrt(s.variance())


@simple("variance")
def variance(s: Segments) -> np.ndarray:
    return s.variance()


@simple("root_mean_square")
def root_mean_square(s: Segments) -> np.ndarray:
    return np.sqrt(s.sum(s.values * s.values) / s.lengths)


@simple("maximum")
def maximum(s: Segments) -> np.ndarray:
    return np.maximum.reduceat(s.values, s.starts)


@simple("absolute_maximum")
def absolute_maximum(s: Segments) -> np.ndarray:
    return np.maximum.reduceat(np.abs(s.values), s.starts)


@simple("minimum")
def minimum(s: Segments) -> np.ndarray:
    return np.minimum.reduceat(s.values, s.starts)
