"""Bad feature settings are refused up front, with a message that names the fix (issue 14)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize import cli
from featurize_lambda.core.features import extract
from featurize_lambda.core.settings import parse_features, presets
from featurize_lambda.errors import InputError
from featurize_lambda.options import RunOptions


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"quantile": [{"q": "high"}]}, """'quantile': parameter 'q' got "high"; allowed: a number from 0 to 1"""),
        ({"quantile": [{"q": 1.5}]}, "'quantile': parameter 'q' got 1.5; allowed: a number from 0 to 1"),
        ({"quantile": [{"q": True}]}, "parameter 'q' got true; allowed: a number"),
        ({"autocorrelation": [{"lag": 1.5}]}, "'autocorrelation': parameter 'lag' got 1.5; allowed: an integer >= 0"),
        ({"cid_ce": [{"normalize": "yes"}]}, """parameter 'normalize' got "yes"; allowed: true or false"""),
        (
            {"fft_coefficient": [{"coeff": 0, "attr": "rael"}]},
            """parameter 'attr' got "rael"; allowed: one of "abs", "angle", "imag", "real\"""",
        ),
        ({"quantile": [{"qq": 0.5}]}, "'quantile' has no parameter 'qq' (did you mean 'q'?); it takes q: a number"),
        (
            {"agg_autocorrelation": [{"f_agg": "mean"}]},
            """'agg_autocorrelation' needs parameter 'maxlag' (an integer >= 0) in {"f_agg": "mean"}""",
        ),
        ({"cwt_coefficients": [{"widths": [2, 5.5], "coeff": 0, "w": 2}]}, "allowed: a list of integers"),
        ({"meen": None}, "unknown feature calculator 'meen' in features; did you mean 'mean'?"),
        ({"kinds": {"a": {"maximun": None}}}, "'maximun' in features.kinds.a; did you mean 'maximum'?"),
        (
            {"custom_features.example:power_mean": [{"p": 0.5}]},
            "'custom_features.example:power_mean': parameter 'p' got 0.5; allowed: a number >= 1",
        ),
        (
            {"custom_features.example:share_above": [{"treshold": 1}]},
            "has no parameter 'treshold' (did you mean 'threshold'?)",
        ),
        ({"custom_features.example:share_above": None}, 'needs parameters, e.g. [{"threshold": <a number>}]'),
    ],
)
def test_a_bad_parameter_is_refused_naming_calculator_parameter_value_and_what_is_allowed(spec, message):
    with pytest.raises(InputError) as caught:
        parse_features(spec)
    assert message in str(caught.value)


def test_tsfresh_s_per_kind_dict_gets_a_hint_of_the_per_kind_form():
    with pytest.raises(InputError) as caught:
        parse_features({"temp": {"mean": None}, "vibration": "minimal"})
    message = str(caught.value)
    assert "unknown feature calculator 'temp'" in message and "kind_to_fc_parameters" in message
    assert '{"kinds": {"temp": ..., "vibration": ...}}' in message and '"default"' in message
    # and the form it suggests is accepted
    spec = parse_features({"kinds": {"temp": {"mean": None}, "vibration": "minimal"}})
    assert spec.for_kind("vibration") == presets()["minimal"]


def test_parameters_the_preset_grid_does_not_list_are_accepted_and_computed():
    """ADF's autolag is not in tsfresh's grids but tsfresh reads it: not refused as 'takes no parameters'."""
    spec = parse_features({"augmented_dickey_fuller": [{"attr": "usedlag", "autolag": "BIC"}, {"attr": "pvalue"}]})
    rng = np.random.default_rng(3)
    chunk = pd.DataFrame({"id": 1, "kind": "v", "value": np.cumsum(rng.normal(size=60))})
    columns = list(extract(chunk, ["v"], spec).columns)
    assert columns == [
        'v__augmented_dickey_fuller__attr_"usedlag"__autolag_"BIC"',
        'v__augmented_dickey_fuller__attr_"pvalue"__autolag_"AIC"',
    ]


@pytest.mark.parametrize("preset", ["minimal", "efficient", "comprehensive"])
def test_every_preset_grid_passes_its_own_declarations(preset):
    assert parse_features(presets()[preset]).default == presets()[preset]


def test_the_partition_step_refuses_a_bad_value_before_any_chunk():
    with pytest.raises(InputError, match="parameter 'q' got \"high\""):
        RunOptions.from_input({"input": "s3://data/in.parquet", "features": {"quantile": [{"q": "high"}]}})


def test_the_cli_refuses_a_bad_value_before_starting_a_run(tmp_path, monkeypatch):
    def no_engine(*args, **kwargs):
        raise AssertionError("a run was started")

    monkeypatch.setattr(cli, "open_target", no_engine)
    source = tmp_path / "in.csv"
    source.write_text("id,time,value\n1,0,1.0\n")
    result = CliRunner().invoke(
        cli.app, ["run", str(source), "--features", '{"quantile": [{"q": "high"}]}'], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert result.stderr == (
        """error: feature calculator 'quantile': parameter 'q' got "high"; allowed: a number from 0 to 1\n"""
    )
