"""The vectorized calculators against tsfresh, per series, including the edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tsfresh.feature_extraction import feature_calculators as fc

from featurize_lambda.core.features import CALCULATORS, PRESETS, Segments, extract, parse_features
from featurize_lambda.errors import InputError

SERIES = {
    "random": np.random.default_rng(1).normal(3, 2, 257),
    "single": np.array([4.5]),
    "constant": np.full(10, -2.0),
    "negative": -np.abs(np.random.default_rng(2).normal(size=8)),
    "even_length": np.array([5.0, 1.0, 4.0, 2.0]),
    "integers": np.arange(11, dtype=np.float64),
}


def segments_of(series: list[np.ndarray]) -> Segments:
    lengths = np.array([len(s) for s in series])
    return Segments(np.concatenate(series), np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)


@pytest.mark.parametrize("name", list(CALCULATORS))
def test_calculator_matches_tsfresh_on_every_series_at_once(name):
    values = list(SERIES.values())
    computed = CALCULATORS[name](segments_of(values))
    expected = [getattr(fc, name)(pd.Series(v)) for v in values]
    np.testing.assert_allclose(computed, expected, rtol=1e-12, atol=0)


def test_minimal_preset_is_tsfresh_minimal():
    from tsfresh.feature_extraction import MinimalFCParameters

    assert list(PRESETS["minimal"]) == list(MinimalFCParameters())


def test_extract_fills_missing_kinds_with_nan_and_keeps_kind_order():
    chunk = pd.DataFrame({"id": [1, 1, 2], "kind": ["b", "b", "a"], "value": [1.0, 3.0, 5.0]})
    result = extract(chunk, ["b", "a"], {"mean": None, "length": None})
    assert list(result.columns) == ["b__mean", "b__length", "a__mean", "a__length"]
    assert result.loc[1, "b__mean"] == 2.0 and np.isnan(result.loc[1, "a__mean"])
    assert result.loc[2, "a__length"] == 1.0 and np.isnan(result.loc[2, "b__length"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("maximal", "unknown feature preset 'maximal'"),
        ({"meen": None}, "unknown feature calculator 'meen'"),
        ({"mean": [{"q": 1}]}, "takes no parameters"),
        ({}, "non-empty"),
    ],
)
def test_bad_feature_settings_are_input_errors(spec, message):
    with pytest.raises(InputError, match=message):
        parse_features(spec)
