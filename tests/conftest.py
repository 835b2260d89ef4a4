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


def tsfresh_minimal(frame: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """The oracle: tsfresh 0.21.2's MinimalFCParameters result for the same arguments."""
    from tsfresh import extract_features
    from tsfresh.feature_extraction import MinimalFCParameters

    return extract_features(
        frame, default_fc_parameters=MinimalFCParameters(), disable_progressbar=True, n_jobs=0, **kwargs
    )


def assert_matches_oracle(result: pd.DataFrame, oracle: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Same ids in the same order, same columns in the same order, values within ``rtol``."""
    assert list(result.columns) == list(oracle.columns)
    assert [str(i) for i in result.index] == [str(i) for i in oracle.index]
    np.testing.assert_allclose(result.to_numpy(), oracle.to_numpy(), rtol=rtol, atol=0, equal_nan=True)


def wait(sfn, arn: str, timeout: float = 240.0) -> dict:
    """Poll DescribeExecution until the execution leaves RUNNING (bounded), and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError(f"{arn} still RUNNING after {timeout} s")


@pytest.fixture(scope="module")
def engine():
    """A local engine with two workers, shared by the tests of one module."""
    from featurize.engine import LocalEngine

    with LocalEngine(workers=2) as running:
        yield running
