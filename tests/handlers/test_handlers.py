"""Each handler against in-process moto S3: what it read, what it wrote, what it returned."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from featurize._worker import LocalContext
from featurize_lambda import features as features_module
from featurize_lambda.config import Environment
from featurize_lambda.core.partition import Limits
from featurize_lambda.errors import ChunkFailed, InputError, IntegrityError
from featurize_lambda.features import features
from featurize_lambda.partition import partition
from featurize_lambda.reduce import reduce

from ..conftest import assert_matches_oracle, make_long, tsfresh_minimal
from ..handler_s3 import BUCKET, ENV, KEYS, put_frame


def read_parquet(s3, bucket: str, key: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def keys_under(s3, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


@pytest.mark.parametrize("key", ["in/data.parquet", "in/data.csv", "in/data.csv.gz"])
def test_partition_writes_chunks_of_whole_ids_then_the_manifest(s3, key):
    frame = make_long(n_ids=10, n_points=20)
    uri = put_frame(s3, key, frame)
    summary = partition({"input": {"input": uri, "chunk_size": 3}, "execution_name": "run-1"}, ENV, s3)

    assert summary["chunks"] == 4 and summary["ids"] == 10 and summary["rows"] == len(frame)
    assert summary["output"] == f"s3://{BUCKET}/outputs/run-1/features.parquet"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.manifest)["Body"].read())
    assert manifest == [
        {"run": "run-1", "chunk": i, "rows": item["rows"], "ids": item["ids"]} for i, item in enumerate(manifest)
    ]
    chunks = [read_parquet(s3, BUCKET, KEYS.chunk(i)) for i in range(4)]
    assert keys_under(s3, KEYS.prefix + "chunks/") == [KEYS.chunk(i) for i in range(4)]
    assert [len(c) for c in chunks] == [item["rows"] for item in manifest]
    assert [c["id"].nunique() for c in chunks] == [item["ids"] for item in manifest] == [3, 3, 3, 1]
    id_sets = [set(c["id"]) for c in chunks]
    assert sum(len(s) for s in id_sets) == 10 and len(set().union(*id_sets)) == 10  # no id in two chunks
    all_rows = pd.concat(chunks)
    expected = frame.sort_values(["id", "time"])
    assert all_rows["value"].tolist() == pytest.approx(expected["value"].tolist(), rel=1e-15)
    run = json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.config)["Body"].read())
    assert run["kinds"] == ["value"] and run["config"]["features"]["default"]["mean"] is None
    assert s3.get_object(Bucket="data", Key=key)["Body"].read()  # the input is untouched


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"input": "s3://data/missing.parquet"}, "does not exist"),
        ({"input": "s3://data/in.parquet", "colum_id": "x"}, "unknown execution input field"),
        ({"input": "s3://data/in.parquet", "chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"input": "s3://data/in.parquet", "output": "s3://data/in.parquet"}, "must differ from input"),
        ({"input": "s3://data/in.parquet", "output": "s3://data/out.json"}, "must end with"),
        ({"input": "data/in.parquet"}, "s3:// URI"),
        ({"input": "s3://data/in.parquet", "features": "everything"}, "unknown feature preset"),
        ({"input": "s3://data/in.parquet", "column_id": "ident"}, "id column 'ident'"),
        ({"input": "s3://data/in.parquet", "max_concurrency": 0}, "max_concurrency must be a whole number from 1"),
        ({"input": "s3://data/in.parquet", "max_concurrency": -5}, "max_concurrency must be a whole number from 1"),
        ({"input": "s3://data/in.parquet", "max_concurrency": "10"}, "max_concurrency must be a whole number"),
        ({"input": "s3://data/in.parquet", "max_concurrency": 2.5}, "max_concurrency must be a whole number"),
        ({"input": "s3://data/in.parquet", "max_concurrency": True}, "max_concurrency must be a whole number"),
        ({"input": "s3://data/in.parquet", "max_concurrency": 10_001}, "from 1 to 10000"),
        ("s3://data/in.parquet", "the execution input must be a JSON object, .* got a JSON string"),
        (["s3://data/in.parquet"], "the execution input must be a JSON object, .* got a JSON array"),
        (42, "the execution input must be a JSON object, .* got a JSON number"),
        (None, "the execution input must be a JSON object, .* got a JSON null"),
    ],
)
def test_partition_rejects_bad_input_before_writing_anything(s3, execution_input, message):
    put_frame(s3, "in.parquet", make_long(n_ids=2))
    with pytest.raises(InputError, match=message):
        partition({"input": execution_input, "execution_name": "run-1"}, ENV, s3)
    assert keys_under(s3, "runs/") == []


def run_partition(s3, frame: pd.DataFrame, **options) -> dict:
    uri = put_frame(s3, "in.parquet", frame)
    return partition({"input": {"input": uri, **options}, "execution_name": "run-1"}, ENV, s3)


def test_features_writes_the_chunk_result_under_its_deterministic_key(s3):
    frame = make_long(n_ids=6, kinds=("x", "y"))
    run_partition(s3, frame, column_kind="kind", chunk_size=4)
    returned = features({"run": "run-1", "chunk": 1, "rows": 0}, ENV, s3)

    assert returned == {"chunk": 1, "ids": 2, "result_key": KEYS.result(1)}
    result = read_parquet(s3, BUCKET, KEYS.result(1))
    chunk = read_parquet(s3, BUCKET, KEYS.chunk(1))
    oracle = tsfresh_minimal(
        frame[frame["id"].isin(chunk["id"])],
        column_id="id",
        column_sort="time",
        column_kind="kind",
        column_value="value",
    )
    assert_matches_oracle(result, oracle)


def test_features_failure_writes_a_record_then_raises(s3, monkeypatch):
    run_partition(s3, make_long(n_ids=4), chunk_size=2)

    def boom(*args, **kwargs):
        raise ValueError("calculator exploded")

    monkeypatch.setattr(features_module, "extract", boom)
    with pytest.raises(ValueError, match="calculator exploded"):
        features({"run": "run-1", "chunk": 1, "rows": 0}, ENV, s3)
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.failure(1))["Body"].read())
    assert record == {"chunk": 1, "error": "ValueError", "message": "calculator exploded"}
    assert keys_under(s3, KEYS.results_prefix) == []


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_reduce_concatenates_every_chunk_into_the_output(s3, suffix):
    frame = make_long(n_ids=9)
    summary = run_partition(s3, frame, chunk_size=2, output=f"s3://data/out/features.{suffix}", column_id="id")
    for i in range(summary["chunks"]):
        features({"run": "run-1", "chunk": i, "rows": 0}, ENV, s3)
    reduced = reduce(summary, ENV, s3)

    assert reduced["ids"] == 9 and reduced["features"] == 10 and reduced["chunks"] == 5
    body = s3.get_object(Bucket="data", Key=f"out/features.{suffix}")["Body"].read()
    table = pd.read_parquet(io.BytesIO(body)) if suffix == "parquet" else pd.read_csv(io.BytesIO(body))
    assert table.columns[0] == "id"
    oracle = tsfresh_minimal(frame, column_id="id", column_sort="time", column_value="value")
    assert_matches_oracle(table.set_index("id"), oracle)


def test_reduce_names_failed_and_dead_chunks(s3):
    summary = run_partition(s3, make_long(n_ids=6), chunk_size=2)
    features({"run": "run-1", "chunk": 0, "rows": 0}, ENV, s3)
    s3.put_object(
        Bucket=BUCKET, Key=KEYS.failure(1), Body=json.dumps({"chunk": 1, "error": "MemoryError", "message": "too big"})
    )
    with pytest.raises(ChunkFailed) as failure:
        reduce(summary, ENV, s3)
    message = str(failure.value)
    assert message.startswith("2 of 3 chunk(s) failed")
    assert "chunk 1 (" in message and "MemoryError: too big" in message
    assert "chunk 2 (" in message and "the Lambda died" in message
    assert "chunk 0 (" not in message
    assert f"listed in s3://{BUCKET}/runs/run-1/failures.json" in message
    assert keys_under(s3, "outputs/") == []
    listing = json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.failure_list)["Body"].read())
    assert [(f["chunk"], f["error"]) for f in listing["failures"]] == [(1, "MemoryError"), (2, "NoResult")]
    assert listing["failed_chunks"] == 2 and listing["chunks"] == 3 and listing["failed_ids"] == 4


def test_many_failed_chunks_keep_the_cause_short_and_every_chunk_is_listed_in_s3(s3):
    """Step Functions cuts a cause at 32,768 characters: 150 failed chunks with 400-character messages
    would need more than 60,000; the cause names three and the failure list holds all 150."""
    frame = make_long(n_ids=150, n_points=3, seed=21)
    summary = run_partition(s3, frame, chunk_size=1)
    assert summary["chunks"] == 150
    messages = {i: f"chunk {i} ran out of memory: " + "x" * 400 for i in range(150)}
    for i, text in messages.items():
        record = {"chunk": i, "error": "MemoryError", "message": text}
        s3.put_object(Bucket=BUCKET, Key=KEYS.failure(i), Body=json.dumps(record))
    assert sum(len(text) for text in messages.values()) > 32_768

    with pytest.raises(ChunkFailed) as failure:
        reduce(summary, ENV, s3)
    cause = str(failure.value)
    assert len(cause) < 4_000
    assert cause.startswith("150 of 150 chunk(s) failed: chunk 0 (") and "; chunk 2 (" in cause
    assert "chunk 3 (" not in cause and "; and 147 more." in cause
    assert f"s3://{BUCKET}/{KEYS.failure_list}" in cause

    listing = json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.failure_list)["Body"].read())
    assert listing["failed_chunks"] == 150 and listing["failed_ids"] == 150
    chunk_ids = {i: read_parquet(s3, BUCKET, KEYS.chunk(i))["id"].unique().tolist() for i in range(150)}
    assert {f["chunk"]: (f["ids"], f["error"], f["message"]) for f in listing["failures"]} == {
        i: (chunk_ids[i], "MemoryError", messages[i]) for i in range(150)
    }
    assert sorted(i for ids in chunk_ids.values() for i in ids) == sorted(frame["id"].unique())


def test_reduce_ignores_a_stale_failure_record_when_a_retry_succeeded(s3):
    summary = run_partition(s3, make_long(n_ids=2), chunk_size=1)
    s3.put_object(Bucket=BUCKET, Key=KEYS.failure(0), Body=b'{"chunk": 0, "error": "X", "message": "y"}')
    for i in range(2):
        features({"run": "run-1", "chunk": i, "rows": 0}, ENV, s3)
    assert reduce(summary, ENV, s3)["ids"] == 2


def test_handler_entry_points_parse_the_environment(s3, monkeypatch):
    from featurize_lambda.partition import handler

    uri = put_frame(s3, "in.parquet", make_long(n_ids=2))
    monkeypatch.setenv("FEATURIZE_BUCKET", BUCKET)
    summary = handler({"input": {"input": uri}, "execution_name": "run-1"}, LocalContext("featurize-partition"))
    assert summary["manifest_key"] == KEYS.manifest
    monkeypatch.delenv("FEATURIZE_BUCKET")
    with pytest.raises(RuntimeError, match="FEATURIZE_BUCKET"):
        handler({"input": {"input": uri}, "execution_name": "run-2"}, LocalContext("featurize-partition"))


def test_chunk_values_are_float64_even_for_integer_input(s3):
    frame = pd.DataFrame({"id": [1, 1, 2], "time": [0, 1, 0], "value": np.array([1, 2, 3], dtype=np.int64)})
    run_partition(s3, frame)
    assert read_parquet(s3, BUCKET, KEYS.chunk(0))["value"].dtype == np.float64


def test_partition_fails_fast_on_buckets_the_stack_was_not_granted(s3):
    uri = put_frame(s3, "in.parquet", make_long(n_ids=2))
    granted = Environment(bucket=BUCKET, input_buckets=(BUCKET,), output_buckets=(BUCKET,))
    with pytest.raises(InputError, match="input bucket 'data' is not granted .* context key input_buckets"):
        partition({"input": {"input": uri}, "execution_name": "run-1"}, granted, s3)
    reads_data = Environment(bucket=BUCKET, input_buckets=(BUCKET, "data"), output_buckets=(BUCKET,))
    with pytest.raises(InputError, match="output bucket 'data' is not granted .* context key output_buckets"):
        partition({"input": {"input": uri, "output": "s3://data/o.parquet"}, "execution_name": "run-1"}, reads_data, s3)
    assert keys_under(s3, "runs/") == []
    outside = {"input": uri, "output": f"s3://{BUCKET}/elsewhere.parquet"}
    with pytest.raises(InputError, match="outputs go under outputs/"):
        partition({"input": outside, "execution_name": "run-1"}, reads_data, s3)
    assert partition({"input": {"input": uri}, "execution_name": "run-1"}, reads_data, s3)["chunks"] == 1


def test_environment_parses_granted_bucket_lists():
    env = Environment.from_env(
        {"FEATURIZE_BUCKET": "b", "FEATURIZE_INPUT_BUCKETS": "b,in1,in2", "FEATURIZE_OUTPUT_BUCKETS": "b"}
    )
    assert env == Environment("b", ("b", "in1", "in2"), ("b",))
    assert Environment.from_env({"FEATURIZE_BUCKET": "b"}) == Environment("b", None, None)


def test_environment_parses_the_stacks_max_concurrency():
    assert Environment.from_env({"FEATURIZE_BUCKET": "b"}).max_concurrency == 200
    assert Environment.from_env({"FEATURIZE_BUCKET": "b", "FEATURIZE_MAX_CONCURRENCY": "12"}).max_concurrency == 12
    for bad in ("0", "-3", "ten", "10001"):
        with pytest.raises(RuntimeError, match="FEATURIZE_MAX_CONCURRENCY"):
            Environment.from_env({"FEATURIZE_BUCKET": "b", "FEATURIZE_MAX_CONCURRENCY": bad})


@pytest.mark.parametrize(
    ("env", "execution_input", "expected"),
    [(ENV, {}, 200), (Environment(BUCKET, max_concurrency=7), {}, 7),
     (Environment(BUCKET, max_concurrency=7), {"max_concurrency": 3}, 3), (ENV, {"max_concurrency": 500}, 500)],
)  # fmt: skip
def test_partition_always_writes_the_maps_max_concurrency(s3, env, execution_input, expected):
    """The Map's MaxConcurrencyPath must resolve: the execution input's value, else the stack's default."""
    uri = put_frame(s3, "in.parquet", make_long(n_ids=2))
    summary = partition({"input": {"input": uri, **execution_input}, "execution_name": "run-1"}, env, s3)
    assert summary["max_concurrency"] == expected
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.config)["Body"].read())["config"][
        "max_concurrency"
    ] == execution_input.get("max_concurrency")


