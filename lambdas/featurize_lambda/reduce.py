"""Reduce handler: check every chunk's result, then concatenate them into the run's output."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pandas as pd
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Environment, parse_s3_uri
from .errors import ChunkFailed
from .keys import RunKeys
from .s3io import exists, get_json, get_parquet, list_keys, put_csv, put_parquet

logger = Logger(service="featurize")

#: Parallel S3 reads of chunk results (I/O bound; boto3 clients are thread-safe).
READ_THREADS = 16


def _describe_failure(s3: Any, bucket: str, keys: RunKeys, item: dict[str, Any]) -> str:
    index = item["chunk"]
    where = f"chunk {index} ({item['rows']} rows, s3://{bucket}/{keys.chunk(index)})"
    if exists(s3, bucket, keys.failure(index)):
        record = get_json(s3, bucket, keys.failure(index))
        return f"{where}: {record['error']}: {record['message']}"
    return f"{where}: no result and no failure record: the Lambda died (timeout, out of memory) or was throttled"


def reduce(event: dict[str, Any], env: Environment, s3: Any) -> dict[str, Any]:
    """Concatenate the chunk results in chunk order (so ids stay sorted) into the output object.

    Parameters
    ----------
    event : dict
        The partition step's summary (run name, output URI, counts).
    env : Environment
        The parsed Lambda environment.
    s3 : botocore client
        S3 client.

    Returns
    -------
    dict
        ``{"output", "ids", "rows", "features", "chunks", "notes"}``.

    Raises
    ------
    ChunkFailed
        If any chunk of the manifest has no result; the message names each one and its error.
    """
    started = time.perf_counter()
    keys = RunKeys(event["run"])
    manifest = get_json(s3, env.bucket, keys.manifest)
    document = get_json(s3, env.bucket, keys.config)
    present = set(list_keys(s3, env.bucket, keys.results_prefix))
    missing = [item for item in manifest if keys.result(item["chunk"]) not in present]
    if missing:
        causes = [_describe_failure(s3, env.bucket, keys, item) for item in missing]
        raise ChunkFailed(
            f"{len(missing)} of {len(manifest)} chunk(s) failed: "
            + "; ".join(causes)
            + f". Fix the cause and start the run again with the same input (run {keys.name})."
        )
    with ThreadPoolExecutor(READ_THREADS) as pool:
        frames = list(pool.map(lambda item: get_parquet(s3, env.bucket, keys.result(item["chunk"])), manifest))
    result = pd.concat(frames) if frames else pd.DataFrame()
    table = result.reset_index(names=document["config"]["column_id"])

    out_bucket, out_key = parse_s3_uri(document["output"], "output")
    if out_key.lower().endswith(".csv"):
        size = put_csv(s3, out_bucket, out_key, table)
    else:
        size = put_parquet(s3, out_bucket, out_key, table)
    summary = {
        "run": keys.name,
        "output": document["output"],
        "ids": len(result),
        "rows": event.get("rows"),
        "features": result.shape[1],
        "chunks": len(manifest),
        "notes": event.get("notes", []),
    }
    logger.info("reduced", extra=summary | {"bytes": size, "seconds": round(time.perf_counter() - started, 3)})
    return summary


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: see :func:`reduce`."""
    return reduce(event, Environment.from_env(os.environ), boto3.client("s3"))
