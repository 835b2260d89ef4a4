"""Reduce handler: judge the chunks, check the counts, write the output sorted by id (and any failure list)."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Environment, parse_s3_uri
from .core.merge import merge_sorted
from .errors import ChunkFailed, IntegrityError
from .keys import RunKeys
from .s3io import exists, get_bytes, get_json, get_parquet_with_metadata, list_keys, put_table_blocks

logger = Logger(service="featurize")

#: Parallel S3 reads of chunk results (I/O bound; boto3 clients are thread-safe).
READ_THREADS = 16

#: Output name endings replaced by ``.failures.json`` to name the failure list next to the output.
OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")


def failures_uri(output: str) -> str:
    """Where the failure list of a partial output goes: next to it, ``<output stem>.failures.json``."""
    for suffix in OUTPUT_SUFFIXES:
        if output.lower().endswith(suffix):
            return output[: -len(suffix)] + ".failures.json"
    return output + ".failures.json"


def _failure(s3: Any, bucket: str, keys: RunKeys, item: dict[str, Any]) -> dict[str, Any]:
    """What is known of a chunk without a result: its failure record, or that its Lambda died."""
    index = item["chunk"]
    record = {"chunk": index, "rows": item["rows"], "ids_count": item.get("ids"),
              "chunk_object": f"s3://{bucket}/{keys.chunk(index)}"}
    if exists(s3, bucket, keys.failure(index)):
        written = get_json(s3, bucket, keys.failure(index))
        return record | {"error": written["error"], "message": written["message"]}
    return record | {
        "error": "NoResult",
        "message": "no result and no failure record: the Lambda died (timeout, out of memory) or was throttled "
        "until its retries ran out",
    }


#: Failed chunks a ChunkFailed message names; the run's failure list holds them all (Step Functions cuts
#: an execution's cause at 32,768 characters, about 130 chunk descriptions).
NAMED_FAILURES = 3

#: Characters of a chunk's error message kept in the ChunkFailed message (the failure list keeps it whole).
MESSAGE_CHARS = 500


def _describe(failure: dict[str, Any]) -> str:
    ids = f", {failure['ids_count']} ids" if failure.get("ids_count") is not None else ""
    where = f"chunk {failure['chunk']} ({failure['rows']} rows{ids}, {failure['chunk_object']})"
    message = failure["message"]
    if len(message) > MESSAGE_CHARS:
        message = message[:MESSAGE_CHARS] + "..."
    if failure["error"] == "NoResult":
        return f"{where}: {message}"
    return f"{where}: {failure['error']}: {message}"


def _chunk_ids(s3: Any, bucket: str, keys: RunKeys, index: int) -> list[Any]:
    """The ids of a chunk (read from its object's id column), for the failure list."""
    table = pq.read_table(pa.BufferReader(get_bytes(s3, bucket, keys.chunk(index))), columns=["id"])
    return pc.unique(table.column("id")).to_pylist()


def _put_document(s3: Any, uri: str, document: dict[str, Any]) -> None:
    bucket, key = parse_s3_uri(uri, "output")
    body = json.dumps(document, default=str, indent=1).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def reduce(event: dict[str, Any], env: Environment, s3: Any) -> dict[str, Any]:
    """Check every chunk's result against the partition's counts and write the output, sorted by id.

    Chunks come from hash buckets, so their ids interleave: the output is sorted by id, which is
    tsfresh's row order. A run whose failed chunks stay within its ``tolerated_failure_percentage``
    writes a partial output and, next to it, a failure list (:func:`failures_uri`). Any failed chunk
    also puts the failure list at ``runs/<run>/failures.json`` in the stack bucket
    (:attr:`RunKeys.failure_list`), where the client reads it after a failed run.

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
        ``{"output", "ids", "rows", "features", "chunks", "failed_chunks", "notes"}`` and, for a partial
        output, ``"failures"`` (the failure list's URI) and ``"failed_ids"``.

    Raises
    ------
    ChunkFailed
        If more chunks failed than tolerated; the message names a few (:data:`NAMED_FAILURES`), the run's
        failure list (``runs/<run>/failures.json``, every failed chunk with its ids and error) and how to
        re-run.
    IntegrityError
        If the results do not hold exactly the ids and rows the partition step counted.
    """
    started = time.perf_counter()
    keys = RunKeys(event["run"])
    manifest = get_json(s3, env.bucket, keys.manifest)
    document = get_json(s3, env.bucket, keys.config)
    config = document["config"]
    tolerated = float(config.get("tolerated_failure_percentage") or 0.0)
    present = set(list_keys(s3, env.bucket, keys.results_prefix))
    missing = [item for item in manifest if keys.result(item["chunk"]) not in present]
    with ThreadPoolExecutor(READ_THREADS) as pool:
        failures = list(pool.map(lambda item: _failure(s3, env.bucket, keys, item), missing))
        ids = list(pool.map(lambda f: _chunk_ids(s3, env.bucket, keys, f["chunk"]), failures))
    for failure, chunk_ids in zip(failures, ids, strict=True):
        failure["ids"] = chunk_ids
    failed_ids = sum(f["ids_count"] or 0 for f in failures)
    failed_rows = sum(f["rows"] for f in failures)
    failure_list = f"s3://{env.bucket}/{keys.failure_list}"
    failure_document = {
        "run": keys.name,
        "output": document["output"],
        "chunks": len(manifest),
        "failed_chunks": len(failures),
        "failed_ids": failed_ids,
        "failed_rows": failed_rows,
        "tolerated_failure_percentage": tolerated,
        "failures": failures,
    }
    if failures:
        # Written before judging: a failed run's cause names only a few chunks and points here.
        _put_document(s3, failure_list, failure_document)
    failed_share = 100.0 * len(missing) / len(manifest) if manifest else 0.0
    if missing and failed_share > tolerated:
        tolerance = (
            f" {failed_share:.3g}% of the chunks failed, more than the tolerated {tolerated:g}%." if tolerated else
            f" To accept a partial output instead, set tolerated_failure_percentage to {failed_share:.3g} or more."
        )
        named = "; ".join(_describe(f) for f in failures[:NAMED_FAILURES])
        more = f"; and {len(failures) - NAMED_FAILURES} more" if len(failures) > NAMED_FAILURES else ""
        raise ChunkFailed(
            f"{len(missing)} of {len(manifest)} chunk(s) failed: {named}{more}. Every failed chunk, its ids and "
            f"error are listed in {failure_list}. Fix the cause and start the run again with the same execution "
            f"input (this was run {keys.name}; a new run writes its own chunks, nothing is appended to this one)."
            + tolerance
        )

    done = [item for item in manifest if keys.result(item["chunk"]) in present]
    with ThreadPoolExecutor(READ_THREADS) as pool:
        results = list(
            pool.map(lambda item: get_parquet_with_metadata(s3, env.bucket, keys.result(item["chunk"])), done)
        )
    for item, (frame, metadata) in zip(done, results, strict=True):
        ids_differ = item.get("ids") is not None and len(frame) != item["ids"]
        if ids_differ or metadata.get("rows", item["rows"]) != item["rows"]:
            raise IntegrityError(
                f"chunk {item['chunk']}: its result covers {len(frame)} ids and {metadata.get('rows')} rows, the "
                f"partition step wrote {item.get('ids')} ids and {item['rows']} rows; start the run again"
            )
    column_id = config["column_id"]
    try:
        # Hash-routed chunks interleave ids: sorted, as tsfresh's output is sorted by id.
        merged = merge_sorted([frame for frame, _ in results], column_id)
    except ValueError as error:
        raise IntegrityError(f"{error}; start the run again") from None
    expected_ids = event.get("ids", sum(item.get("ids", 0) for item in manifest)) - failed_ids
    expected_rows = (event.get("rows") or sum(item["rows"] for item in manifest)) - failed_rows
    rows_computed = sum(metadata.get("rows", item["rows"]) for item, (_, metadata) in zip(done, results, strict=True))
    if merged.ids != expected_ids or rows_computed != expected_rows:
        raise IntegrityError(
            f"the results cover {merged.ids} ids and {rows_computed} rows; the partition step counted "
            f"{expected_ids} ids and {expected_rows} rows (failed chunks excluded); start the run again"
        )

    output = document["output"]
    out_bucket, out_key = parse_s3_uri(output, "output")
    csv = out_key.lower().endswith(".csv")
    size = put_table_blocks(s3, out_bucket, out_key, merged.schema, merged.blocks, csv=csv)
    notes = list(event.get("notes", []))
    summary: dict[str, Any] = {
        "run": keys.name,
        "output": output,
        "ids": merged.ids,
        "rows": rows_computed,
        "features": len(merged.schema) - 1,
        "chunks": len(manifest),
        "failed_chunks": len(missing),
        "notes": notes,
    }
    if failures:
        listing = failures_uri(output)
        _put_document(s3, listing, failure_document)
        summary |= {"failures": listing, "failed_ids": failed_ids}
        notes.append(
            f"partial output: {len(failures)} of {len(manifest)} chunk(s) failed ({failed_ids} ids, within the "
            f"tolerated {tolerated:g}%); the failed chunks, their ids and errors are listed in {listing}"
        )
    logger.info("reduced", extra=summary | {"bytes": size, "seconds": round(time.perf_counter() - started, 3)})
    return summary


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: see :func:`reduce`."""
    return reduce(event, Environment.from_env(os.environ), boto3.client("s3"))