SMALL = Limits(target_rows=60, bucket_rows=150, buffer_rows=100, batch_rows=50, max_chunk_rows=2_000)


def run_all(s3, summary: dict) -> dict:
    for i in range(summary["chunks"]):
        features({"run": "run-1", **json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.manifest)["Body"].read())[i]},
                 ENV, s3)
    return reduce(summary, ENV, s3)


def test_hash_routed_chunks_interleave_ids_and_reduce_sorts_the_output_by_id(s3):
    frame = make_long(n_ids=40, n_points=20, kinds=("a", "b"), seed=5)
    uri = put_frame(s3, "in/data.csv", frame)
    event = {"input": {"input": uri, "column_kind": "kind"}, "execution_name": "run-1"}
    summary = partition(event, ENV, s3, limits=SMALL)
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.manifest)["Body"].read())
    firsts = [read_parquet(s3, BUCKET, KEYS.chunk(i))["id"].iloc[0] for i in range(summary["chunks"])]
    assert firsts != sorted(firsts)  # chunks are not in id order
    assert sum(item["ids"] for item in manifest) == summary["ids"] == 40
    reduced = run_all(s3, summary)
    table = read_parquet(s3, BUCKET, "outputs/run-1/features.parquet")
    oracle = tsfresh_minimal(frame, column_id="id", column_sort="time", column_kind="kind", column_value="value")
    assert_matches_oracle(table.set_index("id"), oracle)
    assert reduced["ids"] == 40 and reduced["rows"] == len(frame) and reduced["failed_chunks"] == 0


