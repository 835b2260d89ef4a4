"""Every calculator, every parameter of the comprehensive grid, against tsfresh.

Table-driven: one Segments object holds all the test series, so the vectorized code computes them
all at once, and each series is compared with tsfresh computing it alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from featurize_lambda.core.registry import REGISTRY
from featurize_lambda.core.settings import presets

from ..oracle import assert_matches_tsfresh

# Drawn from only here, once at import and in a fixed order: the data do not depend on which tests run.
rng = np.random.default_rng(20261125)

#: The standard series: lengths 1/2/3/10/1000, constant, integers, negative, huge, ties, trends.
SERIES = {
    "one": np.array([3.5]),
    "two": np.array([1.0, -2.0]),
    "three": np.array([2.0, 7.0, 1.0]),
    "ten": rng.normal(0, 1, 10),
    "thousand": rng.normal(5, 3, 1000),
    "constant": np.full(12, 4.0),
    "zeros": np.zeros(8),
    "integers": rng.integers(-3, 4, 50).astype(np.float64),
    "negative": -np.abs(rng.normal(2, 1, 30)),
    "huge": rng.normal(0, 1, 40) * 1e12,
    "ties": np.array([1.0, 1.0, 2.0, 2.0, 2.0, 0.0, 1.0]),
    "trend": np.linspace(-5, 20, 200) + rng.normal(0, 0.5, 200),
    "sine": np.sin(np.linspace(0, 12 * np.pi, 300)),
    "spiky": np.where(rng.random(120) > 0.9, 50.0, 0.0) + rng.normal(0, 0.1, 120),
}
#: Checked calculator by calculator, beyond what extract_features allows (it rejects NaN).
SPECIAL = {
    "empty": np.array([]),
    "nan": np.array([1.0, np.nan, 3.0, 2.0]),
    "all_nan": np.full(5, np.nan),
}

GRID = presets()["comprehensive"]
IMPLEMENTED = [name for name in REGISTRY if name in GRID]


def compare(name: str, series: dict[str, np.ndarray]) -> None:
    assert_matches_tsfresh(name, series, GRID[name])


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_calculator_matches_tsfresh(name):
    compare(name, SERIES)


@pytest.mark.parametrize("name", IMPLEMENTED)
def test_calculator_matches_tsfresh_on_nan_and_empty_series(name):
    compare(name, SERIES | SPECIAL)


def test_tolerances_are_at_most_1e_6():
    assert all(calc.rtol <= 1e-6 for calc in REGISTRY.values())
    assert sum(calc.rtol > 1e-9 for calc in REGISTRY.values()) <= 12  # only the iterative ones


def test_every_tsfresh_calculator_is_registered():
    from tsfresh.feature_extraction import ComprehensiveFCParameters

    assert set(ComprehensiveFCParameters()) <= set(REGISTRY)
    assert set(REGISTRY) == set(GRID)
