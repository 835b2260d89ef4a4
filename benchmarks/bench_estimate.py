"""Benchmark: ``featurize estimate --local`` against a measured ``featurize run``, in fresh processes.

Generates three inputs in a temporary folder: (1) 1,000 rows (10 ids x 100 points, CSV), minimal;
(2) 400 ids x 1,000 points (Parquet), efficient; (3) 2,000,000 rows (2,000 ids x 1,000 points, Parquet),
minimal. For each, runs ``featurize estimate --local`` and then ``featurize run`` (wall clock of the
whole process, as a user sees it), and prints predicted / measured. The first estimate measures the
engine's fixed cost once (a tiny run, cached in the temporary folder); the other constants
(:data:`featurize.estimate.CALIBRATION`) are fitted to these runs; the goal is every ratio within 0.5..1.5.

Run: ``.venv/bin/python benchmarks/bench_estimate.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The benchmark inputs of bench_minimal (this folder is on the path of a script run from it).
from bench_minimal import make_data


def featurize(*args: str) -> tuple[str, float]:
    """Run ``featurize ARGS`` in a fresh process: its stdout and its wall time."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "featurize", *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"featurize {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="measured runs per input (the median is compared)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="featurize-bench-estimate-") as folder:
        root = Path(folder)
        # A fresh measurement of the engine's fixed cost (the first estimate runs a tiny input once),
        # not the user's cached one.
        os.environ["FEATURIZE_ESTIMATE_CACHE"] = str(root / "estimate-cache.json")
        cases = [
            ("1,000 rows CSV, minimal", root / "small.csv", "minimal", make_data(10, 100)),
            ("400 ids x 1,000 points, efficient", root / "efficient.parquet", "efficient", make_data(400, 1000)),
            ("2M rows Parquet, minimal", root / "large.parquet", "minimal", make_data(2000, 1000)),
        ]
        print(f"{'input':<36} {'predicted':>10} {'measured':>10} {'ratio':>7}")
        ratios = []
        for label, path, features, frame in cases:
            if path.suffix == ".csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
            printed, _ = featurize("estimate", str(path), "--features", features, "--local")
            match = re.search(r"local engine: about ([\d.]+) (s|min)", printed)
            if match is None:
                raise SystemExit(f"no prediction in: {printed}")
            predicted = float(match.group(1)) * (60 if match.group(2) == "min" else 1)
            measured = []
            for number in range(arguments.repeat):
                output = root / f"{path.stem}-{number}.features.parquet"
                _, seconds = featurize("run", str(path), "--features", features, "--output", str(output))
                measured.append(seconds)
            median = float(np.median(measured))
            ratios.append(predicted / median)
            print(f"{label:<36} {predicted:>8.1f} s {median:>8.1f} s {predicted / median:>7.2f}", flush=True)
        print(f"ratios within 0.5..1.5: {all(0.5 <= r <= 1.5 for r in ratios)}")


if __name__ == "__main__":
    main()
