"""Example custom features (``custom_features.example:<function>``).

Two ways to write one:

- a plain function of one series (``peak_to_peak``, ``share_above``, ``tails``): simplest, runs in a
  Python loop over the series; its parameters are its keyword arguments;
- a calculator registered with :mod:`featurize_lambda.core.registry`'s decorators (``power_mean``,
  ``central_moments``): vectorized over every series of a chunk at once, like the built-in ones, with
  its parameters declared (checked before a run starts).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from featurize_lambda.core.registry import Param, Params, Result, combiner, parametrized
from featurize_lambda.core.segments import Segments


def peak_to_peak(x: np.ndarray) -> float:
    """Range of the series: ``max - min``. Column: ``<kind>__peak_to_peak``."""
    return float(np.max(x) - np.min(x))


def share_above(x: np.ndarray, threshold: float) -> float:
    """Share of points above ``threshold``.

    The setting ``[{"threshold": 0}]`` gives the column ``<kind>__share_above__threshold_0``.
    """
    return float(np.mean(x > threshold))


def tails(x: np.ndarray) -> list[tuple[str, float]]:
    """First and last value: columns ``<kind>__tails__first`` and ``<kind>__tails__last``."""
    return [("first", float(x[0])), ("last", float(x[-1]))]


@parametrized(params={"p": Param(float, low=1)})
def power_mean(s: Segments, p: float) -> np.ndarray:
    """Power mean ``mean(|x| ** p) ** (1 / p)`` of every series at once.

    The setting ``[{"p": 2}]`` gives the column ``<kind>__power_mean__p_2``; ``p`` below 1 is refused.
    """
    return (s.sum(np.abs(s.values) ** p) / s.lengths) ** (1 / p)


@combiner(params={"order": Param(int, low=2)})
def central_moments(s: Segments, params: Sequence[Params]) -> Result:
    """Central moments of several orders; the centered values are computed once for all of them.

    A combiner names its columns: ``[{"order": 2}, {"order": 3}]`` gives ``<kind>__central_moments__order_2``
    and ``<kind>__central_moments__order_3``.
    """
    centered = s.values - s.broadcast(s.mean())
    return [(f"order_{param['order']}", s.sum(centered ** param["order"]) / s.lengths) for param in params]