def test_partition_reads_every_data_file_under_a_prefix(s3):
    frame = make_long(n_ids=9, seed=6)
    for i, part in enumerate((frame[:50], frame[50:120], frame[120:])):
        put_frame(s3, f"folder/sub/part-{i}.csv.gz", part)
    s3.put_object(Bucket="data", Key="folder/_SUCCESS", Body=b"")
    for uri in ("s3://data/folder", "s3://data/folder/"):
        summary = partition({"input": {"input": uri}, "execution_name": "run-1"}, ENV, s3)
        assert summary["files"] == 3 and summary["rows"] == len(frame) and summary["ids"] == 9


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"input": "s3://data/folder/", "output": "s3://data/folder/out.parquet"}, "inside the input folder"),
        ({"input": "s3://data/fold"}, "does not exist (no such object, and no objects under it); did you mean"),
        ({"input": "s3://nobucket/x.parquet"}, "input bucket 'nobucket' does not exist"),
        ({"input": "s3://data/folder/", "drop_nan": "yes"}, "drop_nan must be true or false"),
        ({"input": "s3://data/folder/", "tolerated_failure_percentage": 101}, "from 0 to 100"),
        ({"input": "s3://data/folder/x.json"}, "does not exist"),
    ],
)
def test_partition_input_errors_about_prefixes_and_new_fields(s3, execution_input, message):
    put_frame(s3, "folder/a.parquet", make_long(n_ids=2))
    with pytest.raises(InputError, match=None) as error:
        partition({"input": execution_input, "execution_name": "run-1"}, ENV, s3)
    assert message in str(error.value)
    assert keys_under(s3, "runs/") == []


