"""A local folder as the input: relative or absolute in the CLI, and in the Python API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tsfresh import extract_features as tsfresh_extract
from tsfresh.feature_extraction import MinimalFCParameters
from typer.testing import CliRunner

import featurize
from featurize import api
from featurize.cli import app
from featurize_lambda.errors import InputError

from ..conftest import assert_matches_oracle, make_long, tsfresh_minimal

cli = CliRunner()
FRAME = make_long(n_ids=10, n_points=20, kinds=("a", "b"), seed=21)
KINDS = ["--column-kind", "kind"]


@pytest.fixture(scope="module", autouse=True)
def one_engine_per_module():
    yield
    api.shutdown()  # the API's own engine, if a test started one


def write_parts(folder) -> None:
    """FRAME as three Parquet parts in Hive-style subfolders (their paths must survive the upload)."""
    for i, rows in enumerate(np.array_split(np.arange(len(FRAME)), 3)):
        (folder / f"day={i}").mkdir(parents=True)
        FRAME.iloc[rows].to_parquet(folder / f"day={i}" / "part.parquet", index=False)


def oracle() -> pd.DataFrame:
    return tsfresh_minimal(FRAME, column_id="id", column_sort="time", column_kind="kind", column_value="value")


@pytest.mark.parametrize("given", ["parts", "parts/", "./parts/", "sub/../parts"])
def test_the_cli_takes_a_relative_folder(engine, tmp_path, monkeypatch, given):
    write_parts(tmp_path / "parts")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, ["run", given, *KINDS, "--endpoint", engine.endpoint_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    # The default output is named after the folder, in the current directory.
    assert_matches_oracle(pd.read_parquet(tmp_path / "parts.features.parquet").set_index("id"), oracle())


def test_the_cli_takes_the_current_folder(engine, tmp_path, monkeypatch):
    write_parts(tmp_path / "parts")
    monkeypatch.chdir(tmp_path / "parts")
    result = cli.invoke(app, ["run", ".", *KINDS, "--output", "../out.csv", "--endpoint", engine.endpoint_url],
                        catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert_matches_oracle(pd.read_csv(tmp_path / "out.csv").set_index("id"), oracle())


def test_the_api_takes_a_folder_relative_or_absolute(engine, tmp_path, monkeypatch):
    write_parts(tmp_path / "parts")
    kwargs = dict(column_id="id", column_sort="time", column_kind="kind", column_value="value")
    theirs = tsfresh_extract(FRAME, default_fc_parameters=MinimalFCParameters(), disable_progressbar=True, n_jobs=0,
                             **kwargs)  # fmt: skip
    ours = featurize.extract_features(tmp_path / "parts", default_fc_parameters=MinimalFCParameters(),
                                      disable_progressbar=True, endpoint=engine.endpoint_url, **kwargs)  # fmt: skip
    pd.testing.assert_index_equal(ours.index, theirs.index)
    assert list(ours.columns) == list(theirs.columns)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9, atol=0, equal_nan=True)

    monkeypatch.chdir(tmp_path)
    run = featurize.run("parts/", tmp_path / "out.parquet", column_kind="kind", endpoint=engine.endpoint_url,
                        progress=False)  # fmt: skip
    assert (run.ids, run.rows) == (FRAME["id"].nunique(), len(FRAME))
    assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle())


def test_the_api_refuses_a_bad_folder_or_a_missing_path_before_any_run(engine, tmp_path):
    sfn = engine.client("stepfunctions")

    def executions() -> int:  # the engine is shared by this module's tests: count, do not expect none
        return len(sfn.list_executions(stateMachineArn=engine.info.state_machine_arn)["executions"])

    before = executions()
    write_parts(tmp_path / "parts")
    (tmp_path / "parts" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"holds 1 file\(s\) that are not .parquet, .csv or .csv.gz"):
        featurize.run(tmp_path / "parts", endpoint=engine.endpoint_url, progress=False)
    with pytest.raises(InputError, match="does not exist or is not a file or folder"):
        featurize.run(tmp_path / "nothing", endpoint=engine.endpoint_url, progress=False)
    assert executions() == before
