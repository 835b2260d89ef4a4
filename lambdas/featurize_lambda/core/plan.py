r"""The split plan: an input's files cut into splits that tasks can read independently (no S3 here).

A plan is made from the listing (paths and sizes) and a few bytes of each file, never a full read:

- **Parquet**: the footer (row groups, their rows and compressed bytes). A split is a run of whole row
  groups of at most ``split_bytes`` compressed bytes (a row group larger than that is a split of its own).
- **CSV**: the first block (the header line, and the mean line length to estimate rows). A split is a
  byte range ``[start, end)`` of the file's data (after the header); the *line-ownership rule* says which
  lines it reads: **a split owns every line whose first byte lies inside its range**. Its reader starts
  at ``start - 1``, skips to the first newline (unless that byte is itself a newline, the previous line's
  end), reads the lines that start before ``end`` (the last one past ``end`` if it straddles it), and
  reads the header once per file, from the range ``[0, header_end)`` the plan records. Lines end at
  ``\n`` (a ``\r\n`` line keeps its ``\r``, which the CSV parser drops); a last line without a newline
  ends at the end of the file.

  *Limit*: a quoted field holding a newline would be cut in two by a boundary. A file whose first block
  holds a double quote is therefore one split (quotes are rare in numeric exports); a file whose first
  quote comes later than its first block, with a newline inside quotes, is read wrongly when split.
- **gzip CSV** (``.csv.gz``): one split for the whole file (a gzip stream cannot be entered in the
  middle), read by one task from start to end: its time and disk bound the largest ``.csv.gz`` a run
  can take (recompress it as several parts, or as Parquet, to parallelize it).

The plan also estimates what the partition step would do with it: buckets (:data:`BUCKET_ROWS` rows
each, at most :data:`MAX_BUCKETS`) and chunks (as :func:`estimate_chunks` cuts them, the same rule as
:func:`~featurize_lambda.core.partition.chunks.chunk_bounds`).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .formats.csv_gz import GZIP_RATIO
from .partition.limits import BUCKET_ROWS, MAX_BUCKETS, MAX_CHUNKS, TARGET_ROWS_PER_CHUNK
from .source import InputSource

#: Bytes of input per split (compressed bytes for Parquet): the unit one shuffle task reads.
SPLIT_BYTES = 128 << 20
#: Bytes read from the start of a CSV file to find its header and estimate its line length.
HEAD_BYTES = 64 << 10
#: Bytes per line assumed when a file's first block holds no complete line past the header.
DEFAULT_LINE_BYTES = 24.0
#: Bytes read per step when a split reader looks for a line's end.
_SCAN_BYTES = 64 << 10


@dataclass(frozen=True)
class Split:
    """One piece of one input file, read by one task.

    Attributes
    ----------
    file : str
        The file's path on the source's filesystem.
    kind : str
        ``"parquet"``, ``"csv"`` or ``"csv.gz"``.
    start, end : int
        CSV: the byte range whose lines the split owns (``end`` exclusive). Parquet and gzip: 0 and
        the file's size.
    row_groups : tuple of int
        Parquet: the row groups of the split, consecutive, in file order; empty otherwise.
    rows_estimate : int
        Rows of the split: exact for Parquet (from the footer), estimated from the mean line length
        of the first block for CSV.
    bytes : int
        Bytes the split reads from the file (Parquet: the row groups' compressed column chunks).
    header_end : int
        CSV: the header line's length in bytes (the reader reads ``[0, header_end)`` for the column
        names); 0 otherwise.
    """

    file: str
    kind: str
    start: int
    end: int
    row_groups: tuple[int, ...] = ()
    rows_estimate: int = 0
    bytes: int = 0
    header_end: int = 0


@dataclass(frozen=True)
class Plan:
    """Every split of an input, and what they add up to.

    Attributes
    ----------
    splits : tuple of Split
        In file order, and in order within each file.
    total_bytes : int
        Bytes of the input files (from the listing).
    total_rows_estimate : int
        Sum of the splits' ``rows_estimate``.
    buckets : int
        Hash buckets the rows would be routed to (one per :data:`BUCKET_ROWS` rows, at most
        :data:`MAX_BUCKETS`).
    chunks_estimate : int
        Chunks the partition step would cut (see :func:`estimate_chunks`).
    bytes_read : int
        Bytes the plan itself read (footers, first blocks): small next to ``total_bytes``.
    files : int
        Input files.
    """

    splits: tuple[Split, ...]
    total_bytes: int
    total_rows_estimate: int
    buckets: int
    chunks_estimate: int
    bytes_read: int = 0
    files: int = 0


def estimate_chunks(
    rows: int, ids: int | None, chunk_size: int | None = None, target_rows: int = TARGET_ROWS_PER_CHUNK
) -> int:
    """Chunks the partition step would cut ``rows`` rows of ``ids`` ids into.

    With ``chunk_size`` (ids per chunk): ``ceil(ids / chunk_size)``. Sized automatically: a chunk takes
    ids until it holds at least ``target_rows`` rows (the target grows when the run would exceed
    :data:`MAX_CHUNKS` chunks), so with ``r`` rows per id a chunk has ``ceil(target_rows / r)`` ids; an
    id of ``target_rows`` rows or more is a chunk of its own. Ids of equal length are assumed (the
    mean); with ``ids`` unknown, ``ceil(rows / target_rows)``.
    """
    if rows <= 0:
        return 0
    if chunk_size is not None:
        return max(1, math.ceil((ids if ids else rows) / chunk_size))
    target = max(target_rows, math.ceil(rows / MAX_CHUNKS))
    if not ids:
        return max(1, math.ceil(rows / target))
    per_id = rows / ids
    ids_per_chunk = max(1, math.ceil(target / per_id))
    return max(1, math.ceil(ids / ids_per_chunk))


def estimate_buckets(rows: int) -> int:
    """Buckets the partition step's first pass routes ``rows`` rows to."""
    return max(1, min(MAX_BUCKETS, math.ceil(rows / BUCKET_ROWS)))


