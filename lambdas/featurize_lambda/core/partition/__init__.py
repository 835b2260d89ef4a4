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

The steps live in one module each: :mod:`.layout` (column roles), :mod:`.reader` (batches of the
source's files through their :mod:`~featurize_lambda.core.formats`), :mod:`.checks` (per-batch
validation), :mod:`.scan` (the first pass), :mod:`.spill` (buckets, spill files, evening out),
:mod:`.chunks` (sort and cut) and :mod:`.limits` (the sizes); this module runs them in order.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from ...errors import InputError
from ..source import InputSource, table_source
from .chunks import chunk_bounds, group_buckets, id_boundaries, sorted_group
from .layout import Columns, Layout, resolve_layout
from .limits import (
    BATCH_ROWS,
    BUCKET_ROWS,
    MAX_BUCKETS,
    MAX_CHUNK_ROWS,
    MAX_CHUNKS,
    MAX_RESPLIT_LEVELS,
    SPILL_BUFFER_ROWS,
    SPILL_COMPRESSION,
    TARGET_ROWS_PER_CHUNK,
    Limits,
)
from .scan import first_pass
from .spill import even_out, id_hashes

__all__ = [
    "BATCH_ROWS", "BUCKET_ROWS", "MAX_BUCKETS", "MAX_CHUNKS", "MAX_CHUNK_ROWS", "MAX_RESPLIT_LEVELS",
    "SPILL_BUFFER_ROWS", "SPILL_COMPRESSION", "TARGET_ROWS_PER_CHUNK", "ChunkInfo", "ChunkSink", "Columns",
    "Layout", "Limits", "Normalized", "Partitioned", "chunk_bounds", "id_hashes", "normalize",
    "partition_source", "resolve_layout",
]


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
        scan, buckets = first_pass(source, columns, drop_nan, limits, directory)
        rows = sum(b.rows for b in buckets)
        if rows == 0:
            dropped = f" after dropping {scan.dropped} missing value(s)" if scan.dropped else ""
            raise InputError(f"input {source.display} has no rows{dropped}")
        n_buckets = len(buckets)
        spill_bytes = sum(os.path.getsize(b.path) for b in buckets)
        buckets = even_out(buckets, scan.bucket_rows, limits, directory)
        kinds, remap = scan.kinds()
        groups = group_buckets(buckets, scan.bucket_rows)
        target_rows = max(limits.target_rows, math.ceil(rows / max(1, limits.max_chunks - len(groups))))
        chunks: list[ChunkInfo] = []
        carry: pa.Table | None = None
        for number, group in enumerate(groups):
            table = sorted_group(group, remap, kinds)
            if carry is not None:
                # The previous group's last, partial chunk goes first: its ids are not in this group, so
                # every id's rows stay contiguous, and chunks do not shrink at group boundaries.
                table = pa.concat_tables([carry, table])
            starts = id_boundaries(table.column("id"))
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
