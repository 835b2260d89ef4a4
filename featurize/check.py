"""``featurize check``: one tiny run on a deployed stack, compared with the core's own result.

After ``cdk deploy`` nothing says the stack works until a run succeeds: the layer may miss a module,
a grant may be missing, a new account's quotas may throttle it. The check generates a small
deterministic input, runs it on the deployed state machine (bounded wait), compares the result with
:func:`featurize_lambda.core.features.extract` computed in this process on the same input (each
column at its calculator's registered tolerance), and reports each step's duration (from the
execution history) and the Lambdas' cold starts (``Init Duration`` of their ``REPORT`` log lines).

On failure it names the step and the most likely cause, from :data:`DIAGNOSES`, a pure table over
(error type, cause text, step): :func:`diagnose`.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featurize_lambda.core import features as core_features
from featurize_lambda.core.registry import REGISTRY
from featurize_lambda.keys import parse_s3_uri

from .client import Progress, RunFailed, Runner, Target, new_run_name

#: The preset the check computes: efficient exercises every calculator family (FFT, models, entropy)
#: and so most of numpy, pandas and pyarrow in the layer, on an input small enough to take seconds.
CHECK_FEATURES = "efficient"
#: Ids per chunk of the check's run: its 6 ids make 3 chunks, so the Map runs several items.
CHECK_CHUNK_SIZE = 2
#: Default bound of the wait for the execution (seconds).
CHECK_TIMEOUT_SECONDS = 60.0
#: How long to wait for the last REPORT lines to reach CloudWatch Logs after the execution ends
#: (seconds; Lambda writes them asynchronously, usually within a few seconds).
LOG_WAIT_SECONDS = 10.0
#: Seconds between two looks at the log groups while waiting for REPORT lines.
LOG_POLL_SECONDS = 1.0
#: The workflow's steps as the execution history names them, in order.
STEPS = ("Partition", "Features", "Reduce")
#: Tolerance of a column whose calculator is unknown (not in the registry).
DEFAULT_RTOL = 1e-9
#: Error names of the check's own failures (not from the execution).
CHECK_TIMED_OUT = "featurize.CheckTimedOut"
RESULT_MISMATCH = "featurize.ResultMismatch"


def make_check_input(
    n_ids: int = 6, kinds: Sequence[str] = ("a", "b"), n_points: int = 60, seed: int = 12
) -> pd.DataFrame:
    """The check's input: long format ``id, time, kind, value``, deterministic for the same arguments.

    Series lengths differ (from 3 to ``n_points``) and rows are shuffled, so the partition step's
    sorting and the per-id segments are exercised.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for kind_index, kind in enumerate(kinds):
        for i in range(n_ids):
            n = int(rng.integers(3, n_points + 1))
            t = np.arange(n)
            values = (i + 1) * np.sin(2 * np.pi * t / (5 + 3 * kind_index + i)) + rng.normal(0, 0.5, size=n)
            frames.append(pd.DataFrame({"id": f"check-{i:02d}", "time": t, "kind": kind, "value": values}))
    frame = pd.concat(frames, ignore_index=True)
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


def expected_features(frame: pd.DataFrame, features: Any = CHECK_FEATURES) -> pd.DataFrame:
    """The core's own result on ``frame`` (long format with kinds), computed in this process."""
    chunk = frame.sort_values(["id", "kind", "time"], kind="stable").reset_index(drop=True)
    kinds = sorted(chunk["kind"].unique().tolist())
    chunk = chunk.assign(kind=pd.Categorical(chunk["kind"], categories=kinds), value=chunk["value"].astype(float))
    return core_features.extract(chunk[["id", "kind", "value"]], kinds, core_features.parse_features(features))


def column_rtol(column: str) -> float:
    """A result column's tolerance: its calculator's registered ``rtol`` (``<kind>__<calculator>__...``)."""
    parts = column.split("__")
    calculator = REGISTRY.get(parts[1]) if len(parts) > 1 else None
    return calculator.rtol if calculator is not None else DEFAULT_RTOL


@dataclass(frozen=True)
class Mismatch:
    """One way the deployed result differs from the core's: a column (or ``<ids>``) and what differs."""

    column: str
    detail: str


