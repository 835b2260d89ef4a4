"""Benchmark: MinimalFCParameters on 1,000 ids x 1,000 points, featurize vs tsfresh, same process.

Prints three times and their ratios against tsfresh ``extract_features(..., n_jobs=0)``:
the whole workflow on the local engine (partition, Distributed Map of features Lambdas, reduce,
including S3 round trips through moto and the upload/download), and the vectorized core alone.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_minimal.py [--ids N --points N]``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def make_data(n_ids: int, n_points: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_ids), n_points),
            "time": np.tile(np.arange(n_points), n_ids),
            "value": rng.normal(size=n_ids * n_points),
        }
    )


def timed(label: str, fn):
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    print(f"{label:<42} {seconds:8.2f} s", flush=True)
    return value, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1000)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    from tsfresh import extract_features
    from tsfresh.feature_extraction import MinimalFCParameters

    from featurize.client import Runner, new_run_name
    from featurize.engine import LocalEngine
    from featurize_lambda.core.features import extract, parse_features
    from featurize_lambda.core.partition import Columns, normalize

    frame = make_data(args.ids, args.points)
    print(f"data: {args.ids} ids x {args.points} points = {len(frame):,} rows; {os.cpu_count()} cores")

    oracle, t_tsfresh = timed(
        "tsfresh extract_features (n_jobs=0)",
        lambda: extract_features(
            frame,
            column_id="id",
            column_sort="time",
            default_fc_parameters=MinimalFCParameters(),
            disable_progressbar=True,
            n_jobs=0,
        ),
    )

    def core() -> pd.DataFrame:
        normalized = normalize(frame, Columns(id="id", sort="time", value="value", kind=None))
        return extract(normalized.frame, normalized.kinds, parse_features("minimal"))

    core_result, t_core = timed("featurize core (normalize + extract)", core)

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "input.parquet"
        frame.to_parquet(source, index=False)
        target = Path(tmp) / "out.parquet"

        def workflow() -> pd.DataFrame:
            with LocalEngine(workers=args.workers) as engine:
                runner = Runner(engine.target())
                name = new_run_name("bench")
                arn = runner.start({"input": runner.upload(source, name)}, name)
                result = runner.watch(arn, name)
                runner.download(result.output, target)
                print(f"  ({result.summary['chunks']} chunks)")
            return pd.read_parquet(target).set_index("id")

        workflow_result, t_workflow = timed("featurize workflow, local engine (end to end)", workflow)

    for label, result in (("core", core_result), ("workflow", workflow_result)):
        np.testing.assert_allclose(result.to_numpy(), oracle.to_numpy(), rtol=1e-9)
        print(f"{label} result equals tsfresh to 1e-9: yes")
    print(f"speed-up vs tsfresh: workflow {t_tsfresh / t_workflow:.1f}x, core {t_tsfresh / t_core:.1f}x")


if __name__ == "__main__":
    main()
