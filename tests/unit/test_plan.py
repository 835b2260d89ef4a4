"""The split plan: every row in exactly one split, Parquet runs of whole row groups, footers-only reads."""

from __future__ import annotations

import gzip
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from featurize_lambda.core.partition.limits import TARGET_ROWS_PER_CHUNK
from featurize_lambda.core.plan import Split, csv_split_text, estimate_buckets, estimate_chunks, plan_source
from featurize_lambda.core.source import local_source


class _Counting(pafs.FileSystemHandler):
    """The local disk, with every byte read through it counted (an oracle independent of the plan's own)."""

    def __init__(self) -> None:
        self.local = pafs.LocalFileSystem()
        self.read = 0

    def get_type_name(self) -> str:
        return "test-counting"

    def normalize_path(self, path: str) -> str:
        return path

    def equals(self, other: Any) -> bool:
        return self is other

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.local.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.local.get_file_info(selector)

    def open_input_file(self, path: str) -> pa.NativeFile:
        handler = self
        raw = open(path, "rb")  # noqa: SIM115  (closed by the PythonFile)

        class Counted(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def seekable(self) -> bool:
                return True

            def seek(self, offset: int, whence: int = 0) -> int:
                return raw.seek(offset, whence)

            def tell(self) -> int:
                return raw.tell()

            def readinto(self, buffer: Any) -> int:
                data = raw.read(len(buffer))
                handler.read += len(data)
                buffer[: len(data)] = data
                return len(data)

            def close(self) -> None:
                raw.close()
                super().close()

        return pa.PythonFile(Counted(), mode="r")

    open_input_stream = open_input_file

    def _no(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("read only")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _no
    delete_file = move = copy_file = open_output_stream = open_append_stream = _no


def _counted_source(path: Path) -> tuple[Any, _Counting]:
    handler = _Counting()
    source = local_source(str(path))
    return type(source)(pafs.PyFileSystem(handler), source.files, source.format, source.display), handler


def _frame(n: int, seed: int, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(start, start + n) // 7, "time": np.arange(n), "value": rng.normal(size=n)})


def _split_rows(split: Split) -> pd.DataFrame:
    """The rows one split reads (the test's reader: CSV text through pyarrow, Parquet by row group)."""
    if split.kind == "parquet":
        return pq.ParquetFile(split.file).read_row_groups(list(split.row_groups)).to_pandas()
    text = csv_split_text(pafs.LocalFileSystem(), split)
    if not text.split(b"\n", 1)[1].strip():
        return pd.DataFrame()  # a range inside one line owns no line
    return pacsv.read_csv(pa.py_buffer(text)).to_pandas()


def _read_back(plan_splits: tuple[Split, ...]) -> pd.DataFrame:
    parts = [_split_rows(s) for s in plan_splits]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_splits_own_every_line_once(tmp_path: Path, newline: str) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    frames = [_frame(3000, 1), _frame(40, 2, 3000), _frame(2500, 3, 3040)]
    for number, frame in enumerate(frames):
        text = frame.to_csv(index=False, lineterminator=newline)
        if number == 2:
            text = text.rstrip("\r\n")  # a last line without a newline
        (folder / f"part-{number}.csv").write_text(text, newline="")
    plan = plan_source(local_source(str(folder)), split_bytes=4096)
    sizes = [(folder / f"part-{n}.csv").stat().st_size for n in range(3)]
    assert plan.total_bytes == sum(sizes)
    # the small file (< one split) is one split; the others several, covering each file's data once
    per_file = {f"part-{n}.csv": [s for s in plan.splits if s.file.endswith(f"part-{n}.csv")] for n in range(3)}
    assert len(per_file["part-1.csv"]) == 1
    for name, splits in per_file.items():
        size = (folder / name).stat().st_size
        assert splits[0].start == splits[0].header_end and splits[-1].end == size
        assert all(a.end == b.start for a, b in zip(splits, splits[1:], strict=False))
    assert len(per_file["part-0.csv"]) == math.ceil((sizes[0] - per_file["part-0.csv"][0].header_end) / 4096)
    # boundaries fall inside lines (they are byte offsets): reading back still gives every row once
    whole = pd.concat(frames, ignore_index=True)
    back = _read_back(plan.splits)
    pd.testing.assert_frame_equal(back, whole, check_dtype=False)
    # the row estimate (mean line length of the first block) is close for a uniform file
    assert plan.total_rows_estimate == pytest.approx(len(whole), rel=0.05)


def test_csv_boundary_exactly_at_a_line_start(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,value\n1,10\n2,20\n3,30\n")
    header_end = 9
    # a boundary right after "1,10\n" (offset 14): the next split owns "2,20"
    first = Split(str(path), "csv", header_end, 14, header_end=header_end)
    second = Split(str(path), "csv", 14, path.stat().st_size, header_end=header_end)
    assert csv_split_text(pafs.LocalFileSystem(), first) == b"id,value\n1,10\n"
    assert csv_split_text(pafs.LocalFileSystem(), second) == b"id,value\n2,20\n3,30\n"
    # one byte later: "2,20" started before the boundary, so the first split reads it past its end
    first = Split(str(path), "csv", header_end, 15, header_end=header_end)
    second = Split(str(path), "csv", 15, path.stat().st_size, header_end=header_end)
    assert csv_split_text(pafs.LocalFileSystem(), first) == b"id,value\n1,10\n2,20\n"
    assert csv_split_text(pafs.LocalFileSystem(), second) == b"id,value\n3,30\n"
    # a range inside one line owns nothing
    inner = Split(str(path), "csv", 15, 17, header_end=header_end)
    assert csv_split_text(pafs.LocalFileSystem(), inner) == b"id,value\n"


def test_csv_with_quotes_is_one_split(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    rows = "".join(f'{i},"a\nb",{i * 0.5}\n' for i in range(2000))
    path.write_text("id,note,value\n" + rows)
    plan = plan_source(local_source(str(path)), split_bytes=1024)
    assert len(plan.splits) == 1
    back = pacsv.read_csv(pa.py_buffer(csv_split_text(pafs.LocalFileSystem(), plan.splits[0]))).to_pandas()
    assert len(back) == 2000 and back["note"].iloc[0] == "a\nb"


def test_parquet_runs_of_whole_row_groups(tmp_path: Path) -> None:
    folder = tmp_path / "pq"
    folder.mkdir()
    frames = [_frame(50_000, 4), _frame(9, 5, 50_000), _frame(30_000, 6, 50_009)]
    for number, frame in enumerate(frames):
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"p{number}.parquet",
                       row_group_size=4_000)
    split_bytes = 100_000
    plan = plan_source(local_source(str(folder)), split_bytes=split_bytes)
    for number in range(len(frames)):
        path = folder / f"p{number}.parquet"
        metadata = pq.ParquetFile(path).metadata
        splits = [s for s in plan.splits if s.file == str(path)]
        groups = [g for s in splits for g in s.row_groups]
        assert groups == list(range(metadata.num_row_groups))  # every row group once, in order
        for split in splits:
            compressed = sum(
                metadata.row_group(g).column(c).total_compressed_size
                for g in split.row_groups for c in range(metadata.num_columns)
            )
            assert split.bytes == compressed
            assert split.rows_estimate == sum(metadata.row_group(g).num_rows for g in split.row_groups)
            assert split.bytes <= split_bytes or len(split.row_groups) == 1
        # greedy: a split and the next one's first row group would not have fit together
        for a, b in zip(splits, splits[1:], strict=False):
            first = sum(metadata.row_group(b.row_groups[0]).column(c).total_compressed_size
                        for c in range(metadata.num_columns))
            assert a.bytes + first > split_bytes
    assert len([s for s in plan.splits if s.file.endswith("p0.parquet")]) > 1
    assert plan.total_rows_estimate == sum(len(f) for f in frames)
    pd.testing.assert_frame_equal(_read_back(plan.splits), pd.concat(frames, ignore_index=True))


def test_plan_reads_footers_and_first_blocks_only(tmp_path: Path) -> None:
    frame = _frame(400_000, 7)
    parquet = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet, row_group_size=20_000)
    csv = tmp_path / "big.csv"
    frame.to_csv(csv, index=False)
    for path in (parquet, csv):
        source, counter = _counted_source(path)
        plan = plan_source(source, split_bytes=1 << 20)
        assert len(plan.splits) > 1
        # the footer (Parquet) or the first block (CSV): a small fraction of the file
        assert 0 < counter.read <= 200_000 < path.stat().st_size / 10, (path.name, counter.read)
        assert plan.bytes_read == counter.read


def test_gzip_csv_is_one_split(tmp_path: Path) -> None:
    frame = _frame(20_000, 8)
    path = tmp_path / "a.csv.gz"
    path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    plan = plan_source(local_source(str(path)), split_bytes=1024)
    assert [(s.kind, s.start, s.end) for s in plan.splits] == [("csv.gz", 0, path.stat().st_size)]
    # rows estimated from the first block's compression ratio and line length: close for a uniform file
    assert plan.total_rows_estimate == pytest.approx(len(frame), rel=0.25)


def test_chunk_and_bucket_estimates() -> None:
    # 2,000 ids x 1,000 rows: ceil(100,000 / 1,000) = 100 ids a chunk -> 20 chunks
    assert estimate_chunks(2_000_000, 2_000) == 20
    # 400 ids x 1,000 rows -> 4 chunks; ids of 3 rows: 33,334 ids a chunk
    assert estimate_chunks(400_000, 400) == 4
    assert estimate_chunks(1_000_000, 333_334) == math.ceil(333_334 / 33_334)
    # an id longer than a chunk is a chunk of its own
    assert estimate_chunks(5 * TARGET_ROWS_PER_CHUNK * 3, 5) == 5
    assert estimate_chunks(1000, 10, chunk_size=3) == 4
    assert estimate_chunks(10**9, None) == 10_000  # the target grows to stay within MAX_CHUNKS
    assert estimate_buckets(2_500_000) == 3 and estimate_buckets(10) == 1 and estimate_buckets(10**12) == 512


def test_plan_of_an_s3_prefix_reads_ranges_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    from featurize_lambda.storage import S3Storage

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="data")
        frames = [_frame(200_000, 9), _frame(1000, 10, 200_000)]
        for number, frame in enumerate(frames):
            buffer = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, row_group_size=25_000)
            s3.put_object(Bucket="data", Key=f"in/p{number}.parquet", Body=buffer.getvalue().to_pybytes())
        sizes = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket="data")["Contents"]}
        plan = plan_source(S3Storage(s3).resolve_input("s3://data/in/"), split_bytes=600_000)
        assert plan.total_bytes == sum(sizes.values())
        assert [s.file for s in plan.splits][-1] == "data/in/p1.parquet"
        assert len([s for s in plan.splits if s.file.endswith("p0.parquet")]) > 1
        assert plan.total_rows_estimate == 201_000
        assert plan.bytes_read < sizes["in/p0.parquet"] / 5  # footers through ranged GETs, not the files