def compare(have: pd.DataFrame, want: pd.DataFrame) -> list[Mismatch]:
    """Where ``have`` (the deployed result) differs from ``want`` (the core's), by column.

    Ids are compared as strings (index); each column within ``1e-12 + rtol * |want|`` with its
    calculator's ``rtol``; NaN equals NaN and an infinity equals the same infinity.
    """
    have = have.set_axis(have.index.astype(str))
    want = want.set_axis(want.index.astype(str))
    if list(have.index) != list(want.index):
        missing, extra = sorted(set(want.index) - set(have.index)), sorted(set(have.index) - set(want.index))
        return [Mismatch("<ids>", f"missing {missing[:5]}, unexpected {extra[:5]}, or another order")]
    mismatches = [Mismatch(c, "missing from the deployed result") for c in want.columns if c not in have.columns]
    mismatches += [Mismatch(c, "not in the core's result") for c in have.columns if c not in want.columns]
    for column in (c for c in want.columns if c in have.columns):
        got, ref = have[column].to_numpy(dtype=float), want[column].to_numpy(dtype=float)
        rtol = column_rtol(column)
        with np.errstate(invalid="ignore"):
            close = np.abs(got - ref) <= 1e-12 + rtol * np.abs(ref)
        ok = close | (np.isnan(got) & np.isnan(ref)) | (np.isinf(ref) & (got == ref))
        if not ok.all():
            row = int(np.flatnonzero(~ok)[0])
            mismatches.append(
                Mismatch(column, f"{int((~ok).sum())} id(s) differ beyond rtol {rtol:g}, e.g. "
                                 f"{want.index[row]}: {got[row]!r} deployed, {ref[row]!r} core")
            )  # fmt: skip
    return mismatches


# -- the execution history ---------------------------------------------------------------------------


def step_durations(events: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Seconds each step took, from the execution history.

    A step lasts from its state's entered event to its exited event; one without an exit (still running,
    stopped) ends at the last event.
    """
    entered: dict[str, datetime] = {}
    durations: dict[str, float] = {}
    last: datetime | None = None
    for event in events:
        last = event["timestamp"]
        if (details := event.get("stateEnteredEventDetails")) and details.get("name") in STEPS:
            entered[details["name"]] = event["timestamp"]
        elif (details := event.get("stateExitedEventDetails")) and details.get("name") in entered:
            durations[details["name"]] = (event["timestamp"] - entered.pop(details["name"])).total_seconds()
    for name, start in entered.items():
        durations[name] = (last - start).total_seconds() if last is not None else 0.0
    return {name: durations[name] for name in STEPS if name in durations}


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of an execution (GetExecutionHistory, all pages)."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page.get("events", [])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


# -- REPORT lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """One Lambda invocation's ``REPORT`` line (durations in ms, memory in MB)."""

    request_id: str
    duration_ms: float
    billed_ms: float
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None = None
    status: str | None = None
    error_type: str | None = None


_REPORT_FIELD = re.compile(
    r"(?:^|\s)(Billed Duration|Init Duration|Restore Duration|Duration|Memory Size|Max Memory Used):"
    r"\s*([\d.]+)\s*(?:ms|MB)"
)
_TEXT_KEYS = {"Duration": "duration_ms", "Billed Duration": "billed_ms", "Memory Size": "memory_mb",
              "Max Memory Used": "max_memory_mb", "Init Duration": "init_ms"}  # fmt: skip
_JSON_KEYS = {"durationMs": "duration_ms", "billedDurationMs": "billed_ms", "memorySizeMB": "memory_mb",
              "maxMemoryUsedMB": "max_memory_mb", "initDurationMs": "init_ms"}  # fmt: skip


