"""Validate an input and split it into chunks of whole ids, streaming, in bounded memory (no S3 here).

The input (:class:`~featurize_lambda.core.source.InputSource`: one file, a folder of files, or an
in-memory table) is read in record batches and never held whole:

1. **Scan and route.** Each batch is checked (columns, types, null ids, missing values), brought into
   the long layout ``id, kind, [time], value`` and its rows are routed by a hash of the id into one
   of ``B`` *buckets*, spilled to local files (Arrow IPC, lz4) in input order. ``B`` is estimated from
   the input size so that a bucket holds about :data:`BUCKET_ROWS` rows. Data problems are counted
   over the whole input and reported together, before any chunk is written.
2. **Even out.** A bucket that came out much larger than estimated is split again by a second hash;
   one that cannot be split holds a few very long series, and a series longer than one chunk may be
   (:data:`MAX_CHUNK_ROWS`) is an error that names it.
3. **Sort and cut.** Consecutive small buckets are grouped up to :data:`BUCKET_ROWS` rows; each group
   is read back, sorted by ``(id, kind, time)`` with a stable sort (the spill files keep the input's
   row order, so rows with equal id, kind and time stay in input row order: the same as sorting by
   ``(id, kind, time, row number)``), cut into chunks at id boundaries and handed to the caller's
   sink, one chunk at a time. A group's last, partial chunk is carried into the next group, so every
   chunk but the run's last has ``chunk_size`` ids (or, sized automatically, about
   :data:`TARGET_ROWS_PER_CHUNK` rows).

So peak memory is bounded by the batch size, the spill buffer, one group and one carried chunk, not
by the input; an id never spans two chunks (all its rows hash to one bucket). Within a chunk each id's
rows are contiguous and sorted by kind and time; ids are not in order across chunks (nor at a carried
chunk's seam): the reduce step sorts the output by id.
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import InputError
from .source import InputFile, InputSource, closest, table_source

#: Rows per chunk when the execution input leaves ``chunk_size`` null: large enough that the
#: per-chunk overhead (a Lambda invocation, two S3 round trips) is small, small enough that a chunk
#: computes in seconds with the full feature library.
TARGET_ROWS_PER_CHUNK = 100_000
#: Upper bound on the number of chunks of one run when chunk sizes are chosen automatically.
MAX_CHUNKS = 10_000
#: Rows of one bucket: the unit the sort step holds in memory (about 40 bytes a row, plus the sort).
BUCKET_ROWS = 1_000_000
#: At most this many buckets (open spill files) in the first pass; Lambda allows 1,024 open files.
MAX_BUCKETS = 512
#: Routed rows buffered before they are written to the spill files (a bound on the first pass's memory).
SPILL_BUFFER_ROWS = 1_000_000
#: Rows per record batch read from the input (CSV blocks are gathered into batches of about this size).
BATCH_ROWS = 262_144
#: Bytes per block read from a CSV input: pyarrow's CSV reader reads ahead a few dozen blocks, so the
#: block size bounds its memory (1 MiB blocks: ~40 MB measured).
CSV_BLOCK_BYTES = 1 << 20
#: The longest series (one id, all its kinds) a chunk may hold: what one features Lambda (1,769 MB)
#: computes comfortably. A longer one is an error naming the id.
MAX_CHUNK_ROWS = 10_000_000
#: Compression of the spill files (fast; they live for one invocation).
SPILL_COMPRESSION = "lz4"
#: How often a bucket that came out too large is split again before it counts as one giant id.
MAX_RESPLIT_LEVELS = 3
#: Typical gzip ratio of a numeric CSV, to estimate the rows of a ``.csv.gz`` from its size.
GZIP_RATIO = 4.0


@dataclass(frozen=True)
class Columns:
    """Which input columns play which role (names as given in the execution input)."""

    id: str
    sort: str | None
    value: str | None
    kind: str | None
    sort_explicit: bool = False
    value_explicit: bool = False


@dataclass(frozen=True)
class Limits:
    """Sizes that bound memory and chunk sizes; the defaults are the module constants.

    Tests shrink them to exercise several buckets, re-splits and giant ids on small data.
    """

    target_rows: int = TARGET_ROWS_PER_CHUNK
    max_chunks: int = MAX_CHUNKS
    bucket_rows: int = BUCKET_ROWS
    max_buckets: int = MAX_BUCKETS
    buffer_rows: int = SPILL_BUFFER_ROWS
    batch_rows: int = BATCH_ROWS
    max_chunk_rows: int = MAX_CHUNK_ROWS

    def __post_init__(self) -> None:
        # A series longer than a chunk may be must land in a bucket that step 2 inspects.
        if self.max_chunk_rows < 2 * self.bucket_rows:
            raise ValueError("max_chunk_rows must be at least twice bucket_rows")


@dataclass(frozen=True)
class ChunkInfo:
    """One chunk as the manifest lists it."""

    index: int
    rows: int
    ids: int


@dataclass(frozen=True)
class Partitioned:
    """What the partition step found and wrote.

    ``kinds`` is the output column order of the kinds; ``notes`` are remarks for the run summary.
    """

    kinds: list[str]
    notes: list[str]
    rows: int
    ids: int
    chunks: list[ChunkInfo]
    buckets: int
    dropped: int = 0
    spill_bytes: int = 0


@dataclass(frozen=True)
class Normalized:
    """The input as one long frame ``id, kind, value``, sorted by id, kind and time."""

    frame: pd.DataFrame
    kinds: list[str]
    notes: list[str]


#: ``sink(chunk index, table)``: receives each chunk (columns ``id``, ``kind`` (dictionary of the run's
#: kinds), ``value`` (float64); each id's rows contiguous and sorted by kind and time) as soon as it is cut.
ChunkSink = Callable[[int, pa.Table], None]


# -- column roles -------------------------------------------------------------------------------------


def _missing(name: str, what: str, available: list[str], where: str = "the input") -> InputError:
    close = closest(name, available)
    hint = f"; did you mean {close!r}?" if close else ""
    return InputError(f"{what} column {name!r} is not in {where} (columns: {available}){hint}")


def _is_numeric(dtype: pa.DataType) -> bool:
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype) or (
        pa.types.is_boolean(dtype)
    )


@dataclass(frozen=True)
class Layout:
    """The roles resolved against the input's columns.

    ``values`` are the value columns: one in long format, every numeric non-role column in wide
    format (each a kind). ``kinds`` is fixed unless a kind column names them (then None).
    """

    id: str
    sort: str | None
    kind: str | None
    values: tuple[str, ...]
    kinds: tuple[str, ...] | None
    notes: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        """The input columns read."""
        return [c for c in (self.id, self.sort, self.kind, *self.values) if c is not None]


def resolve_layout(schema: pa.Schema, columns: Columns, hive: list[str] | None = None) -> Layout:
    """Check the roles against the input's columns and decide long or wide format.

    Long format has a value column (and optionally a kind column); without one, every numeric column
    other than id, sort and kind is a kind (tsfresh's wide format). Folder-name (Hive) columns may be
    id, sort or kind, never a wide value.

    Raises
    ------
    InputError
        Naming the missing column (with the closest match) or why no value column exists.
    """
    names = list(schema.names)
    available = names + [h for h in hive or [] if h not in names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(f"the input has duplicated column name(s) {duplicated}: column names must be unique")
    if columns.id not in available:
        raise _missing(columns.id, "id", available)
    notes: list[str] = []
    sort = columns.sort
    if sort is not None and sort not in available:
        if columns.sort_explicit:
            raise _missing(sort, "sort", available)
        notes.append(f"no {sort!r} column: the row order of the input is taken as the time order")
        sort = None
    if columns.kind is not None and columns.kind not in available:
        raise _missing(columns.kind, "kind", available)
    value = columns.value
    if value is not None and value not in available:
        if columns.value_explicit:
            raise _missing(value, "value", available)
        value = None
    if columns.kind is not None and value is None:
        raise InputError(f"a kind column ({columns.kind!r}) needs a value column; none named {columns.value!r}")
    roles = [c for c in (columns.id, sort, columns.kind) if c is not None]
    if len(set(roles + ([value] if value else []))) < len(roles) + (1 if value else 0):
        raise InputError(f"the id, sort, kind and value columns must be different columns, got {roles + [value]}")
    if value is not None:
        kinds = None if columns.kind else (value,)
        return Layout(columns.id, sort, columns.kind, (value,), kinds, tuple(notes))
    wide = [n for n in names if n not in roles and _is_numeric(schema.field(n).type)]
    ignored = [n for n in names if n not in roles and n not in wide]
    if not wide:
        raise InputError(
            f"no value column {columns.value!r} and no numeric columns to use as kinds (columns: {available})"
        )
    for name in wide:
        # tsfresh refuses these kind names too: they would make feature names ambiguous.
        if name.endswith("_") or "__" in name:
            raise InputError(f"wide-format column {name!r} cannot be a kind: kind names must not contain '__' "
                             "or end with '_' (tsfresh's rule); rename it")
    if ignored:
        notes.append(f"wide format: non-numeric column(s) {ignored} ignored")
    return Layout(columns.id, sort, None, tuple(wide), tuple(wide), tuple(notes))


# -- conversion and validation of one batch ------------------------------------------------------------


def _type_name(dtype: pa.DataType) -> str:
    """A type as users know it (``int64`` and ``large_string`` are the same to them as to tsfresh)."""
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "decimal number"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "text"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return "date/time"
    return str(dtype)


def _decode(array: pa.Array) -> pa.Array:
    return array.dictionary_decode() if pa.types.is_dictionary(array.type) else array


def _float_values(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(float64 values with NaN for missing, mask of values that are not numbers)``."""
    array = _decode(array)
    n = len(array)
    if _is_numeric(array.type):
        floats = pc.cast(array, pa.float64(), safe=False)
        return floats.to_numpy(zero_copy_only=False), np.zeros(n, dtype=bool)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        try:
            floats = pc.cast(array, pa.float64())
            return floats.to_numpy(zero_copy_only=False), np.zeros(n, dtype=bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = pd.Series(array.to_numpy(zero_copy_only=False), dtype=object)
            converted = pd.to_numeric(text, errors="coerce")
            bad = (converted.isna() & text.notna()).to_numpy()
            return converted.to_numpy(dtype=np.float64, na_value=np.nan), bad
    # Dates, binary, nested types: no row is a number.
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return np.full(n, np.nan), valid


def _nulls(array: pa.Array) -> np.ndarray:
    """Mask of null (and NaN, for floating point) entries."""
    mask = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_floating(array.type):
        mask |= np.isnan(array.to_numpy(zero_copy_only=False))
    return mask


@dataclass
class _Problem:
    """A data problem counted over the whole input: how often, and where it first occurred."""

    count: int = 0
    example: Any = None
    where: str = ""


#: ``at(position in the batch) -> "row N of <file>"``.
Locator = Callable[[int], str]


@dataclass
class _Validator:
    """Counts every data problem of the input; :meth:`raise_if_any` reports them in one message."""

    problems: dict[tuple[str, str], _Problem] = field(default_factory=dict)

    def add(self, kind: str, column: str, mask: np.ndarray, at: Locator, values: pa.Array | None = None) -> None:
        """Count the rows of ``mask``; the first one is the example (its value when ``values`` is given)."""
        count = int(mask.sum())
        if count == 0:
            return
        problem = self.problems.setdefault((kind, column), _Problem())
        if problem.count == 0:
            position = int(np.flatnonzero(mask)[0])
            problem.where = at(position)
            problem.example = values[position].as_py() if values is not None else None
        problem.count += count

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self) -> None:
        """Raise one InputError naming every problem (column, count, first occurrence, example)."""
        messages = []
        for (kind, column), p in self.problems.items():
            if kind == "nonnumeric":
                messages.append(
                    f"column {column!r} must be numeric: {p.count} row(s) are not, e.g. {p.example!r} ({p.where})"
                )
            elif kind == "nan":
                messages.append(
                    f"column {column!r} has {p.count} missing value(s) (NaN or empty; first in {p.where}); "
                    'tsfresh refuses them too: clean the input, or set "drop_nan": true (CLI: --drop-nan) '
                    "to drop them"
                )
            elif kind == "badtime":
                messages.append(
                    f"sort column {column!r} must hold one type of value: {p.count} row(s) do not, "
                    f"e.g. {p.example!r} ({p.where})"
                )
            else:
                messages.append(f"{kind} column {column!r} has {p.count} null value(s) (first in {p.where})")
        if messages:
            raise InputError("; ".join(messages))


# -- reading ---------------------------------------------------------------------------------------


_CSV_COLUMN = re.compile(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+)")


@dataclass
class _Retype(Exception):
    """A CSV column whose type, inferred from the first rows, does not fit a later row."""

    column: str
    inferred: str


class GzipReader(io.RawIOBase):
    """A gzip stream's decompressed bytes, with its integrity checked.

    pyarrow's own gzip stream ends quietly at a truncated file's end, which would silently lose the
    rows after the cut. zlib checks each member's CRC and length, and this reader raises when the
    data ends before the end-of-stream marker. Concatenated members (``cat a.gz b.gz``) are read on.
    """

    def __init__(self, raw: Any, name: str) -> None:
        self._raw, self._name = raw, name
        self._inflate = zlib.decompressobj(wbits=31)
        self._input = b""
        self._pending = bytearray()
        self._done = False

    def readable(self) -> bool:
        """It is."""
        return True

    def _corrupt(self, why: str) -> InputError:
        return InputError(f"input {self._name} cannot be read as CSV: its gzip data is {why}")

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` decompressed bytes (b"" at the end)."""
        size = 1 << 20 if size is None or size < 0 else size
        while len(self._pending) < size and not self._done:
            if not self._input:
                self._input = self._raw.read(1 << 20)
                if not self._input:
                    if not self._inflate.eof:
                        raise self._corrupt("truncated (it ends before its end-of-stream marker)")
                    self._done = True
                    break
            if self._inflate.eof:  # a member ended: what follows is another member, or padding
                if not self._input.strip(b"\0"):
                    self._input = b""
                    continue
                self._inflate = zlib.decompressobj(wbits=31)
            try:
                self._pending += self._inflate.decompress(self._input, 1 << 22)
            except zlib.error as error:
                raise self._corrupt(f"corrupt ({error})") from None
            self._input = self._inflate.unused_data if self._inflate.eof else self._inflate.unconsumed_tail
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer``; the byte count."""
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


#: Messages of pyarrow's decompression errors (a corrupt or truncated ``.gz``): the input's fault.
_COMPRESSION_ERROR = re.compile(r"gzip|zlib|inflate|compress|truncated", re.IGNORECASE)


class _Reader:
    """Record batches of every file of a source, in order, with the Hive folder columns added.

    pyarrow's own streaming readers are used (``ParquetFile.iter_batches``, ``csv.open_csv``): they
    read ahead a bounded number of blocks. The dataset scanner was measured to read ahead without
    bound when its consumer is slower than the disk (peak memory grew with the input), so it is not.
    """

    def __init__(self, source: InputSource, limits: Limits, csv_types: dict[str, pa.DataType]) -> None:
        self.source = source
        self.limits = limits
        self.csv_types = csv_types

    def _unreadable(self, file: InputFile, error: Exception) -> InputError:
        what = "Parquet" if self.source.format == "parquet" else "CSV"
        text = str(error).strip().split("\n")[0]
        return InputError(f"input {self.source.name(file)} cannot be read as {what}: {text}")

    def _csv(self, file: InputFile, columns: list[str] | None = None) -> pacsv.CSVStreamingReader:
        stream = self.source.filesystem.open_input_stream(file.path, compression=None)
        if file.path.lower().endswith(".gz"):
            stream = pa.PythonFile(GzipReader(stream, self.source.name(file)), mode="r")
        convert = pacsv.ConvertOptions(
            column_types={k: v for k, v in self.csv_types.items() if columns is None or k in columns},
            include_columns=columns or [],
            strings_can_be_null=True,  # "", "NA", "NaN", "null"... are missing in text columns too, as in pandas
        )
        return pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                              convert_options=convert)

    def _parquet(self, file: InputFile) -> pq.ParquetFile:
        return pq.ParquetFile(self.source.filesystem.open_input_file(file.path), pre_buffer=False)

    def schema(self) -> pa.Schema:
        """The first file's columns (what the roles are resolved against)."""
        if self.source.tables:
            return self.source.tables[0].schema
        return self.file_schema(self.source.files[0])

    def file_schema(self, file: InputFile) -> pa.Schema:
        """One file's columns and types (a CSV's as inferred from its first block)."""
        try:
            if self.source.format == "parquet":
                return self._parquet(file).schema_arrow
            with self._csv(file) as reader:
                return reader.schema
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            raise self._unreadable(file, error) from None
        except OSError as error:
            if _COMPRESSION_ERROR.search(str(error)):
                raise self._unreadable(file, error) from None
            raise

    def rows(self, file: InputFile) -> int | None:
        """Rows of a Parquet file (from its footer), else None."""
        if self.source.format != "parquet":
            return None
        try:
            return self._parquet(file).metadata.num_rows
        except (pa.ArrowInvalid, OSError):
            return None

    def _file_batches(self, file: InputFile, columns: list[str]) -> Iterator[pa.RecordBatch]:
        if self.source.format == "parquet":
            yield from self._parquet(file).iter_batches(batch_size=self.limits.batch_rows, columns=columns)
            return
        # CSV blocks are small (bounded read-ahead); gather them into batches of about batch_rows rows.
        pending: list[pa.RecordBatch] = []
        rows = 0
        with self._csv(file, columns) as reader:
            for batch in reader:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= self.limits.batch_rows:
                    yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
                    pending, rows = [], 0
        if rows:
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]

    def batches(self, wanted: list[str]) -> Iterator[tuple[str, int, pa.RecordBatch]]:
        """``(file name, row offset in that file, batch)`` with the ``wanted`` columns, in input order."""
        if self.source.tables:
            for table in self.source.tables:
                offset = 0
                for batch in table.select(wanted).to_batches(max_chunksize=self.limits.batch_rows):
                    yield self.source.display, offset, batch
                    offset += batch.num_rows
            return
        for file in self.source.files:
            schema = self.file_schema(file)
            present = [c for c in wanted if c in schema.names]
            iterator = self._file_batches(file, present)
            offset = 0
            while True:
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
                    match = _CSV_COLUMN.search(str(error))
                    if match and self.source.format == "csv":
                        raise _Retype(schema.names[int(match.group(1))], match.group(2)) from None
                    raise self._unreadable(file, error) from None
                except OSError as error:
                    if _COMPRESSION_ERROR.search(str(error)):
                        raise self._unreadable(file, error) from None
                    raise
                for name, value in file.partition:
                    if name in wanted and name not in present:
                        batch = _with_constant(batch, name, value, self.csv_types.get(name))
                yield self.source.name(file), offset, batch.select(wanted)
                offset += batch.num_rows


def _with_constant(batch: pa.RecordBatch, name: str, value: str, dtype: pa.DataType | None) -> pa.RecordBatch:
    """Add a Hive folder column (``name=value``) to a batch: integers stay integers, the rest is text."""
    if dtype is None:
        dtype = pa.int64() if re.fullmatch(r"-?\d{1,18}", value) else pa.string()
    column = pa.array([int(value) if pa.types.is_integer(dtype) else value] * batch.num_rows, type=dtype)
    return pa.RecordBatch.from_arrays([*batch.columns, column], names=[*batch.schema.names, name])


# -- routing and spilling ------------------------------------------------------------------------------

#: Salts of the second and later hashes (re-splitting a bucket must not reuse the first hash's bits).
_SALTS = (0, 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)


def id_hashes(ids: pa.Array, level: int = 0) -> np.ndarray:
    """A stable 64-bit hash of every id (equal ids, equal hashes; independent of the batch)."""
    ids = _decode(ids)
    if pa.types.is_integer(ids.type) or pa.types.is_floating(ids.type) or pa.types.is_boolean(ids.type):
        values = ids.to_numpy(zero_copy_only=False)
        if values.dtype.kind == "f":
            values = values + 0.0  # -0.0 and 0.0 are one id
        hashes = pd.util.hash_array(values)
    else:
        encoded = pc.dictionary_encode(ids)
        uniques = encoded.dictionary.to_numpy(zero_copy_only=False)
        hashes = pd.util.hash_array(uniques, categorize=False)[encoded.indices.to_numpy(zero_copy_only=False)]
    if level:
        hashes = pd.util.hash_array(hashes ^ np.uint64(_SALTS[level]))
    return hashes


class _Spill:
    """Rows routed to buckets, buffered, then appended to one Arrow IPC file per bucket (input order kept)."""

    def __init__(self, directory: str, name: str, schema: pa.Schema, n_buckets: int, buffer_rows: int) -> None:
        self.directory = directory
        self.name = name
        self.schema = schema
        self.n_buckets = n_buckets
        self.buffer_rows = buffer_rows
        self.rows = np.zeros(n_buckets, dtype=np.int64)
        self._buffers: list[list[pa.Table]] = [[] for _ in range(n_buckets)]
        self._buffered = 0
        self._writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        self._options = pa.ipc.IpcWriteOptions(compression=SPILL_COMPRESSION)

    def path(self, bucket: int) -> str:
        """The spill file of ``bucket``."""
        return os.path.join(self.directory, f"{self.name}-{bucket:04d}.arrow")

    def add(self, table: pa.Table, buckets: np.ndarray) -> None:
        """Route each row of ``table`` to its bucket (``buckets[i]`` for row ``i``)."""
        if self.n_buckets == 1:
            self._append(0, table)
        else:
            order = np.argsort(buckets, kind="stable")  # stable: each bucket keeps the input order
            counts = np.bincount(buckets, minlength=self.n_buckets)
            taken = table.take(pa.array(order))
            start = 0
            for bucket in np.flatnonzero(counts).tolist():
                stop = start + int(counts[bucket])
                self._append(bucket, taken.slice(start, stop - start))
                start = stop
        if self._buffered >= self.buffer_rows:
            self.flush()

    def _append(self, bucket: int, table: pa.Table) -> None:
        self._buffers[bucket].append(table)
        self.rows[bucket] += table.num_rows
        self._buffered += table.num_rows

    def flush(self) -> None:
        """Write every buffered row to its bucket's file."""
        for bucket, tables in enumerate(self._buffers):
            if not tables:
                continue
            writer = self._writers.get(bucket)
            if writer is None:
                writer = pa.ipc.new_stream(self.path(bucket), self.schema, options=self._options)
                self._writers[bucket] = writer
            writer.write_table(pa.concat_tables(tables).combine_chunks())
            self._buffers[bucket] = []
        self._buffered = 0
        pa.default_memory_pool().release_unused()

    def discard(self) -> None:
        """Close and delete every file (the pass is abandoned)."""
        for writer in self._writers.values():
            writer.close()
        for bucket in self._writers:
            os.remove(self.path(bucket))
        self._writers.clear()
        self._buffers = [[] for _ in range(self.n_buckets)]

    def close(self) -> list[_Bucket]:
        """Flush and close every file; the non-empty buckets in bucket order."""
        self.flush()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        return [_Bucket(self.path(b), int(self.rows[b]), self.schema) for b in range(self.n_buckets) if self.rows[b]]


@dataclass(frozen=True)
class _Bucket:
    """One spill file: its rows are routed rows in input order."""

    path: str
    rows: int
    schema: pa.Schema
    level: int = 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        with pa.ipc.open_stream(self.path) as reader:
            yield from reader

    def read(self) -> pa.Table:
        with pa.ipc.open_stream(self.path) as reader:
            return reader.read_all()


# -- the first pass ------------------------------------------------------------------------------------


def _parse_time(text: pa.Array, target: str) -> tuple[pa.Array, np.ndarray]:
    """A CSV time column re-read as text: parse it as ``target`` ("number" or "timestamp")."""
    series = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
    if target == "number":
        parsed = pd.to_numeric(series, errors="coerce")
        bad = (parsed.isna() & series.notna()).to_numpy()
        return pa.array(parsed.to_numpy(dtype=np.float64, na_value=np.nan), type=pa.float64()), bad
    parsed = pd.to_datetime(series, errors="coerce", utc=True)
    bad = (parsed.isna() & series.notna()).to_numpy()
    return pa.array(parsed.dt.tz_localize(None).astype("datetime64[ns]")), bad


@dataclass
class _Scan:
    """State of the first pass: the layout, types fixed by the first rows, kinds seen, problems found."""

    layout: Layout
    drop_nan: bool
    time_target: str | None = None
    bucket_rows: int = BUCKET_ROWS
    validator: _Validator = field(default_factory=_Validator)
    id_type: pa.DataType | None = None
    sort_type: pa.DataType | None = None
    kind_codes: dict[str, int] = field(default_factory=dict)
    kind_rows: dict[int, int] = field(default_factory=dict)
    dropped: int = 0

    def _kinds(self, array: pa.Array, at: Locator) -> np.ndarray:
        """Codes of a kind column's values, numbered in first-seen order (renumbered at the end)."""
        array = _decode(array)
        self.validator.add("kind", self.layout.kind, _nulls(array), at)
        text = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
        encoded = pc.dictionary_encode(text)
        lookup = np.array(
            [-1 if k is None else self.kind_codes.setdefault(k, len(self.kind_codes))
             for k in encoded.dictionary.to_pylist()] or [-1],
            dtype=np.int32,
        )
        return lookup[encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)]

    def _one_type(self, values: pa.Array, attribute: str, role: str, noun: str, file: str) -> pa.Array:
        """``values`` in the type this column had in the first file (kept in ``attribute``).

        Raises
        ------
        InputError
            When a later file's values cannot be cast to it.
        """
        first = getattr(self, attribute)
        if first is None:
            setattr(self, attribute, values.type)
            return values
        if values.type == first:
            return values
        try:
            return pc.cast(values, first)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InputError(
                f"{role} column {getattr(self.layout, role)!r} holds {_type_name(first)} values in the first file "
                f"but {_type_name(values.type)} in {file}: one run needs one {noun} type"
            ) from None

    def _ids(self, ids: pa.Array, file: str, at: Locator) -> pa.Array:
        ids = self._one_type(_decode(ids), "id_type", "id", "id", file)
        self.validator.add("id", self.layout.id, _nulls(ids), at)
        return ids

    def _times(self, times: pa.Array, file: str, at: Locator) -> pa.Array:
        times = _decode(times)
        if self.time_target is not None and (pa.types.is_string(times.type) or pa.types.is_large_string(times.type)):
            text = times
            times, bad = _parse_time(text, self.time_target)
            self.validator.add("badtime", self.layout.sort, bad, at, text)
        times = self._one_type(times, "sort_type", "sort", "time", file)
        self.validator.add("sort", self.layout.sort, _nulls(times), at)
        return times

    def long(self, batch: pa.RecordBatch, file: str, offset: int) -> pa.Table | None:
        """The batch in the long layout ``id, kind, [time], value``; None once any problem was found.

        Rows of a wide batch are emitted kind by kind; within a kind, in input order.
        """
        layout = self.layout

        def at(position: int) -> str:
            return f"row {offset + position + 1} of {file}"

        ids = self._ids(batch.column(layout.id), file, at)
        times = self._times(batch.column(layout.sort), file, at) if layout.sort is not None else None
        kinds = self._kinds(batch.column(layout.kind), at) if layout.kind is not None else None
        parts = []
        for code, name in enumerate(layout.values):
            raw = batch.column(name)
            floats, bad = _float_values(raw)
            self.validator.add("nonnumeric", name, bad, at, _decode(raw))
            missing = np.isnan(floats) & ~bad
            if not self.drop_nan:
                self.validator.add("nan", name, missing, at)
            parts.append((np.full(len(floats), code, dtype=np.int32) if kinds is None else kinds, floats, missing))
        if self.validator:
            return None  # keep counting problems, stop routing rows
        tables = []
        for codes, floats, missing in parts:
            arrays = {"id": ids, "kind": pa.array(codes, type=pa.int32())}
            if times is not None:
                arrays["time"] = times
            arrays["value"] = pa.array(floats, type=pa.float64())
            table = pa.table(arrays)
            if self.drop_nan and missing.any():
                self.dropped += int(missing.sum())
                table = table.filter(pa.array(~missing))
            tables.append(table)
        long = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        counts = np.bincount(long.column("kind").to_numpy(), minlength=1) if long.num_rows else np.zeros(1)
        for code in np.flatnonzero(counts):
            self.kind_rows[int(code)] = self.kind_rows.get(int(code), 0) + int(counts[code])
        return long

    def kinds(self) -> tuple[list[str], np.ndarray]:
        """The run's kinds in output order, and the map from first-pass codes to output codes.

        A kind column's values are sorted (tsfresh's order); wide columns keep the file's order. A kind
        left without rows (every value dropped) is not a kind of the output, as in tsfresh.
        """
        if self.layout.kinds is not None:
            names = list(self.layout.kinds)
        else:
            names = [None] * len(self.kind_codes)
            for name, code in self.kind_codes.items():
                names[code] = name
        present = [code for code in range(len(names)) if self.kind_rows.get(code, 0) > 0]
        ordered = present if self.layout.kinds is not None else sorted(present, key=lambda c: names[c])
        remap = np.full(max(len(names), 1), -1, dtype=np.int32)
        remap[ordered] = np.arange(len(ordered), dtype=np.int32)
        return [names[c] for c in ordered], remap


def _estimate_rows(source: InputSource, reader: _Reader, n_values: int) -> int:
    """Rows of the long layout, from the Parquet footers or (CSV) from the input's bytes."""
    if source.tables:
        return sum(t.num_rows for t in source.tables) * n_values
    if source.format == "parquet":
        return sum(reader.rows(f) or f.size // 8 for f in source.files) * n_values
    # A numeric CSV row costs about as many bytes as its columns' printed values: ~9 each with the comma.
    bytes_per_row = max(4, 9 * len(reader.file_schema(source.files[0]).names))
    size = sum(f.size * (GZIP_RATIO if f.path.lower().endswith(".gz") else 1.0) for f in source.files)
    return int(size / bytes_per_row) * n_values


def _retype(column: str, inferred: str, layout: Layout) -> pa.DataType:
    """The type to read a CSV column as when its inferred type did not fit a later row.

    Integers widen to float (time and values), anything else is read as text: an id column then holds
    text ids; a value column's non-numbers are counted and reported; a time column's text is parsed.
    """
    if inferred in ("int64", "int32", "int16", "int8") and column != layout.id:
        return pa.float64()
    return pa.string()


def _first_pass(
    source: InputSource, columns: Columns, drop_nan: bool, limits: Limits, directory: str
) -> tuple[_Scan, list[_Bucket]]:
    """Scan the whole input once: validate it and spill its rows into hash buckets."""
    csv_types: dict[str, pa.DataType] = {}
    time_target: str | None = None
    attempt = 0
    while True:
        attempt += 1
        reader = _Reader(source, limits, csv_types)
        layout = resolve_layout(reader.schema(), columns, source.partition_columns)
        for file in source.files[1:] if not source.tables else ():
            names = reader.file_schema(file).names + [k for k, _ in file.partition]
            for name in layout.columns:
                if name not in names:
                    raise _missing(name, _role(name, layout), names, source.name(file))
        estimate = _estimate_rows(source, reader, len(layout.values))
        # More than max_buckets buckets would mean too many open files: larger buckets instead.
        bucket_rows = max(limits.bucket_rows, math.ceil(estimate / limits.max_buckets))
        n_buckets = max(1, math.ceil(estimate / bucket_rows))
        scan = _Scan(layout, drop_nan, time_target=time_target, bucket_rows=bucket_rows)
        spill: _Spill | None = None
        try:
            for file, offset, batch in reader.batches(layout.columns):
                long = scan.long(batch, file, offset)
                if long is None or long.num_rows == 0:
                    if long is None and spill is not None:
                        spill.discard()  # a problem was found: only counting goes on
                        spill = None
                    continue
                if spill is None:
                    spill = _Spill(directory, f"p{attempt}", long.schema, n_buckets, limits.buffer_rows)
                buckets = (id_hashes(long.column("id").combine_chunks()) % np.uint64(n_buckets)).astype(np.int64)
                spill.add(long, buckets)
        except BaseException as error:
            if spill is not None:
                spill.discard()
            if not isinstance(error, _Retype):
                raise
            retype = error
            if retype.column in csv_types and csv_types[retype.column] == pa.string():
                raise InputError(f"input {source.display}: column {retype.column!r} cannot be read") from None
            csv_types[retype.column] = _retype(retype.column, retype.inferred, layout)
            if retype.column == layout.sort and csv_types[retype.column] == pa.string():
                time_target = "timestamp" if retype.inferred.startswith("timestamp") else "number"
            continue
        scan.validator.raise_if_any()
        buckets = spill.close() if spill is not None else []
        return scan, buckets


def _role(name: str, layout: Layout) -> str:
    if name == layout.id:
        return "id"
    if name == layout.sort:
        return "sort"
    if name == layout.kind:
        return "kind"
    return "value"


# -- evening out ---------------------------------------------------------------------------------------


def _id_counts(bucket: _Bucket) -> list[tuple[Any, int]]:
    """Rows per id of a bucket, largest first (streamed: a bucket that cannot be split holds few ids)."""
    counts: dict[Any, int] = {}
    for batch in bucket.batches():
        tallied = pc.value_counts(batch.column("id"))
        for value, count in zip(tallied.field("values").to_pylist(), tallied.field("counts").to_pylist(), strict=True):
            counts[value] = counts.get(value, 0) + count
    return sorted(counts.items(), key=lambda item: -item[1])


def _even_out(buckets: list[_Bucket], bucket_rows: int, limits: Limits, directory: str) -> list[_Bucket]:
    """Split every bucket much larger than ``bucket_rows`` again, by a second hash.

    Raises
    ------
    InputError
        If one id has more rows than a chunk may hold.
    """
    result: list[_Bucket] = []
    pending = list(reversed(buckets))
    serial = 0
    while pending:
        bucket = pending.pop()
        if bucket.rows <= 2 * bucket_rows and bucket.rows <= limits.max_chunk_rows:
            result.append(bucket)
            continue
        if bucket.level < MAX_RESPLIT_LEVELS:
            serial += 1
            n = min(limits.max_buckets, math.ceil(bucket.rows / bucket_rows))
            spill = _Spill(directory, f"r{serial}", bucket.schema, n, limits.buffer_rows)
            for batch in bucket.batches():
                hashes = id_hashes(batch.column("id"), level=bucket.level + 1)
                spill.add(pa.Table.from_batches([batch]), (hashes % np.uint64(n)).astype(np.int64))
            parts = [replace(b, level=bucket.level + 1) for b in spill.close()]
            os.remove(bucket.path)
            if len(parts) > 1:
                pending.extend(reversed(parts))
                continue
            bucket = parts[0]
        # Every row of the bucket hashes alike at every level: it holds a few very long series.
        counts = _id_counts(bucket)
        too_long = [(value, rows) for value, rows in counts if rows > limits.max_chunk_rows]
        if too_long:
            value, rows = too_long[0]
            raise InputError(
                f"id {value!r} has {rows} rows (all kinds), more than one chunk may hold ({limits.max_chunk_rows}: "
                f"what one features Lambda computes in its memory and time); {len(too_long)} id(s) are that long. "
                "Split such series into several ids (e.g. per day)"
            )
        result.append(bucket)
    return result


# -- sort and cut ----------------------------------------------------------------------------------------


def _groups(buckets: list[_Bucket], bucket_rows: int) -> list[list[_Bucket]]:
    """Consecutive buckets together up to ``bucket_rows`` rows (a larger bucket is a group of its own)."""
    groups: list[list[_Bucket]] = []
    rows = 0
    for bucket in buckets:
        if groups and rows + bucket.rows <= bucket_rows:
            groups[-1].append(bucket)
            rows += bucket.rows
        else:
            groups.append([bucket])
            rows = bucket.rows
    return groups


def _is_sorted(frame: Any, order: list[str]) -> bool:
    """Whether ``frame`` (a pandas frame or an Arrow table) is sorted by ``order`` (O(n), saves a sort).

    Only plain numeric keys are checked; anything else (strings, categoricals) counts as unsorted.
    """
    keys = [np.asarray(frame[c].to_numpy()) for c in order]
    if len(frame) < 2 or not all(k.dtype.kind in "iuf" for k in keys):
        return len(frame) < 2
    tied = np.ones(len(frame) - 1, dtype=bool)  # rows equal on every key so far
    for key in keys:
        before, after = key[:-1], key[1:]
        if np.any(tied & (after < before)):
            return False
        tied &= after == before
    return True


def _id_starts(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Row offsets where a new id begins in a table sorted by id."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    changed = pc.not_equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    return np.concatenate([[0], np.flatnonzero(changed) + 1]).astype(np.int64)


def chunk_bounds(
    id_starts: np.ndarray, n_rows: int, chunk_size: int | None, target_rows: int, max_rows: int
) -> list[tuple[int, int, int]]:
    """``[(row_start, row_stop, ids), ...]``: the chunks of rows sorted by id; an id never spans two.

    Parameters
    ----------
    id_starts : numpy.ndarray
        Row offset where each id begins (increasing, first 0).
    n_rows : int
        Rows in all.
    chunk_size : int or None
        Ids per chunk; None: chunks of at least ``target_rows`` rows (and less than that plus one
        id's rows), the last one smaller; an id of ``target_rows`` rows or more is a chunk of its own.
    target_rows : int
        Rows per chunk when ``chunk_size`` is None.
    max_rows : int
        A chunk of several ids is cut again (at an id) before it exceeds this many rows.
    """
    n_ids = len(id_starts)
    ends = np.append(id_starts, n_rows).astype(np.int64)
    out: list[tuple[int, int, int]] = []
    if chunk_size is None:
        first = 0
        while first < n_ids:
            start = int(ends[first])
            last = int(np.searchsorted(ends, start + min(target_rows, max_rows), side="left"))
            last = min(max(last, first + 1), n_ids)
            if last - first > 1 and (ends[last] - start > max_rows or ends[last] - ends[last - 1] >= target_rows):
                last -= 1  # a long id starts a chunk of its own
            out.append((start, int(ends[last]), last - first))
            first = last
        return out
    for first in range(0, n_ids, chunk_size):
        last = min(first + chunk_size, n_ids)
        start, stop = int(ends[first]), int(ends[last])
        while stop - start > max_rows and last - first > 1:
            # Cut at the last id boundary that keeps the chunk within max_rows (at least one id).
            cut = max(first + 1, int(np.searchsorted(ends, start + max_rows, side="right")) - 1)
            out.append((start, int(ends[cut]), cut - first))
            first, start = cut, int(ends[cut])
        out.append((start, stop, last - first))
    return out


def _sorted_group(group: list[_Bucket], remap: np.ndarray, kinds: list[str]) -> pa.Table:
    """A group's rows sorted by (id, kind, time), stable; ``kind`` as a dictionary of the run's kinds."""
    table = pa.concat_tables([b.read() for b in group]) if len(group) > 1 else group[0].read()
    codes = remap[table.column("kind").to_numpy()]
    table = table.set_column(table.schema.get_field_index("kind"), "kind", pa.array(codes, type=pa.int32()))
    order = ["id"] + (["kind"] if len(kinds) > 1 else []) + (["time"] if "time" in table.column_names else [])
    if not _is_sorted(table, order):
        table = table.take(pc.sort_indices(table, sort_keys=[(c, "ascending") for c in order]))
    dictionary = pa.DictionaryArray.from_arrays(table.column("kind").combine_chunks(), pa.array(kinds, pa.string()))
    return pa.table({"id": table.column("id"), "kind": dictionary, "value": table.column("value")})


# -- the whole step --------------------------------------------------------------------------------------


def partition_source(
    source: InputSource,
    columns: Columns,
    sink: ChunkSink,
    *,
    chunk_size: int | None = None,
    drop_nan: bool = False,
    spill_dir: str | None = None,
    limits: Limits | None = None,
) -> Partitioned:
    """Validate ``source`` and hand its chunks to ``sink``, streaming, in bounded memory.

    Parameters
    ----------
    source : InputSource
        What to read (one file, a folder, or an in-memory table).
    columns : Columns
        The column roles of the execution input.
    sink : callable
        ``sink(index, table)`` for each chunk, in index order; called only after the whole input
        was validated.
    chunk_size : int, optional
        Ids per chunk; None sizes chunks by rows (:data:`TARGET_ROWS_PER_CHUNK`, at most
        :data:`MAX_CHUNKS` chunks).
    drop_nan : bool
        Drop missing values (NaN, null) instead of refusing the input.
    spill_dir : str, optional
        Where the temporary bucket files go (Lambda: ``/tmp``); they are removed on return.
    limits : Limits, optional
        Memory and size bounds (defaults: the module constants).

    Returns
    -------
    Partitioned
        Kinds, notes, counts and the chunk list.

    Raises
    ------
    InputError
        For every problem of the input, before ``sink`` is first called.
    """
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="featurize-partition-", dir=spill_dir) as directory:
        scan, buckets = _first_pass(source, columns, drop_nan, limits, directory)
        rows = sum(b.rows for b in buckets)
        if rows == 0:
            dropped = f" after dropping {scan.dropped} missing value(s)" if scan.dropped else ""
            raise InputError(f"input {source.display} has no rows{dropped}")
        n_buckets = len(buckets)
        spill_bytes = sum(os.path.getsize(b.path) for b in buckets)
        buckets = _even_out(buckets, scan.bucket_rows, limits, directory)
        kinds, remap = scan.kinds()
        groups = _groups(buckets, scan.bucket_rows)
        target_rows = max(limits.target_rows, math.ceil(rows / max(1, limits.max_chunks - len(groups))))
        chunks: list[ChunkInfo] = []
        carry: pa.Table | None = None
        for number, group in enumerate(groups):
            table = _sorted_group(group, remap, kinds)
            if carry is not None:
                # The previous group's last, partial chunk goes first: its ids are not in this group, so
                # every id's rows stay contiguous, and chunks do not shrink at group boundaries.
                table = pa.concat_tables([carry, table])
            starts = _id_starts(table.column("id"))
            bounds = chunk_bounds(starts, table.num_rows, chunk_size, target_rows, limits.max_chunk_rows)
            if number < len(groups) - 1:
                start, stop, _ = bounds.pop()
                # A copy: a slice would keep this whole group's buffers (and, through them, every
                # earlier group's) alive.
                carry = table.take(pa.array(np.arange(start, stop)))
            for start, stop, n_ids in bounds:
                index = len(chunks)
                sink(index, table.slice(start, stop - start))
                chunks.append(ChunkInfo(index, stop - start, n_ids))
            for bucket in group:
                os.remove(bucket.path)
            del table
            # The allocator keeps freed blocks for reuse; hand them back so RSS tracks what is live.
            pa.default_memory_pool().release_unused()
    notes = list(scan.layout.notes)
    if scan.dropped:
        notes.append(f"drop_nan: {scan.dropped} missing value(s) dropped")
    return Partitioned(
        kinds=kinds,
        notes=notes,
        rows=rows,
        ids=sum(c.ids for c in chunks),
        chunks=chunks,
        buckets=n_buckets,
        dropped=scan.dropped,
        spill_bytes=spill_bytes,
    )


def normalize(table: pd.DataFrame | pa.Table, columns: Columns, drop_nan: bool = False) -> Normalized:
    """Validate an in-memory table and bring it into the chunk layout (one frame, all ids).

    The same code as the streaming step (:func:`partition_source`), on a table that is already in
    memory: long frame ``id, kind, value`` sorted by id, kind and time.

    Raises
    ------
    InputError
        Naming the missing column (with the closest match), the non-numeric column, the null ids or
        the missing values.
    """
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table.rename(columns=str), preserve_index=False)
    parts: list[pa.Table] = []
    limits = Limits(bucket_rows=max(1, table.num_rows * 8), max_chunk_rows=max(2, table.num_rows * 16))
    result = partition_source(
        table_source(table), columns, lambda _, chunk: parts.append(chunk), chunk_size=None, drop_nan=drop_nan,
        limits=replace(limits, target_rows=max(1, table.num_rows * 8)),
    )
    frame = pa.concat_tables(parts).to_pandas() if parts else pd.DataFrame({"id": [], "kind": [], "value": []})
    return Normalized(frame=frame, kinds=result.kinds, notes=result.notes)
