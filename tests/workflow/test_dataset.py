"""Dataset outputs (an output ending in /): Reduce's parts, manifest and marker, the refusals, and end to end."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from featurize.cli import app
from featurize_lambda.errors import InputError
from featurize_lambda.features import features
from featurize_lambda.options import RunOptions
from featurize_lambda.partition import partition
from featurize_lambda.reduce import reduce

from ..conftest import LONG_WITH_KINDS, assert_matches_oracle, make_long, tsfresh_minimal
from ..handler_s3 import BUCKET, ENV, KEYS


def keys_under(s3, bucket: str, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def run_to_reduce(s3, frame: pd.DataFrame, **options) -> dict:
    s3.put_object(Bucket="data", Key="in.parquet", Body=frame.to_parquet(index=False))
    summary = partition({"input": {"input": "s3://data/in.parquet", **options}, "execution_name": "run-1"}, ENV, s3)
    for i in range(summary["chunks"]):
        features({"run": "run-1", "chunk": i, "rows": 0}, ENV, s3)
    return summary


def test_reduce_writes_one_part_per_chunk_then_the_manifest_and_success_last(s3):
    frame = make_long(n_ids=11, n_points=15, kinds=("temp", "acc"), seed=3)
    summary = run_to_reduce(s3, frame, chunk_size=3, column_kind="kind", output="s3://data/out/feat/")
    reduced = reduce(summary, ENV, s3)

    parts = [f"out/feat/part-{i:05d}.parquet" for i in range(4)]
    assert keys_under(s3, "data", "out/feat/") == sorted([*parts, "out/feat/_SUCCESS", "out/feat/_manifest.json"])
    assert reduced["parts"] == 4 and reduced["ids"] == 11 and reduced["output"] == "s3://data/out/feat/"
    schemas = [pq.read_schema(io.BytesIO(s3.get_object(Bucket="data", Key=k)["Body"].read())) for k in parts]
    assert all(schema.equals(schemas[0]) for schema in schemas)
    manifest = json.loads(s3.get_object(Bucket="data", Key="out/feat/_manifest.json")["Body"].read())
    assert manifest["columns"] == schemas[0].names and manifest["columns"][0] == "id"
    assert [p["file"] for p in manifest["parts"]] == [k.rsplit("/", 1)[-1] for k in parts]
    assert sum(p["ids"] for p in manifest["parts"]) == manifest["ids"] == 11
    assert sum(p["rows"] for p in manifest["parts"]) == manifest["rows"] == len(frame)
    assert "ascending within each part" in manifest["sort_order"] and manifest["failures"] is None
    oracle = tsfresh_minimal(frame, **LONG_WITH_KINDS)
    for key, part in zip(parts, manifest["parts"], strict=True):
        table = pd.read_parquet(io.BytesIO(s3.get_object(Bucket="data", Key=key)["Body"].read()))
        assert table["id"].is_monotonic_increasing and len(table) == part["ids"]
        assert (part["min_id"], part["max_id"]) == (table["id"].iloc[0], table["id"].iloc[-1])
        assert_matches_oracle(table.set_index("id"), oracle.loc[table["id"]])


def test_parts_missing_a_column_are_padded_with_nan_in_the_run_order(s3):
    frame = make_long(n_ids=6, n_points=10, seed=4)
    summary = run_to_reduce(s3, frame, chunk_size=2, output="s3://data/ds/")
    # A result lacking a column (as a chunk whose calculators named fewer columns): padded, not dropped.
    body = s3.get_object(Bucket=BUCKET, Key=KEYS.result(1))
    table = pq.read_table(io.BytesIO(body["Body"].read()))
    dropped = table.schema.names[0]
    s3.put_object(Bucket=BUCKET, Key=KEYS.result(1), Body=_parquet(table.drop_columns([dropped])))
    reduce(summary, ENV, s3)
    first = pd.read_parquet(io.BytesIO(s3.get_object(Bucket="data", Key="ds/part-00000.parquet")["Body"].read()))
    padded = pd.read_parquet(io.BytesIO(s3.get_object(Bucket="data", Key="ds/part-00001.parquet")["Body"].read()))
    assert list(padded.columns) == list(first.columns) and padded[dropped].isna().all()
    assert padded[dropped].dtype == np.float64 and first[dropped].notna().all()


def _parquet(table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def test_a_tolerated_failure_lists_the_failures_inside_the_dataset(s3):
    frame = make_long(n_ids=8, n_points=10, seed=5)
    summary = run_to_reduce(s3, frame, chunk_size=2, output="s3://data/ds/", tolerated_failure_percentage=30)
    s3.delete_object(Bucket=BUCKET, Key=KEYS.result(2))
    reduced = reduce(summary, ENV, s3)
    assert reduced["failures"] == "s3://data/ds/_failures.json" and reduced["parts"] == 3
    manifest = json.loads(s3.get_object(Bucket="data", Key="ds/_manifest.json")["Body"].read())
    assert manifest["failures"] == "_failures.json" and manifest["ids"] == 6
    listing = json.loads(s3.get_object(Bucket="data", Key="ds/_failures.json")["Body"].read())
    assert [f["chunk"] for f in listing["failures"]] == [2]
    assert "ds/part-00002.parquet" not in keys_under(s3, "data", "ds/")


def test_a_non_empty_output_prefix_is_refused_before_anything_is_written(s3):
    s3.put_object(Bucket="data", Key="ds/old.parquet", Body=b"x")
    s3.put_object(Bucket="data", Key="in.parquet", Body=make_long(n_ids=2).to_parquet(index=False))
    with pytest.raises(InputError, match="is not empty .*ds/old.parquet"):
        partition({"input": {"input": "s3://data/in.parquet", "output": "s3://data/ds/"}, "execution_name": "r"}, ENV,
                  s3)  # fmt: skip
    assert keys_under(s3, BUCKET, "runs/") == [] and keys_under(s3, "data", "ds/") == ["ds/old.parquet"]


def test_impute_with_a_dataset_output_is_refused_naming_the_option():
    with pytest.raises(InputError, match="impute cannot be used with a dataset output"):
        RunOptions.from_input({"input": "s3://data/in.parquet", "output": "s3://data/ds/", "impute": True})
    RunOptions.from_input({"input": "s3://data/in.parquet", "output": "s3://data/ds.parquet", "impute": True})


cli = CliRunner()


def test_cli_dataset_to_a_local_folder_reads_with_pandas_and_pyarrow_and_equals_tsfresh(tmp_path):
    frame = make_long(n_ids=30, n_points=40, kinds=("temp", "acc"), seed=12)
    source = tmp_path / "input.parquet"
    frame.to_parquet(source, index=False)
    out = tmp_path / "features"
    result = cli.invoke(app, ["run", str(source), "--output", f"{out}/", "--column-kind", "kind",
                              "--chunk-size", "7", "--workers", "2"], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["_SUCCESS", "_manifest.json", *[f"part-{i:05d}.parquet" for i in range(5)]]
    oracle = tsfresh_minimal(frame, **LONG_WITH_KINDS)
    table = pd.read_parquet(out)
    assert len(table) == 30 and table.columns[0] == "id"
    assert_matches_oracle(table.set_index("id").sort_index(), oracle)
    dataset = pads.dataset(out, format="parquet")
    assert sorted(dataset.files) == sorted(str(p) for p in out.glob("part-*.parquet"))
    assert dataset.to_table().num_rows == 30


def test_cli_refuses_a_non_empty_folder_and_impute_before_a_run(tmp_path):
    source = tmp_path / "input.parquet"
    make_long(n_ids=3).to_parquet(source, index=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    refused = cli.invoke(app, ["run", str(source), "--output", str(tmp_path / "full")])
    assert refused.exit_code == 2 and "is not empty" in refused.output + refused.stderr
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    refused = cli.invoke(app, ["run", str(source), "--output", f"{tmp_path / 'new'}/", "--impute"])
    assert refused.exit_code == 2 and "impute cannot be used" in refused.output + refused.stderr
    assert not (tmp_path / "new").exists()


def test_api_run_downloads_a_dataset_to_a_folder(tmp_path):
    from featurize import api

    frame = make_long(n_ids=9, n_points=20, seed=13)
    try:
        done = api.run(frame, f"{tmp_path / 'ds'}/", chunk_size=4, workers=1, progress=False)
    finally:
        api.shutdown()  # other modules start engines of their own in this process
    assert done.local_output == tmp_path / "ds" and done.output.endswith("/")
    table = pd.read_parquet(tmp_path / "ds").set_index("id").sort_index()
    oracle = tsfresh_minimal(frame, column_id="id", column_sort="time", column_value="value")
    assert_matches_oracle(table, oracle)
    assert (tmp_path / "ds" / "_SUCCESS").exists()


def test_a_failed_run_writes_nothing_in_the_prefix(s3):
    from featurize_lambda.errors import ChunkFailed

    summary = run_to_reduce(s3, make_long(n_ids=6, n_points=10, seed=6), chunk_size=2, output="s3://data/ds/")
    s3.delete_object(Bucket=BUCKET, Key=KEYS.result(0))
    with pytest.raises(ChunkFailed):
        reduce(summary, ENV, s3)
    assert keys_under(s3, "data", "ds/") == []