def parse_report(line: str) -> Report | None:
    """Parse a Lambda ``REPORT`` line (text log format, or JSON's ``platform.report``); None otherwise.

    Text: ``REPORT RequestId: <id> Duration: 812.37 ms Billed Duration: 813 ms Memory Size: 1769 MB
    Max Memory Used: 212 MB Init Duration: 1543.21 ms`` (tabs between fields; ``Init Duration`` only on
    a cold start; newer runtimes add ``Status: timeout`` or ``Status: error Error Type: ...``).
    """
    line = line.strip()
    if line.startswith("{"):
        try:
            document = json.loads(line)
        except ValueError:
            return None
        if not isinstance(document, dict) or document.get("type") != "platform.report":
            return None
        record = document.get("record") or {}
        metrics = record.get("metrics") or {}
        values = {key: metrics[name] for name, key in _JSON_KEYS.items() if name in metrics}
        status, error_type = record.get("status"), record.get("errorType")
        request_id = str(record.get("requestId", ""))
    else:
        match = re.match(r"REPORT\s+RequestId:\s*(\S+)", line)
        if match is None:
            return None
        request_id = match.group(1)
        values = {_TEXT_KEYS[m.group(1)]: float(m.group(2)) for m in _REPORT_FIELD.finditer(line)
                  if m.group(1) in _TEXT_KEYS}  # fmt: skip
        found_status = re.search(r"\bStatus:\s*(\w+)", line)
        found_error = re.search(r"\bError Type:\s*(\S+)", line)
        status = found_status.group(1) if found_status else None
        error_type = found_error.group(1) if found_error else None
    if not {"duration_ms", "billed_ms", "memory_mb", "max_memory_mb"} <= set(values):
        return None
    return Report(
        request_id,
        float(values["duration_ms"]),
        float(values["billed_ms"]),
        int(values["memory_mb"]),
        int(values["max_memory_mb"]),
        float(values["init_ms"]) if values.get("init_ms") is not None else None,
        status,
        error_type,
    )


def function_arns(definition: dict[str, Any]) -> dict[str, str]:
    """Step -> the Lambda ARN it invokes, from the deployed state machine definition."""
    states = definition.get("States", {})
    tasks = {
        "Partition": states.get("Partition", {}),
        "Features": states.get("Features", {}).get("ItemProcessor", {}).get("States", {}).get("ComputeFeatures", {}),
        "Reduce": states.get("Reduce", {}),
    }
    return {step: task["Resource"] for step, task in tasks.items() if isinstance(task.get("Resource"), str)}


def stack_log_groups(cfn: Any, stack: str) -> dict[str, str]:
    """Step -> the log group the stack made for its function (logical id ``<Step>LogGroup...``)."""
    groups: dict[str, str] = {}
    try:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for resource in page.get("StackResourceSummaries", []):
                if resource.get("ResourceType") != "AWS::Logs::LogGroup":
                    continue
                for step in STEPS:
                    if resource["LogicalResourceId"].startswith(f"{step}LogGroup"):
                        groups[step] = resource["PhysicalResourceId"]
    except Exception:  # noqa: BLE001 - no cloudformation:ListStackResources: the functions' own config says
        return {}
    return groups


def log_group(lam: Any, function_arn: str, fallback: str | None = None) -> str:
    """A function's log group: its LoggingConfig's, else ``fallback`` (the stack's), else Lambda's default."""
    try:
        configured = lam.get_function_configuration(FunctionName=function_arn).get("LoggingConfig") or {}
    except Exception:  # noqa: BLE001 - no lambda:GetFunctionConfiguration: fall back to the stack's name
        configured = {}
    return configured.get("LogGroup") or fallback or f"/aws/lambda/{function_arn.rsplit(':', 1)[-1]}"


def reports(logs: Any, group: str, start: datetime, end: datetime) -> list[Report]:
    """The REPORT lines a log group holds for ``[start, end]`` (FilterLogEvents, all pages)."""
    kwargs: dict[str, Any] = {
        "logGroupName": group,
        "startTime": int(start.timestamp() * 1000),
        "endTime": int(end.timestamp() * 1000),
        # Matches both log formats: the text line and JSON's "type":"platform.report".
        "filterPattern": '?"REPORT RequestId" ?"platform.report"',
    }
    found: list[Report] = []
    while True:
        page = logs.filter_log_events(**kwargs)
        found += [r for e in page.get("events", []) if (r := parse_report(e.get("message", ""))) is not None]
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


@dataclass
class ColdStarts:
    """Per step, the REPORT lines of the execution's window; ``note`` says why there are none."""

    reports: dict[str, list[Report]] = field(default_factory=dict)
    note: str | None = None


