"""End to end through the CLI: the real workflow on the local engine, checked against tsfresh."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize import __version__, engine
from featurize.cli import app

from ..conftest import LONG_WITH_KINDS, assert_matches_oracle, make_long, tsfresh_minimal, tsfresh_oracle

runner = CliRunner()


def featurize(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_long_format_with_kinds_in_several_chunks_equals_tsfresh(tmp_path):
    frame = make_long(n_ids=40, n_points=60, kinds=("temp", "acc"), seed=11)
    source = tmp_path / "input.parquet"
    frame.to_parquet(source, index=False)
    before = digest(source)

    result = featurize(
        "run", source, "--output", tmp_path / "out.parquet", "--column-kind", "kind", "--chunk-size", 7, "--workers", 2
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert "40 ids" in result.stdout and "6 chunks" in result.stdout and "20 features" in result.stdout
    table = pd.read_parquet(tmp_path / "out.parquet")
    assert table.columns[0] == "id"
    oracle = tsfresh_minimal(frame, **LONG_WITH_KINDS)
    assert_matches_oracle(table.set_index("id"), oracle)
    assert digest(source) == before  # the input is never modified


def test_wide_csv_without_time_column_writes_csv_and_says_row_order_is_time(tmp_path):
    frame = make_long(n_ids=12, seed=5).drop(columns="time").rename(columns={"value": "x"})
    frame["y"] = frame["x"] ** 2
    source = tmp_path / "wide.csv"
    frame.to_csv(source, index=False)

    result = featurize("run", source, "--output", tmp_path / "wide.features.csv", "--chunk-size", 5)
    assert result.exit_code == 0, result.output + result.stderr
    assert "row order of the input is taken as the time order" in result.stdout
    table = pd.read_csv(tmp_path / "wide.features.csv")
    oracle = tsfresh_minimal(frame, column_id="id")
    assert list(oracle.columns)[:2] == ["x__sum_values", "x__median"]
    assert_matches_oracle(table.set_index("id"), oracle)


def test_default_output_is_the_input_stem_in_the_current_directory(tmp_path, monkeypatch):
    frame = make_long(n_ids=5, seed=2)
    frame.to_parquet(tmp_path / "series.parquet", index=False)
    monkeypatch.chdir(tmp_path)
    result = featurize("run", "series.parquet")
    assert result.exit_code == 0, result.output + result.stderr
    table = pd.read_parquet(tmp_path / "series.features.parquet")
    assert_matches_oracle(table.set_index("id"), tsfresh_minimal(frame, column_id="id", column_sort="time"))


def test_a_permanently_failing_chunk_fails_the_run_naming_the_chunk(tmp_path, monkeypatch):
    monkeypatch.setitem(engine.HANDLERS, "features", "tests.probe_handlers.features_failing_on_chunk_1")
    make_long(n_ids=9, seed=1).to_parquet(tmp_path / "in.parquet", index=False)
    result = featurize("run", tmp_path / "in.parquet", "--output", tmp_path / "out.parquet", "--chunk-size", 3)
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ChunkFailed: 1 of 3 chunk(s) failed: chunk 1 (")
    assert "ArithmeticError: injected failure in chunk 1" in line and line.endswith("(in Reduce)")
    assert not (tmp_path / "out.parquet").exists()


def test_an_input_problem_found_by_partition_exits_1_with_one_line(tmp_path):
    frame = make_long(n_ids=3)
    frame.loc[2, "value"] = float("nan")
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    result = featurize("run", tmp_path / "in.parquet")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: InputError: column 'value' has 1 missing value(s) (NaN or empty; first in row 3 of "
        f"{tmp_path / 'in.parquet'}); tsfresh refuses them too: clean the input, or set \"drop_nan\": true "
        "(CLI: --drop-nan) to drop them (in Partition)"
    )


def test_a_local_files_misspelled_column_is_refused_before_any_run(tmp_path):
    make_long(n_ids=3).to_parquet(tmp_path / "in.parquet", index=False)
    result = featurize("run", tmp_path / "in.parquet", "--column-sort", "timestamp")
    assert result.exit_code == 2 and "started" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: InputError: sort column 'timestamp' is not in the input (columns: ['id', 'time', 'value']); "
        "did you mean 'time'? (--column-sort)"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.parquet"], "does not exist"),
        (["run", "{src}", "--features", "everything"], "unknown feature preset"),
        (["run", "{src}", "--output", "{src}"], "never modifies its input"),
        (["run", "{src}", "--output", "out.json"], "output out.json: use one of"),
        (["run", "{src}", "--chunk-size", "0"], "--chunk-size must be a positive"),
        (["run", "{txt}"], "unknown format"),
        (["run"], "Missing argument 'INPUT'"),
    ],
)
def test_refusals_before_any_run_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.parquet").write_bytes(b"x")
    (tmp_path / "in.txt").write_text("x")
    result = featurize(*[a.format(src="in.parquet", txt="in.txt") for a in args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_version():
    result = featurize("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"featurize {__version__}"


def test_demo_generates_runs_and_shows_the_first_rows(tmp_path):
    result = featurize("demo", "--directory", tmp_path / "demo")
    assert result.exit_code == 0, result.output + result.stderr
    sample = pd.read_parquet(tmp_path / "demo" / "sample.parquet")
    table = pd.read_parquet(tmp_path / "demo" / "sample.features.parquet").set_index("id")
    oracle = tsfresh_minimal(sample, **LONG_WITH_KINDS)
    assert_matches_oracle(table, oracle)
    assert "1000 ids, 500000 rows, 20 features, 20 chunks" in result.stdout
    assert "pressure__sum_values" in result.stdout


@pytest.mark.parametrize("preset", ["efficient", "comprehensive"])
def test_presets_with_two_kinds_end_to_end_equal_tsfresh(tmp_path, preset):
    """Every calculator of tsfresh's grid, named by the preset, through the whole workflow."""
    from tsfresh.feature_extraction import ComprehensiveFCParameters, EfficientFCParameters

    frame = make_long(n_ids=12, n_points=80, kinds=("a", "b"), seed=21)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    result = featurize(
        "run",
        tmp_path / "in.parquet",
        "--output",
        tmp_path / "out.parquet",
        "--features",
        preset,
        "--column-kind",
        "kind",
        "--chunk-size",
        5,
    )
    assert result.exit_code == 0, result.output + result.stderr
    settings = {"efficient": EfficientFCParameters, "comprehensive": ComprehensiveFCParameters}[preset]()
    oracle = tsfresh_oracle(frame, settings, **LONG_WITH_KINDS)
    assert oracle.shape[1] > 1000 and {c.split("__")[0] for c in oracle.columns} == {"a", "b"}
    assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle)


