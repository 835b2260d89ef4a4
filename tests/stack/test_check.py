"""``featurize check`` against the deploy rehearsal, plus its pure parts (diagnosis table, REPORT parser).

The rehearsal deploys the synthesized stack into the local engine (tests/rehearsal.py); faults are
injected with the engine's :class:`~featurize.engine.Fault` hook, as the Lambda service would fail an
invocation. The engine's Retry waits are scaled down so a throttled step exhausts its 40 retries in
about a second instead of ~19 minutes.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize import check
from featurize.cli import app as cli_app
from featurize.client import Runner
from featurize.engine import Fault
from featurize.targets import clients, stack_target
from featurize_lambda.core import features as core_features
from featurize_lambda.core.registry import REGISTRY

from ..conftest import LONG_WITH_KINDS, tsfresh_minimal
from ..rehearsal import STACK, deploy_rehearsal

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    with deploy_rehearsal(tmp_path_factory.mktemp("cdk.out"), retry_wait_scale=0.001) as engine:
        yield engine


@pytest.fixture
def engine(deployed):
    deployed.clear_faults()
    yield deployed
    deployed.clear_faults()


def run_check(engine, *extra: str):
    result = CliRunner().invoke(
        cli_app, ["check", "--stack", STACK, "--endpoint", engine.endpoint_url, *extra], catch_exceptions=False
    )
    return result


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def step_seconds(output: str) -> dict[str, float]:
    found = re.findall(r"^(Partition|Features \(Map\)|Reduce|total)\s+([\d.]+)$", output, flags=re.MULTILINE)
    return {name: float(value) for name, value in found}


# -- against the deployed stack ----------------------------------------------------------------------


def test_a_check_of_the_deployed_stack_passes_with_its_step_table(engine):
    # Wall clock, not monotonic: the step table comes from the history's wall-clock timestamps, and a
    # clock adjustment during the run (seen on these machines) must move both sides alike.
    started = time.time()
    result = run_check(engine)
    elapsed = time.time() - started
    assert result.exit_code == 0, result.output + result.stderr
    assert error_lines(result) == []
    assert "check passed: 6 ids x " in result.stdout
    seconds = step_seconds(result.stdout)
    assert set(seconds) == {"Partition", "Features (Map)", "Reduce", "total"}, result.stdout
    assert all(value > 0 for value in seconds.values())
    assert seconds["total"] == pytest.approx(sum(v for k, v in seconds.items() if k != "total"), abs=0.02)
    assert seconds["total"] < elapsed
    assert "cold starts (Init Duration): not available (no REPORT lines" in result.stdout
    # The check ran on the deployed state machine, and its result was the one the stack wrote.
    sfn = engine.client("stepfunctions")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    executions = [e for e in sfn.list_executions(stateMachineArn=machine)["executions"]]
    [run] = [e for e in executions if e["name"].startswith("featurize-check-")]
    assert run["status"] == "SUCCEEDED"
    # Its input and output are deleted (its intermediates under runs/ expire with the stack's rule).
    s3 = engine.client("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("rehearsalstack-bucket"))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if k.startswith(("inputs/", "outputs/")) and run["name"] in k], keys
    assert any(k.startswith(f"runs/{run['name']}/") for k in keys)


def test_the_core_the_check_compares_with_agrees_with_tsfresh():
    # The check's reference is the in-process core; on the check's own input it equals the oracle.
    frame = check.make_check_input()
    mine = check.expected_features(frame, "minimal")
    oracle = tsfresh_minimal(frame, **LONG_WITH_KINDS)
    assert check.compare(mine[oracle.columns], oracle) == []
    assert frame.equals(check.make_check_input())  # deterministic


@pytest.mark.parametrize(
    ("fault", "where", "kind", "says"),
    [
        (
            Fault("partition", times=None, error="Runtime.ImportModuleError",
                  message="Unable to import module 'featurize_lambda.partition': No module named 'pyarrow._s3fs'"),
            "Partition", "layer", "requirements-lambda.txt",
        ),
        (
            Fault("partition", times=None, error="Lambda.TooManyRequestsException", message="Rate Exceeded."),
            "Partition", "quota", "--max-concurrency",
        ),
        (
            Fault("reduce", times=None, error="ClientError",
                  message="An error occurred (AccessDenied) when calling the PutObject operation: Access Denied"),
            "Reduce", "grant", "output_buckets",
        ),
        (
            Fault("reduce", times=None, error="Sandbox.Timedout", message="Task timed out after 900.00 seconds"),
            "Reduce", "timeout", "reduce_memory_mb",
        ),
        (
            Fault("features", chunk=1, times=None, error="Runtime.OutOfMemory",
                  message="Runtime exited with error: signal: killed"),
            r"Features \(chunk 1\)", "lambda died", "features_memory_mb",
        ),
    ],
    ids=["layer", "quota", "grant", "timeout", "chunk-died"],
)  # fmt: skip
def test_an_injected_failure_names_its_step_and_likely_cause(engine, fault, where, kind, says):
    engine.inject(fault)
    result = run_check(engine)
    assert result.exit_code == 1, result.output + result.stderr
    [line] = error_lines(result)
    assert re.match(rf"error: check failed in {where}: ", line), line
    assert f"likely cause ({kind}): " in line and says in line, line
    assert fault.injected >= 1
    assert "Traceback" not in result.output + result.stderr
    # The steps that ran are still timed.
    assert "Partition" in step_seconds(result.stdout)


def test_a_result_that_differs_from_the_core_fails_the_check_naming_the_columns(engine, monkeypatch):
    # The Lambdas run in the engine's workers from the deployed asset: only this process's core changes.
    extract = core_features.extract

    def skewed(chunk, kinds, spec):
        result = extract(chunk, kinds, spec)
        result["a__mean"] *= 1 + 1e-6
        result["b__maximum"] += 1.0
        return result

    monkeypatch.setattr(core_features, "extract", skewed)
    result = run_check(engine)
    assert result.exit_code == 1, result.output + result.stderr
    [line] = error_lines(result)
    assert "2 column(s) differ from the core's own result: a__mean, b__maximum" in line, line
    assert "likely cause (result): " in line
    assert "Reduce" in step_seconds(result.stdout)  # the run itself succeeded


@contextmanager
def recorded(engine, lines: dict[str, list[str]]):
    """Recorded log lines in the stack's log groups (step -> lines), within the next execution's window.

    The local engine writes no logs: the lines go where the deployed functions' logs go.
    """
    logs = engine.client("logs")
    groups = check.stack_log_groups(engine.client("cloudformation"), STACK)
    assert set(groups) == {"Partition", "Features", "Reduce"}
    # The next execution starts after now and ends within its window's half a minute of slack.
    at = int((time.time() + 5) * 1000)
    for step, messages in lines.items():
        logs.create_log_stream(logGroupName=groups[step], logStreamName="recorded")
        logs.put_log_events(
            logGroupName=groups[step],
            logStreamName="recorded",
            logEvents=[{"timestamp": at + i, "message": m} for i, m in enumerate(messages)],
        )
    try:
        yield
    finally:
        for step in lines:
            logs.delete_log_stream(logGroupName=groups[step], logStreamName="recorded")


def test_cold_starts_come_from_the_functions_report_lines(engine):
    lines = {
        "Partition": ["REPORT RequestId: 1a Duration: 4210.00 ms\tBilled Duration: 4211 ms\tMemory Size: 3008 MB\t"
                      "Max Memory Used: 401 MB\tInit Duration: 2104.71 ms\t"],
        "Features": [COLD, WARM_XRAY],
        "Reduce": ["START RequestId: 3a Version: $LATEST", "END RequestId: 3a"],
    }  # fmt: skip
    with recorded(engine, lines):
        result = run_check(engine)
    assert result.exit_code == 0, result.output + result.stderr
    assert re.search(r"^  Partition\s+2105 \(1 cold of 1 invocations; max memory 401 of 3008 MB\)$", result.stdout,
                     re.MULTILINE), result.stdout  # fmt: skip
    assert re.search(r"^  Features\s+1543 \(1 cold of 2 invocations; max memory 230 of 1769 MB\)$", result.stdout,
                     re.MULTILINE), result.stdout  # fmt: skip
    assert re.search(r"^  Reduce\s+none \(0 cold of 0 invocations\)$", result.stdout, re.MULTILINE), result.stdout


def test_a_chunk_that_died_is_diagnosed_from_its_report_line(engine):
    # The injected fault leaves no failure record (NoResult), as a killed Lambda does; its REPORT line
    # says why.
    engine.inject(Fault("features", chunk=0, times=None, error="Runtime.OutOfMemory", message="signal: killed"))
    with recorded(engine, {"Features": [WARM_XRAY, OOM]}):
        result = run_check(engine)
    assert result.exit_code == 1, result.output + result.stderr
    [line] = error_lines(result)
    assert line.startswith("error: check failed in Features (chunk 0): NoResult: "), line
    assert "REPORT line (request 2d4f6b8c-0e2a-4c4e-9a3b-5c7d9e1f3a5b) says Runtime.OutOfMemory" in line, line
    assert "likely cause (memory): " in line and "features_memory_mb" in line, line


def test_a_run_past_the_deadline_is_stopped_and_fails_the_check(engine, monkeypatch):
    # Throttled on every attempt, the partition step retries (for ~1 s at this engine's scaled waits):
    # a zero deadline passes at the first look at the running execution.
    engine.inject(Fault("partition", times=None, error="Lambda.TooManyRequestsException", message="Rate Exceeded."))
    target = stack_target(STACK, endpoint_url=engine.endpoint_url)
    lam, logs = clients(endpoint_url=engine.endpoint_url, services=("lambda", "logs"))
    stopped = []
    stop = Runner.stop
    # moto's interpreter may still end a stopped execution FAILED: the check's own StopExecution is asserted.
    monkeypatch.setattr(Runner, "stop", lambda self, arn, cause: (stopped.append(arn), stop(self, arn, cause)))
    report = check.run_check(target, lam, logs, timeout=0.0, log_wait=0.0)
    assert report.failure is not None and report.failure.error == check.CHECK_TIMED_OUT
    assert report.failure.step == "Partition" and report.failure.diagnosis.kind == "timeout"
    assert stopped == [report.execution_arn]


def test_the_callers_own_missing_permission_is_one_error_line(engine, monkeypatch):
    from botocore.exceptions import ClientError

    def denied(self, path, name):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")

    monkeypatch.setattr("featurize.client.Runner.upload", denied)
    result = run_check(engine)
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert "could not run with these credentials" in line and "AccessDenied" in line, line
    assert "Traceback" not in result.output + result.stderr


def test_check_refuses_an_unknown_stack(engine):
    result = CliRunner().invoke(cli_app, ["check", "--stack", "NoSuchStack", "--endpoint", engine.endpoint_url])
    assert result.exit_code == 2
    [line] = error_lines(result)
    assert "NoSuchStack" in line


# -- the diagnosis table, case by case -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "cause", "step", "kind", "says"),
    [
        ("ClientError", "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied",
         "Partition", "grant", "input_buckets"),
        ("InputError", "s3://other/x.parquet: access denied to bucket 'other': add it with -c input_buckets=other",
         "Partition", "grant", "input_buckets"),
        ("ClientError", "An error occurred (AccessDenied) when calling the CreateMultipartUpload operation",
         "Reduce", "grant", "output_buckets"),
        ("ClientError", "An error occurred (AccessDeniedException) when calling the Decrypt operation: User: "
         "arn:aws:sts::1:assumed-role/PartitionRole is not authorized to perform: kms:Decrypt", "Partition", "grant",
         "input_kms_keys"),
        ("ClientError", "User is not authorized to perform: kms:GenerateDataKey on resource", "Reduce", "grant",
         "output_kms_keys"),
        ("States.Runtime", "User: arn:aws:sts::1:assumed-role/StateMachineRole is not authorized to perform: "
         "lambda:InvokeFunction", "Features", "grant", "states:StartExecution"),
        ("Lambda.TooManyRequestsException", "Rate Exceeded.", "Partition", "quota", "Concurrent executions"),
        ("Lambda.TooManyRequestsException", "ConcurrentInvocationLimitExceeded", "Reduce", "quota", "max_concurrency"),
        ("InvalidParameterValueException", "'MemorySize' value failed to satisfy constraint: Member must have "
         "value less than or equal to 3008", "Reduce", "quota", "3,008 MB per function"),
        ("Runtime.ImportModuleError", "Unable to import module 'featurize_lambda.features': No module named "
         "'pyarrow'", "Features", "layer", "TRIM_RULES"),
        ("ImportError", "libarrow_substrait.so.2600: cannot open shared object file", "Partition", "layer",
         "layer"),
        ("ArrowNotImplementedError", "Support for codec 'zstd' not built", "Reduce", "layer", "layer"),
        ("States.Timeout", "", "Features", "timeout", "features_memory_mb"),
        ("Sandbox.Timedout", "Task timed out after 300.00 seconds", "Features", "timeout", "--chunk-size"),
        ("Runtime.OutOfMemory", "Runtime exited with error: signal: killed", "Partition", "memory",
         "partition_memory_mb"),
        ("Runtime.ExitError", "RequestId: 1 Error: Runtime exited with error: signal: killed", "Reduce", "memory",
         "reduce_memory_mb"),
        ("NoResult", "no result and no failure record: the Lambda died (timeout, out of memory) or was throttled "
         "until its retries ran out", "Features", "lambda died", "Max Memory Used"),
        ("InputError", "the execution input has no 'input' field", "Partition", "input", "featurize version"),
        (check.CHECK_TIMED_OUT, "still running in Features after 60 s", None, "timeout", "--timeout"),
        (check.RESULT_MISMATCH, "1 column(s) differ", None, "result", "cdk deploy"),
        ("ValueError", "something nobody expected", "Reduce", "unknown", "console"),
    ],
)  # fmt: skip
def test_the_diagnosis_table(error, cause, step, kind, says):
    diagnosis = check.diagnose(error, cause, step)
    assert diagnosis.kind == kind
    assert says in diagnosis.advice
    assert "{" not in diagnosis.advice  # every placeholder filled


def test_a_grant_rule_of_one_step_does_not_name_another_steps_key():
    diagnosis = check.diagnose("ClientError", "AccessDenied on PutObject", "Features")
    assert diagnosis.kind == "grant"
    assert "input_buckets" not in diagnosis.advice and "output_buckets" not in diagnosis.advice


# -- REPORT lines, as Lambda writes them ---------------------------------------------------------------

#: Recorded REPORT lines: text format (tabs between fields, X-Ray suffix when tracing is on), newer
#: runtimes' status fields, the JSON log format's platform.report record.
COLD = (
    "REPORT RequestId: 9f1c6a3e-2b7d-4c1e-8f0a-5d6e7f8a9b0c\tDuration: 812.37 ms\tBilled Duration: 813 ms\t"
    "Memory Size: 1769 MB\tMax Memory Used: 212 MB\tInit Duration: 1543.21 ms\t\n"
)
WARM_XRAY = (
    "REPORT RequestId: 0b2d4f6a-8c0e-4a2c-9e1f-3a5b7c9d1e2f\tDuration: 95.04 ms\tBilled Duration: 96 ms\t"
    "Memory Size: 1769 MB\tMax Memory Used: 230 MB\t\nXRAY TraceId: 1-6756e2a1-0f1e2d3c4b5a69788796a5b4\t"
    "SegmentId: 7a6b5c4d3e2f1a0b\tSampled: true\t"
)
TIMEOUT = (
    "REPORT RequestId: 1c3e5a7b-9d1f-4b3d-8f2a-4b6c8d0e2f4a\tDuration: 300000.00 ms\t"
    "Billed Duration: 300000 ms\tMemory Size: 1769 MB\tMax Memory Used: 1769 MB\tInit Duration: 1602.88 ms\t"
    "Status: timeout"
)
OOM = (
    "REPORT RequestId: 2d4f6b8c-0e2a-4c4e-9a3b-5c7d9e1f3a5b\tDuration: 20411.52 ms\tBilled Duration: 20412 ms\t"
    "Memory Size: 1769 MB\tMax Memory Used: 1769 MB\tStatus: error\tError Type: Runtime.OutOfMemory"
)
JSON = ('{"time":"2026-12-08T01:37:32.046Z","type":"platform.report","record":{"requestId":"3e5a7c9d",'
        '"metrics":{"durationMs":812.37,"billedDurationMs":813,"memorySizeMB":1769,"maxMemoryUsedMB":212,'
        '"initDurationMs":1543.21},"status":"success"}}')  # fmt: skip


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (COLD, check.Report("9f1c6a3e-2b7d-4c1e-8f0a-5d6e7f8a9b0c", 812.37, 813, 1769, 212, 1543.21)),
        (WARM_XRAY, check.Report("0b2d4f6a-8c0e-4a2c-9e1f-3a5b7c9d1e2f", 95.04, 96, 1769, 230, None)),
        (TIMEOUT, check.Report("1c3e5a7b-9d1f-4b3d-8f2a-4b6c8d0e2f4a", 300000.0, 300000, 1769, 1769, 1602.88,
                               "timeout")),
        (OOM, check.Report("2d4f6b8c-0e2a-4c4e-9a3b-5c7d9e1f3a5b", 20411.52, 20412, 1769, 1769, None, "error",
                           "Runtime.OutOfMemory")),
        (JSON, check.Report("3e5a7c9d", 812.37, 813, 1769, 212, 1543.21, "success")),
    ],
    ids=["cold", "warm-xray", "timeout", "oom", "json"],
)  # fmt: skip
def test_report_lines_parse(line, expected):
    assert check.parse_report(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "START RequestId: 9f1c6a3e Version: $LATEST",
        "END RequestId: 9f1c6a3e",
        '{"level":"INFO","message":"REPORT RequestId: in a message","service":"featurize"}',
        '{"type":"platform.start","record":{"requestId":"1"}}',
        "REPORT RequestId: 9f1c6a3e\tDuration: 812.37 ms",  # cut short: not a whole report
        "",
    ],
)
def test_other_lines_are_not_reports(line):
    assert check.parse_report(line) is None


# -- the other pure parts --------------------------------------------------------------------------------


def test_step_durations_from_a_recorded_history():
    t0 = datetime(2026, 12, 8, 1, 37, 27, tzinfo=UTC)

    def at(seconds: float, kind: str, **details) -> dict:
        return {"timestamp": t0 + timedelta(seconds=seconds), "type": kind, **details}

    events = [
        at(0.0, "ExecutionStarted"),
        at(0.015, "TaskStateEntered", stateEnteredEventDetails={"name": "Partition"}),
        at(4.747, "TaskStateExited", stateExitedEventDetails={"name": "Partition"}),
        at(4.747, "MapStateEntered", stateEnteredEventDetails={"name": "Features"}),
        at(9.311, "MapStateExited", stateExitedEventDetails={"name": "Features"}),
        at(9.311, "TaskStateEntered", stateEnteredEventDetails={"name": "Reduce"}),
        at(9.401, "LambdaFunctionFailed"),
        at(9.402, "FailStateEntered", stateEnteredEventDetails={"name": "ReduceFailed"}),
        at(9.403, "ExecutionFailed"),
    ]
    durations = check.step_durations(events)
    assert list(durations) == ["Partition", "Features", "Reduce"]
    assert durations["Partition"] == pytest.approx(4.732)
    assert durations["Features"] == pytest.approx(4.564)
    assert durations["Reduce"] == pytest.approx(0.092)  # no exit event: until the last one


def test_compare_holds_each_column_to_its_calculators_tolerance():
    loose = next(name for name, calc in REGISTRY.items() if calc.rtol > 1e-9)
    rtol = REGISTRY[loose].rtol
    want = pd.DataFrame(
        {f"a__{loose}__attr_x": [1.0, 2.0], "a__mean": [1.0, np.nan], "a__maximum": [np.inf, 0.0]},
        index=pd.Index(["s0", "s1"], name="id"),
    )
    within = want.copy()
    within[f"a__{loose}__attr_x"] *= 1 + rtol / 2
    within["a__mean"] *= 1 + 1e-10
    assert check.compare(within, want) == []
    beyond = want.copy()
    beyond[f"a__{loose}__attr_x"] *= 1 + 2 * rtol
    beyond["a__mean"] *= 1 + rtol / 2  # within the loose tolerance, beyond mean's 1e-9
    assert [m.column for m in check.compare(beyond, want)] == [f"a__{loose}__attr_x", "a__mean"]
    assert [m.column for m in check.compare(want.drop(columns="a__mean"), want)] == ["a__mean"]
    assert [m.column for m in check.compare(want.iloc[::-1], want)] == ["<ids>"]


def test_function_arns_from_the_definition():
    definition = {
        "States": {
            "Partition": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:1:function:P"},
            "Features": {"Type": "Map", "ItemProcessor": {"States": {"ComputeFeatures": {"Resource": "arn:F"}}}},
            "Reduce": {"Type": "Task", "Resource": "arn:R"},
        }
    }
    assert check.function_arns(definition) == {
        "Partition": "arn:aws:lambda:eu-west-1:1:function:P",
        "Features": "arn:F",
        "Reduce": "arn:R",
    }


@pytest.mark.parametrize(
    ("line", "kind"),
    [(TIMEOUT, "timeout"), (OOM, "memory"), (WARM_XRAY.replace("230 MB", "1769 MB"), "memory"), (COLD, "lambda died")],
    ids=["status-timeout", "error-type", "all-memory-used", "healthy"],
)
def test_a_lambda_that_died_is_diagnosed_again_from_its_report_lines(line, kind):
    failure = check.Failure("Features", "NoResult", "no result", check.diagnose("NoResult", "no result", "Features"))
    cold = check.ColdStarts({"Features": [check.parse_report(line)]})
    assert check.refine(failure, cold).diagnosis.kind == kind
    # Only the failed step's lines count, and only for a Lambda that named no cause.
    assert check.refine(failure, check.ColdStarts({"Reduce": [check.parse_report(line)]})) == failure
    layer = check.Failure("Features", "Runtime.ImportModuleError", "x", check.diagnose("ImportError", "x", "Features"))
    assert check.refine(layer, cold) == layer


class StubLogs:
    """A CloudWatch Logs client holding recorded events per group, two to a page."""

    def __init__(self, events: dict[str, list[str]], denied: bool = False) -> None:
        self.events, self.denied, self.calls = events, denied, []

    def filter_log_events(self, logGroupName, startTime, endTime, filterPattern, nextToken=None):  # noqa: N803
        from botocore.exceptions import ClientError

        self.calls.append((logGroupName, startTime, endTime))
        if self.denied:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "FilterLogEvents")
        offset = int(nextToken or 0)
        page = [{"message": m} for m in self.events.get(logGroupName, [])[offset : offset + 2]]
        more = offset + 2 < len(self.events.get(logGroupName, []))
        return {"events": page} | ({"nextToken": str(offset + 2)} if more else {})


def test_cold_starts_read_every_page_of_each_step_log_group():
    start = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    logs = StubLogs({"/p": [COLD, "START RequestId: x", WARM_XRAY], "/f": [OOM]})
    cold = check.cold_starts(logs, {"Partition": "/p", "Features": "/f"}, start, start + timedelta(seconds=9), 0.0)
    assert cold.note is None
    assert [r.init_ms for r in cold.reports["Partition"]] == [1543.21, None]
    assert [r.error_type for r in cold.reports["Features"]] == ["Runtime.OutOfMemory"]
    # The window: from the start to half a minute past the end (REPORT lines follow their invocation).
    assert {(s, e) for _, s, e in logs.calls} == {(start.timestamp() * 1000, (start.timestamp() + 39) * 1000)}


def test_cold_starts_without_log_access_are_a_note_not_a_failure():
    start = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    cold = check.cold_starts(StubLogs({}, denied=True), {"Reduce": "/r"}, start, start, 0.0)
    assert cold.reports == {} and cold.note == "not available (CloudWatch Logs: AccessDeniedException)"
    lines = check.format_report(check.CheckReport("arn", cold=cold))
    assert lines[-1] == "cold starts (Init Duration): not available (CloudWatch Logs: AccessDeniedException)"