def cold_starts(
    logs: Any,
    groups: dict[str, str],
    start: datetime,
    end: datetime,
    wait_seconds: float = LOG_WAIT_SECONDS,
    ran: Iterable[str] | None = None,
) -> ColdStarts:
    """The REPORT lines of each step's log group during the execution, waiting (bounded) for them to arrive.

    Only the steps in ``ran`` (default: every step) are waited for: a step that never ran writes none.
    Other invocations in the same window (another run) are counted too: the lines carry no execution.
    """
    awaited = [step for step in (groups if ran is None else ran) if step in groups]
    # REPORT lines are written after each invocation returns: look a little past the execution's end.
    window_end = end + timedelta(seconds=30)
    deadline = time.monotonic() + wait_seconds
    found: dict[str, list[Report]] = {}
    while True:
        try:
            found = {step: reports(logs, group, start, window_end) for step, group in groups.items()}
        except Exception as error:  # noqa: BLE001 - no logs:FilterLogEvents, no such group: a note, not a failure
            code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
            return ColdStarts({}, f"not available (CloudWatch Logs: {code})")
        if all(found[step] for step in awaited) or time.monotonic() >= deadline:
            break
        time.sleep(LOG_POLL_SECONDS)  # polling CloudWatch Logs for lines still in flight, bounded
    if not any(found.values()):
        note = "not available (no REPORT lines in the functions' log groups; the local engine writes none)"
        if wait_seconds > 0:
            note = f"not available (no REPORT lines in the functions' log groups after {wait_seconds:g} s)"
        return ColdStarts({}, note)
    return ColdStarts(found)


# -- diagnosis ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnosis:
    """The most likely cause of a failure and what to do about it."""

    kind: str
    advice: str


@dataclass(frozen=True)
class Rule:
    """A row of :data:`DIAGNOSES`: matches when ``pattern`` finds ``error: cause`` and the step is in ``steps``."""

    kind: str
    pattern: str
    advice: str
    steps: frozenset[str] | None = None


_DENIED = r"(?=.*(access ?denied|not authorized|forbidden|unauthorized))"
_MEMORY_KEYS = {"Partition": "partition_memory_mb", "Features": "features_memory_mb", "Reduce": "reduce_memory_mb"}