def test_a_tolerated_failure_is_listed_with_its_record_next_to_the_output(s3):
    summary = run_partition(s3, make_long(n_ids=8), chunk_size=2, tolerated_failure_percentage=30)
    for i in (0, 2, 3):
        features({"run": "run-1", "chunk": i, "rows": 0}, ENV, s3)
    s3.put_object(
        Bucket=BUCKET, Key=KEYS.failure(1), Body=json.dumps({"chunk": 1, "error": "ValueError", "message": "bad"})
    )
    reduced = reduce(summary, ENV, s3)
    assert reduced["ids"] == 6 and reduced["failed_chunks"] == 1 and reduced["failed_ids"] == 2
    assert reduced["failures"] == f"s3://{BUCKET}/outputs/run-1/features.failures.json"
    listing = json.loads(s3.get_object(Bucket=BUCKET, Key="outputs/run-1/features.failures.json")["Body"].read())
    assert listing["failures"] == [
        {
            "chunk": 1,
            "rows": listing["failures"][0]["rows"],
            "ids_count": 2,
            "chunk_object": f"s3://{BUCKET}/{KEYS.chunk(1)}",
            "error": "ValueError",
            "message": "bad",
            "ids": ["s002", "s003"],
        }
    ]
    table = read_parquet(s3, BUCKET, "outputs/run-1/features.parquet")
    assert table["id"].tolist() == ["s000", "s001", "s004", "s005", "s006", "s007"]
    assert "partial output: 1 of 4 chunk(s) failed (2 ids" in reduced["notes"][-1]


