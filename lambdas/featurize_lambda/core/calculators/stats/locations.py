"""Counts and longest strikes above and below the mean; first and last locations of the extremes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...registry import simple
from ...segments import Segments
from ._shared import _count, _groups, _longest_run, _mean_with_ties, _padded


def _above_mean(s: Segments) -> np.ndarray:
    return s.values > s.broadcast(_mean_with_ties(s))


def _below_mean(s: Segments) -> np.ndarray:
    return s.values < s.broadcast(_mean_with_ties(s))


@simple("longest_strike_below_mean", empty=0.0)
def longest_strike_below_mean(s: Segments) -> np.ndarray:
    return _longest_run(s, _below_mean(s))


@simple("longest_strike_above_mean", empty=0.0)
def longest_strike_above_mean(s: Segments) -> np.ndarray:
    return _longest_run(s, _above_mean(s))


@simple("count_above_mean", empty=0.0)
def count_above_mean(s: Segments) -> np.ndarray:
    return _count(s, _above_mean(s))


@simple("count_below_mean", empty=0.0)
def count_below_mean(s: Segments) -> np.ndarray:
    return _count(s, _below_mean(s))


def _arg(s: Segments, function: Callable, fill: float, reverse: bool) -> np.ndarray:
    """``np.argmax`` / ``np.argmin`` of every series (or of it reversed), row-wise on padded blocks.

    The padding (``-inf`` for argmax, ``inf`` for argmin) comes after the values, so it is never the
    first extreme; NaN wins as in numpy.
    """
    out = np.empty(len(s), dtype=np.int64)
    for rows, width in _groups(s):
        matrix, _ = _padded(s, s.values, rows, width, fill, reverse=reverse, copy=False)
        out[rows] = function(matrix, axis=1)
    return out


@simple("last_location_of_maximum")
def last_location_of_maximum(s: Segments) -> np.ndarray:
    """``1.0 - np.argmax(x[::-1]) / len(x)``."""
    return 1.0 - _arg(s, np.argmax, -np.inf, reverse=True) / s.lengths


@simple("first_location_of_maximum")
def first_location_of_maximum(s: Segments) -> np.ndarray:
    return _arg(s, np.argmax, -np.inf, reverse=False) / s.lengths


@simple("last_location_of_minimum")
def last_location_of_minimum(s: Segments) -> np.ndarray:
    return 1.0 - _arg(s, np.argmin, np.inf, reverse=True) / s.lengths


@simple("first_location_of_minimum")
def first_location_of_minimum(s: Segments) -> np.ndarray:
    return _arg(s, np.argmin, np.inf, reverse=False) / s.lengths
