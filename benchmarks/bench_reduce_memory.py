"""Benchmark: Reduce's peak memory writing a dataset output (one part per chunk) vs one merged file.

Each mode runs in a fresh process against in-process moto S3 whose objects spill to disk
(``MOTO_S3_DEFAULT_KEY_BUFFER_SIZE``), so the process's resident memory is Reduce's own: the chunk
results are written first, then the peak RSS is reset (``/proc/self/clear_refs``) and Reduce runs;
the figure is its peak (VmHWM) minus the resident memory just before it.

Run: ``.venv/bin/python benchmarks/bench_reduce_memory.py [--chunks 100] [--ids 2500] [--columns 100]``
(the default: 25M feature values, 100 chunks of 2,500 ids x 100 columns).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

PROBE = r"""
import json, os, sys, time
import boto3, numpy as np, pandas as pd
from moto import mock_aws
from featurize_lambda.config import Environment
from featurize_lambda.contracts import ManifestItem, PartitionSummary, RunDocument
from featurize_lambda.keys import RunKeys
from featurize_lambda.options import RunOptions
from featurize_lambda.reduce import reduce
from featurize_lambda.storage import S3Storage

chunks, ids, columns, output = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

with mock_aws():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="stack")
    s3.create_bucket(Bucket="out")
    storage, keys = S3Storage(s3), RunKeys("bench")
    rng = np.random.default_rng(0)
    names = [f"x__f{j:03d}" for j in range(columns)]
    items = []
    for c in range(chunks):
        index = pd.Index(np.arange(c, chunks * ids, chunks, dtype=np.int64), name="id")  # hash-like interleave
        frame = pd.DataFrame(rng.standard_normal((ids, columns)), index=index, columns=names)
        storage.put_parquet("stack", keys.result(c), frame, index=True, metadata={"rows": ids * 10})
        items.append(ManifestItem("bench", c, ids * 10, ids).to_json())
    del frame
    options = RunOptions.from_input({"input": "s3://stack/in.parquet", "output": output})
    storage.put_json("stack", keys.config, RunDocument(options, output, ["x"]).to_json())
    storage.put_json("stack", keys.manifest, items)
    summary = PartitionSummary("bench", keys.manifest, output, chunks * ids * 10, chunks * ids, 1, chunks, ids, 1)
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak RSS (VmHWM) to the current RSS
    before = status("VmRSS")
    started = time.perf_counter()
    reduced = reduce(summary.to_json(), Environment(bucket="stack"), s3)
    seconds = time.perf_counter() - started
    print(json.dumps({"peak_mb": (status("VmHWM") - before) / 2**20, "seconds": seconds, "ids": reduced["ids"]}))
"""


def main() -> None:
    """Run both modes and print their peak memory above the process's baseline."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--ids", type=int, default=2500)
    parser.add_argument("--columns", type=int, default=100)
    args = parser.parse_args()
    values = args.chunks * args.ids * args.columns
    env = os.environ | {"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": "1024", "OPENBLAS_NUM_THREADS": "1"}
    print(f"{values / 1e6:.0f}M values ({args.chunks} chunks x {args.ids} ids x {args.columns} columns, "
          f"{values * 8 / 2**20:.0f} MiB as float64)")  # fmt: skip
    for label, output in (("single file", "s3://out/features.parquet"), ("dataset", "s3://out/features/")):
        done = subprocess.run(
            [sys.executable, "-c", PROBE, str(args.chunks), str(args.ids), str(args.columns), output],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{label:12s} peak {result['peak_mb']:7.0f} MiB above baseline, {result['seconds']:.1f} s")


if __name__ == "__main__":
    main()
