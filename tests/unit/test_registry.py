"""The registry as the catalogue: parameter declarations, signature-derived parameters, the public decorators."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from featurize_lambda.core import registry
from featurize_lambda.core.registry import (
    CUSTOM,
    REGISTRY,
    TSFRESH_CALCULATORS,
    Param,
    Params,
    Result,
    compute,
    signature_params,
)
from featurize_lambda.core.segments import Segments
from featurize_lambda.core.settings import load_custom


@pytest.fixture
def scratch(monkeypatch):
    """An empty catalogue, so a test registers freely without touching tsfresh's."""
    monkeypatch.setattr(registry, "REGISTRY", {})
    return registry


def test_the_catalogue_is_tsfresh_s_and_every_calculator_declares_its_parameters():
    assert set(REGISTRY) == set(TSFRESH_CALCULATORS)
    assert all(calc.params is not None and calc.compute is not None for calc in REGISTRY.values())
    assert not set(CUSTOM) & set(REGISTRY)


@pytest.mark.parametrize(
    ("param", "good", "bad"),
    [
        (Param(float, low=0, high=1), [0, 0.5, 1, np.float64(0.2)], [-0.1, 1.01, "high", True, None, [0.5]]),
        (Param(int, low=0), [0, 3, np.int64(2)], [-1, 1.5, "1", False]),
        (Param(bool), [True, False, np.bool_(True)], [0, 1, "true"]),
        (Param(str, choices=("a", "b")), ["a", "b"], ["c", 1, None]),
        (Param(str, choices=("AIC",), nullable=True), ["AIC", None], ["aic"]),
        (Param(tuple, item=int), [[1, 2], (3,)], [[1.5], "12", 3]),
        (Param(), [1, "x", [1]], [None]),
    ],
)
def test_param_accepts_only_what_it_declares(param, good, bad):
    assert [param.accepts(v) for v in good] == [True] * len(good)
    assert [param.accepts(v) for v in bad] == [False] * len(bad)


def test_param_describes_what_it_allows():
    assert Param(float, low=0, high=1).describe() == "a number from 0 to 1"
    assert Param(int, low=1).describe() == "an integer >= 1"
    assert Param(str, choices=("real", "imag")).describe() == 'one of "real", "imag"'
    assert Param(str, choices=("AIC",), optional=True, nullable=True).describe() == 'one of "AIC" or null (optional)'
    assert Param(tuple, item=int).describe() == "a list of integers"


def test_parameters_come_from_the_signature_as_in_tsfresh():
    def f(x: np.ndarray, lag: int, r: float = 0.5, how: str | None = None, flag: bool = True, anything=1) -> float:
        return 0.0

    params = signature_params(f)
    assert params == {
        "lag": Param(int),
        "r": Param(float, optional=True),
        "how": Param(object, optional=True, nullable=True),
        "flag": Param(bool, optional=True),
        "anything": Param(object, optional=True),
    }
    assert signature_params(lambda x, **kwargs: 0) is None


def test_parametrized_takes_the_signature_and_refines_it(scratch):
    @scratch.parametrized("scaled_mean", params={"factor": Param(float, low=0)})
    def scaled_mean(s: Segments, factor: float, shift: int = 0) -> np.ndarray:
        return s.mean() * factor + shift

    calc = scratch.REGISTRY["scaled_mean"]
    assert calc.params == {"factor": Param(float, low=0), "shift": Param(int, optional=True)}
    got = compute(calc, Segments.from_series([np.array([1.0, 3.0]), np.array([4.0])]), [{"factor": 2, "shift": 1}])
    assert got[0][0] == "factor_2__shift_1" and got[0][1].tolist() == [5.0, 9.0]


def test_a_declaration_the_function_does_not_take_is_caught_at_registration(scratch):
    with pytest.raises(ValueError, match=r"declares parameters \['lagg'\]"):

        @scratch.parametrized("typo", params={"lagg": Param(int)})
        def typo(s: Segments, lag: int) -> np.ndarray:
            return s.mean()


def test_a_name_registered_twice_is_refused(scratch):
    scratch.simple("once")(lambda s: s.mean())
    with pytest.raises(ValueError, match="'once' is registered twice"):
        scratch.simple("once")(lambda s: s.mean())


def test_batch_parametrized_names_columns_like_parametrized(scratch):
    calls = []

    @scratch.parametrized("per_param")
    def per_param(s: Segments, q: float) -> np.ndarray:
        return s.mean() * q

    @scratch.parametrized("all_at_once", params={"q": Param(float)}, batch=True)
    def all_at_once(s: Segments, params: Sequence[Params]) -> list[np.ndarray]:
        calls.append(len(params))
        mean = s.mean()  # the shared work, once
        return [mean * p["q"] for p in params]

    segments = Segments.from_series([np.arange(5.0), np.array([]), np.array([2.0])])
    params = [{"q": 0.5}, {"q": 2}]
    one = compute(scratch.REGISTRY["per_param"], segments, params)
    batch = compute(scratch.REGISTRY["all_at_once"], segments, params)
    assert [s for s, _ in one] == [s for s, _ in batch] == ["q_0.5", "q_2"]
    np.testing.assert_array_equal(np.array([v for _, v in one]), np.array([v for _, v in batch]))
    assert calls == [2]


def test_combiner_declares_its_keys_and_names_its_columns(scratch):
    @scratch.combiner("spread", params={"k": Param(int, low=1)})
    def spread(s: Segments, params: Sequence[Params]) -> Result:
        std = np.sqrt(s.variance())
        return [(f"k_{p['k']}", p["k"] * std) for p in params]

    calc = scratch.REGISTRY["spread"]
    assert calc.fctype == "combiner" and calc.params == {"k": Param(int, low=1)}
    got = compute(calc, Segments.from_series([np.array([1.0, 3.0])]), [{"k": 3}])
    assert got[0][0] == "k_3" and got[0][1].tolist() == [3.0]


def test_custom_calculators_are_kept_by_reference_outside_tsfresh_s_catalogue():
    power_mean = load_custom("custom_features.example:power_mean")
    assert power_mean is CUSTOM["custom_features.example:power_mean"]
    assert power_mean.name == "power_mean" and power_mean.params == {"p": Param(float, low=1)}
    assert "power_mean" not in REGISTRY
    plain = load_custom("custom_features.example:share_above")
    assert plain.fctype == "custom" and plain.params == {"threshold": Param(float)}


def test_calculator_modules_register_through_the_public_api_only():
    import importlib
    import inspect
    import pkgutil

    from featurize_lambda.core import calculators

    names = [info.name for info in pkgutil.walk_packages(calculators.__path__, calculators.__name__ + ".")]
    assert len(names) > 30  # every family module, not just the packages' __init__
    for name in names:
        assert "_register" not in inspect.getsource(importlib.import_module(name)), name
