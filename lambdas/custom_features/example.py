"""Example custom features (``custom_features.example:<function>``)."""

from __future__ import annotations

import numpy as np


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
