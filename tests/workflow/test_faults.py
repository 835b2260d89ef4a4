"""Faults on the local engine: retried ones succeed, permanent ones are reported, tolerated ones give a
partial output plus a failure list; re-runs are idempotent. The faults are injected where AWS would
raise them, in front of the handler (:class:`featurize.engine.Fault`); the workflow's own Retry policy
and Reduce's judgement do the rest, as on AWS.
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize import RunFailed
from featurize import run as run_api
from featurize.cli import app
from featurize.engine import Fault, LocalEngine
from featurize.workflow import load_definition
from featurize_lambda.contracts import ChunkFailure
from featurize_lambda.core.verdict import describe
from featurize_lambda.keys import RunKeys

from ..conftest import assert_matches_oracle, make_long, tsfresh_minimal, wait

cli = CliRunner()

#: 12 ids, 3 per chunk: chunk k holds ids s{3k:03d}..s{3k+2:03d} (one bucket: chunks in id order).
FRAME = make_long(n_ids=12, n_points=30, seed=13)


@pytest.fixture(scope="module")
def engine():
    # Retry waits of the ASL (5 s, doubling, up to 60 s) scaled down 1,000 times: same policy, no waiting.
    with LocalEngine(workers=2, retry_wait_scale=0.001) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults_left(engine):
    yield
    engine.clear_faults()


def _throttling_retries() -> int:
    task = json.loads(load_definition())["States"]["Features"]["ItemProcessor"]["States"]["ComputeFeatures"]
    [retrier] = [r for r in task["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]]
    return retrier["MaxAttempts"]


#: The ASL's throttling retries of a chunk (40: at least 15 minutes of throttling, see tests/stack/test_stack.py).
THROTTLING_RETRIES = _throttling_retries()


def featurize(engine, tmp_path, *args):
    source = tmp_path / "in.parquet"
    if not source.exists():
        FRAME.to_parquet(source, index=False)
    return cli.invoke(
        app,
        ["run", str(source), "--output", str(tmp_path / "out.parquet"), "--chunk-size", "3"]
        + [str(a) for a in args]
        + ["--endpoint", engine.endpoint_url],
        catch_exceptions=False,
    )


def oracle(ids=None) -> pd.DataFrame:
    frame = FRAME if ids is None else FRAME[FRAME["id"].isin(ids)]
    return tsfresh_minimal(frame, column_id="id", column_sort="time")


def test_throttled_and_failing_invocations_are_retried_and_the_run_succeeds(engine, tmp_path):
    throttled = Fault("features", chunk=1, times=2, error="Lambda.TooManyRequestsException")
    service = Fault("features", chunk=3, times=1, error="Lambda.ServiceException")
    partition = Fault("partition", times=1, error="Lambda.ServiceException")
    reduce = Fault("reduce", times=1, error="Lambda.TooManyRequestsException")
    engine.inject(throttled, service, partition, reduce)

    result = featurize(engine, tmp_path)
    assert result.exit_code == 0, result.output + result.stderr
    assert [f.injected for f in (throttled, service, partition, reduce)] == [2, 1, 1, 1]
    assert "12 ids, " in result.stdout and "4 chunks" in result.stdout
    assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle())


def test_a_permanently_throttled_chunk_fails_the_run_naming_it_after_every_retry(engine, tmp_path):
    fault = Fault("features", chunk=2, times=None, error="Lambda.TooManyRequestsException")
    engine.inject(fault)
    result = featurize(engine, tmp_path)

    assert result.exit_code == 1
    assert fault.injected == 1 + THROTTLING_RETRIES  # the first attempt and every throttling retry of the ASL
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ChunkFailed: 1 of 4 chunk(s) failed: chunk 2 (")
    assert "3 ids, s3://featurize-local/runs/" in line and "/chunks/00002.parquet" in line
    assert "no result and no failure record: the Lambda died (timeout, out of memory) or was throttled" in line
    assert "start the run again with the same execution input" in line
    assert "set tolerated_failure_percentage to 25." in line and line.endswith("(in Reduce)")
    assert not (tmp_path / "out.parquet").exists()


def test_a_dead_lambda_is_not_retried_and_is_reported_as_such(engine, tmp_path):
    fault = Fault("features", chunk=0, times=None, error="Sandbox.Timedout", message="Task timed out after 300 s")
    engine.inject(fault)
    result = featurize(engine, tmp_path)
    assert result.exit_code == 1 and fault.injected == 1  # not a retryable error
    line = result.stderr.strip().splitlines()[-1]
    assert "1 of 4 chunk(s) failed: chunk 0 (" in line and "the Lambda died" in line


def test_tolerated_failures_give_a_partial_output_and_a_failure_list(engine, tmp_path):
    engine.inject(Fault("features", chunk=1, times=None, error="Runtime.OutOfMemory"))
    result = featurize(engine, tmp_path, "--tolerated-failure-percentage", 25)
    assert result.exit_code == 0, result.output + result.stderr

    failed_ids = ["s003", "s004", "s005"]
    kept = sorted(set(FRAME["id"]) - set(failed_ids))
    table = pd.read_parquet(tmp_path / "out.parquet").set_index("id")
    assert_matches_oracle(table, oracle(kept))
    listing = json.loads((tmp_path / "out.failures.json").read_text())
    assert listing["failed_chunks"] == 1 and listing["chunks"] == 4 and listing["failed_ids"] == 3
    assert listing["tolerated_failure_percentage"] == 25.0
    [failure] = listing["failures"]
    assert failure["chunk"] == 1 and failure["ids"] == failed_ids and failure["error"] == "NoResult"
    assert failure["chunk_object"].endswith("/chunks/00001.parquet") and failure["rows"] == FRAME["id"].isin(
        failed_ids
    ).sum()
    assert "note: partial output: 1 of 4 chunk(s) failed (3 ids, within the tolerated 25%)" in result.stdout
    assert "warning: partial output: 1 of 4 chunk(s) failed (3 ids missing); failure list: " in result.stderr
    assert "9 ids, " in result.stdout


def test_more_failures_than_tolerated_fail_the_run(engine, tmp_path):
    engine.inject(Fault("features", chunk=0, times=None, error="Runtime.OutOfMemory"))
    engine.inject(Fault("features", chunk=3, times=None, error="Runtime.OutOfMemory"))
    result = featurize(engine, tmp_path, "--tolerated-failure-percentage", 25)
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ChunkFailed: 2 of 4 chunk(s) failed: chunk 0 (") and "; chunk 3 (" in line
    assert "50% of the chunks failed, more than the tolerated 25%" in line


def test_reruns_are_idempotent(engine, tmp_path):
    """The same input twice gives the same output; a chunk computed twice and a partition step run twice
    (an at-least-once retry) write the same keys, so nothing is duplicated."""
    first = featurize(engine, tmp_path)
    assert first.exit_code == 0
    before = (tmp_path / "out.parquet").read_bytes()
    second = featurize(engine, tmp_path)
    assert second.exit_code == 0
    assert pd.read_parquet(io.BytesIO(before)).equals(pd.read_parquet(tmp_path / "out.parquet"))

    s3, lam, sfn = engine.client("s3"), engine.client("lambda"), engine.client("stepfunctions")
    arn = second.stderr.split("started ", 1)[1].split()[0]
    name = arn.rsplit(":", 1)[1]
    keys = RunKeys(name)
    execution_input = json.loads(sfn.describe_execution(executionArn=arn)["input"])
    manifest_before = s3.get_object(Bucket="featurize-local", Key=keys.manifest)["Body"].read()
    chunk_before = s3.get_object(Bucket="featurize-local", Key=keys.chunk(1))["Body"].read()

    def invoke(function, payload):
        response = lam.invoke(FunctionName=function, Payload=json.dumps(payload))
        assert "FunctionError" not in response, response["Payload"].read()
        return json.loads(response["Payload"].read())

    summary = invoke("featurize-partition", {"input": execution_input, "execution_name": name})
    assert s3.get_object(Bucket="featurize-local", Key=keys.manifest)["Body"].read() == manifest_before
    assert s3.get_object(Bucket="featurize-local", Key=keys.chunk(1))["Body"].read() == chunk_before
    item = json.loads(manifest_before)[1]
    invoke("featurize-features", item)  # a duplicate delivery of one chunk
    reduced = invoke("featurize-reduce", summary)
    assert reduced["ids"] == 12 and reduced["failed_chunks"] == 0
    out = s3.get_object(Bucket="featurize-local", Key=f"outputs/{name}/out.parquet")["Body"].read()
    assert_matches_oracle(pd.read_parquet(io.BytesIO(out)).set_index("id"), oracle())


def test_a_fault_on_a_running_engine_reaches_a_boto3_started_execution(engine):
    """The hook sits in the engine's dispatcher: any client's execution sees it (here plain boto3)."""
    s3, sfn = engine.client("s3"), engine.client("stepfunctions")
    buffer = io.BytesIO()
    FRAME.to_parquet(buffer, index=False)
    s3.put_object(Bucket="featurize-local", Key="data/f.parquet", Body=buffer.getvalue())
    fault = Fault("features", chunk=0, times=3)
    engine.inject(fault)
    arn = sfn.start_execution(
        stateMachineArn=engine.info.state_machine_arn,
        name="boto3-started",
        input=json.dumps({"input": "s3://featurize-local/data/f.parquet", "chunk_size": 6}),
    )["executionArn"]
    described = wait(sfn, arn)
    assert described["status"] == "SUCCEEDED" and fault.injected == 3
    assert json.loads(described["output"])["ids"] == 12


def test_a_service_error_retry_covers_client_execution_timeouts(engine, tmp_path):
    fault = Fault("features", chunk=0, times=2, error="Lambda.ClientExecutionTimeoutException")
    engine.inject(fault)
    result = featurize(engine, tmp_path)
    assert result.exit_code == 0, result.output + result.stderr
    assert fault.injected == 2
    assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle())


def test_150_failed_chunks_are_read_from_the_failure_list_not_the_cut_cause(engine):
    """A cause naming 150 failed chunks would pass Step Functions' 32,768 characters (where AWS cuts it):
    the cause names three and the failure list in S3; the client's RunFailed carries all 150."""
    frame = make_long(n_ids=150, n_points=3, seed=5)
    engine.inject(Fault("features", times=None, error="Runtime.OutOfMemory"))
    with pytest.raises(RunFailed) as raised:
        run_api(frame, endpoint=engine.endpoint_url, chunk_size=1, progress=False)
    failure = raised.value
    assert failure.error == "ChunkFailed" and failure.state == "Reduce"
    assert failure.chunks == list(range(150))
    assert len(failure.cause) < 2_000 and "; and 147 more." in failure.cause
    name = failure.execution_arn.rsplit(":", 1)[1]
    assert failure.failure_list == f"s3://featurize-local/{RunKeys(name).failure_list}"
    assert failure.failure_list in failure.cause
    # What a cause naming every chunk would have needed: more than Step Functions keeps.
    assert len("; ".join(describe(ChunkFailure.from_json(f)) for f in failure.failures)) > 32_768
    by_chunk = {f["chunk"]: f for f in failure.failures}
    s3 = engine.client("s3")
    for index in (0, 77, 149):
        chunk = pd.read_parquet(io.BytesIO(s3.get_object(Bucket="featurize-local", Key=RunKeys(name).chunk(index))[
            "Body"].read()))  # fmt: skip
        assert by_chunk[index]["ids"] == chunk["id"].unique().tolist() and by_chunk[index]["error"] == "NoResult"
    assert sorted(i for f in failure.failures for i in f["ids"]) == sorted(frame["id"].unique())