#: (error type, cause text, step) -> diagnosis; the first matching row wins, so specific rows come first.
DIAGNOSES: tuple[Rule, ...] = (
    Rule(
        "timeout",
        rf"^{re.escape(CHECK_TIMED_OUT)}\b",
        "the run was still going at the check's deadline: throttling on a low Lambda concurrency quota retries for "
        "up to ~19 minutes (see the step's Lambda.TooManyRequestsException in the console), or cold starts are "
        "slow; watch it with `featurize status`, or raise --timeout",
    ),
    Rule(
        "result",
        rf"^{re.escape(RESULT_MISMATCH)}\b",
        "the deployed code computes other values than this client: deploy the stack from this featurize version "
        "(cdk deploy), so that the Lambdas' code and layer match it",
    ),
    Rule(
        "lambda died",
        r"^noresult\b",
        "a features Lambda died without writing a failure record: out of memory, its 5-minute timeout, or "
        "throttled through all its retries; the features log group's REPORT lines say which (Max Memory Used "
        "equal to Memory Size: raise -c features_memory_mb or lower --chunk-size; throttling: see quota)",
    ),
    Rule(
        "grant",
        _DENIED + r"(?=.*kms)",
        "the partition role may not decrypt the input's KMS key: deploy with "
        "-c input_kms_keys=<key ARN> and let the key policy allow the PartitionRole kms:Decrypt",
        frozenset({"Partition"}),
    ),
    Rule(
        "grant",
        _DENIED + r"(?=.*kms)",
        "the reduce role may not use the output's KMS key: deploy with "
        "-c output_kms_keys=<key ARN> and let the key policy allow the ReduceRole kms:GenerateDataKey and kms:Decrypt",
        frozenset({"Reduce"}),
    ),
    Rule(
        "grant",
        _DENIED,
        "the partition role may not read the input: the stack grants its own bucket and the "
        "context key input_buckets (-c input_buckets=<bucket>; a bucket in another account must also grant "
        "s3:GetObject and s3:ListBucket in its bucket policy); redeploy if the stack's own grants were edited",
        frozenset({"Partition"}),
    ),
    Rule(
        "grant",
        _DENIED,
        "the reduce role may not write the output: the stack grants outputs/ of its bucket and "
        "the context key output_buckets (-c output_buckets=<bucket>; a bucket in another account must also grant "
        "s3:PutObject and s3:AbortMultipartUpload in its bucket policy)",
        frozenset({"Reduce"}),
    ),
    Rule(
        "grant",
        _DENIED,
        "a role of the stack lacks a permission (the message names the action): the state "
        "machine role needs lambda:InvokeFunction and states:StartExecution on its own Map runs, the features role "
        "runs/* of the bucket; redeploy the stack unedited (cdk deploy) and check SCPs or permission boundaries",
    ),
    Rule(
        "quota",
        r"memorysize|memory size|3,?008 ?mb|memory.*quota",
        "the account's Lambda memory quota: new accounts allow at most 3,008 MB per function; keep the "
        "{memory_key} default (3,008 or less) or ask AWS to raise the quota (Service Quotas -> AWS Lambda)",
    ),
    Rule(
        "memory",
        r"runtime\.outofmemory|signal: killed|memoryerror|out of memory|runtime\.exiterror",
        "memory: the function ran out of it; deploy with a larger -c {memory_key}=... (at most 3,008 on a new "
        "account) or run with a smaller --chunk-size",
    ),
    Rule(
        "timeout",
        r"states\.timeout|sandbox\.timedout|task timed out|timed out after",
        "the step's Lambda timeout (features 5 min, partition and reduce 15 min): run smaller chunks "
        "(--chunk-size), or more memory (-c {memory_key}=..., which also buys CPU)",
    ),
    Rule(
        "quota",
        r"toomanyrequests|rate exceeded|concurrentinvocationlimitexceeded|concurrency|throttl",
        "the Lambda concurrency quota: the service throttled beyond the retries (~19 minutes); raise "
        "'Concurrent executions' (Service Quotas -> AWS Lambda) or run with --max-concurrency N "
        "(-c max_concurrency=N) below the quota minus what else runs in the account",
    ),
    Rule(
        "layer",
        r"importmoduleerror|importerror|modulenotfounderror|no module named|cannot open shared object"
        r"|glibc_|undefined symbol|support for codec|wrong elf class|exec format error",
        "the dependency layer: the functions import pyarrow, numpy and pandas from the stack's own layer "
        "(requirements-lambda.txt, cdk_app/layer.py); redeploy from this checkout (cdk deploy) so code and layer "
        "match, and check that no trim rule (TRIM_RULES) removed the module the message names",
    ),
    Rule(
        "input",
        r"^inputerror\b",
        "the stack refused the check's own input: its code differs from this client's; deploy the stack from "
        "this featurize version",
    ),
)

#: When no row matches.
UNKNOWN = Diagnosis("unknown", "see the execution's events in the Step Functions console and the step's log group")


def diagnose(error: str, cause: str, step: str | None) -> Diagnosis:
    """The most likely cause of a failed step: the first row of :data:`DIAGNOSES` that matches."""
    text = f"{error}: {cause}"
    for rule in DIAGNOSES:
        if rule.steps is not None and step not in rule.steps:
            continue
        if re.search(rule.pattern, text, flags=re.IGNORECASE | re.DOTALL):
            return Diagnosis(rule.kind, rule.advice.format(memory_key=_MEMORY_KEYS.get(step or "", "<step>_memory_mb")))
    return UNKNOWN


# -- the check ---------------------------------------------------------------------------------------


@dataclass
class Failure:
    """What failed: the step (and chunk), the error and its cause, and the diagnosis."""

    step: str | None
    error: str
    cause: str
    diagnosis: Diagnosis
    chunk: int | None = None

    def line(self) -> str:
        """The one ``error:`` line of a failed check (without the prefix)."""
        where = self.step or "the run"
        if self.chunk is not None:
            where += f" (chunk {self.chunk})"
        cause = self.cause if len(self.cause) <= 300 else self.cause[:297] + "..."
        diagnosis = f"likely cause ({self.diagnosis.kind}): {self.diagnosis.advice}"
        return f"check failed in {where}: {self.error}: {cause}; {diagnosis}"


@dataclass
class CheckReport:
    """The outcome of :func:`run_check`."""

    execution_arn: str | None
    steps: dict[str, float] = field(default_factory=dict)
    chunks: int | None = None
    ids: int | None = None
    features: int | None = None
    seconds: float = 0.0
    cold: ColdStarts = field(default_factory=ColdStarts)
    failure: Failure | None = None

    @property
    def passed(self) -> bool:
        """Whether the check succeeded."""
        return self.failure is None


