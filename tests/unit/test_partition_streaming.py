"""The streaming partition core on local files: same rows as a whole-table sort, bounded memory."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurize_lambda.core.partition import Columns, Limits, partition_source
from featurize_lambda.core.source import local_source
from featurize_lambda.errors import InputError

from ..conftest import make_long

#: Small enough that a few thousand rows make several batches, buffer flushes, buckets and groups.
SMALL = Limits(target_rows=150, bucket_rows=300, buffer_rows=200, batch_rows=97, max_chunk_rows=5_000)
LONG_KINDS = Columns(id="id", sort="time", value="value", kind="kind")


def run(path, columns=LONG_KINDS, limits=SMALL, **options):
    """Partition a local file or folder; return the result and its chunks as pandas frames."""
    chunks: dict[int, pd.DataFrame] = {}
    result = partition_source(
        local_source(str(path)), columns, lambda i, t: chunks.__setitem__(i, t.to_pandas()), limits=limits, **options
    )
    assert list(chunks) == list(range(len(chunks)))
    return result, [chunks[i] for i in range(len(chunks))]


def oracle(frame: pd.DataFrame, kind: str | None = "kind", time: str | None = "time") -> pd.DataFrame:
    """The non-streaming computation: the whole table sorted by (id, kind, time, row number)."""
    frame = frame.assign(_row=np.arange(len(frame)))
    keys = ["id"] + ([kind] if kind else []) + ([time] if time else []) + ["_row"]
    ordered = frame.sort_values(keys, kind="stable")
    return pd.DataFrame(
        {
            "id": ordered["id"].to_numpy(),
            "kind": ordered[kind].astype(str).to_numpy() if kind else "value",
            "value": ordered["value"].to_numpy(dtype=float),
        }
    ).reset_index(drop=True)


def gathered(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    """Every chunk's rows, ids in order (an id's rows are contiguous within its one chunk)."""
    frame = pd.concat(chunks, ignore_index=True)
    frame = frame.assign(kind=frame["kind"].astype(str)).sort_values("id", kind="stable")
    return frame[["id", "kind", "value"]].reset_index(drop=True)


def assert_chunks_hold_whole_ids(result, chunks):
    per_chunk = [set(c["id"]) for c in chunks]
    assert sum(len(s) for s in per_chunk) == len(set().union(*per_chunk)) == result.ids  # no id in two chunks
    assert [(c.rows, c.ids) for c in result.chunks] == [(len(c), c["id"].nunique()) for c in chunks]
    assert sum(len(c) for c in chunks) == result.rows


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith(".csv.gz"):
        path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    else:
        frame.to_csv(path, index=False)
    return path


def parts(frame: pd.DataFrame, folder: Path, suffix: str, n: int = 3) -> Path:
    for i, piece in enumerate(np.array_split(np.arange(len(frame)), n)):
        write(frame.iloc[piece], folder / f"part-{i:03d}{suffix}")
    (folder / "_SUCCESS").write_text("")  # job markers are not data
    return folder


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_long(n_ids=80, n_points=40, kinds=("x", "y"), seed=7)


@pytest.mark.parametrize(
    "layout", ["data.parquet", "data.csv", "data.csv.gz", "parquet-parts", "csv-parts", "csv.gz-parts"]
)
def test_streaming_equals_the_whole_table_sort_for_every_input_shape(tmp_path, frame, layout):
    if layout.endswith("-parts"):
        path = parts(frame, tmp_path / "folder", "." + layout.removesuffix("-parts"))
    else:
        path = write(frame, tmp_path / layout)
    result, chunks = run(path)

    assert result.buckets > 3 and len(chunks) > 10  # several buckets, groups and chunks
    assert result.kinds == ["x", "y"] and result.rows == len(frame)
    pd.testing.assert_frame_equal(gathered(chunks), oracle(frame))
    assert_chunks_hold_whole_ids(result, chunks)
    for chunk in chunks:  # each id's rows are contiguous in its chunk
        runs = (chunk["id"] != chunk["id"].shift()).sum()
        assert runs == chunk["id"].nunique()
        assert list(chunk["kind"].cat.categories) == ["x", "y"] and chunk["value"].dtype == np.float64


def test_hive_folder_names_are_columns(tmp_path, frame):
    for kind in ("x", "y"):
        write(frame[frame["kind"] == kind].drop(columns="kind"), tmp_path / "data" / f"kind={kind}" / "part-0.parquet")
    result, chunks = run(tmp_path / "data")
    expected = pd.concat([frame[frame["kind"] == k] for k in ("x", "y")], ignore_index=True)
    pd.testing.assert_frame_equal(gathered(chunks), oracle(expected))
    assert result.kinds == ["x", "y"]


def test_wide_format_without_time_keeps_row_order_and_column_order(tmp_path):
    frame = make_long(n_ids=30, seed=2).drop(columns="time").rename(columns={"value": "b"})
    frame["a"] = -frame["b"]
    result, chunks = run(write(frame, tmp_path / "wide.csv"), Columns(id="id", sort="time", value="value", kind=None))
    assert result.kinds == ["b", "a"] and "row order" in result.notes[0]
    melted = pd.concat([frame[["id", c]].rename(columns={c: "value"}).assign(kind=c) for c in ("b", "a")])
    melted["kind"] = pd.Categorical(melted["kind"], ["b", "a"])
    expected = oracle(melted.reset_index(drop=True), kind="kind", time=None)
    got = gathered(chunks)
    assert got["id"].tolist() == expected["id"].tolist() and got["value"].tolist() == expected["value"].tolist()
    assert got["kind"].tolist() == expected["kind"].tolist()


@pytest.mark.parametrize("chunk_size", [1, 4, 25])
def test_chunk_size_is_ids_per_chunk_but_the_last(tmp_path, frame, chunk_size):
    result, chunks = run(write(frame, tmp_path / "d.parquet"), chunk_size=chunk_size)
    counts = [c["id"].nunique() for c in chunks]
    assert result.buckets > 3 and counts[:-1] == [chunk_size] * (len(chunks) - 1) and 1 <= counts[-1] <= chunk_size
    assert_chunks_hold_whole_ids(result, chunks)


def test_automatic_chunks_hold_about_the_target_rows(tmp_path, frame):
    result, chunks = run(write(frame, tmp_path / "d.parquet"))
    sizes = [len(c) for c in chunks]
    longest = frame.groupby("id").size().max()
    assert all(150 - longest <= n <= 150 + longest for n in sizes[:-1]), sizes


def test_rows_of_equal_id_kind_and_time_keep_the_input_row_order_across_batches_and_files(tmp_path):
    rng = np.random.default_rng(3)
    noise = pd.DataFrame({"id": rng.integers(0, 50, 3000), "time": rng.integers(0, 5, 3000), "kind": "k"})
    noise["value"] = rng.normal(size=len(noise))
    ties = pd.DataFrame({"id": 7, "time": 2, "kind": "k", "value": [1.0, 2.0, 3.0, 4.0]})
    frame = pd.concat([ties[:1], noise[:1500], ties[1:3], noise[1500:], ties[3:]], ignore_index=True)
    result, chunks = run(parts(frame, tmp_path / "f", ".csv", n=4))
    rows = gathered(chunks)
    pd.testing.assert_frame_equal(rows, oracle(frame))
    chunk = next(c for c in chunks if 7 in set(c["id"]))
    in_chunk = chunk.loc[chunk["id"] == 7, "value"].tolist()
    in_input = frame.loc[frame["id"] == 7].sort_values("time", kind="stable")["value"].tolist()
    assert in_chunk == in_input  # ties (equal id, kind, time) in input row order
    tied = [v for v in in_chunk if v in (1.0, 2.0, 3.0, 4.0)]
    assert tied == [1.0, 2.0, 3.0, 4.0] and len(frame[(frame["id"] == 7) & (frame["time"] == 2)]) > 4


def test_a_bucket_larger_than_estimated_is_split_again(tmp_path, frame):
    limits = Limits(target_rows=150, bucket_rows=300, buffer_rows=200, batch_rows=97, max_buckets=1)
    result, chunks = run(write(frame, tmp_path / "d.parquet"), limits=limits)
    assert result.buckets == 1 and len(chunks) > 10
    pd.testing.assert_frame_equal(gathered(chunks), oracle(frame))
    assert_chunks_hold_whole_ids(result, chunks)


def test_a_long_series_gets_its_own_chunk_and_a_too_long_one_is_an_error(tmp_path, frame):
    long = pd.DataFrame({"id": "zz-long", "time": np.arange(3000), "kind": "x", "value": 1.0})
    limits = Limits(target_rows=150, bucket_rows=300, buffer_rows=200, batch_rows=97, max_chunk_rows=4000)
    result, chunks = run(write(pd.concat([frame, long]), tmp_path / "ok.parquet"), limits=limits)
    own = [c for c in chunks if "zz-long" in set(c["id"])]
    assert len(own) == 1 and set(own[0]["id"]) == {"zz-long"} and len(own[0]) == 3000
    assert_chunks_hold_whole_ids(result, chunks)

    too_long = pd.concat([frame, long, long.assign(time=long["time"] + 3000)])
    with pytest.raises(InputError, match=r"id 'zz-long' has 6000 rows \(all kinds\), more than one chunk may hold"):
        run(write(too_long, tmp_path / "bad.parquet"), limits=limits)


def test_partitioning_is_deterministic(tmp_path, frame):
    path = write(frame, tmp_path / "d.csv")
    first, second = run(path)[1], run(path)[1]
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_every_data_problem_is_counted_over_the_whole_input(tmp_path):
    rows = 2000
    frame = pd.DataFrame({"id": np.arange(rows) % 40, "time": np.arange(rows), "value": np.arange(rows) * 1.0})
    text = frame.astype(object)
    text.loc[[1500, 1700, 1900], "value"] = "n/a?"  # after the first batches: found by the re-read
    text.loc[[10, 1800], "value"] = np.nan
    text.loc[[1999], "id"] = np.nan
    path = write(text, tmp_path / "d.csv")
    with pytest.raises(InputError) as error:
        run(path, Columns(id="id", sort="time", value="value", kind=None))
    message = str(error.value)
    assert "column 'value' must be numeric: 3 row(s) are not, e.g. 'n/a?' (row 1501 of " in message
    assert "column 'value' has 2 missing value(s) (NaN or empty; first in row 11 of " in message
    assert '"drop_nan": true' in message
    assert "id column 'id' has 1 null value(s) (first in row 2000 of " in message


def test_drop_nan_drops_missing_values_and_says_how_many(tmp_path, frame):
    holes = frame.copy()
    holes.loc[holes.index[::7], "value"] = np.nan
    result, chunks = run(write(holes, tmp_path / "d.parquet"), drop_nan=True)
    pd.testing.assert_frame_equal(gathered(chunks), oracle(holes.dropna(subset=["value"])))
    dropped = int(holes["value"].isna().sum())
    assert result.dropped == dropped and f"{dropped} missing value(s) dropped" in result.notes[-1]


def test_csv_columns_whose_first_rows_look_narrower_are_widened(tmp_path):
    ints = [f"{i},{i},{i}" for i in range(3000)]
    later = ["s-1,3000.5,1.25", "s-2,3001,2.5"]  # string id, fractional time and value after many int rows
    path = tmp_path / "d.csv"
    path.write_text("id,time,value\n" + "\n".join(ints + later) + "\n")
    result, chunks = run(path, Columns(id="id", sort="time", value="value", kind=None))
    rows = gathered(chunks)
    assert result.rows == 3002 and rows["id"].iloc[-1] == "s-2" and rows["value"].iloc[-2:].tolist() == [1.25, 2.5]
    assert rows["id"].map(type).eq(str).all()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("truncated_gzip", "its gzip data is truncated"),
        ("not_gzip", "its gzip data is corrupt"),
        ("corrupt_parquet", "cannot be read as Parquet"),
        ("ragged_csv", "cannot be read as CSV: CSV parse error"),
        ("missing_column_in_part", "value column 'value' is not in "),
        ("id_types_differ", "id column 'id' holds integer values in the first file but text in "),
        ("time_types_differ", "sort column 'time' holds integer values in the first file but text in "),
        ("mixed_formats", "mixes Parquet and CSV files"),
        ("unknown_file", "file(s) that are not .parquet, .csv or .csv.gz"),
        ("empty_folder", "holds no data files"),
        ("duplicate_columns", "duplicated column name(s) ['value']"),
        ("null_time", "sort column 'time' has 1 null value(s)"),
        ("null_kind", "kind column 'kind' has 1 null value(s)"),
    ],
)
def test_unreadable_and_inconsistent_inputs_are_input_errors(tmp_path, setup, message):
    good = pd.DataFrame({"id": [1, 1, 2], "time": [0, 1, 0], "kind": "k", "value": [1.0, 2.0, 3.0]})
    folder = tmp_path / "in"
    folder.mkdir()
    if setup == "truncated_gzip":
        data = gzip.compress(("id,time,value\n" + "1,2,3\n" * 50_000).encode())
        path = folder / "t.csv.gz"
        path.write_bytes(data[: len(data) // 2])
    elif setup == "not_gzip":
        path = folder / "t.csv.gz"
        path.write_bytes(b"id,time,value\n1,2,3\n")
    elif setup == "corrupt_parquet":
        path = folder / "t.parquet"
        path.write_bytes(b"PAR1 this is not parquet")
    elif setup == "ragged_csv":
        path = folder / "t.csv"
        path.write_text("id,time,value\n1,0,1.0\n1,1\n")
    elif setup == "missing_column_in_part":
        write(good, folder / "a.parquet")
        write(good.rename(columns={"value": "valu"}), folder / "b.parquet")
        path = folder
    elif setup == "id_types_differ":
        write(good, folder / "a.parquet")
        write(good.assign(id=["x", "y", "z"]), folder / "b.parquet")
        path = folder
    elif setup == "time_types_differ":
        write(good, folder / "a.parquet")
        write(good.assign(time=["x", "y", "z"]), folder / "b.parquet")
        path = folder
    elif setup == "mixed_formats":
        write(good, folder / "a.parquet")
        write(good, folder / "b.csv")
        path = folder
    elif setup == "unknown_file":
        write(good, folder / "a.parquet")
        (folder / "notes.txt").write_text("x")
        path = folder
    elif setup == "empty_folder":
        (folder / "_SUCCESS").write_text("")
        path = folder
    elif setup == "duplicate_columns":
        path = folder / "t.csv"
        path.write_text("id,time,value,value\n1,0,1.0,2.0\n")
    elif setup == "null_time":
        path = write(good.assign(time=[0, None, 1]), folder / "t.parquet")
    else:
        path = write(good.assign(kind=["a", None, "b"]), folder / "t.parquet")
    with pytest.raises(InputError, match=None) as error:
        run(path)
    assert message in str(error.value)


MEMORY_PROBE = textwrap.dedent(
    """
    import json, sys
    import pyarrow.parquet as pq
    from featurize_lambda.core.partition import Columns, partition_source
    from featurize_lambda.core.source import local_source

    source, out = sys.argv[1], sys.argv[2]
    def sink(index, table):  # as the handler does: encode each chunk as Parquet and let it go
        pq.write_table(table, f"{out}/{index:05d}.parquet", compression="zstd")
    result = partition_source(local_source(source), Columns("id", "time", "value", None), sink)
    # VmHWM, the peak RSS of this process image: ru_maxrss would include the parent's RSS at fork time.
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"rss_mb": peak / 1024, "rows": result.rows, "chunks": len(result.chunks),
                      "buckets": result.buckets}))
    """
)


def _big_input(path: Path, rows: int, seed: int) -> pd.DataFrame:
    """Unsorted long data: 1,000-point series whose rows arrive in random order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(rows)
    frame = pd.DataFrame({"id": order // 1000, "time": order % 1000, "value": rng.normal(size=rows)})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=1 << 20)
    return frame


def test_peak_memory_stays_flat_as_the_input_grows_and_rows_equal_a_whole_table_sort(tmp_path):
    measured = {}
    for rows in (2_000_000, 8_000_000):
        source, out = tmp_path / f"in-{rows}.parquet", tmp_path / f"chunks-{rows}"
        out.mkdir()
        frame = _big_input(source, rows, seed=rows)
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(source), str(out)], capture_output=True, text=True, check=True
        )
        measured[rows] = json.loads(done.stdout.strip().splitlines()[-1])
        assert measured[rows]["rows"] == rows
        if rows == 8_000_000:
            chunks = pq.read_table(out).to_pandas()  # every chunk, in chunk order
            got = chunks.sort_values("id", kind="stable")
            expected = frame.sort_values(["id", "time"], kind="stable")
            np.testing.assert_array_equal(got["id"].to_numpy(), expected["id"].to_numpy())
            np.testing.assert_array_equal(got["value"].to_numpy(), expected["value"].to_numpy())
    small, large = measured[2_000_000], measured[8_000_000]
    assert large["buckets"] >= 4 * small["buckets"]
    # 6M more rows are ~144 MB of id/time/value in memory; peak RSS may not grow by a fraction of that.
    assert large["rss_mb"] - small["rss_mb"] < 40, measured
