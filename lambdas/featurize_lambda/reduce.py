"""Reduce handler: judge the chunks, check the counts, write the output (and any failure list).

A single-file output is merged sorted by id; a dataset output (ending in ``/``) gets one part per chunk,
its manifest and ``_SUCCESS`` (:func:`_write_dataset`).

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
import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Environment
from .contracts import (
    ChunkFailure,
    DatasetManifest,
    DatasetPart,
    FailureList,
    FailureRecord,
    ManifestItem,
    PartitionSummary,
    RunDocument,
    RunSummary,
)
from .core.merge import dataset_part, merge_for, union_columns
from .core.outputs import MANIFEST_NAME, SUCCESS_NAME, check_dataset_empty, failures_name, is_csv, is_dataset, part_name
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

#: Dataset parts rewritten at once: Reduce's memory is bounded by this many parts (GET, pad, PUT).
PART_THREADS = 2


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


def _write_dataset(
    storage: S3Storage, bucket: str, keys: RunKeys, partitioned: PartitionSummary, manifest: list[ManifestItem],
    document: RunDocument, listing: FailureList, done: list[ManifestItem], sizes: dict[str, int],
) -> RunSummary:  # fmt: skip
    """Write a dataset output: one part per chunk result, then the manifest, the failure list, ``_SUCCESS`` last.

    Only the results' footers are read to check the counts and to learn the run's columns (their union,
    in the single-file output's order); then each result is read, padded to those columns and written as
    its part, :data:`PART_THREADS` at a time: memory is bounded by a few parts, not by the output.
    """
    with ThreadPoolExecutor(READ_THREADS) as pool:
        footers = list(pool.map(lambda item: storage.get_footer(bucket, keys.result(item.chunk),
                                                                sizes[keys.result(item.chunk)]), done))  # fmt: skip
    for item, (_, ids, metadata) in zip(done, footers, strict=True):
        check_result(item, ids, metadata.get("rows"))
    rows = sum(metadata.get("rows", item.rows) for item, (_, _, metadata) in zip(done, footers, strict=True))
    ids = sum(count for _, count, _ in footers)
    check_totals(partitioned, manifest, listing, ids, rows)

    output, column_id = document.output, document.options.column_id
    out_bucket, prefix = parse_s3_uri(output, "output")
    # Checked again here (Partition refused a non-empty prefix): another run may have finished into it since.
    if storage.exists(out_bucket, prefix + SUCCESS_NAME):
        check_dataset_empty(output, [s3_uri(out_bucket, prefix + SUCCESS_NAME)])
    columns = union_columns([schema for schema, _, _ in footers])
    id_types = [schema.field("id").type for schema, _, _ in footers]
    id_type = id_types[0] if id_types else pa.int64()

    def write(item: ManifestItem, rows: int) -> DatasetPart:
        table = dataset_part(storage.get_table(bucket, keys.result(item.chunk)), column_id, columns, id_type)
        storage.put_table(out_bucket, prefix + part_name(item.chunk), table)
        first, last = (table.column(0)[0].as_py(), table.column(0)[-1].as_py()) if table.num_rows else (None, None)
        return DatasetPart(part_name(item.chunk), item.chunk, table.num_rows, rows, first, last)

    part_rows = [metadata.get("rows", item.rows) for item, (_, _, metadata) in zip(done, footers, strict=True)]
    with ThreadPoolExecutor(PART_THREADS) as pool:
        parts = list(pool.map(write, done, part_rows))
    notes, partial = list(partitioned.notes), None
    if listing.failures:
        partial = failures_name(output)
        storage.put_json_uri(partial, listing.to_json())
        notes.append(partial_note(listing, partial))
    described = DatasetManifest(keys.name, output, ids, rows, column_id, [column_id, *columns], parts,
                                failures=partial.rsplit("/", 1)[-1] if partial else None)  # fmt: skip
    storage.put_json_uri(output + MANIFEST_NAME, described.to_json())
    storage.put_empty(out_bucket, prefix + SUCCESS_NAME)  # last: its presence means the dataset is whole
    return RunSummary(keys.name, output, ids, rows, len(columns), len(manifest), len(listing.failures), notes,
                      partial, listing.failed_ids if partial else None, parts=len(parts))  # fmt: skip


def _write_file(
    storage: S3Storage, bucket: str, keys: RunKeys, partitioned: PartitionSummary, manifest: list[ManifestItem],
    document: RunDocument, listing: FailureList, done: list[ManifestItem],
) -> tuple[RunSummary, int]:  # fmt: skip
    """Write a single-file output (merged block by block, sorted by id) and, when failures were tolerated, its list.

    Returns the run summary and the output's size in bytes.
    """
    failures = listing.failures
    results = _results(storage, bucket, keys, done)
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
                         notes, partial, listing.failed_ids if partial else None)  # fmt: skip
    return summary, size


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
    sizes = dict(storage.list_objects(env.bucket, keys.results_prefix))
    present = set(sizes)
    listing = _judge(storage, env.bucket, keys, manifest, document, present)
    done = [item for item in manifest if keys.result(item.chunk) in present]
    written = (partitioned, manifest, document, listing, done)
    if is_dataset(document.output):
        summary, size = _write_dataset(storage, env.bucket, keys, *written, sizes), None
    else:
        summary, size = _write_file(storage, env.bucket, keys, *written)
    seconds = round(time.perf_counter() - started, 3)
    logger.info("reduced", extra=summary.to_json() | {"bytes": size, "seconds": seconds})
    return summary.to_json()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: see :func:`reduce`."""
    return reduce(event, Environment.from_env(os.environ), boto3.client("s3"))
