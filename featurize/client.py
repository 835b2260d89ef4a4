"""Start a run, watch it, fetch its output: the same boto3 code for AWS and for the local engine."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurize_lambda.contracts import ChunkFailure, FailureList
from featurize_lambda.core.outputs import SUCCESS_NAME
from featurize_lambda.keys import INPUTS_PREFIX, RunKeys, parse_s3_uri, s3_uri

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_stepfunctions import SFNClient
    from types_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef, ExecutionListItemTypeDef

#: The longest wait between two polls of DescribeExecution while a run is watched.
POLL_SECONDS = 0.25
#: The first wait: polls start fast and slow down to POLL_SECONDS (a small run ends within a few).
FIRST_POLL_SECONDS = 0.02

#: The workflow's Fail states and the step whose error each one carries.
FAIL_STATES = {"PartitionFailed": "Partition", "FeaturesFailed": "Features", "ReduceFailed": "Reduce"}


class RunFailed(Exception):
    """A run ended in FAILED, TIMED_OUT or ABORTED.

    Attributes
    ----------
    error : str
        The Step Functions error name (``InputError``, ``ChunkFailed``, ...).
    cause : str
        The human-readable cause (the handler's ``errorMessage`` when there is one).
    state : str or None
        The step that failed (``Partition``, ``Features``, ``Reduce``), when known.
    failures : list of dict
        Every failed chunk (``chunk``, ``ids``, ``error``, ``message``, ...) of a ``ChunkFailed`` run, read
        from the run's failure list in S3 (the cause names only a few: Step Functions cuts a cause at
        32,768 characters); empty for other errors or when the list cannot be read.
    chunks : list of int
        The indexes of the failed chunks (from ``failures``).
    failure_list : str or None
        The failure list's URI, when it was read.
    """

    def __init__(
        self,
        error: str,
        cause: str,
        state: str | None,
        execution_arn: str,
        status: str,
        failures: list[dict[str, Any]] | None = None,
        failure_list: str | None = None,
    ) -> None:
        self.error, self.cause, self.state = error, cause, state
        self.execution_arn, self.status = execution_arn, status
        self.failures = list(failures or [])
        self.chunks = [ChunkFailure.from_json(f).chunk for f in self.failures]
        self.failure_list = failure_list
        where = f" (in {state})" if state else ""
        super().__init__(f"{error}: {cause}{where}")


@dataclass(frozen=True)
class Target:
    """Where runs go: a bucket and a state machine, reached through two boto3 clients.

    ``bucket`` and ``state_machine_arn`` may be None when only existing executions are looked at
    (``featurize status ARN``).
    """

    s3: S3Client
    sfn: SFNClient
    bucket: str | None
    state_machine_arn: str | None
    #: ``wait(execution_arn, seconds)``: return when the execution ends or after ``seconds``; an
    #: in-process engine signals the end (no polling delay), elsewhere None: a plain sleep.
    wait: Callable[[str, float], Any] | None = None

    def run_bucket(self) -> str:
        """The bucket runs upload to and write in (a target opened only to look at executions has none)."""
        if self.bucket is None:
            raise RuntimeError("this target has no bucket: it was opened to look at existing executions only")
        return self.bucket

    def machine_arn(self) -> str:
        """The state machine runs start on (a target opened only to look at executions has none)."""
        if self.state_machine_arn is None:
            raise RuntimeError("this target has no state machine: it was opened to look at existing executions only")
        return self.state_machine_arn


@dataclass
class Progress:
    """What is known of a running execution, handed to the progress callback at each poll."""

    stage: str = "Partition"
    chunks_total: int | None = None
    chunks_done: int = 0


@dataclass(frozen=True)
class RunResult:
    """A successful run: where its output is and what it counted."""

    execution_arn: str
    name: str
    output: str
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def is_local_dataset(output: str) -> bool:
    """Whether a local output names a dataset folder: it ends with ``/`` (or the OS's separator) or is a folder."""
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


def check_local_dataset(folder: Path) -> None:
    """Refuse a local dataset folder that holds anything: a dataset is downloaded into a new or empty folder.

    Raises
    ------
    FileExistsError
        Naming the folder.
    """
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"output folder {folder} is not empty: a dataset goes to a new or empty folder")


def new_run_name(prefix: str = "featurize") -> str:
    """A unique, sortable execution name (``featurize-20261125-101500-1a2b3c``)."""
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def execution_name(execution_arn: str) -> str:
    """The name part of an execution ARN (``...:execution:<machine>:<name>``)."""
    return execution_arn.rsplit(":", 1)[-1]


def cause_message(cause: str) -> str:
    """The ``errorMessage`` of a Lambda error cause (a JSON document), else the cause itself."""
    try:
        document = json.loads(cause)
    except (TypeError, ValueError):
        return cause or ""
    if isinstance(document, dict) and "errorMessage" in document:
        return str(document["errorMessage"])
    return cause


