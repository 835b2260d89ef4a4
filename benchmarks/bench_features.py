"""Benchmark: the feature core alone vs tsfresh ``extract_features``, same data, same process.

- ``minimal`` on 1,000 ids x 1,000 points;
- the implemented part of ``efficient`` on 200 ids x 1,000 points (``--preset comprehensive`` for
  that preset on 50 ids);
- per calculator (``--per-calculator``): the core vs tsfresh's calculator called per series.

tsfresh runs with n_jobs=0 and n_jobs=2, BLAS pinned to one thread (as the workers are).
Run: ``make bench-features`` or ``.venv/bin/python benchmarks/bench_features.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from functools import partial

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def make_data(n_ids: int, n_points: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(size=(n_ids, n_points)), axis=1)
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n_ids), n_points),
            "time": np.tile(np.arange(n_points), n_ids),
            "value": walk.ravel(),
        }
    )


def best_of(fn, repeat: int = 1) -> tuple[object, float]:
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return value, best


def compare_preset(label: str, frame: pd.DataFrame, settings: dict, quick: bool) -> None:
    from tsfresh import extract_features

    from featurize_lambda.core.features import extract, parse_features
    from featurize_lambda.core.partition import Columns, normalize

    spec = parse_features(settings)

    def core() -> pd.DataFrame:
        normalized = normalize(frame, Columns(id="id", sort="time", value="value", kind=None))
        return extract(normalized.frame, normalized.kinds, spec)

    ours, t_core = best_of(core, repeat=1 if quick else 3)
    print(
        f"\n{label}: {frame['id'].nunique()} ids x {len(frame) // frame['id'].nunique()} points, "
        f"{ours.shape[1]} features"
    )
    print(f"  featurize core                 {t_core:8.3f} s")
    for n_jobs in (0,) if quick else (0, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            oracle, t_ts = best_of(
                lambda n=n_jobs: extract_features(
                    frame,
                    column_id="id",
                    column_sort="time",
                    default_fc_parameters=settings,
                    disable_progressbar=True,
                    n_jobs=n,
                )
            )
        np.testing.assert_allclose(
            ours.to_numpy(), oracle[ours.columns].to_numpy(), rtol=1e-6, atol=1e-9, equal_nan=True
        )
        print(f"  tsfresh n_jobs={n_jobs}              {t_ts:8.3f} s   -> featurize {t_ts / t_core:6.1f}x faster")


def _tsfresh_per_series(function, params, series) -> None:
    """tsfresh's calculator on every series, as its extraction loop calls it."""
    for x in series:
        arg = pd.Series(x) if getattr(function, "input", None) == "pd.Series" else x
        if getattr(function, "fctype", None) == "combiner":
            function(arg, param=params)
        elif params:
            for p in params:
                function(arg, **p)
        else:
            function(arg)


def per_calculator(names: list[str], n_ids: int, n_points: int) -> None:
    from tsfresh.feature_extraction import feature_calculators as fc

    from featurize_lambda.core.registry import REGISTRY, compute
    from featurize_lambda.core.segments import Segments
    from featurize_lambda.core.settings import presets

    grid = presets()["comprehensive"]
    rng = np.random.default_rng(1)
    series = [np.cumsum(rng.normal(size=n_points)) for _ in range(n_ids)]
    segments = Segments.from_series(series)
    print(f"\nper calculator, {n_ids} series x {n_points} points, full comprehensive grid:")
    rows = []
    for name in names:
        params = grid[name]
        _, ours = best_of(partial(compute, REGISTRY[name], segments, params))
        tsfresh_all = partial(_tsfresh_per_series, getattr(fc, name), params, series)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, theirs = best_of(tsfresh_all)
        rows.append((theirs / ours, name, ours, theirs))
    for ratio, name, ours, theirs in sorted(rows):
        print(f"  {name:<56} {ours * 1e3:9.2f} ms  tsfresh {theirs * 1e3:9.1f} ms  {ratio:8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, one repetition")
    parser.add_argument("--per-calculator", action="store_true")
    parser.add_argument("--preset", default="efficient", choices=["efficient", "comprehensive"])
    args = parser.parse_args()

    from featurize_lambda.core.registry import REGISTRY
    from featurize_lambda.core.settings import presets

    scale = 10 if args.quick else 1
    compare_preset("minimal", make_data(1000 // scale, 1000), presets()["minimal"], args.quick)
    implemented = {n: p for n, p in presets()[args.preset].items() if REGISTRY[n].implemented}
    n_ids = 200 if args.preset == "efficient" else 50
    label = f"{args.preset} (implemented: {len(implemented)} of {len(presets()[args.preset])} calculators)"
    compare_preset(label, make_data(n_ids // scale, 1000, seed=1), implemented, args.quick)
    if args.per_calculator:
        per_calculator([n for n in implemented if n != "linear_trend_timewise"], 200 // scale, 1000)


if __name__ == "__main__":
    main()
