"""Partition handler: validate the input table and split it into chunks of whole ids in S3."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Environment, RunConfig, parse_s3_uri
from .core.partition import Columns, chunk_bounds, normalize
from .errors import InputError
from .keys import RunKeys
from .s3io import put_json, put_parquet, read_table

logger = Logger(service="featurize")

OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")


def partition(event: dict[str, Any], env: Environment, s3: Any) -> dict[str, Any]:
    """Split the run's input into chunk objects, then write the run document and the manifest.

    Parameters
    ----------
    event : dict
        ``{"input": <execution input>, "execution_name": <name>}`` (built by the state machine).
    env : Environment
        The parsed Lambda environment.
    s3 : botocore client
        S3 client.

    Returns
    -------
    dict
        Small metadata only: run name, manifest key, output URI and counts.
    """
    started = time.perf_counter()
    config = RunConfig.from_input(event.get("input"))
    keys = RunKeys(event["execution_name"])
    output = config.output or f"s3://{env.bucket}/{keys.default_output}"
    if not output.lower().endswith(OUTPUT_SUFFIXES):
        raise InputError(f"output {output!r} must end with one of {list(OUTPUT_SUFFIXES)}")

    env.check_granted(config.input, "input")
    env.check_granted(output, "output")
    in_bucket, in_key = parse_s3_uri(config.input, "input")
    table = read_table(s3, in_bucket, in_key)
    if table.empty:
        raise InputError(f"input {config.input} has no rows")
    columns = Columns(
        id=config.column_id,
        sort=config.column_sort,
        value=config.column_value,
        kind=config.column_kind,
        sort_explicit=config.column_sort_explicit,
        value_explicit=config.column_value_explicit,
    )
    normalized = normalize(table, columns)
    frame = normalized.frame
    bounds, chunk_size, n_ids = chunk_bounds(frame["id"].to_numpy(), config.chunk_size)

    items = []
    for index, (start, stop) in enumerate(bounds):
        chunk = frame.iloc[start:stop]
        put_parquet(s3, env.bucket, keys.chunk(index), chunk)
        items.append({"run": keys.name, "chunk": index, "rows": stop - start})

    run_document = {"config": config.to_dict(), "output": output, "kinds": normalized.kinds}
    put_json(s3, env.bucket, keys.config, run_document)
    # The manifest is written last: its presence means every chunk it names exists.
    put_json(s3, env.bucket, keys.manifest, items)
    summary = {
        "run": keys.name,
        "manifest_key": keys.manifest,
        "output": output,
        "rows": len(frame),
        "ids": n_ids,
        "kinds": len(normalized.kinds),
        "chunks": len(items),
        "chunk_size": chunk_size,
        "notes": normalized.notes,
    }
    logger.info("partitioned", extra=summary | {"seconds": round(time.perf_counter() - started, 3)})
    return summary


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: see :func:`partition`."""
    return partition(event, Environment.from_env(os.environ), boto3.client("s3"))
