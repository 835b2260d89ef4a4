"""`featurize features`: the catalogue in words, a preset exported as a settings file; custom calculators end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize.cli import app
from featurize_lambda.core.registry import REGISTRY
from featurize_lambda.core.settings import parse_features, presets

from ..conftest import LONG_WITH_KINDS, assert_matches_oracle, make_long, tsfresh_oracle

runner = CliRunner()


def featurize(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def entry(lines: list[str], name: str) -> list[str]:
    """The lines of one calculator's entry (its name line and the indented lines under it)."""
    start = next(i for i, line in enumerate(lines) if line.split("  (")[0] == name)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return lines[start:end]


def test_features_lists_presets_in_words_parameters_and_grids():
    result = featurize("features")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "75 calculators (tsfresh 0.21.2 names and grids; presets: minimal 10, efficient 73, comprehensive 75)"
    )
    assert "implemented" not in result.stdout and "presets=" not in result.stdout
    assert entry(lines, "quantile") == [
        "quantile  (efficient, comprehensive)",
        "    q: a number from 0 to 1",
        "    grid (8 settings): q = 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9",
    ]
    assert entry(lines, "mean") == ["mean  (minimal, efficient, comprehensive)"]
    fft = entry(lines, "fft_coefficient")
    assert fft[-1] == '    grid (400 settings): coeff = 0..99; attr = "real", "imag", "abs", "angle"'
    adf = entry(lines, "augmented_dickey_fuller")
    assert '    autolag: one of "AIC", "BIC", "t-stat" or null (optional)' in adf
    assert adf[-1] == f"    note: {REGISTRY['augmented_dickey_fuller'].notes}"
    timewise = entry(lines, "linear_trend_timewise")
    assert "yields no columns" in timewise[-1] and "DatetimeIndex" in timewise[-1]
    assert sum(1 for line in lines if not line.startswith(" ")) == 76


def test_a_registered_calculator_in_no_preset_is_listed_and_accepted(monkeypatch):
    """The registry is the catalogue: a new calculator needs no preset entry to be listed or used."""
    import dataclasses

    from featurize_lambda.core.registry import Param

    new = dataclasses.replace(REGISTRY["quantile"], name="quantile_copy", params={"q": Param(float, low=0, high=1)})
    monkeypatch.setitem(REGISTRY, "quantile_copy", new)
    lines = featurize("features").stdout.splitlines()
    assert lines[0].startswith("76 calculators")
    assert entry(lines, "quantile_copy") == ["quantile_copy  (in no preset)", "    q: a number from 0 to 1"]
    assert parse_features({"quantile_copy": [{"q": 0.3}]}).default == {"quantile_copy": [{"q": 0.3}]}


def test_features_of_one_preset_and_an_unknown_preset():
    lines = featurize("features", "--preset", "minimal").stdout.splitlines()
    assert lines[0].startswith("10 calculators") and [line.split("  ")[0] for line in lines[1:]] == list(
        presets()["minimal"]
    )
    result = featurize("features", "--preset", "nope")
    assert result.exit_code == 2 and "unknown preset 'nope'" in result.stderr


@pytest.mark.parametrize("preset", ["minimal", "efficient", "comprehensive"])
def test_a_preset_exported_as_json_round_trips(preset):
    result = featurize("features", "--preset", preset, "--json")
    assert result.exit_code == 0
    exported = json.loads(result.stdout)
    assert list(exported) == list(presets()[preset])
    assert parse_features(exported) == parse_features(preset)


def test_the_exported_efficient_preset_runs_and_equals_tsfresh(tmp_path):
    from tsfresh.feature_extraction import EfficientFCParameters

    (tmp_path / "s.json").write_text(featurize("features", "--preset", "efficient", "--json").stdout)
    frame = make_long(n_ids=4, n_points=30, kinds=("a", "b"), seed=8)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    out = tmp_path / "out.parquet"
    result = featurize("run", tmp_path / "in.parquet", "--output", out, "--features", tmp_path / "s.json",
                       "--column-kind", "kind")  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    oracle = tsfresh_oracle(frame, EfficientFCParameters(), **LONG_WITH_KINDS)
    assert_matches_oracle(pd.read_parquet(out).set_index("id"), oracle)


def test_custom_calculators_with_parameters_end_to_end_equal_pandas(tmp_path):
    frame = make_long(n_ids=12, n_points=25, seed=5)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    settings = {
        "custom_features.example:power_mean": [{"p": 2}, {"p": 3.5}],
        "custom_features.example:central_moments": [{"order": 2}, {"order": 3}],
        "custom_features.example:share_above": [{"threshold": 5}],
    }
    out = tmp_path / "out.csv"
    result = featurize("run", tmp_path / "in.parquet", "--output", out, "--features", json.dumps(settings),
                       "--chunk-size", 5)  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    got = pd.read_csv(out).set_index("id")

    by_id = frame.sort_values(["id", "time"]).groupby("id")["value"]
    want = pd.DataFrame(
        {
            "value__power_mean__p_2": by_id.apply(lambda x: np.sqrt((x**2).mean())),
            "value__power_mean__p_3.5": by_id.apply(lambda x: (x.abs() ** 3.5).mean() ** (1 / 3.5)),
            "value__central_moments__order_2": by_id.apply(lambda x: ((x - x.mean()) ** 2).mean()),
            "value__central_moments__order_3": by_id.apply(lambda x: ((x - x.mean()) ** 3).mean()),
            "value__share_above__threshold_5": by_id.apply(lambda x: (x > 5).mean()),
        }
    )
    assert list(got.columns) == list(want.columns) and list(got.index) == list(want.index)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-12)


def test_a_bad_custom_parameter_is_refused_before_the_run(tmp_path):
    (tmp_path / "in.parquet").write_bytes(b"x")
    settings = '{"custom_features.example:power_mean": [{"p": 0}]}'
    result = featurize("run", tmp_path / "in.parquet", "--features", settings)
    assert result.exit_code == 2
    assert "parameter 'p' got 0; allowed: a number >= 1" in result.stderr
