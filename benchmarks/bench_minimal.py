"""Benchmark: MinimalFCParameters on 1,000 ids x 1,000 points, featurize vs tsfresh, same process.

Prints the times and their ratios against tsfresh ``extract_features(..., n_jobs=0)``: the core's
two steps (normalize: validate, route and sort, as the partition step does; extract: what one features
Lambda computes on its chunk), best of three, and the whole workflow on the local engine (partition,
Distributed Map of features Lambdas, reduce, including S3 round trips through moto and the
upload/download).

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


def best_of(label: str, fn, repeat: int = 3):
    """The best of ``repeat`` runs (the core's figures are a few milliseconds: noise matters)."""
    seconds, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        seconds = min(seconds, time.perf_counter() - started)
    print(f"{label:<48} {seconds:8.3f} s", flush=True)
    return value, seconds


def timed(label: str, fn):
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    print(f"{label:<48} {seconds:8.3f} s", flush=True)
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

    columns, spec = Columns(id="id", sort="time", value="value", kind=None), parse_features("minimal")
    normalized = normalize(frame, columns)  # warm-up (imports, allocator), not timed
    extract(normalized.frame, normalized.kinds, spec)
    normalized, t_normalize = best_of("featurize normalize (validate, route, sort)", lambda: normalize(frame, columns))
    core_result, t_core = best_of(
        "featurize extract (what a features Lambda runs)",
        lambda: extract(normalized.frame, normalized.kinds, spec),
    )

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
    print(
        f"vs tsfresh: extract {t_tsfresh / t_core:.1f}x, "
        f"normalize + extract {t_tsfresh / (t_normalize + t_core):.1f}x, workflow {t_tsfresh / t_workflow:.2f}x"
    )


if __name__ == "__main__":
    main()