def _read_range(filesystem: pafs.FileSystem, path: str, start: int, length: int) -> bytes:
    with filesystem.open_input_file(path) as handle:
        handle.seek(start)
        return handle.read(length)


def _parquet_splits(filesystem: pafs.FileSystem, path: str, size: int, split_bytes: int) -> list[Split]:
    with filesystem.open_input_file(path) as handle:
        metadata = pq.ParquetFile(handle, pre_buffer=False).metadata
    groups: list[tuple[int, int, int]] = []  # (index, rows, compressed bytes)
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        compressed = sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        groups.append((index, group.num_rows, compressed))
    splits: list[Split] = []
    run: list[tuple[int, int, int]] = []

    def close() -> None:
        if run:
            splits.append(Split(path, "parquet", 0, size, tuple(g[0] for g in run),
                                sum(g[1] for g in run), sum(g[2] for g in run)))
            run.clear()

    for group in groups:
        if run and sum(g[2] for g in run) + group[2] > split_bytes:
            close()
        run.append(group)
    close()
    return splits or [Split(path, "parquet", 0, size, (), 0, 0)]


def _line_bytes(head: bytes, skip_first: bool) -> float:
    """The mean length of the complete lines of ``head`` (after the header when ``skip_first``)."""
    lines = head.split(b"\n")[:-1]  # the last piece is incomplete (or empty after a final newline)
    if skip_first:
        lines = lines[1:]
    if not lines:
        return DEFAULT_LINE_BYTES
    return sum(len(line) + 1 for line in lines) / len(lines)


def _csv_splits(filesystem: pafs.FileSystem, path: str, size: int, split_bytes: int) -> tuple[list[Split], int]:
    head = _read_range(filesystem, path, 0, min(size, HEAD_BYTES))
    newline = head.find(b"\n")
    header_end = size if newline < 0 else newline + 1
    data = size - header_end
    per_line = _line_bytes(head, skip_first=True)
    # A quote in the first block: a quoted field may hold a newline, which a boundary would cut.
    pieces = 1 if b'"' in head else max(1, math.ceil(data / split_bytes))
    step = math.ceil(data / pieces) if data else 0
    splits = []
    for number in range(pieces):
        start = header_end + number * step
        end = size if number == pieces - 1 else min(size, start + step)
        if start >= end and number:
            break
        splits.append(Split(path, "csv", start, end, (), round((end - start) / per_line), end - start, header_end))
    return splits, len(head)


def _gzip_split(filesystem: pafs.FileSystem, path: str, size: int) -> tuple[Split, int]:
    head = _read_range(filesystem, path, 0, min(size, HEAD_BYTES))
    inflate = zlib.decompressobj(wbits=31)
    try:
        text = inflate.decompress(head, 16 * HEAD_BYTES)
    except zlib.error:
        text = b""  # not gzip: the partition step reports it; the plan only estimates
    per_line = _line_bytes(text, skip_first=True)
    # The uncompressed size is not known without reading the whole stream: the first block's ratio
    # (decompressed bytes per compressed byte consumed), else a typical one.
    consumed = len(head) - len(inflate.unconsumed_tail)
    ratio = len(text) / consumed if text and consumed else GZIP_RATIO
    rows = round(size * ratio / per_line)
    return Split(path, "csv.gz", 0, size, (), rows, size), len(head)


