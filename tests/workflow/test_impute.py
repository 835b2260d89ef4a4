"""The ``impute`` option end to end (CLI, execution input, API): tsfresh's impute of tsfresh's result."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from tsfresh.utilities.dataframe_functions import impute
from typer.testing import CliRunner

import featurize
from featurize.cli import app

from ..conftest import make_long, tsfresh_oracle, wait

#: Features that give NaN: a constant series' autocorrelation, a lag beyond a short series, and a lag
#: beyond every series (a column with no finite value: tsfresh's impute gives it 0). tsfresh's calculators
#: give +-inf rarely: the core test (test_core_merge) covers inf.
SETTINGS = {"mean": None, "autocorrelation": [{"lag": 1}, {"lag": 12}, {"lag": 20}]}


def _frame() -> pd.DataFrame:
    frame = make_long(n_ids=12, n_points=15, seed=5)
    frame.loc[frame["id"] == "s003", "value"] = 2.0  # constant: autocorrelation NaN
    return frame[~((frame["id"] == "s007") & (frame["time"] >= 8))].reset_index(drop=True)  # short: lag 12 NaN


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    raw = tsfresh_oracle(_frame(), SETTINGS, column_id="id", column_sort="time", column_value="value")
    # the data must give missing values, or imputing would test nothing
    missing = raw.isna().sum()
    assert 0 < missing["value__autocorrelation__lag_1"] < len(raw)
    assert missing["value__autocorrelation__lag_20"] == len(raw)
    return impute(raw.copy())


def _assert_imputed(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(table.columns) == list(expected.columns)
    assert table.index.astype(str).tolist() == expected.index.astype(str).tolist()
    assert np.isfinite(table.to_numpy()).all()
    np.testing.assert_allclose(table.to_numpy(), expected.to_numpy(), rtol=1e-9, atol=1e-12)


def test_cli_impute_flag_equals_tsfresh_impute(engine, tmp_path, expected):
    source = tmp_path / "in.parquet"
    _frame().to_parquet(source, index=False)
    (tmp_path / "settings.json").write_text(json.dumps(SETTINGS))
    args = ["run", str(source), "--output", str(tmp_path / "out.parquet"), "--chunk-size", "4",
            "--features", str(tmp_path / "settings.json"), "--endpoint", engine.endpoint_url]  # fmt: skip
    plain = CliRunner().invoke(app, args, catch_exceptions=False)
    assert plain.exit_code == 0, plain.output
    assert pd.read_parquet(tmp_path / "out.parquet").isna().to_numpy().any()  # without --impute: NaN kept
    result = CliRunner().invoke(app, [*args, "--impute"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    _assert_imputed(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), expected)


def test_execution_input_impute_true_equals_tsfresh_impute(engine, expected):
    s3, sfn = engine.client("s3"), engine.client("stepfunctions")
    bucket = engine.target().bucket
    s3.put_object(Bucket=bucket, Key="inputs/impute/in.csv", Body=_frame().to_csv(index=False).encode())
    execution_input = {"input": f"s3://{bucket}/inputs/impute/in.csv", "output": f"s3://{bucket}/outputs/impute.csv",
                       "features": SETTINGS, "chunk_size": 5, "impute": True}  # fmt: skip
    arn = sfn.start_execution(
        stateMachineArn=engine.target().state_machine_arn, name="impute-input", input=json.dumps(execution_input)
    )["executionArn"]
    described = wait(sfn, arn)
    assert described["status"] == "SUCCEEDED", described
    body = s3.get_object(Bucket=bucket, Key="outputs/impute.csv")["Body"].read()
    _assert_imputed(pd.read_csv(io.BytesIO(body)).set_index("id"), expected)


def test_api_impute_keyword_equals_tsfresh_impute(engine, expected):
    frame = featurize.extract_features(
        _frame(), default_fc_parameters=SETTINGS, column_id="id", column_sort="time", column_value="value",
        disable_progressbar=True, endpoint=engine.endpoint_url, impute=True, chunksize=3,
    )  # fmt: skip
    _assert_imputed(frame, expected)
    with pytest.raises(featurize.InputError, match="impute must be true or false, got 'yes'"):
        featurize.run(_frame(), endpoint=engine.endpoint_url, impute="yes")