def test_per_kind_settings_and_custom_functions_end_to_end_equal_tsfresh(tmp_path):
    import json

    from custom_features.example import peak_to_peak, share_above

    frame = make_long(n_ids=8, kinds=("a", "b"), seed=4)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    spec = {
        "default": {"mean": None, "custom_features.example:peak_to_peak": None},
        "kinds": {"b": {"maximum": None, "custom_features.example:share_above": [{"threshold": 1}]}},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = featurize(
        "run",
        tmp_path / "in.parquet",
        "--output",
        tmp_path / "out.parquet",
        "--features",
        tmp_path / "spec.json",
        "--column-kind",
        "kind",
    )
    assert result.exit_code == 0, result.output + result.stderr
    oracle = tsfresh_oracle(
        frame,
        {"mean": None, peak_to_peak: None},
        kind_to_fc_parameters={"b": {"maximum": None, share_above: [{"threshold": 1}]}},
        **LONG_WITH_KINDS,
    )
    assert list(oracle.columns) == ["a__mean", "a__peak_to_peak", "b__maximum", "b__share_above__threshold_1"]
    assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle)


def test_bad_features_file_is_refused(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "in.parquet").write_bytes(b"x")
    result = featurize("run", tmp_path / "in.parquet", "--features", tmp_path / "bad.json")
    assert result.exit_code == 2 and "not valid JSON" in result.stderr
    (tmp_path / "unknown.json").write_text('{"meen": null}')
    result = featurize("run", tmp_path / "in.parquet", "--features", tmp_path / "unknown.json")
    assert result.exit_code == 2 and "unknown feature calculator 'meen'" in result.stderr


def test_run_help_shows_every_default():
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0
    for text in ("[default: id]", "[default: time;", "[default: value;", "[default: chosen", "[default: all cores]"):
        assert text in result.stdout, text
