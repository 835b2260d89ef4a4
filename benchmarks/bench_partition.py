"""Benchmark: the streaming partition step; throughput, peak memory, temporary storage, end to end.

1. The partition core (validate, route, spill, sort, cut, Parquet-encode every chunk as the handler
   does) on local files of 1M, 10M and 30M rows, each run in a fresh process: rows/s, input MB/s,
   peak RSS (VmHWM) and the spill files' bytes per row (what /tmp must hold).
2. The whole workflow on the local engine at 10M rows (upload, partition, features with the minimal
   set, reduce, download).
3. From these: the largest input one partition Lambda (10,240 MB, 900 s, /tmp up to 10,240 MB) can
   take, and a run at that scale's first step (``--largest ROWS`` partitions ROWS rows locally).

The rows come in time-major order (every series' first point, then every series' second point, ...),
as a log of many sensors does: every bucket needs a full sort, the expensive case.

Run: ``.venv/bin/python benchmarks/bench_partition.py [--sizes 1e6,1e7,3e7] [--e2e 1e7] [--largest 0]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

POINTS = 1000  # points per series
LAMBDA_SECONDS = 900
LAMBDA_TMP_BYTES = 10_240 * 2**20
LAMBDA_MEMORY_BYTES = 10_240 * 2**20

PROBE = """
import json, sys, time, io
import pyarrow.parquet as pq
from featurize_lambda.core.partition import Columns, partition_source
from featurize_lambda.core.source import local_source
source, spill = sys.argv[1], sys.argv[2]
encoded = [0]
def sink(index, table):  # what the handler does with each chunk, minus the PUT
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    encoded[0] += buffer.tell()
started = time.perf_counter()
result = partition_source(local_source(source), Columns("id", "time", "value", None), sink, spill_dir=spill)
seconds = time.perf_counter() - started
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) * 1024
print(json.dumps({"seconds": seconds, "peak_bytes": peak, "rows": result.rows, "ids": result.ids,
                  "chunks": len(result.chunks), "buckets": result.buckets, "spill_bytes": result.spill_bytes,
                  "chunk_bytes": encoded[0]}))