@pytest.mark.parametrize(("args", "expected"), [((), 200), (("--max-concurrency", 2), 2)])
def test_max_concurrency_reaches_the_map_run(engine, tmp_path, args, expected):
    """The Map's MaxConcurrencyPath reads the partition step's output: the run's value, else the default."""
    result = featurize(engine, tmp_path, *args)
    assert result.exit_code == 0, result.output + result.stderr
    arn = result.stderr.split("started ", 1)[1].split()[0]
    sfn = engine.client("stepfunctions")
    [map_run] = sfn.list_map_runs(executionArn=arn)["mapRuns"]
    assert sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["maxConcurrency"] == expected
    assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle())


def test_the_python_api_passes_max_concurrency_and_refuses_zero(engine):
    from featurize import InputError, extract_features

    done = run_api(FRAME, endpoint=engine.endpoint_url, chunk_size=3, max_concurrency=3, progress=False)
    sfn = engine.client("stepfunctions")
    [map_run] = sfn.list_map_runs(executionArn=done.execution_arn)["mapRuns"]
    assert sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["maxConcurrency"] == 3
    with pytest.raises(InputError, match="max_concurrency must be a whole number from 1 to 10000 .* got 0"):
        extract_features(FRAME, column_id="id", column_sort="time", endpoint=engine.endpoint_url, max_concurrency=0)
    with pytest.raises(InputError, match="max_concurrency must be a whole number .* got -1"):
        run_api(FRAME, endpoint=engine.endpoint_url, max_concurrency=-1, progress=False)