class _TimedOut(Exception):
    def __init__(self, stage: str) -> None:
        self.stage = stage


def _chunk_failure(sfn: Any, error: RunFailed, map_run_arn: str | None) -> tuple[int | None, str, str]:
    """The first failed chunk, its error type and message.

    From the Map's failed child executions on AWS (the real Lambda error), else from the run's failure
    list (``NoResult`` when the Lambda died without a record).
    """
    chunk = error.failures[0]["chunk"] if error.failures else None
    if map_run_arn is not None:
        try:
            failed = sfn.list_executions(mapRunArn=map_run_arn, statusFilter="FAILED", maxResults=1)["executions"]
            if failed:
                child = sfn.describe_execution(executionArn=failed[0]["executionArn"])
                if child.get("error"):
                    return chunk, child["error"], child.get("cause", "")
        except Exception:  # noqa: BLE001 - the local engine lists no child executions: the failure list says enough
            pass
    if error.failures:
        return chunk, str(error.failures[0].get("error", error.error)), str(error.failures[0].get("message", ""))
    return chunk, error.error, error.cause


def _remove(target: Target, uris: list[str]) -> None:
    """Delete the check's input and output (outputs/ never expires), if the credentials may."""
    for uri in uris:
        bucket, key = parse_s3_uri(uri, "output")
        try:
            target.s3.delete_object(Bucket=bucket, Key=key)
        except Exception:  # noqa: BLE001 - no s3:DeleteObject: the objects stay, nothing else depends on it
            pass


def run_check(
    target: Target,
    lam: Any,
    logs: Any,
    timeout: float = CHECK_TIMEOUT_SECONDS,
    on_progress: Callable[[Progress], None] | None = None,
    log_wait: float = LOG_WAIT_SECONDS,
    on_start: Callable[[str], None] | None = None,
    cfn: Any = None,
    stack: str | None = None,
) -> CheckReport:
    """Run the check on a deployed stack's target.

    Parameters
    ----------
    target : Target
        The stack's bucket and state machine (:func:`featurize.targets.stack_target`).
    lam, logs : botocore clients
        Lambda (the functions' log groups) and CloudWatch Logs (their REPORT lines).
    timeout : float
        Seconds to wait for the execution; past it the execution is stopped and the check fails.
    on_progress : callable, optional
        Called at each poll with the run's progress.
    log_wait : float
        Seconds to wait for REPORT lines to reach CloudWatch Logs after the run.
    on_start : callable, optional
        Called with the execution ARN once it started.
    cfn : botocore client, optional
        CloudFormation, to find the log groups of ``stack``'s functions when Lambda does not name them.
    stack : str, optional
        The stack's name.

    Returns
    -------
    CheckReport
        ``failure`` is None when the run succeeded and its result equals the core's.
    """
    runner = Runner(target)
    frame = make_check_input()
    name = new_run_name("featurize-check")
    with tempfile.TemporaryDirectory(prefix="featurize-check-") as scratch:
        path = Path(scratch) / "check.parquet"
        frame.to_parquet(path, index=False)
        uri = runner.upload(path, name)
        document = {"input": uri, "column_kind": "kind", "features": CHECK_FEATURES, "chunk_size": CHECK_CHUNK_SIZE}
        arn = runner.start(document, name)
        if on_start is not None:
            on_start(arn)
        report = CheckReport(arn)
        deadline = time.monotonic() + timeout

        def progress(state: Progress) -> None:
            if on_progress is not None:
                on_progress(state)
            if time.monotonic() > deadline:
                raise _TimedOut(state.stage)

        result = None
        try:
            result = runner.watch(arn, name, progress)
        except KeyboardInterrupt:
            runner.stop(arn, "featurize check: interrupted")
            raise
        except _TimedOut as timed_out:
            runner.stop(arn, f"featurize check: no result after {timeout:g} s")
            cause = f"the execution was still running in {timed_out.stage} after {timeout:g} s (stopped)"
            report.failure = Failure(timed_out.stage, CHECK_TIMED_OUT, cause, diagnose(CHECK_TIMED_OUT, cause, None))
        except RunFailed as failed:
            step, chunk, error, cause = failed.state, None, failed.error, failed.cause
            if failed.error == "ChunkFailed":
                runs = target.sfn.list_map_runs(executionArn=arn).get("mapRuns", [])
                step = "Features"
                chunk, error, cause = _chunk_failure(target.sfn, failed, runs[0]["mapRunArn"] if runs else None)
            report.failure = Failure(step, error, cause, diagnose(error, cause, step), chunk)
        described = target.sfn.describe_execution(executionArn=arn)
        report.steps = step_durations(execution_history(target.sfn, arn))
        if result is not None:
            report.seconds = result.seconds
            report.chunks, report.ids = result.summary.get("chunks"), result.summary.get("ids")
            report.features = result.summary.get("features")
            output = Path(scratch) / "result.parquet"
            runner.download(result.output, output)
            _remove(target, [result.output, uri])
            have = pd.read_parquet(output)
            if "id" in have.columns:
                have = have.set_index("id")
            mismatches = compare(have, expected_features(frame))
            if mismatches:
                columns = ", ".join(m.column for m in mismatches[:5]) + (
                    f" and {len(mismatches) - 5} more" if len(mismatches) > 5 else ""
                )
                first = mismatches[0].detail
                cause = f"{len(mismatches)} column(s) differ from the core's own result: {columns} ({first})"
                report.failure = Failure(None, RESULT_MISMATCH, cause, diagnose(RESULT_MISMATCH, cause, None))
    stopped = described.get("stopDate") or datetime.now(described["startDate"].tzinfo)
    definition = json.loads(target.sfn.describe_state_machine(stateMachineArn=target.machine_arn())["definition"])
    fallback = stack_log_groups(cfn, stack) if cfn is not None and stack is not None else {}
    groups = {step: log_group(lam, arn, fallback.get(step)) for step, arn in function_arns(definition).items()}
    report.cold = cold_starts(logs, groups, described["startDate"], stopped, log_wait, ran=report.steps)
    if report.failure is not None:
        report.failure = refine(report.failure, report.cold)
    return report


