"""Ctrl-C: ``featurize run`` prints one line and exits 130 at once; a stopped run's work ends with it.

The chunks run a custom feature that touches a marker file (so the test knows a chunk is in flight,
without sleeping) and then waits a minute: anything that waits for them shows up as a delay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import featurize
from featurize import api
from featurize.client import Runner
from featurize.engine import LocalEngine

from ..conftest import assert_matches_oracle, make_long, tsfresh_oracle, wait

SLOW_MODULE = '''
"""A custom feature that marks that it started, then takes a minute."""
import os
import pathlib
import time

import numpy as np


def wait_long(x: np.ndarray) -> float:
    pathlib.Path(os.environ.get("SLOW_MARKER", "/nonexistent/marker")).touch()
    time.sleep(60)
    return 0.0
'''
SLOW = {"mean": None, "custom_features.slow:wait_long": None}
FRAME = make_long(n_ids=6, n_points=20, seed=8)


@pytest.fixture
def slow(tmp_path, monkeypatch) -> Path:
    """A folder with the input and ``custom_features.slow`` importable (environment, import path)."""
    package = tmp_path / "extra" / "custom_features"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from pkgutil import extend_path\n\n__path__ = extend_path(__path__, __name__)\n", encoding="utf-8"
    )
    (package / "slow.py").write_text(textwrap.dedent(SLOW_MODULE), encoding="utf-8")
    (tmp_path / "slow.json").write_text('{"mean": null, "custom_features.slow:wait_long": null}', encoding="utf-8")
    FRAME.to_parquet(tmp_path / "in.parquet", index=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "extra"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("SLOW_MARKER", str(tmp_path / "marker"))
    monkeypatch.syspath_prepend(str(tmp_path / "extra"))
    for name in [m for m in sys.modules if m == "custom_features" or m.startswith("custom_features.")]:
        monkeypatch.delitem(sys.modules, name)  # re-imported with the extra portion of the package
    return tmp_path


def until(condition, timeout: float = 60.0) -> None:
    """Poll ``condition`` until true (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {condition}")
        time.sleep(0.05)


def interrupt_cli(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``featurize run`` on the slow input, send SIGINT once a chunk runs; returns it and the seconds to exit."""
    command = [sys.executable, "-m", "featurize", "run", "in.parquet", "--features", "slow.json"]
    command += ["--chunk-size", "2", "--workers", "2", *args]
    process = subprocess.Popen(
        command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A process started from a background job inherits SIGINT ignored: give it the default, as a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )  # fmt: skip
    until(lambda: (folder / "marker").exists() or process.poll() is not None)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    seconds = time.monotonic() - sent
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), seconds


def test_ctrl_c_on_the_own_engine_prints_one_line_and_exits_130_at_once(slow):
    result, seconds = interrupt_cli(slow)
    assert result.returncode == 130, result.stderr
    started, *rest = result.stderr.strip().splitlines()
    arn = started.removeprefix("started ")
    assert started.startswith("started arn:aws:states:") and rest == [f"interrupted: stopped execution {arn}"]
    assert seconds < 10  # a generous bound for a loaded machine; the README states the benchmark's 2 s


def test_ctrl_c_on_a_running_engine_aborts_the_execution_and_kills_its_chunks(slow):
    with LocalEngine(workers=2) as engine:
        result, _ = interrupt_cli(slow, "--endpoint", engine.endpoint_url)
        assert result.returncode == 130, result.stderr
        arn = result.stderr.splitlines()[0].removeprefix("started ")
        assert result.stderr.strip().splitlines()[1:] == [f"interrupted: stopped execution {arn}"]
        assert wait(engine.client("stepfunctions"), arn, timeout=30)["status"] == "ABORTED"
        until(lambda: engine.running_invocations() == [], timeout=10)


def test_the_api_call_after_an_interrupted_one_does_not_wait_for_its_chunks(slow, monkeypatch):
    api.shutdown()  # this test's own engine (the import path above reaches its workers)
    interrupted: list[str] = []
    watch = Runner.watch

    def ctrl_c_once_a_chunk_runs(self, execution_arn, name, on_progress=None):
        if interrupted:
            return watch(self, execution_arn, name, on_progress)
        interrupted.append(name)
        until(lambda: (slow / "marker").exists())
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, "watch", ctrl_c_once_a_chunk_runs)
    try:
        with pytest.raises(KeyboardInterrupt):
            featurize.extract_features(FRAME, SLOW, column_id="id", column_sort="time", n_jobs=2,
                                       disable_progressbar=True)  # fmt: skip
        engine = api.local_engine()
        table = featurize.extract_features(FRAME, {"mean": None}, column_id="id", column_sort="time",
                                           disable_progressbar=True)  # fmt: skip
        # The workers were free for this call: the stopped run's chunks were killed, not waited for.
        assert interrupted[0] not in engine.running_invocations()
        assert_matches_oracle(table, tsfresh_oracle(FRAME, {"mean": None}, column_id="id", column_sort="time"))
        sfn = engine.client("stepfunctions")
        old = [e for e in sfn.list_executions(stateMachineArn=engine.info.state_machine_arn)["executions"]
               if e["name"] == interrupted[0]]  # fmt: skip
        assert [e["status"] for e in old] == ["ABORTED"]
    finally:
        api.shutdown()
