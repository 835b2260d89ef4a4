"""Shared fixtures: generated data, the tsfresh oracle, a local engine per test module."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

# tsfresh (the oracle) is slow with multi-threaded BLAS on 2 cores; workers pin it too.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def make_long(n_ids: int = 30, n_points: int = 40, kinds: tuple[str, ...] = (), seed: int = 0) -> pd.DataFrame:
    """Long-format data with uneven lengths, shuffled rows and string ids."""
    rng = np.random.default_rng(seed)
    frames = []
    for kind in kinds or (None,):
        for i in range(n_ids):
            n = int(rng.integers(1, n_points + 1))
            part = pd.DataFrame(
                {"id": f"s{i:03d}", "time": rng.permutation(n), "value": rng.normal(i, 1 + i % 3, size=n)}
            )
            if kind is not None:
                part["kind"] = kind
            frames.append(part)
    frame = pd.concat(frames, ignore_index=True)
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


def tsfresh_oracle(frame: pd.DataFrame, settings=None, **kwargs) -> pd.DataFrame:
    """The oracle: tsfresh 0.21.2's ``extract_features`` (one process) with these settings and arguments."""
    from tsfresh import extract_features

    return extract_features(frame, default_fc_parameters=settings, disable_progressbar=True, n_jobs=0, **kwargs)


def tsfresh_minimal(frame: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """The oracle: tsfresh 0.21.2's MinimalFCParameters result for the same arguments."""
    from tsfresh.feature_extraction import MinimalFCParameters

    return tsfresh_oracle(frame, MinimalFCParameters(), **kwargs)


#: The columns of :func:`make_long`'s frames with kinds, as tsfresh's arguments.
LONG_WITH_KINDS = {"column_id": "id", "column_sort": "time", "column_kind": "kind", "column_value": "value"}


def column_rtol(columns) -> np.ndarray:
    """Each column's tolerance: its calculator's registered ``rtol`` (1e-9 unless stated in the README)."""
    from featurize_lambda.core.registry import REGISTRY

    def rtol(column: str) -> float:
        parts = column.split("__")
        calculator = REGISTRY.get(parts[1]) if len(parts) > 1 else None
        return calculator.rtol if calculator is not None else 1e-9

    return np.array([rtol(c) for c in columns])


def assert_matches_oracle(result: pd.DataFrame, oracle: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Same ids in the same order, same columns in the same order, values within ``rtol``.

    A column of a calculator registered with a looser tolerance (at most 1e-6, stated per calculator in
    the README) is held to that instead; absolute 1e-12 near zero, as in the calculator suite.
    """
    assert list(result.columns) == list(oracle.columns)
    assert [str(i) for i in result.index] == [str(i) for i in oracle.index]
    have, want = result.to_numpy(dtype=float), oracle.to_numpy(dtype=float)
    tolerance = np.maximum(rtol, column_rtol(oracle.columns))
    both_nan = np.isnan(have) & np.isnan(want)
    same_inf = np.isinf(want) & (have == want)
    with np.errstate(invalid="ignore"):
        close = np.abs(have - want) <= 1e-12 + tolerance * np.abs(want)
    bad = ~(both_nan | same_inf | close)
    if bad.any():
        rows, cols = np.nonzero(bad)
        pairs = zip(rows[:5], cols[:5], strict=True)
        sample = [(oracle.index[r], oracle.columns[c], have[r, c], want[r, c]) for r, c in pairs]
        raise AssertionError(f"{bad.sum()} value(s) differ from the oracle, e.g. {sample}")


def wait(sfn, arn: str, timeout: float = 240.0) -> dict:
    """Poll DescribeExecution until the execution leaves RUNNING (bounded), and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError(f"{arn} still RUNNING after {timeout} s")


#: The events that close an execution's history.
CLOSING_EVENTS = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut")


def ended_history(sfn, arn: str, timeout: float = 60.0) -> list[str]:
    """The execution's history event types once its closing event is there (bounded), oldest first.

    A difference from AWS: moto's DescribeExecution reports ABORTED as soon as StopExecution is taken,
    while its interpreter thread writes ``ExecutionAborted`` when the running step returns; AWS
    closes the history with the stop.
    """
    deadline = time.monotonic() + timeout
    while True:
        events = [e["type"] for e in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]]
        if events and events[-1] in CLOSING_EVENTS:
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"{arn}: history not closed after {timeout} s: {events}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def engine():
    """A local engine with two workers, shared by the tests of one module."""
    from featurize.engine import LocalEngine

    with LocalEngine(workers=2) as running:
        yield running


@pytest.fixture
def s3():
    """A moto S3 client (in process) with the stack bucket and a ``data`` bucket for inputs."""
    import boto3
    from moto import mock_aws

    from .handler_s3 import BUCKET

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket="data")
        yield client