def refine(failure: Failure, cold: ColdStarts) -> Failure:
    """Diagnose a Lambda that died without saying why again, from its step's REPORT lines.

    ``NoResult`` (no failure record) and ``Runtime.ExitError`` name no cause; the REPORT line of the
    invocation does: ``Status: timeout``, an ``Error Type``, or all of its memory used.
    """
    if failure.step is None or failure.error not in ("NoResult", "Runtime.ExitError"):
        return failure
    for line in cold.reports.get(failure.step, []):
        if line.error_type:
            evidence = line.error_type
        elif line.status == "timeout":
            evidence = "Sandbox.Timedout"
        elif line.max_memory_mb >= line.memory_mb:
            evidence = "Runtime.OutOfMemory"
        else:
            continue
        used = f"{line.max_memory_mb} of {line.memory_mb} MB used"
        said = f"its REPORT line (request {line.request_id}) says {evidence}, {used}"
        # Diagnosed on the REPORT line alone: the NoResult message lists every possible cause.
        return replace(failure, cause=f"{failure.cause}; {said}", diagnosis=diagnose(evidence, said, failure.step))
    return failure


def format_report(report: CheckReport) -> list[str]:
    """The check's table: each step's seconds, then the cold starts per function."""
    lines = [f"{'step':<16}{'seconds':>8}"]
    for step in STEPS:
        label = "Features (Map)" if step == "Features" else step
        seconds = report.steps.get(step)
        lines.append(f"{label:<16}{'-' if seconds is None else f'{seconds:.2f}':>8}")
    if report.steps:
        lines.append(f"{'total':<16}{sum(report.steps.values()):>8.2f}")
    if report.cold.note is not None:
        lines.append(f"cold starts (Init Duration): {report.cold.note}")
    else:
        lines.append("cold starts (Init Duration, ms):")
        for step in STEPS:
            found = report.cold.reports.get(step, [])
            inits = [r.init_ms for r in found if r.init_ms is not None]
            described = ", ".join(f"{v:.0f}" for v in sorted(inits, reverse=True)) if inits else "none"
            used = max((r.max_memory_mb for r in found), default=None)
            memory = f"; max memory {used} of {found[0].memory_mb} MB" if found else ""
            lines.append(f"  {step:<14}{described} ({len(inits)} cold of {len(found)} invocations{memory})")
    return lines
