"""Routing rows to hash buckets, the spill files that hold them, and evening out buckets that came out too large."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError
from .layout import decode
from .limits import MAX_RESPLIT_LEVELS, SPILL_COMPRESSION, Limits

#: Salts of the second and later hashes (re-splitting a bucket must not reuse the first hash's bits).
_SALTS = (0, 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9)


def id_hashes(ids: pa.Array, level: int = 0) -> np.ndarray:
    """A stable 64-bit hash of every id (equal ids, equal hashes; independent of the batch)."""
    ids = decode(ids)
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


class Spill:
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

    def close(self) -> list[Bucket]:
        """Flush and close every file; the non-empty buckets in bucket order."""
        self.flush()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        return [Bucket(self.path(b), int(self.rows[b]), self.schema) for b in range(self.n_buckets) if self.rows[b]]


@dataclass(frozen=True)
class Bucket:
    """One spill file: its rows are routed rows in input order."""

    path: str
    rows: int
    schema: pa.Schema
    level: int = 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows, batch by batch as they were written."""
        with pa.ipc.open_stream(self.path) as reader:
            yield from reader

    def read(self) -> pa.Table:
        """All rows."""
        with pa.ipc.open_stream(self.path) as reader:
            return reader.read_all()


def _id_counts(bucket: Bucket) -> list[tuple[Any, int]]:
    """Rows per id of a bucket, largest first (streamed: a bucket that cannot be split holds few ids)."""
    counts: dict[Any, int] = {}
    for batch in bucket.batches():
        tallied = pc.value_counts(batch.column("id"))
        for value, count in zip(tallied.field("values").to_pylist(), tallied.field("counts").to_pylist(), strict=True):
            counts[value] = counts.get(value, 0) + count
    return sorted(counts.items(), key=lambda item: -item[1])


def even_out(buckets: list[Bucket], bucket_rows: int, limits: Limits, directory: str) -> list[Bucket]:
    """Split every bucket much larger than ``bucket_rows`` again, by a second hash.

    Raises
    ------
    InputError
        If one id has more rows than a chunk may hold.
    """
    result: list[Bucket] = []
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
            spill = Spill(directory, f"r{serial}", bucket.schema, n, limits.buffer_rows)
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
