"""Benchmark: small local runs, wall clock in fresh processes, ``featurize run`` vs a tsfresh script.

Issue 14's three sizes: 1,000 rows with MinimalFCParameters, 400 ids x 1,000 points with
EfficientFCParameters, 2M rows of Parquet with MinimalFCParameters. Each figure is a fresh process
from start to exit (its imports included): ``python -m featurize run DATA --no-serve`` (its own local
engine) and a script that imports tsfresh, reads the same file and calls ``extract_features`` with
``n_jobs=2`` under ``OPENBLAS_NUM_THREADS=1``. With ``--serve`` the 1,000-row run is also timed
against a running ``featurize serve`` (found by its info file, as a user's run finds it).

The goals (issue 14): 1,000 rows at least 2x faster than tsfresh, 400 x 1,000 at least 10x, 2M rows
faster; with a running server, the 1,000-row run under 0.5 s. One run of each case also prints
``featurize run --timings``'s breakdown. With ``--ctrl-c``, the time from SIGINT to exit of a run
whose chunks are running (the README's 2 s). Data files are cached under ~/.cache/featurize/ (never in the
repository).

Run: ``make bench-small-runs`` (or ``.venv/bin/python benchmarks/bench_small_runs.py [--repeat N]
[--sizes small,efficient,large] [--serve] [--ctrl-c]``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "featurize" / "bench-small-runs"


@dataclass(frozen=True)
class Case:
    """One benchmark case: its data shape, the preset, and the goal (tsfresh time / featurize time)."""

    key: str
    label: str
    ids: int
    points: int
    preset: str
    goal: float


CASES = (
    Case("small", "1,000 rows, minimal", 10, 100, "minimal", 2.0),
    Case("efficient", "400 x 1,000, efficient", 400, 1_000, "efficient", 10.0),
    Case("large", "2M rows Parquet, minimal", 2_000, 1_000, "minimal", 1.0),
)

TSFRESH_SCRIPT = """
import sys
import pandas as pd
from tsfresh import extract_features
from tsfresh.feature_extraction import EfficientFCParameters, MinimalFCParameters

settings = {"minimal": MinimalFCParameters, "efficient": EfficientFCParameters}[sys.argv[2]]()
frame = pd.read_parquet(sys.argv[1])
table = extract_features(frame, column_id="id", column_sort="time", default_fc_parameters=settings,
                         n_jobs=2, disable_progressbar=True)
table.to_parquet(sys.argv[3])
"""


def data_file(case: Case) -> Path:
    """The case's Parquet file (long format: id, time, value), generated once."""
    path = CACHE / f"{case.ids}x{case.points}.parquet"
    if not path.exists():
        rng = np.random.default_rng(14)
        frame = pd.DataFrame(
            {
                "id": np.repeat(np.arange(case.ids), case.points),
                "time": np.tile(np.arange(case.points), case.ids),
                "value": rng.normal(size=case.ids * case.points),
            }
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
    return path


def environment() -> dict[str, str]:
    """The benchmark's environment: one BLAS thread (tsfresh's fair setting; featurize pins its workers)."""
    return os.environ | {"OPENBLAS_NUM_THREADS": "1"}


def timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds of a fresh process from start to exit."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds, result


def featurize_command(data: Path, case: Case, *extra: str) -> list[str]:
    return [sys.executable, "-m", "featurize", "run", str(data), "--features", case.preset,
            "--output", "out.parquet", *extra]  # fmt: skip


def tsfresh_command(data: Path, case: Case) -> list[str]:
    return [sys.executable, "-c", TSFRESH_SCRIPT, str(data), case.preset, "tsfresh.parquet"]


def start_serve(folder: Path) -> subprocess.Popen[str]:
    """``featurize serve`` on a free port, writing ./featurize-serve.json in ``folder``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "featurize", "serve", "--port", "0"], cwd=folder, env=environment(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:  # the server says when it listens (after writing its info file)
        if line.startswith("Ctrl-C or SIGTERM"):
            return process
    raise SystemExit("featurize serve did not start")


def ctrl_c_seconds(folder: Path) -> tuple[float, int, list[str]]:
    """Seconds from SIGINT to exit of a ``featurize run`` (400 x 1,000, efficient) whose chunks are running.

    Returns the seconds, the exit code and the lines printed after the ``started`` line.
    """
    case = CASES[1]
    process = subprocess.Popen(
        featurize_command(data_file(case), case, "--no-serve"), cwd=folder, env=environment(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),  # as from a terminal
    )  # fmt: skip
    assert process.stderr is not None
    started = process.stderr.readline()
    if not started.startswith("started "):
        raise SystemExit(f"featurize run did not start: {started}")
    time.sleep(1.0)  # the partition step is done and chunks run (about 3 s of them are left)
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    return time.perf_counter() - sent, process.returncode, rest.splitlines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (the median is reported)")
    parser.add_argument("--sizes", default=",".join(c.key for c in CASES), help="comma-separated case keys")
    parser.add_argument("--serve", action="store_true", help="also time the 1,000-row run on a running serve")
    parser.add_argument("--ctrl-c", action="store_true", help="also time Ctrl-C during a run (SIGINT to exit)")
    args = parser.parse_args()
    keys = args.sizes.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="featurize-bench-") as tmp:
        folder = Path(tmp)
        for case in (c for c in CASES if c.key in keys):
            data = data_file(case)
            ours = [timed(featurize_command(data, case, "--no-serve"), folder)[0] for _ in range(args.repeat)]
            theirs = [timed(tsfresh_command(data, case), folder)[0] for _ in range(args.repeat)]
            _, breakdown = timed(featurize_command(data, case, "--no-serve", "--timings"), folder)
            ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
            rows.append((case, ours_s, theirs_s))
            print(f"{case.label}: featurize {ours_s:.2f} s {[round(s, 2) for s in ours]}, "
                  f"tsfresh {theirs_s:.2f} s {[round(s, 2) for s in theirs]}", flush=True)  # fmt: skip
            print("\n".join(line for line in breakdown.stderr.splitlines() if line.startswith(("timings", "  "))))
        served = None
        if args.serve:
            case = CASES[0]
            server = start_serve(folder)
            try:
                timed(featurize_command(data_file(case), case), folder)  # the server's first run warms it
                served = statistics.median(timed(featurize_command(data_file(case), case), folder)[0]
                                           for _ in range(args.repeat))  # fmt: skip
            finally:
                server.send_signal(signal.SIGTERM)
                server.communicate(timeout=60)
        if args.ctrl_c:
            interrupts = [ctrl_c_seconds(folder) for _ in range(args.repeat)]
            for seconds, code, lines in interrupts:
                print(f"Ctrl-C: exit {code} after {seconds:.2f} s; printed {lines}")
    print()
    print("| data | featurize run | tsfresh script | ratio | goal |")
    print("|---|---|---|---|---|")
    for case, ours_s, theirs_s in rows:
        ratio = theirs_s / ours_s
        verdict = "met" if ratio >= case.goal else "not met"
        print(f"| {case.label} | {ours_s:.2f} s | {theirs_s:.2f} s | {ratio:.1f}x | >= {case.goal:g}x: {verdict} |")
    if served is not None:
        print(f"| {CASES[0].label}, on a running serve | {served:.2f} s | | | < 0.5 s: "
              f"{'met' if served < 0.5 else 'not met'} |")  # fmt: skip
    print(json.dumps({"cpus": os.cpu_count(), "load": os.getloadavg()}))


if __name__ == "__main__":
    main()