"""


def make_input(path: Path, rows: int, fmt: str, seed: int = 0) -> None:
    """``rows`` rows of 1,000-point series in time-major order, written in 1M-row pieces."""
    rng = np.random.default_rng(seed)
    n_ids = max(1, rows // POINTS)
    schema = pa.schema([("id", pa.int64()), ("time", pa.int64()), ("value", pa.float64())])
    step = 1_000_000
    writer = pq.ParquetWriter(path, schema, compression="snappy") if fmt == "parquet" else None
    with open(path, "wb") if fmt == "csv" else open(os.devnull, "wb") as sink:
        for start in range(0, rows, step):
            index = np.arange(start, min(rows, start + step))
            table = pa.table(
                {"id": index % n_ids, "time": index // n_ids, "value": rng.normal(size=len(index))}, schema=schema
            )
            if writer is not None:
                writer.write_table(table)
            else:
                pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=start == 0))
    if writer is not None:
        writer.close()


def partition(path: Path, spill: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, str(path), spill], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def bench_core(sizes: list[int], formats: list[str], workdir: Path) -> list[dict]:
    print(f"\n== partition core (one process, {os.cpu_count()} cores; chunks Parquet-encoded as in the handler)")
    print(f"{'format':<8} {'rows':>12} {'input MB':>9} {'seconds':>8} {'rows/s':>12} {'MB/s':>7} "
          f"{'peak RSS MB':>11} {'spill B/row':>11} {'chunks':>7} {'buckets':>7}")
    results = []
    for fmt in formats:
        for rows in sizes:
            path = workdir / f"in-{rows}.{fmt}"
            if not path.exists():
                make_input(path, rows, fmt)
            size = path.stat().st_size
            with tempfile.TemporaryDirectory(dir=workdir) as spill:
                r = partition(path, spill)
            r |= {"format": fmt, "input_bytes": size}
            results.append(r)
            print(f"{fmt:<8} {rows:>12,} {mb(size):>9} {r['seconds']:>8.2f} {rows / r['seconds']:>12,.0f} "
                  f"{size / 2**20 / r['seconds']:>7.1f} {mb(r['peak_bytes']):>11} "
                  f"{r['spill_bytes'] / rows:>11.1f} {r['chunks']:>7} {r['buckets']:>7}", flush=True)
    return results


def bench_e2e(rows: int, workdir: Path) -> dict:
    from featurize.client import Runner
    from featurize.engine import LocalEngine

    path = workdir / f"in-{rows}.parquet"
    if not path.exists():
        make_input(path, rows, "parquet")
    size = mb(path.stat().st_size)
    print(f"\n== end to end on the local engine: {rows:,} rows ({size} MB Parquet), minimal features")
    started = time.perf_counter()
    with LocalEngine() as engine:
        runner = Runner(engine.target())
        ready = time.perf_counter()
        uri = runner.upload(path, "bench")
        uploaded = time.perf_counter()
        arn = runner.start({"input": uri, "features": "minimal"}, "bench")
        result = runner.watch(arn, "bench")
        ran = time.perf_counter()
        runner.download(result.output, workdir / "out.parquet")
        history = engine.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    done = time.perf_counter()
    steps = {}
    for event in history:
        name = (event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}).get("name")
        if name in ("Partition", "Features", "Reduce"):
            steps.setdefault(name, []).append(event["timestamp"])
    step_seconds = {k: (max(v) - min(v)).total_seconds() for k, v in steps.items()}
    summary = result.summary
    print(f"engine start {ready - started:.1f} s, upload {uploaded - ready:.1f} s, run {ran - uploaded:.1f} s "
          f"({', '.join(f'{k} {v:.1f} s' for k, v in step_seconds.items())}), download {done - ran:.1f} s; "
          f"total {done - started:.1f} s")
    print(f"{summary['ids']:,} ids, {summary['rows']:,} rows, {summary['chunks']} chunks, "
          f"{summary['features']} features")
    return {"total": done - started, "run": ran - uploaded, "steps": step_seconds, "summary": summary}


def largest(results: list[dict]) -> None:
    print("\n== the largest input of one partition Lambda (10,240 MB memory, 900 s, /tmp 10,240 MB)")
    for fmt in sorted({r["format"] for r in results}):
        big = max((r for r in results if r["format"] == fmt), key=lambda r: r["rows"])
        rows_per_s = big["rows"] / big["seconds"]
        bytes_per_row = big["input_bytes"] / big["rows"]
        spill_per_row = big["spill_bytes"] / big["rows"]
        by_time = rows_per_s * LAMBDA_SECONDS
        by_tmp = LAMBDA_TMP_BYTES / spill_per_row
        limit = min(by_time, by_tmp)
        print(f"{fmt}: time {by_time / 1e6:,.0f}M rows ({rows_per_s / 1e6:.1f}M rows/s x 900 s), /tmp "
              f"{by_tmp / 1e6:,.0f}M rows ({spill_per_row:.1f} B/row), memory not a bound (peak "
              f"{mb(big['peak_bytes'])} MB, flat) -> about {limit / 1e6:,.0f}M rows "
              f"= {limit * bytes_per_row / 2**30:,.1f} GB of this {fmt}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7,3e7", help="rows per core run, comma-separated")
    parser.add_argument("--formats", default="parquet,csv")
    parser.add_argument("--e2e", type=float, default=1e7, help="rows of the end-to-end run (0: skip)")
    parser.add_argument("--largest", type=float, default=0, help="also partition this many rows of Parquet (0: skip)")
    parser.add_argument("--workdir", default=None, help="where inputs and spill files go (default: a temp dir)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-partition-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    results = bench_core(sizes, args.formats.split(","), workdir)
    if args.largest:
        results += bench_core([int(args.largest)], ["parquet"], workdir)
    if args.e2e:
        bench_e2e(int(args.e2e), workdir)
    largest(results)


if __name__ == "__main__":
    main()