class Runner:
    """Drives runs on one :class:`Target`."""

    def __init__(self, target: Target) -> None:
        self.target = target
        #: Each upload's URI and the user's own name for it (see :meth:`in_user_words`).
        self.uploads: dict[str, str] = {}

    def upload(self, path: Path, name: str, label: str | None = None) -> str:
        """Upload a local input under ``inputs/<run name>/``; returns its URI.

        ``label``: how messages name the input (default: ``path`` as given), e.g. "the DataFrame".
        """
        key = f"{INPUTS_PREFIX}{name}/{path.name}"
        bucket = self.target.run_bucket()
        self.target.s3.upload_file(str(path), bucket, key)
        uri = f"s3://{bucket}/{key}"
        self.uploads[uri] = str(path) if label is None else label
        return uri

    def in_user_words(self, text: str) -> str:
        """``text`` with each upload's internal URI replaced by the user's name for it.

        A folder's prefix ``s3://.../inputs/<run>/parts/`` becomes the folder as given (``parts/``), so a
        file below it reads ``parts/a.csv``; the longest URI first (a file's URI holds its folder's).
        """
        for uri in sorted(self.uploads, key=len, reverse=True):
            label = self.uploads[uri]
            if uri.endswith("/"):
                text = text.replace(uri, label.rstrip("/") + "/").replace(uri.rstrip("/"), label)
            else:
                text = text.replace(f"input {uri}", f"input {label}" if "/" in label or "." in label else label)
                text = text.replace(uri, label)
        return text

    def upload_folder(self, folder: Path, files: list[Path], name: str, label: str | None = None) -> str:
        """Upload the data files of a local folder under ``inputs/<run name>/<folder name>/``.

        Paths below the folder are kept (Hive-style ``kind=x/`` folder names stay meaningful); returns
        the prefix's URI (the run's input). ``label``: how messages name the folder (default: as given).
        """
        # Absolute and normalized on both sides: a folder given as "parts/" or "." holds files listed
        # with absolute paths.
        root = Path(os.path.abspath(folder))
        prefix = f"{INPUTS_PREFIX}{name}/{root.name}/"
        bucket = self.target.run_bucket()
        for path in files:
            key = prefix + Path(os.path.abspath(path)).relative_to(root).as_posix()
            self.target.s3.upload_file(str(path), bucket, key)
        uri = f"s3://{bucket}/{prefix}"
        self.uploads[uri] = str(folder) if label is None else label
        return uri

    def download(self, uri: str, path: Path) -> None:
        """Download an object to a local file (the parent directory is created), or a dataset to a folder.

        A dataset (``uri`` ending in ``/``) is downloaded only when complete (its ``_SUCCESS`` exists):
        every object under it, kept relative to it, with ``_SUCCESS`` written last locally too.
        """
        bucket, key = parse_s3_uri(uri)
        if uri.endswith("/"):
            self._download_dataset(bucket, key, path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self.target.s3.download_file(bucket, key, str(path))

    def _download_dataset(self, bucket: str, prefix: str, folder: Path) -> None:
        s3 = self.target.s3
        keys = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for item in page.get("Contents", [])]  # fmt: skip
        marker = prefix + SUCCESS_NAME
        if marker not in keys:
            raise FileNotFoundError(f"dataset s3://{bucket}/{prefix} is not complete: it has no {SUCCESS_NAME}")
        folder.mkdir(parents=True, exist_ok=True)
        for key in sorted(keys, key=lambda k: k == marker):  # the marker last
            target = folder / key[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))

    def default_output(self, name: str, filename: str = "features.parquet") -> str:
        """The output URI of run ``name`` in the target's bucket."""
        return f"s3://{self.target.bucket}/{RunKeys(name).default_output.rsplit('/', 1)[0]}/{filename}"

    def start(self, execution_input: dict[str, Any], name: str) -> str:
        """Start an execution; returns its ARN."""
        response = self.target.sfn.start_execution(
            stateMachineArn=self.target.machine_arn(), name=name, input=json.dumps(execution_input)
        )
        return response["executionArn"]

    def stop(self, execution_arn: str, cause: str) -> None:
        """Stop an execution (StopExecution)."""
        self.target.sfn.stop_execution(executionArn=execution_arn, error="featurize.Stopped", cause=cause)

    def _progress(self, execution_arn: str, name: str, progress: Progress) -> None:
        if progress.chunks_total is None and self.target.bucket is not None:
            key = RunKeys(name).manifest
            try:
                body = self.target.s3.get_object(Bucket=self.target.bucket, Key=key)["Body"].read()
            except self.target.s3.exceptions.NoSuchKey:
                return
            # The total comes from the manifest: DescribeMapRun's total grows as items start locally.
            progress.chunks_total = len(json.loads(body))
            progress.stage = "Features"
        runs = self.target.sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
        if runs:
            counts = self.target.sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"]
            if progress.chunks_total is None:  # no bucket to read the manifest from: AWS's total
                progress.chunks_total = counts.get("total", 0)
                progress.stage = "Features"
            # .get: the local engine may leave a count out; AWS always sends all of them.
            done = counts.get("succeeded", 0) + counts.get("failed", 0)
            progress.chunks_done = done + counts.get("timedOut", 0) + counts.get("aborted", 0)
            if progress.chunks_done >= progress.chunks_total:
                progress.stage = "Reduce"

    def _failed_state(self, execution_arn: str) -> str | None:
        history = self.target.sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True)
        for event in history.get("events", []):
            entered = event.get("stateEnteredEventDetails")
            if entered and entered.get("name") in FAIL_STATES:
                return FAIL_STATES[entered["name"]]
        return None

    def failure_list(self, name: str) -> tuple[list[dict[str, Any]], str | None]:
        """The failed chunks of run ``name`` from its failure list in the target's bucket, and its URI.

        Empty (and None) when there is no bucket to read from or no list (a run that failed before Reduce).
        """
        if self.target.bucket is None:
            return [], None
        key = RunKeys(name).failure_list
        try:
            body = self.target.s3.get_object(Bucket=self.target.bucket, Key=key)["Body"].read()
        except self.target.s3.exceptions.NoSuchKey:
            return [], None
        listing = FailureList.from_json(json.loads(body))
        return [failure.to_json() for failure in listing.failures], s3_uri(self.target.bucket, key)

    def _failure_in_user_words(self, failure: dict[str, Any]) -> dict[str, Any]:
        """A failed chunk's record with its text fields in the user's words (:meth:`in_user_words`)."""
        return {key: self.in_user_words(value) if isinstance(value, str) else value for key, value in failure.items()}

    def step_seconds(self, execution_arn: str) -> list[tuple[str, float]]:
        """How long each top-level step of an execution took, from its history (``--timings``)."""
        try:
            events = self.target.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        except Exception:  # noqa: BLE001 - timings are a diagnostic: never fail a run over them
            return []
        entered: dict[str, Any] = {}
        steps: list[tuple[str, float]] = []
        for event in events:
            if event.get("stateEnteredEventDetails") and event["stateEnteredEventDetails"]["name"] not in entered:
                entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
            exited = event.get("stateExitedEventDetails")
            if exited and exited["name"] in entered and exited["name"] not in dict(steps):
                steps.append((exited["name"], (event["timestamp"] - entered[exited["name"]]).total_seconds()))
        return steps

    def list_runs(self, limit: int = 20) -> list[ExecutionListItemTypeDef]:
        """The most recent executions of the target's state machine (newest first)."""
        response = self.target.sfn.list_executions(stateMachineArn=self.target.machine_arn(), maxResults=limit)
        return response.get("executions", [])

    def progress(self, execution_arn: str) -> tuple[DescribeExecutionOutputTypeDef, Progress]:
        """One look at an execution: DescribeExecution and its chunk progress."""
        described = self.target.sfn.describe_execution(executionArn=execution_arn)
        progress = Progress()
        self._progress(execution_arn, execution_name(execution_arn), progress)
        return described, progress

    def watch(self, execution_arn: str, name: str, on_progress: Callable[[Progress], None] | None = None) -> RunResult:
        """Poll until the execution ends.

        Returns
        -------
        RunResult
            On SUCCEEDED.

        Raises
        ------
        RunFailed
            On any other end state, with the error, the cause and the failing step.
        """
        started = time.monotonic()
        progress = Progress()
        pause = FIRST_POLL_SECONDS
        while True:
            described = self.target.sfn.describe_execution(executionArn=execution_arn)
            status = described["status"]
            if status != "RUNNING":
                break
            self._progress(execution_arn, name, progress)
            if on_progress is not None:
                on_progress(progress)
            if self.target.wait is not None:
                self.target.wait(execution_arn, POLL_SECONDS)
            else:
                time.sleep(pause)
                pause = min(POLL_SECONDS, pause * 1.5)
        seconds = time.monotonic() - started
        if status != "SUCCEEDED":
            error = described.get("error") or status
            cause = self.in_user_words(cause_message(described.get("cause", ""))) or f"the execution ended {status}"
            failures, listing = self.failure_list(name) if error == "ChunkFailed" else ([], None)
            failures = [self._failure_in_user_words(failure) for failure in failures]
            raise RunFailed(error, cause, self._failed_state(execution_arn), execution_arn, status, failures, listing)
        summary = json.loads(described.get("output") or "{}")
        summary["notes"] = [self.in_user_words(str(note)) for note in summary.get("notes", [])]
        return RunResult(execution_arn, name, summary.get("output", ""), summary, seconds)
