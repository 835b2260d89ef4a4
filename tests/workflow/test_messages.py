"""The first hour's error messages: one ``error:`` line, the user's own names, what to do (issue 14)."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import featurize
from featurize.cli import app

cli = CliRunner()

#: Engine internals that must never reach a user's terminal or an exception message.
ENGINE_TEXT = ("Traceback", "FailureEventException", "stackTrace", "StateFail", "s3://featurize-local/inputs/")


def featurize_cli(*args):
    return cli.invoke(app, [str(a) for a in args], catch_exceptions=False)


def assert_one_error(result, code: int) -> str:
    """Exactly one ``error:`` line on stderr, the exit code, no engine text; returns the line."""
    assert result.exit_code == code, result.output + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for text in ENGINE_TEXT:
        assert text not in result.stderr and text not in result.stdout, result.stderr
    return errors[0]


def long_frame() -> pd.DataFrame:
    return pd.DataFrame({"id": np.repeat([1, 2], 10), "time": list(range(10)) * 2, "value": np.arange(20.0)})


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def failed_arn(engine, tmp_path_factory):
    """A run that failed in Partition (a NaN value), started through the CLI on the module's engine."""
    folder = tmp_path_factory.mktemp("failed")
    frame = long_frame()
    frame.loc[3, "value"] = np.nan
    frame.to_csv(folder / "nan.csv", index=False)
    result = featurize_cli("run", folder / "nan.csv", "--endpoint", engine.info.endpoint_url)
    assert result.exit_code == 1
    return result.stderr.split("started ", 1)[1].split()[0]


def test_status_of_a_failed_run_shows_the_handlers_message(engine, failed_arn):
    result = featurize_cli("status", failed_arn, "--endpoint", engine.info.endpoint_url)
    assert result.exit_code == 0
    line = next(line for line in result.stdout.splitlines() if line.startswith("error:"))
    assert line.startswith("error: InputError: column 'value' has 1 missing value(s)")
    assert "stackTrace" not in result.stdout and "errorType" not in result.stdout


def test_status_without_a_place_says_what_to_do(tmp_path, monkeypatch, failed_arn):
    monkeypatch.chdir(tmp_path)  # no featurize-serve.json here: no running serve to use
    for command in ("status", "fetch"):
        line = assert_one_error(featurize_cli(command, failed_arn), 2)
        assert "--endpoint URL" in line and "--stack NAME" in line


def test_unknown_execution_is_one_line(engine, failed_arn):
    unknown = failed_arn.rsplit(":", 1)[0] + ":no-such-run"
    for command in ("status", "fetch"):
        line = assert_one_error(featurize_cli(command, unknown, "--endpoint", engine.info.endpoint_url), 2)
        assert f"no execution {unknown}" in line and "featurize runs" in line


def test_unreachable_endpoint_is_one_line(failed_arn):
    endpoint = f"http://127.0.0.1:{free_port()}"
    for args in (("status", failed_arn), ("fetch", failed_arn), ("runs",)):
        line = assert_one_error(featurize_cli(*args, "--endpoint", endpoint), 2)
        assert f"cannot reach the engine at {endpoint}" in line and "featurize serve" in line
    line = assert_one_error(featurize_cli("runs", "--endpoint", "http://127.0.0.1:45x"), 2)
    assert "is not an http(s) URL" in line


def test_missing_credentials_with_a_stack(monkeypatch, tmp_path, failed_arn):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for args in (("status", failed_arn), ("runs", "--region", "us-east-1")):
        line = assert_one_error(featurize_cli(*args, "--stack", "my-stack"), 2)
        assert "no AWS credentials" in line and "aws configure" in line


def test_cli_names_the_input_as_typed(engine, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    frame = long_frame().astype({"value": object})
    frame.loc[3, "value"] = "abc"
    frame.to_csv("data/text.csv", index=False)
    line = assert_one_error(featurize_cli("run", "data/text.csv", "--endpoint", engine.info.endpoint_url), 1)
    assert "(row 4 of data/text.csv)" in line
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "a.csv").write_text("id,time,value\n")
    line = assert_one_error(featurize_cli("run", "parts/", "--endpoint", engine.info.endpoint_url), 1)
    assert "input parts/ has no rows" in line


def test_api_names_the_dataframe(engine):
    frame = long_frame()
    frame.loc[0, "value"] = np.nan
    with pytest.raises(featurize.InputError) as raised:
        featurize.extract_features(frame, column_id="id", column_sort="time", endpoint=engine.info.endpoint_url)
    message = str(raised.value)
    assert "first in row 1 of the DataFrame" in message
    assert not any(text in message for text in ENGINE_TEXT)
    with pytest.raises(featurize.InputError, match="^the DataFrame has no rows$"):
        featurize.extract_features(frame.iloc[:0], column_id="id", endpoint=engine.info.endpoint_url)


def test_a_local_misspelled_column_gets_the_partition_steps_message_before_any_run(engine, tmp_path, monkeypatch):
    """The same file as an s3:// input (checked only by the partition step) gives the same message."""
    monkeypatch.chdir(tmp_path)
    long_frame().to_parquet("in.parquet", index=False)
    engine.client("s3").upload_file("in.parquet", engine.info.bucket, "data/in.parquet")
    args = ("--column-sort", "tme", "--endpoint", engine.info.endpoint_url)
    local = featurize_cli("run", "in.parquet", *args)
    line = assert_one_error(local, 2)
    assert "started" not in local.stderr  # refused from the file's footer: no run
    remote = featurize_cli("run", f"s3://{engine.info.bucket}/data/in.parquet", *args, "--output", "out.parquet")
    remote_line = assert_one_error(remote, 1)
    assert remote_line == line + " (in Partition)"
    assert line.endswith("did you mean 'time'? (--column-sort)")


def test_the_workflow_names_the_execution_input_field(engine):
    """On AWS/boto3 the message names the field (``column_sort``); the API's keyword has the same name."""
    with pytest.raises(featurize.InputError) as raised:
        featurize.extract_features(long_frame(), column_id="id", column_kind="knd", endpoint=engine.info.endpoint_url)
    assert str(raised.value).endswith("(column_kind)")
    assert "--column-kind" not in str(raised.value)
