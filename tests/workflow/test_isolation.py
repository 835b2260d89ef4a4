"""Fault isolation of the local engine: a worker that dies fails only its own invocation, as on AWS.

The poison is a custom feature function that calls ``os._exit(137)`` on one series (what an
out-of-memory kill looks like to the runtime): only that series' chunk fails, the other chunks in
flight at the same time complete, and the dead worker is replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurize.engine import LocalEngine

from ..conftest import assert_matches_oracle, make_long, tsfresh_oracle

#: 12 ids, 2 per chunk: 6 chunks; the poisoned series (a value of exactly POISON) is in id s005: chunk 2.
POISON = -12345.0
FRAME = make_long(n_ids=12, n_points=30, seed=21)
FRAME.loc[FRAME.index[FRAME["id"] == "s005"][0], "value"] = POISON
SETTINGS = {"mean": None, "maximum": None, "custom_features.poison:range_or_die": None}

POISON_MODULE = f'''
"""A custom feature that dies like an out-of-memory kill on the series holding {POISON}."""
import os

import numpy as np


def range_or_die(x: np.ndarray) -> float:
    if {POISON} in x:
        os._exit(137)
    return float(np.max(x) - np.min(x))
'''


@pytest.fixture
def poisoned(tmp_path) -> tuple[Path, dict[str, str]]:
    """A folder with the input, the settings and ``custom_features.poison``; the environment that finds it."""
    package = tmp_path / "extra" / "custom_features"
    package.mkdir(parents=True)
    # A second portion of the custom_features package: the shipped one (custom_features.example) stays.
    (package / "__init__.py").write_text(
        "from pkgutil import extend_path\n\n__path__ = extend_path(__path__, __name__)\n", encoding="utf-8"
    )
    (package / "poison.py").write_text(textwrap.dedent(POISON_MODULE), encoding="utf-8")
    FRAME.to_parquet(tmp_path / "in.parquet", index=False)
    (tmp_path / "settings.json").write_text(json.dumps(SETTINGS), encoding="utf-8")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path / "extra"), os.environ.get("PYTHONPATH", "")])}
    return tmp_path, env


def featurize(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "featurize", "run", "in.parquet", "--output", "out.parquet"]
    command += ["--features", "settings.json", "--chunk-size", "2", "--workers", "2", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def oracle(ids: list[str]) -> pd.DataFrame:
    """tsfresh's mean and maximum plus the custom range computed directly with pandas."""
    frame = FRAME[FRAME["id"].isin(ids)]
    table = tsfresh_oracle(frame, {"mean": None, "maximum": None}, column_id="id", column_sort="time")
    table["value__range_or_die"] = frame.groupby("id")["value"].agg(lambda v: np.max(v) - np.min(v))
    return table


def test_only_the_chunk_whose_worker_died_fails_and_the_others_are_in_the_output(poisoned):
    folder, env = poisoned
    result = featurize(folder, env, "--tolerated-failure-percentage", "20")
    assert result.returncode == 0, result.stderr
    kept = sorted(set(FRAME["id"]) - {"s004", "s005"})
    table = pd.read_parquet(folder / "out.parquet").set_index("id")
    assert_matches_oracle(table[sorted(table.columns)], oracle(kept)[sorted(table.columns)])
    [failure] = json.loads((folder / "out.failures.json").read_text())["failures"]
    assert failure["chunk"] == 2 and failure["ids"] == ["s004", "s005"]
    assert "warning: partial output: 1 of 6 chunk(s) failed (2 ids missing)" in result.stderr
    assert "Traceback" not in result.stderr and "BrokenProcessPool" not in result.stderr


def test_without_tolerance_the_run_fails_naming_only_the_poisoned_chunk(poisoned):
    folder, env = poisoned
    result = featurize(folder, env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ChunkFailed: 1 of 6 chunk(s) failed: chunk 2 (") and "the Lambda died" in line
    assert "Traceback" not in result.stderr


def test_a_dead_worker_reports_its_exit_status_as_runtime_exit_error_and_is_replaced(tmp_path):
    with LocalEngine(workers=1, handlers={"partition": "tests.probe_handlers.exit_with"}) as engine:
        lam = engine.client("lambda")

        def invoke(event: dict) -> tuple[dict, str | None]:
            response = lam.invoke(FunctionName="featurize-partition", Payload=json.dumps(event))
            return json.loads(response["Payload"].read()), response.get("FunctionError")

        payload, error = invoke({"code": 137})
        assert error is not None and payload["errorType"] == "Runtime.ExitError"
        assert payload["errorMessage"] == "Error: Runtime exited with error: exit status 137"
        # The only worker died: a fresh fork of the template answers the next invocation.
        first, _ = invoke({"code": None})
        second, error = invoke({"code": None})
        assert error is None and first["pid"] == second["pid"] and first["pid"] != os.getpid()
        assert engine.running_invocations() == []