def plan_source(
    source: InputSource,
    split_bytes: int = SPLIT_BYTES,
    chunk_size: int | None = None,
    ids: int | None = None,
    target_rows: int = TARGET_ROWS_PER_CHUNK,
) -> Plan:
    """Cut ``source``'s files into splits, reading only their footers (Parquet) or first blocks (CSV).

    Parameters
    ----------
    source : InputSource
        The input's files on its filesystem (local, or S3 through :mod:`featurize_lambda.storage`).
    split_bytes : int
        Most bytes per split (a larger Parquet row group is a split of its own).
    chunk_size : int, optional
        Ids per chunk, as the execution input's ``chunk_size`` (None: sized by rows).
    ids : int, optional
        Number of ids, when known or estimated (a sample): chunks are then cut at whole ids.
    target_rows : int
        Rows per automatically sized chunk.
    """
    if split_bytes <= 0:
        raise ValueError("split_bytes must be positive")
    splits: list[Split] = []
    counted = _CountingFileSystem(source.filesystem)
    for file in source.files:
        suffix = file.format.matches(file.path) or ""
        if suffix == ".csv.gz":
            split, _ = _gzip_split(counted.fs, file.path, file.size)
            splits.append(split)
        elif suffix == ".csv":
            found, _ = _csv_splits(counted.fs, file.path, file.size, split_bytes)
            splits += found
        else:
            splits += _parquet_splits(counted.fs, file.path, file.size, split_bytes)
    rows = sum(s.rows_estimate for s in splits)
    return Plan(
        splits=tuple(splits),
        total_bytes=source.size,
        total_rows_estimate=rows,
        buckets=estimate_buckets(rows),
        chunks_estimate=estimate_chunks(rows, ids, chunk_size, target_rows),
        bytes_read=counted.handler.bytes_read,
        files=len(source.files),
    )


def csv_split_text(filesystem: pafs.FileSystem, split: Split) -> bytes:
    """The header line and every line ``split`` owns, as one CSV text (the line-ownership rule above).

    Reads the header range, then from ``start - 1`` to the end of the last owned line: about the split's
    bytes plus one line, never the whole file.
    """
    if split.kind != "csv":
        raise ValueError(f"{split.file}: only a CSV split is read by byte range")
    with filesystem.open_input_file(split.file) as handle:
        handle.seek(0)
        header = handle.read(split.header_end)
        if header and not header.endswith(b"\n"):
            header += b"\n"
        if split.start >= split.end:
            return header
        # The first owned line starts at `start` if the byte before it ends a line, else after the
        # next newline (that line started before `start`: the previous split owns it).
        handle.seek(split.start - 1)
        first = split.start
        if handle.read(1) != b"\n":
            first = _next_line(handle, split.start)
            if first >= split.end:
                return header  # no line starts inside the range
        # The last owned line is the one that starts before `end`: read on to its newline.
        handle.seek(first)
        body = handle.read(split.end - first)
        if body and not body.endswith(b"\n"):
            handle.seek(split.end)
            while True:
                more = handle.read(_SCAN_BYTES)
                if not more:
                    break
                cut = more.find(b"\n")
                if cut >= 0:
                    body += more[: cut + 1]
                    break
                body += more
        return header + body


def _next_line(handle: object, position: int) -> int:
    """The offset just after the first newline at or after ``position`` (the file's size if none)."""
    handle.seek(position)  # type: ignore[attr-defined]
    while True:
        block = handle.read(_SCAN_BYTES)  # type: ignore[attr-defined]
        if not block:
            return position
        cut = block.find(b"\n")
        if cut >= 0:
            return position + cut + 1
        position += len(block)


class _CountingHandler(pafs.FileSystemHandler):
    """A read-only pass-through filesystem that counts the bytes read through it (the plan reports them)."""

    def __init__(self, inner: pafs.FileSystem | None) -> None:
        self.inner = inner or pafs.LocalFileSystem()
        self.bytes_read = 0

    def get_type_name(self) -> str:
        """Its name."""
        return "featurize-counting"

    def normalize_path(self, path: str) -> str:
        """Paths as given."""
        return path

    def equals(self, other: object) -> bool:
        """Only itself."""
        return self is other

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        """As the inner filesystem says."""
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        """As the inner filesystem says."""
        return self.inner.get_file_info(selector)

    def open_input_file(self, path: str) -> object:
        """The inner file, its reads counted."""
        import pyarrow as pa

        return pa.PythonFile(_CountingFile(self, self.inner.open_input_file(path)), mode="r")

    def open_input_stream(self, path: str) -> object:
        """As :meth:`open_input_file`."""
        return self.open_input_file(path)

    def _read_only(self, *args: object, **kwargs: object) -> None:
        raise OSError("the plan only reads")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only


class _CountingFile:
    """A file-like view of a pyarrow NativeFile that adds what it reads to its handler's count."""

    def __init__(self, handler: _CountingHandler, inner: object) -> None:
        self._handler, self._inner = handler, inner
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(None if size is None or size < 0 else size)  # type: ignore[attr-defined]
        self._handler.bytes_read += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)  # type: ignore[attr-defined]

    def tell(self) -> int:
        return self._inner.tell()  # type: ignore[attr-defined]

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self._inner.close()  # type: ignore[attr-defined]


class _CountingFileSystem:
    """A pyarrow FileSystem over :class:`_CountingHandler`."""

    def __init__(self, inner: pafs.FileSystem | None) -> None:
        self.handler = _CountingHandler(inner)
        self.fs = pafs.PyFileSystem(self.handler)
