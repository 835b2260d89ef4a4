"""The CLI against an already running engine (--endpoint): run, runs, status, fetch, stop."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize.cli import app
from featurize.client import Runner

from ..conftest import assert_matches_oracle, ended_history, make_long, tsfresh_minimal, wait

cli = CliRunner()


def featurize(*args):
    return cli.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def finished(engine, tmp_path_factory):
    """One run on the module's engine, through the CLI: (frame, stdout, stderr, execution ARN)."""
    tmp = tmp_path_factory.mktemp("endpoint")
    frame = make_long(n_ids=15, seed=8)
    frame.to_csv(tmp / "in.csv", index=False)
    result = featurize(
        "run",
        tmp / "in.csv",
        "--output",
        tmp / "out.parquet",
        "--chunk-size",
        4,
        "--endpoint",
        engine.info.endpoint_url,
    )
    assert result.exit_code == 0, result.output + result.stderr
    arn = result.stderr.split("started ", 1)[1].split()[0]
    return frame, tmp, arn


def test_run_on_a_running_engine(finished):
    frame, tmp, _ = finished
    table = pd.read_parquet(tmp / "out.parquet").set_index("id")
    assert_matches_oracle(table, tsfresh_minimal(frame, column_id="id", column_sort="time"))


def test_runs_lists_the_run(engine, finished):
    _, _, arn = finished
    result = featurize("runs", "--endpoint", engine.info.endpoint_url)
    assert result.exit_code == 0
    assert arn.rsplit(":", 1)[1] in result.stdout and "SUCCEEDED" in result.stdout


def test_status_shows_progress_and_output(engine, finished):
    _, _, arn = finished
    result = featurize("status", arn, "--endpoint", engine.info.endpoint_url)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": SUCCEEDED")
    assert "chunks: 4/4 done" in lines
    assert "15 ids, 10 features" in lines[-1]


def test_fetch_downloads_the_output_again(engine, finished, tmp_path):
    frame, tmp, arn = finished
    result = featurize("fetch", arn, "--output", tmp_path / "again.parquet", "--endpoint", engine.info.endpoint_url)
    assert result.exit_code == 0, result.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again.parquet"), pd.read_parquet(tmp / "out.parquet"))


def test_unknown_stack_and_bad_arn_are_refused(engine):
    result = featurize("run", "s3://b/k.parquet", "--stack", "NoSuchStack", "--endpoint", engine.info.endpoint_url)
    assert result.exit_code == 2 and "stack 'NoSuchStack'" in result.stderr
    result = featurize("status", "not-an-arn", "--endpoint", engine.info.endpoint_url)
    assert result.exit_code == 2 and "not a Step Functions execution ARN" in result.stderr
    assert featurize("runs").exit_code == 2


def test_ctrl_c_stops_the_execution(engine, tmp_path, monkeypatch, caplog):
    """Ctrl-C while watching stops the execution: ABORTED, with no task failure on the way.

    The stop may land anywhere in the Partition task (``tests/workflow/test_moto_patches.py`` pins each race);
    whichever it is, nothing may fail or log an error.
    """
    make_long(n_ids=3).to_parquet(tmp_path / "in.parquet", index=False)
    started = []

    def interrupted(self, execution_arn, name, on_progress=None):
        started.append(execution_arn)
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, "watch", interrupted)
    caplog.set_level("ERROR")
    result = featurize("run", tmp_path / "in.parquet", "--endpoint", engine.info.endpoint_url)
    assert result.exit_code == 130
    assert f"interrupted: stopped execution {started[0]}" in result.stderr
    # moto applies StopExecution when the running step returns (AWS at once): wait for that.
    sfn = engine.client("stepfunctions")
    described = wait(sfn, started[0])
    events = ended_history(sfn, started[0])
    assert described["status"] == "ABORTED", (described, events)
    assert events[-1] == "ExecutionAborted" and not [e for e in events if e.endswith("Failed")], events
    assert not [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert json.loads(described["input"])["input"].startswith("s3://featurize-local/inputs/")
