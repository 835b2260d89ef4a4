"""Judging a run's chunks: which failed or are missing, whether that is tolerated, whether the counts add up.

Pure functions over the step contracts (no S3): the Features and Reduce handlers read the documents,
call these, and write what they return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..contracts import NO_RESULT, ChunkFailure, FailureList, FailureRecord, ManifestItem, PartitionSummary
from ..errors import ChunkFailed, IntegrityError

#: Failed chunks a ChunkFailed message names; the run's failure list holds them all (Step Functions cuts
#: an execution's cause at 32,768 characters, about 130 chunk descriptions).
NAMED_FAILURES = 3

#: Characters of a chunk's error message kept in the ChunkFailed message (the failure list keeps it whole).
MESSAGE_CHARS = 500

#: The message of a chunk with neither a result nor a failure record.
NO_RESULT_MESSAGE = (
    "no result and no failure record: the Lambda died (timeout, out of memory) or was throttled "
    "until its retries ran out"
)


def check_chunk(item: ManifestItem, rows: int, ids: int) -> None:
    """Refuse a chunk object that does not hold the rows and ids its manifest item counts (0/None: unknown).

    Raises
    ------
    IntegrityError
        Naming what the object holds and what the item says.
    """
    expected = {name: count for name, count in (("rows", item.rows), ("ids", item.ids)) if count}
    found = {"rows": rows, "ids": ids}
    if any(found[name] != count for name, count in expected.items()):
        raise IntegrityError(f"chunk {item.chunk} object holds {found}, its manifest item says {expected}")


def chunk_failure(item: ManifestItem, chunk_object: str, record: FailureRecord | None, ids: list) -> ChunkFailure:
    """What is known of a chunk without a result: its failure record, or that its Lambda died."""
    error, message = (record.error, record.message) if record is not None else (NO_RESULT, NO_RESULT_MESSAGE)
    return ChunkFailure(item.chunk, item.rows, item.ids, chunk_object, error, message, list(ids))


def failure_list(
    run: str, output: str, manifest: Sequence[ManifestItem], failures: list[ChunkFailure], tolerated: float
) -> FailureList:
    """The failure list of a run, with its counts."""
    return FailureList(
        run=run,
        output=output,
        chunks=len(manifest),
        failed_chunks=len(failures),
        failed_ids=sum(f.ids_count or 0 for f in failures),
        failed_rows=sum(f.rows for f in failures),
        tolerated_failure_percentage=tolerated,
        failures=failures,
    )


def describe(failure: ChunkFailure) -> str:
    """One failed chunk in words: where it is and why it failed (its message cut to :data:`MESSAGE_CHARS`)."""
    ids = f", {failure.ids_count} ids" if failure.ids_count is not None else ""
    where = f"chunk {failure.chunk} ({failure.rows} rows{ids}, {failure.chunk_object})"
    message = failure.message
    if len(message) > MESSAGE_CHARS:
        message = message[:MESSAGE_CHARS] + "..."
    if failure.error == NO_RESULT:
        return f"{where}: {message}"
    return f"{where}: {failure.error}: {message}"


def advice(failed_share: float) -> float:
    """The smallest two-decimal ``tolerated_failure_percentage`` that accepts ``failed_share`` (at most 100).

    Rounded up, never to nearest: 1 of 3 chunks is 33.33...%, and 33.3 would still refuse the run.
    """
    return min(100.0, math.ceil(failed_share * 100 - 1e-9) / 100)


def judge(listing: FailureList, listing_uri: str) -> None:
    """Refuse a run whose failed chunks exceed its ``tolerated_failure_percentage``.

    Raises
    ------
    ChunkFailed
        Naming a few failed chunks (:data:`NAMED_FAILURES`), the failure list and how to re-run.
    """
    failures, tolerated = listing.failures, listing.tolerated_failure_percentage
    failed_share = 100.0 * len(failures) / listing.chunks if listing.chunks else 0.0
    if not failures or failed_share <= tolerated:
        return
    if tolerated:
        tolerance = f" {failed_share:.3g}% of the chunks failed, more than the tolerated {tolerated:g}%."
    elif failed_share < 100.0:
        least = advice(failed_share)
        tolerance = f" To accept a partial output instead, set tolerated_failure_percentage to {least:g}."
    else:
        tolerance = ""  # every chunk failed: a partial output would be empty
    named = "; ".join(describe(f) for f in failures[:NAMED_FAILURES])
    more = f"; and {len(failures) - NAMED_FAILURES} more" if len(failures) > NAMED_FAILURES else ""
    raise ChunkFailed(
        f"{len(failures)} of {listing.chunks} chunk(s) failed: {named}{more}. Every failed chunk, its ids and "
        f"error are listed in {listing_uri}. Fix the cause and start the run again with the same execution "
        f"input (this was run {listing.run}; a new run writes its own chunks, nothing is appended to this one)."
        + tolerance
    )


def check_result(item: ManifestItem, ids: int, rows: int | None) -> None:
    """Refuse a chunk result that does not cover its manifest item's ids and rows (``rows`` None: not recorded).

    Raises
    ------
    IntegrityError
        Naming the chunk and both counts.
    """
    ids_differ = item.ids is not None and ids != item.ids
    if ids_differ or (rows if rows is not None else item.rows) != item.rows:
        raise IntegrityError(
            f"chunk {item.chunk}: its result covers {ids} ids and {rows} rows, the "
            f"partition step wrote {item.ids} ids and {item.rows} rows; start the run again"
        )


def check_totals(
    summary: PartitionSummary, manifest: Sequence[ManifestItem], listing: FailureList, ids: int, rows: int
) -> None:
    """Refuse merged results that do not hold exactly the ids and rows partitioned, failed chunks excluded.

    Raises
    ------
    IntegrityError
        Naming both counts.
    """
    expected_ids = (summary.ids if summary.ids is not None else sum(i.ids or 0 for i in manifest)) - listing.failed_ids
    expected_rows = (summary.rows or sum(i.rows for i in manifest)) - listing.failed_rows
    if ids != expected_ids or rows != expected_rows:
        raise IntegrityError(
            f"the results cover {ids} ids and {rows} rows; the partition step counted "
            f"{expected_ids} ids and {expected_rows} rows (failed chunks excluded); start the run again"
        )


def partial_note(listing: FailureList, listing_uri: str) -> str:
    """The run summary's note on a tolerated partial output."""
    return (
        f"partial output: {listing.failed_chunks} of {listing.chunks} chunk(s) failed ({listing.failed_ids} ids, "
        f"within the tolerated {listing.tolerated_failure_percentage:g}%); the failed chunks, their ids and errors "
        f"are listed in {listing_uri}"
    )
