"""`featurize run` uses a running `featurize serve` found by ./featurize-serve.json: only a live one of
its own version, never with --stack, not with --no-serve, and it says so. Each test has its own folder."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import boto3
import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize import __version__
from featurize.cli import app

from ..conftest import assert_matches_oracle, make_long, tsfresh_minimal
from .test_serve import start_server, stop_server

FRAME = make_long(n_ids=5, seed=71)
USING = "using the running featurize serve at "


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, info = start_server(tmp_path_factory.mktemp("serve"))
    yield info
    stop_server(process)


def server_runs(info: dict) -> set[str]:
    env = info["environment"]
    sfn = boto3.client("stepfunctions", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    return {e["name"] for e in sfn.list_executions(stateMachineArn=info["state_machine_arn"])["executions"]}


def run_here(folder: Path, monkeypatch, info: dict | None, *args: str):
    """`featurize run in.parquet` in ``folder``, with ``info`` as its ./featurize-serve.json."""
    monkeypatch.chdir(folder)
    FRAME.to_parquet("in.parquet", index=False)
    if info is not None:
        Path("featurize-serve.json").write_text(json.dumps(info), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "in.parquet", "--output", "out.parquet", *args], catch_exceptions=False)
    return result, result.stderr.split("started ", 1)[-1].split()[0].rsplit(":", 1)[-1]


def check_output(folder: Path) -> None:
    expected = tsfresh_minimal(FRAME, column_id="id", column_sort="time")
    assert_matches_oracle(pd.read_parquet(folder / "out.parquet").set_index("id"), expected)


def test_a_live_server_of_this_version_is_used_and_named(server, tmp_path, monkeypatch):
    result, name = run_here(tmp_path, monkeypatch, server)
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"{USING}{server['endpoint_url']} (found by ./featurize-serve.json; --no-serve")
    assert name in server_runs(server)
    check_output(tmp_path)


def test_no_serve_starts_a_fresh_engine(server, tmp_path, monkeypatch):
    result, name = run_here(tmp_path, monkeypatch, server, "--no-serve")
    assert result.exit_code == 0, result.output
    assert USING not in result.stderr and name not in server_runs(server)
    check_output(tmp_path)


def test_a_stale_info_file_is_ignored(tmp_path, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on: bound here, never listened to
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        stale = {"version": __version__, "endpoint_url": f"http://127.0.0.1:{port}", "region": "us-east-1",
                 "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:featurize"}  # fmt: skip
        result, _ = run_here(tmp_path, monkeypatch, stale)
    assert result.exit_code == 0, result.output
    assert USING not in result.stderr
    check_output(tmp_path)


def test_a_server_of_another_version_is_not_used(server, tmp_path, monkeypatch):
    result, name = run_here(tmp_path, monkeypatch, server | {"version": "0.0.0-other"})
    assert result.exit_code == 0, result.output
    assert USING not in result.stderr and name not in server_runs(server)


def test_never_with_stack(server, tmp_path, monkeypatch):
    # The stack is looked up on a refused endpoint: it fails at once, and the info file is not consulted.
    result, _ = run_here(tmp_path, monkeypatch, server, "--stack", "S", "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 2 and USING not in result.stderr and "stack 'S'" in result.stderr
