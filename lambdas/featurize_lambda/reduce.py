"""Reduce handler: judge the chunks, check the counts, write the output sorted by id (and any failure list).

The judging (which chunks failed, whether that is tolerated, whether the counts add up) is
:mod:`featurize_lambda.core.verdict`; the merge is :mod:`featurize_lambda.core.merge`; this module reads
the documents, calls them and writes what they return.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
import pandas as pd
import pyarrow.compute as pc
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Environment
from .contracts import ChunkFailure, FailureList, FailureRecord, ManifestItem, PartitionSummary, RunDocument, RunSummary
from .core.merge import merge_for
from .core.outputs import failures_name, is_csv
from .core.verdict import check_result, check_totals, chunk_failure, failure_list, judge, partial_note
from .errors import IntegrityError
from .keys import RunKeys, parse_s3_uri, s3_uri
from .names import SERVICE_NAME
from .storage import S3Storage

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

logger = Logger(service=SERVICE_NAME)

#: Parallel S3 reads of chunk results (I/O bound; boto3 clients are thread-safe).
READ_THREADS = 16


def _failure(storage: S3Storage, bucket: str, keys: RunKeys, item: ManifestItem) -> ChunkFailure:
    """A chunk without a result: its failure record (if any) and its ids (read from its object's id column)."""
    key = keys.failure(item.chunk)
    record = FailureRecord.from_json(storage.get_json(bucket, key)) if storage.exists(bucket, key) else None
    ids = pc.unique(storage.get_table(bucket, keys.chunk(item.chunk), columns=["id"]).column("id")).to_pylist()
    return chunk_failure(item, s3_uri(bucket, keys.chunk(item.chunk)), record, ids)


def _results(
    storage: S3Storage, bucket: str, keys: RunKeys, done: list[ManifestItem]
) -> list[tuple[pd.DataFrame, dict[str, Any]]]:
    """The chunks' results and their metadata, each checked against its manifest item."""
    with ThreadPoolExecutor(READ_THREADS) as pool:
        results = list(pool.map(lambda item: storage.get_parquet_with_metadata(bucket, keys.result(item.chunk)), done))
    for item, (frame, metadata) in zip(done, results, strict=True):
        check_result(item, len(frame), metadata.get("rows"))
    return results


def _judge(
    storage: S3Storage, bucket: str, keys: RunKeys, manifest: list[ManifestItem], document: RunDocument,
    present: set[str],
) -> FailureList:  # fmt: skip
    """The run's failure list (written to ``runs/<run>/failures.json`` when a chunk failed), judged."""
    missing = [item for item in manifest if keys.result(item.chunk) not in present]
    with ThreadPoolExecutor(READ_THREADS) as pool:
        failures = list(pool.map(lambda item: _failure(storage, bucket, keys, item), missing))
    tolerated = document.options.tolerated_failure_percentage
    listing = failure_list(keys.name, document.output, manifest, failures, tolerated)
    listing_uri = s3_uri(bucket, keys.failure_list)
    if failures:
        # Written before judging: a failed run's cause names only a few chunks and points here.
        storage.put_json_uri(listing_uri, listing.to_json())
    judge(listing, listing_uri)
    return listing


def reduce(event: dict[str, Any], env: Environment, s3: S3Client) -> dict[str, Any]:
    """Check every chunk's result against the partition's counts and write the output, sorted by id.

    Chunks come from hash buckets, so their ids interleave: the output is sorted by id, which is
    tsfresh's row order. A run whose failed chunks stay within its ``tolerated_failure_percentage``
    writes a partial output and, next to it, a failure list (:func:`~featurize_lambda.core.outputs.failures_name`).
    Any failed chunk also puts the failure list at ``runs/<run>/failures.json`` in the stack bucket
    (:attr:`RunKeys.failure_list`), where the client reads it after a failed run.

    Parameters
    ----------
    event : dict
        The partition step's :class:`~featurize_lambda.contracts.PartitionSummary`.
    env : Environment
        The parsed Lambda environment.
    s3 : S3Client
        S3 client.

    Returns
    -------
    dict
        A :class:`~featurize_lambda.contracts.RunSummary`.

    Raises
    ------
    ChunkFailed
        If more chunks failed than tolerated (:func:`~featurize_lambda.core.verdict.judge`).
    IntegrityError
        If the results do not hold exactly the ids and rows the partition step counted.
    """
    started = time.perf_counter()
    partitioned = PartitionSummary.from_json(event)
    keys, storage = RunKeys(partitioned.run), S3Storage(s3)
    manifest = [ManifestItem.from_json(item) for item in storage.get_json(env.bucket, keys.manifest)]
    document = RunDocument.from_json(storage.get_json(env.bucket, keys.config))
    present = set(storage.list_keys(env.bucket, keys.results_prefix))
    listing = _judge(storage, env.bucket, keys, manifest, document, present)
    failures = listing.failures
    done = [item for item in manifest if keys.result(item.chunk) in present]
    results = _results(storage, env.bucket, keys, done)
    try:
        # Hash-routed chunks interleave ids: sorted, as tsfresh's output is sorted by id.
        merged = merge_for([frame for frame, _ in results], document.options)
    except ValueError as error:
        raise IntegrityError(f"{error}; start the run again") from None
    rows = sum(metadata.get("rows", item.rows) for item, (_, metadata) in zip(done, results, strict=True))
    check_totals(partitioned, manifest, listing, merged.ids, rows)

    output = document.output
    size = storage.put_table_blocks(*parse_s3_uri(output, "output"), merged.schema, merged.blocks, csv=is_csv(output))
    notes, partial = list(partitioned.notes), None
    if failures:
        partial = failures_name(output)
        storage.put_json_uri(partial, listing.to_json())
        notes.append(partial_note(listing, partial))
    summary = RunSummary(keys.name, output, merged.ids, rows, len(merged.schema) - 1, len(manifest), len(failures),
                         notes, partial, listing.failed_ids if partial else None).to_json()  # fmt: skip
    logger.info("reduced", extra=summary | {"bytes": size, "seconds": round(time.perf_counter() - started, 3)})
    return summary


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: see :func:`reduce`."""
    return reduce(event, Environment.from_env(os.environ), boto3.client("s3"))
