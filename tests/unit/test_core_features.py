"""Settings like tsfresh's, column naming and per-kind extraction (the framework around calculators)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featurize_lambda.core.features import extract, parse_features
from featurize_lambda.core.registry import REGISTRY, output_format
from featurize_lambda.core.settings import FeatureSpec, presets
from featurize_lambda.errors import InputError


@pytest.mark.parametrize("preset", ["minimal", "efficient", "comprehensive"])
def test_presets_are_tsfresh_presets(preset):
    from tsfresh.feature_extraction import (
        ComprehensiveFCParameters,
        EfficientFCParameters,
        MinimalFCParameters,
    )

    expected = {
        "minimal": MinimalFCParameters,
        "efficient": EfficientFCParameters,
        "comprehensive": ComprehensiveFCParameters,
    }[preset]()
    assert list(presets()[preset]) == list(expected)
    for name, params in expected.items():
        stored = presets()[preset][name]
        assert stored == params, name
        if params:  # the same column names, tuples included (cwt_coefficients' widths)
            assert [output_format(p) for p in stored] == [output_format(p) for p in params]


def test_output_format_is_tsfresh_convert_to_output_format():
    from tsfresh.utilities.string_manipulation import convert_to_output_format

    for params in presets()["comprehensive"].values():
        for param in params or []:
            assert output_format(param) == convert_to_output_format(param)


def test_extract_names_columns_like_tsfresh_and_fills_missing_kinds_with_nan():
    chunk = pd.DataFrame({"id": [1, 1, 2], "kind": ["b", "b", "a"], "value": [1.0, 3.0, 5.0]})
    result = extract(chunk, ["b", "a"], parse_features({"mean": None, "length": None}))
    assert list(result.columns) == ["b__mean", "b__length", "a__mean", "a__length"]
    assert result.loc[1, "b__mean"] == 2.0 and np.isnan(result.loc[1, "a__mean"])
    assert result.loc[2, "a__length"] == 1.0 and np.isnan(result.loc[2, "b__length"])


def test_per_kind_settings_like_kind_to_fc_parameters():
    spec = parse_features({"default": {"mean": None}, "kinds": {"b": {"maximum": None, "minimum": None}}})
    chunk = pd.DataFrame({"id": [1, 1, 1], "kind": ["a", "b", "b"], "value": [1.0, 3.0, 5.0]})
    result = extract(chunk, ["a", "b"], spec)
    assert list(result.columns) == ["a__mean", "b__maximum", "b__minimum"]
    assert result.iloc[0].tolist() == [1.0, 5.0, 3.0]
    only_kinds = parse_features({"kinds": {"b": "minimal"}})
    assert only_kinds.default == {} and list(extract(chunk, ["a", "b"], only_kinds).columns)[0] == "b__sum_values"


def test_custom_functions_are_named_like_tsfresh():
    spec = parse_features(
        {
            "custom_features.example:peak_to_peak": None,
            "custom_features.example:share_above": [{"threshold": 2}],
            "custom_features.example:tails": None,
        }
    )
    chunk = pd.DataFrame({"id": [1, 1, 2], "kind": ["v", "v", "v"], "value": [1.0, 3.0, 5.0]})
    result = extract(chunk, ["v"], spec)
    assert list(result.columns) == [
        "v__peak_to_peak",
        "v__share_above__threshold_2",
        "v__tails__first",
        "v__tails__last",
    ]
    assert result.loc[1].tolist() == [2.0, 0.5, 1.0, 3.0] and result.loc[2].tolist() == [0.0, 1.0, 5.0, 5.0]


def test_spec_survives_the_json_round_trip_of_the_run_document():
    import json

    spec = parse_features({"default": "minimal", "kinds": {"x": {"mean": None}}})
    assert parse_features(json.loads(json.dumps(spec.to_json()))) == spec


def test_declared_parameters_are_the_grids():
    """Every calculator declares the parameters its comprehensive grid uses (ADF's autolag and
    query_similarity_count's normalize are optional: tsfresh reads them with a default)."""
    grid = presets()["comprehensive"]
    for name, calc in REGISTRY.items():
        used = set().union(*map(set, grid[name])) if grid[name] else set()
        required = {key for key, param in calc.params.items() if not param.optional}
        assert required <= used <= set(calc.params), name
    assert set(REGISTRY["change_quantiles"].params) == {"ql", "qh", "isabs", "f_agg"}
    assert REGISTRY["mean"].params == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("maximal", "unknown feature preset 'maximal'"),
        ({"meen": None}, "unknown feature calculator 'meen'"),
        ({"mean": [{"q": 1}]}, "takes no parameters"),
        ({}, "non-empty"),
        ({"quantile": None}, r"needs parameters, e.g. \[\{\"q\": 0.1\}\]"),
        ({"quantile": [{"p": 0.1}]}, "'quantile' has no parameter 'p'; it takes q: a number from 0 to 1"),
        ({"quantile": {"q": 0.1}}, "non-empty list of objects"),
        ({"custom_features.nope:f": None}, "module 'custom_features.nope' not found"),
        ({"custom_features.example:nope": None}, "has no function 'nope'"),
        ({"os:getcwd": None}, "must be named 'custom_features.<module>:<function>'"),
        ({"kinds": {"a": "minimal"}, "extra": 1}, "only 'default' and 'kinds'"),
        ({"kinds": {"a": {"meen": None}}}, "in features.kinds.a"),
    ],
)
def test_bad_feature_settings_are_input_errors(spec, message):
    with pytest.raises(InputError, match=message):
        parse_features(spec)


def test_feature_spec_defaults():
    assert FeatureSpec(default={"mean": None}).for_kind("anything") == {"mean": None}