def test_reduce_refuses_results_that_do_not_add_up(s3):
    summary = run_partition(s3, make_long(n_ids=4), chunk_size=2)
    for i in range(2):
        features({"run": "run-1", "chunk": i, "rows": 0}, ENV, s3)
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.manifest)["Body"].read())
    manifest[1]["ids"] = 3  # as if a chunk had lost an id on the way
    s3.put_object(Bucket=BUCKET, Key=KEYS.manifest, Body=json.dumps(manifest))
    with pytest.raises(IntegrityError, match="chunk 1: its result covers 2 ids"):
        reduce(summary, ENV, s3)
    manifest[1]["ids"] = 2
    s3.put_object(Bucket=BUCKET, Key=KEYS.manifest, Body=json.dumps(manifest))
    with pytest.raises(IntegrityError, match="the partition step counted 5 ids"):
        reduce(summary | {"ids": 5}, ENV, s3)
    assert reduce(summary, ENV, s3)["ids"] == 4
    original = s3.get_object(Bucket=BUCKET, Key=KEYS.result(1))["Body"].read()
    # as if chunk 0's result had also been written under chunk 1's key (counts made to agree)
    s3.copy_object(Bucket=BUCKET, Key=KEYS.result(1), CopySource={"Bucket": BUCKET, "Key": KEYS.result(0)})
    rows = manifest[1]["rows"]
    manifest[1]["rows"] = manifest[0]["rows"]
    s3.put_object(Bucket=BUCKET, Key=KEYS.manifest, Body=json.dumps(manifest))
    with pytest.raises(IntegrityError, match="id 's00[01]' appears in two chunks; start the run again"):
        reduce(summary, ENV, s3)
    manifest[1]["rows"] = rows
    s3.put_object(Bucket=BUCKET, Key=KEYS.manifest, Body=json.dumps(manifest))
    s3.put_object(Bucket=BUCKET, Key=KEYS.result(1), Body=original)
    assert reduce(summary, ENV, s3)["ids"] == 4


def test_features_refuses_a_chunk_that_differs_from_its_manifest_item(s3):
    run_partition(s3, make_long(n_ids=4), chunk_size=2)
    item = json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.manifest)["Body"].read())[0]
    with pytest.raises(IntegrityError, match="chunk 0 object holds"):
        features(item | {"rows": item["rows"] + 1}, ENV, s3)
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=KEYS.failure(0))["Body"].read())["error"] == "IntegrityError"
    assert features(item, ENV, s3)["ids"] == 2
