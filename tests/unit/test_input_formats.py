"""Input formats behind one reader interface, and the rule for a time column given as text."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pytest
from moto import mock_aws

from featurize import cli
from featurize_lambda.config import Environment
from featurize_lambda.core import formats
from featurize_lambda.core.formats import FORMATS, InputFormat, format_of, input_suffixes, named_suffixes
from featurize_lambda.core.formats.csv import CsvFormat
from featurize_lambda.core.formats.csv_gz import GzipCsvFormat
from featurize_lambda.core.formats.parquet import ParquetFormat
from featurize_lambda.core.partition import Columns, Limits, normalize, partition_source
from featurize_lambda.core.source import local_source
from featurize_lambda.errors import InputError
from featurize_lambda.partition import partition

from ..conftest import make_long

SMALL = Limits(target_rows=50, bucket_rows=100, buffer_rows=80, batch_rows=37, max_chunk_rows=5_000)
TIME = Columns(id="id", sort="time", value="value", kind=None, sort_explicit=True)


def gathered(source, columns: Columns = TIME, limits: Limits = SMALL) -> pd.DataFrame:
    """Every chunk's rows (id, value), ids in order; an id's rows in the order the partition put them."""
    chunks: list[pd.DataFrame] = []
    partition_source(source, columns, lambda _, table: chunks.append(table.to_pandas()), limits=limits)
    frame = pd.concat(chunks, ignore_index=True).sort_values("id", kind="stable")
    return frame[["id", "value"]].reset_index(drop=True)


def by_time(frame: pd.DataFrame, time: pd.Series) -> pd.DataFrame:
    """The oracle: rows sorted by id and the given time key, stable."""
    ordered = frame.assign(_t=time).sort_values(["id", "_t"], kind="stable")
    return ordered[["id", "value"]].reset_index(drop=True)


# -- the registry ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.parquet", ParquetFormat), ("A.PQ", ParquetFormat), ("x/y.csv", CsvFormat),
        ("y.CSV.GZ", GzipCsvFormat), ("y.csv.gz", GzipCsvFormat), ("y.gz", None), ("y.json", None), ("csv", None),
    ],
)  # fmt: skip
def test_a_file_name_names_its_format_longest_ending_first(name, expected):
    found = format_of(name)
    assert (None if found is None else type(found)) is expected


def test_every_suffix_list_and_message_derives_from_the_one_registry():
    assert input_suffixes() == (".parquet", ".pq", ".csv", ".csv.gz")
    assert cli.INPUT_SUFFIXES == input_suffixes()
    assert named_suffixes() == ".parquet, .csv or .csv.gz"
    assert [type(f) for f in FORMATS] == [ParquetFormat, CsvFormat, GzipCsvFormat]
    # .csv and .csv.gz are one family: a folder may mix them; Parquet and CSV it may not.
    assert formats.labels() == ["Parquet", "CSV"]


def test_a_folder_of_csv_and_csv_gz_parts_is_one_input(tmp_path):
    frame = make_long(n_ids=9, n_points=12, seed=3).drop(columns="kind", errors="ignore")
    (tmp_path / "a.csv").write_text(frame.iloc[:50].to_csv(index=False))
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(frame.iloc[50:].to_csv(index=False).encode()))
    source = local_source(str(tmp_path))
    assert source.format == "csv" and [type(f.format) for f in source.files] == [CsvFormat, GzipCsvFormat]
    pd.testing.assert_frame_equal(gathered(source), by_time(frame, frame["time"]), check_dtype=False)


class JsonLinesFormat(InputFormat):
    """A format the project does not have: newline-delimited JSON, one object a row."""

    label = "JSON lines"
    suffixes = (".jsonl",)

    def _table(self, filesystem: pafs.FileSystem, path: str) -> pa.Table:
        with filesystem.open_input_stream(path) as stream:
            return pajson.read_json(stream)

    def schema(self, filesystem, path, name, column_types) -> pa.Schema:
        return self._table(filesystem, path).schema

    def batches(self, filesystem, path, name, columns, batch_rows, column_types) -> Iterator[pa.RecordBatch]:
        yield from self._table(filesystem, path).select(columns).to_batches(max_chunksize=batch_rows)


def test_a_new_format_is_one_class_and_one_line_in_the_list(tmp_path, monkeypatch):
    """What the README promises: the class above plus one entry in FORMATS, and a folder of it runs."""
    monkeypatch.setattr(formats, "FORMATS", (*FORMATS, JsonLinesFormat()))
    frame = make_long(n_ids=7, n_points=15, seed=5).drop(columns="kind", errors="ignore")
    frame["id"] = frame["id"].astype(str)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        (folder / f"p{i}.jsonl").write_text(frame.iloc[part].to_json(orient="records", lines=True))
    assert formats.input_suffixes()[-1] == ".jsonl"
    assert formats.named_suffixes() == ".parquet, .csv, .csv.gz or .jsonl"
    pd.testing.assert_frame_equal(gathered(local_source(str(folder))), by_time(frame, frame["time"]),
                                  check_dtype=False)  # fmt: skip
    (folder / "extra.csv").write_text(frame.to_csv(index=False))
    with pytest.raises(InputError, match=r"mixes CSV and JSON lines files \(e.g. 'extra.csv' and 'p0.jsonl'\)"):
        local_source(str(folder))


# -- a time column given as text ---------------------------------------------------------------------------


def series(times: list[object], ids: list[int] | None = None) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({"id": ids or [i % 3 for i in range(n)], "time": times, "value": np.arange(n, dtype=float)})


def test_text_timestamps_are_sorted_as_timestamps_in_any_iso_form():
    times = ["2024-01-03", "2024-01-01T05:00:00", "2024-01-02 10:00", "2023-12-31", "2024-01-01T07:00:00+02:00",
             "2024-01-05T00:00:00Z"] * 4
    frame = series(times)

    def utc(text: str) -> datetime:  # the oracle: the standard library's ISO 8601 parser, naive = UTC
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)

    oracle = by_time(frame, frame["time"].map(utc))
    assert not oracle.equals(by_time(frame, frame["time"]))  # text order would differ: the test can fail
    result = normalize(frame, TIME).frame
    np.testing.assert_array_equal(result["value"].to_numpy(), oracle["value"].to_numpy())


def test_numbers_given_as_text_are_sorted_as_numbers_not_as_text():
    frame = series(["10", "9", "100", "-1", "2.5", "11"] * 3)
    oracle = by_time(frame, frame["time"].astype(float))
    assert not oracle.equals(by_time(frame, frame["time"]))  # text order would differ: the test can fail
    result = normalize(frame, TIME).frame
    np.testing.assert_array_equal(result["value"].to_numpy(), oracle["value"].to_numpy())


@pytest.mark.parametrize(
    ("times", "message"),
    [
        (["2024-01-01", "2024-01-02", "oops", "2024-01-03", "later"],
         "read as timestamps, 2 row(s) are not, the first 'oops' (row 3 of the input table)"),
        (["1", "2", "3", "x", "4"], "read as numbers, 1 row(s) are not, the first 'x' (row 4 of the input table)"),
        (["2024-01-01", "5", "2024-01-02"], "read as timestamps, 1 row(s) are not, the first '5' (row 2 of"),
        (["a", "b", "c"], "read as numbers, 3 row(s) are not, the first 'a' (row 1 of the input table)"),
    ],
)  # fmt: skip
def test_text_that_is_not_all_timestamps_or_all_numbers_is_an_input_error(times, message):
    with pytest.raises(InputError) as raised:
        normalize(series(times), TIME)
    text = str(raised.value)
    assert text.startswith("sort column 'time' holds text, which must be all timestamps or all numbers; ")
    assert message in text
    assert "null value" not in text  # a bad value is not reported a second time as a null


@pytest.mark.parametrize("late", [False, True])
def test_a_csv_time_column_with_a_stray_value_names_it_and_its_row(tmp_path, late):
    """Early: pyarrow reads the column as text from the first block. Late (past the first 1 MiB block):
    it infers timestamps, then the stray value does not fit and the column is read again as text."""
    n = 60_000 if late else 50
    times = pd.date_range("2024-01-01", periods=n, freq="min").strftime("%Y-%m-%d %H:%M:%S").tolist()
    stray = n - 7
    times[stray] = "n/a yet"
    (tmp_path / "in.csv").write_text(series(times).to_csv(index=False))
    with pytest.raises(InputError, match=f"the first 'n/a yet' \\(row {stray + 1} of {tmp_path}/in.csv\\)"):
        partition_source(local_source(str(tmp_path / "in.csv")), TIME, lambda *_: None, limits=SMALL)


def test_the_partition_handler_refuses_a_stray_time_value():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="stack-bucket")
        s3.create_bucket(Bucket="data")
        frame = series(["2024-01-01", "2024-01-02", "soon", "2024-01-04"])
        s3.put_object(Bucket="data", Key="in.parquet", Body=frame.to_parquet(index=False))
        with pytest.raises(InputError, match=r"the first 'soon' \(row 3 of s3://data/in.parquet\)"):
            partition({"input": {"input": "s3://data/in.parquet"}, "execution_name": "run-1"},
                      Environment(bucket="stack-bucket"), s3)  # fmt: skip
        assert s3.list_objects_v2(Bucket="stack-bucket").get("KeyCount", 0) == 0
