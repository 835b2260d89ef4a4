"""Reoccurring values (``np.unique`` / ``value_counts`` per series)."""

from __future__ import annotations

import numpy as np

from ...registry import simple
from ...segments import Segments
from ._shared import _value_runs


@simple("percentage_of_reoccurring_values_to_all_values")
def percentage_of_reoccurring_values_to_all_values(s: Segments) -> np.ndarray:
    segment, length, _ = _value_runs(s)
    distinct = np.bincount(segment, minlength=len(s))
    return np.bincount(segment, weights=length > 1, minlength=len(s)) / distinct


@simple("percentage_of_reoccurring_datapoints_to_all_datapoints")
def percentage_of_reoccurring_datapoints_to_all_datapoints(s: Segments) -> np.ndarray:
    """pandas' ``value_counts`` drops NaN: NaN values never reoccur but count in the length."""
    segment, length, value = _value_runs(s)
    weight = np.where((length > 1) & ~np.isnan(value), length, 0)
    return np.bincount(segment, weights=weight, minlength=len(s)) / s.lengths


@simple("sum_of_reoccurring_values", empty=0.0)
def sum_of_reoccurring_values(s: Segments) -> np.ndarray:
    """Sum of the distinct values seen twice or more.

    tsfresh multiplies every distinct value by 0 or 1, so a NaN or an infinity seen once makes the
    sum NaN (``0 * inf``); the same products are summed here.
    """
    segment, length, value = _value_runs(s)
    return np.bincount(segment, weights=(length > 1) * value, minlength=len(s))


@simple("sum_of_reoccurring_data_points", empty=0.0)
def sum_of_reoccurring_data_points(s: Segments) -> np.ndarray:
    """Sum of the values seen twice or more: ``count * value`` with the count zeroed below 2, as tsfresh."""
    segment, length, value = _value_runs(s)
    return np.bincount(segment, weights=np.where(length > 1, length, 0) * value, minlength=len(s))


@simple("ratio_value_number_to_time_series_length")
def ratio_value_number_to_time_series_length(s: Segments) -> np.ndarray:
    segment, _, _ = _value_runs(s)
    return np.bincount(segment, minlength=len(s)) / s.lengths
