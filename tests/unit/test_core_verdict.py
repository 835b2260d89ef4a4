"""Judging chunk results and the output rules, without S3."""

from __future__ import annotations

import pytest

from featurize_lambda.contracts import NO_RESULT, ChunkFailure, FailureRecord, ManifestItem, PartitionSummary
from featurize_lambda.core.outputs import check_output, failures_name, has_output_suffix, is_csv
from featurize_lambda.core.verdict import (
    advice,
    check_chunk,
    check_result,
    check_totals,
    chunk_failure,
    describe,
    failure_list,
    judge,
    partial_note,
)
from featurize_lambda.errors import ChunkFailed, InputError, IntegrityError

MANIFEST = [ManifestItem("r", i, rows=10, ids=2) for i in range(4)]


def _failure(index: int, record: FailureRecord | None = None) -> ChunkFailure:
    chunk_object = f"s3://b/runs/r/chunks/{index:05d}.parquet"
    return chunk_failure(MANIFEST[index], chunk_object, record, [f"a{index}", f"b{index}"])


def test_a_failure_list_counts_the_failed_chunks_ids_and_rows():
    failures = [_failure(1, FailureRecord(1, "MemoryError", "too big")), _failure(2)]
    listing = failure_list("r", "s3://b/o.parquet", MANIFEST, failures, 50.0)
    assert (listing.chunks, listing.failed_chunks, listing.failed_ids, listing.failed_rows) == (4, 2, 4, 20)
    assert failures[1].error == NO_RESULT and "the Lambda died" in failures[1].message
    assert describe(failures[0]) == "chunk 1 (10 rows, 2 ids, s3://b/runs/r/chunks/00001.parquet): MemoryError: too big"
    assert describe(failures[1]).startswith("chunk 2 (10 rows, 2 ids, s3://b/runs/r/chunks/00002.parquet): no result")


@pytest.mark.parametrize(("failed", "tolerated", "refused"), [(0, 0, False), (1, 0, True), (1, 25, False),
                                                              (2, 25, True), (4, 100, False)])  # fmt: skip
def test_judge_refuses_more_failed_chunks_than_tolerated(failed, tolerated, refused):
    failures = [_failure(i, FailureRecord(i, "ValueError", "x" * 600)) for i in range(failed)]
    listing = failure_list("r", "s3://b/o.parquet", MANIFEST, failures, float(tolerated))
    if not refused:
        judge(listing, "s3://b/runs/r/failures.json")
        return
    with pytest.raises(ChunkFailed) as error:
        judge(listing, "s3://b/runs/r/failures.json")
    message = str(error.value)
    assert message.startswith(f"{failed} of 4 chunk(s) failed: chunk 0 (")
    assert "x" * 500 + "..." in message and "x" * 501 not in message
    assert "listed in s3://b/runs/r/failures.json" in message
    expected = "more than the tolerated 25%" if tolerated else f"set tolerated_failure_percentage to {25 * failed:g}"
    assert expected in message


def test_many_failed_chunks_are_named_three_then_counted():
    failures = [_failure(i % 4, FailureRecord(i, "E", "m")) for i in range(8)]
    manifest = MANIFEST * 2
    with pytest.raises(ChunkFailed, match="; and 5 more. Every failed chunk"):
        judge(failure_list("r", "s3://b/o.parquet", manifest, failures, 0.0), "s3://b/l.json")


def test_counts_that_do_not_add_up_are_integrity_errors():
    check_chunk(MANIFEST[0], rows=10, ids=2)
    check_chunk(ManifestItem("r", 0), rows=7, ids=1)  # nothing counted, nothing to check
    with pytest.raises(IntegrityError, match=r"chunk 0 object holds \{'rows': 9, 'ids': 2\}"):
        check_chunk(MANIFEST[0], rows=9, ids=2)
    check_result(MANIFEST[1], ids=2, rows=None)
    with pytest.raises(IntegrityError, match="chunk 1: its result covers 3 ids and 10 rows"):
        check_result(MANIFEST[1], ids=3, rows=10)
    summary = PartitionSummary("r", "k", "s3://b/o.parquet", rows=40, ids=8, kinds=1, chunks=4, chunk_size=2, files=1)
    listing = failure_list("r", "s3://b/o.parquet", MANIFEST, [_failure(3)], 25.0)
    check_totals(summary, MANIFEST, listing, ids=6, rows=30)
    with pytest.raises(IntegrityError, match="the partition step counted 6 ids and 30 rows"):
        check_totals(summary, MANIFEST, listing, ids=8, rows=30)
    assert "1 of 4 chunk(s) failed (2 ids, within the tolerated 25%)" in partial_note(listing, "s3://b/o.failures.json")


def test_the_output_rules():
    assert has_output_suffix("a.PARQUET") and has_output_suffix("s3://b/a.pq") and not has_output_suffix("a.json")
    assert is_csv("s3://b/a.CSV") and not is_csv("a.parquet")
    assert failures_name("s3://b/out/features.parquet") == "s3://b/out/features.failures.json"
    assert failures_name("out.Csv") == "out.failures.json" and failures_name("out") == "out.failures.json"
    with pytest.raises(InputError, match=r"must end with one of \['.parquet', '.pq', '.csv'\]"):
        check_output("s3://b/out.json", "s3://b/in.csv", input_is_folder=False)
    check_output("s3://b/in/out.parquet", "s3://b/in", input_is_folder=False)  # a file "in", not a folder
    with pytest.raises(InputError, match="is inside the input folder s3://b/in/"):
        check_output("s3://b/in/out.parquet", "s3://b/in", input_is_folder=True)


@pytest.mark.parametrize(("share", "want"), [(25.0, 25.0), (100 / 3, 33.34), (200 / 3, 66.67), (0.001, 0.01),
                                             (99.999, 100.0)])  # fmt: skip
def test_the_advised_tolerance_accepts_the_failed_share_and_stays_within_0_to_100(share, want):
    assert advice(share) == want and share <= advice(share) <= 100


def test_no_tolerance_advice_when_every_chunk_failed_and_a_rounded_up_one_otherwise():
    three = [ManifestItem("r", i, rows=10, ids=2) for i in range(3)]
    for failed, advised in ((3, None), (1, "33.34")):
        failures = [chunk_failure(three[i], f"s3://b/c{i}", FailureRecord(i, "ValueError", "bad"), ["a"])
                    for i in range(failed)]  # fmt: skip
        with pytest.raises(ChunkFailed) as error:
            judge(failure_list("r", "s3://b/o.parquet", three, failures, 0.0), "s3://b/runs/r/failures.json")
        message = str(error.value)
        if advised is None:
            assert "tolerated_failure_percentage" not in message
        else:
            assert message.endswith(f"set tolerated_failure_percentage to {advised}.")
            judge(failure_list("r", "s3://b/o.parquet", three, failures, float(advised)), "s3://b/x")
