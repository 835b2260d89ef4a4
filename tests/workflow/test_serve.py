"""`featurize serve`: a running engine driven by plain boto3 and by the AWS CLI."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize.cli import app

from ..conftest import assert_matches_oracle, make_long, tsfresh_minimal, wait

ROOT = Path(__file__).resolve().parents[2]


def start_server(tmp_path: Path) -> tuple[subprocess.Popen, dict]:
    info_file = tmp_path / "serve.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "featurize", "serve", "--port", "0", "--workers", "2", "--info-file", str(info_file)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    # serve writes the file atomically (temp + rename): once it exists, it is complete.
    deadline = time.monotonic() + 90
    while not info_file.exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)  # polling a condition with a deadline, not waiting for it to hold
    return process, json.loads(info_file.read_text())


def stop_server(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, info = start_server(tmp_path_factory.mktemp("serve"))
    yield info
    stop_server(process)


def plain_clients(info: dict):
    """boto3 exactly as a user would configure it from the info file (no featurize code)."""
    env = info["environment"]
    kwargs = {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "region_name": env["AWS_DEFAULT_REGION"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
    }
    return boto3.client("s3", **kwargs), boto3.client("stepfunctions", **kwargs)


def run_with_boto3(info: dict, frame: pd.DataFrame, name: str) -> pd.DataFrame:
    s3, sfn = plain_clients(info)
    s3.put_object(Bucket=info["bucket"], Key=f"data/{name}.parquet", Body=frame.to_parquet(index=False))
    execution_input = {"input": f"s3://{info['bucket']}/data/{name}.parquet", "column_kind": "kind"}
    arn = sfn.start_execution(stateMachineArn=info["state_machine_arn"], name=name, input=json.dumps(execution_input))
    described = wait(sfn, arn["executionArn"], timeout=120)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])["output"]
    bucket, key = output.removeprefix("s3://").split("/", 1)
    return pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).set_index("id")


def oracle(frame: pd.DataFrame) -> pd.DataFrame:
    return tsfresh_minimal(frame, column_id="id", column_sort="time", column_kind="kind", column_value="value")


def test_plain_boto3_drives_the_engine(server):
    frame = make_long(n_ids=10, kinds=("p", "q"), seed=31)
    assert_matches_oracle(run_with_boto3(server, frame, "boto3-run"), oracle(frame))


def test_two_concurrent_executions_have_separate_correct_outputs(server):
    frames = [make_long(n_ids=8, kinds=("p", "q"), seed=s) for s in (41, 42)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run_with_boto3, [server, server], frames, ["concurrent-1", "concurrent-2"]))
    for result, frame in zip(results, frames, strict=True):
        assert_matches_oracle(result, oracle(frame))


def test_the_aws_cli_drives_the_engine(server, tmp_path):
    aws = Path(sys.executable).parent / "aws"
    env = os.environ | server["environment"]
    frame = make_long(n_ids=6, kinds=("p", "q"), seed=51)
    frame.to_parquet(tmp_path / "cli.parquet", index=False)

    def cli(*args: str) -> str:
        done = subprocess.run([str(aws), *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("s3", "cp", str(tmp_path / "cli.parquet"), f"s3://{server['bucket']}/data/cli.parquet")
    started = json.loads(cli(
        "stepfunctions", "start-execution", "--state-machine-arn", server["state_machine_arn"], "--name", "aws-cli",
        "--input", json.dumps({"input": f"s3://{server['bucket']}/data/cli.parquet", "column_kind": "kind"}),
    ))  # fmt: skip
    deadline = time.monotonic() + 120
    while (described := json.loads(cli("stepfunctions", "describe-execution", "--execution-arn",
                                       started["executionArn"])))["status"] == "RUNNING":  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])["output"]
    cli("s3", "cp", output, str(tmp_path / "out.parquet"))
    assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle(frame))


def test_featurize_run_shares_the_running_engine(server, tmp_path):
    frame = make_long(n_ids=5, kinds=("p", "q"), seed=61)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "o.parquet"),
                                      "--column-kind", "kind", "--endpoint", server["endpoint_url"]])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_matches_oracle(pd.read_parquet(tmp_path / "o.parquet").set_index("id"), oracle(frame))


def test_sigterm_shuts_down_and_frees_the_port(tmp_path):
    process, info = start_server(tmp_path)
    port = int(info["endpoint_url"].rsplit(":", 1)[1])
    started = time.monotonic()
    output = stop_server(process)
    assert process.returncode == 0 and time.monotonic() - started < 15, output
    assert "shutting down" in output
    assert not (tmp_path / "serve.json").exists()
    # Nothing listens any more (no worker inherited the socket): a connection is refused. A plain bind
    # would fail on the closed socket's TIME_WAIT connections, or on a parallel test's socket.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_non_loopback_host_needs_allow_remote():
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2 and "--allow-remote" in result.stderr


def test_the_info_file_is_replaced_whole(tmp_path):
    from featurize.serve import write_atomically

    target = tmp_path / "info.json"
    target.write_text("old, longer than the new text", encoding="utf-8")
    write_atomically(target, '{"a": 1}\n')
    assert target.read_text(encoding="utf-8") == '{"a": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["info.json"]  # no temporary left behind
