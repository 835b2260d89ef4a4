"""Sort and cut: buckets grouped, each group sorted by (id, kind, time) and cut into chunks at id boundaries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .spill import Bucket


def group_buckets(buckets: list[Bucket], bucket_rows: int) -> list[list[Bucket]]:
    """Consecutive buckets together up to ``bucket_rows`` rows (a larger bucket is a group of its own)."""
    groups: list[list[Bucket]] = []
    rows = 0
    for bucket in buckets:
        if groups and rows + bucket.rows <= bucket_rows:
            groups[-1].append(bucket)
            rows += bucket.rows
        else:
            groups.append([bucket])
            rows = bucket.rows
    return groups


def is_sorted(frame: Any, order: list[str]) -> bool:
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


def id_boundaries(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
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


def sorted_group(group: list[Bucket], remap: np.ndarray, kinds: list[str]) -> pa.Table:
    """A group's rows sorted by (id, kind, time), stable; ``kind`` as a dictionary of the run's kinds."""
    table = pa.concat_tables([b.read() for b in group]) if len(group) > 1 else group[0].read()
    codes = remap[table.column("kind").to_numpy()]
    table = table.set_column(table.schema.get_field_index("kind"), "kind", pa.array(codes, type=pa.int32()))
    order = ["id"] + (["kind"] if len(kinds) > 1 else []) + (["time"] if "time" in table.column_names else [])
    if not is_sorted(table, order):
        table = table.take(pc.sort_indices(table, sort_keys=[(c, "ascending") for c in order]))
    dictionary = pa.DictionaryArray.from_arrays(table.column("kind").combine_chunks(), pa.array(kinds, pa.string()))
    return pa.table({"id": table.column("id"), "kind": dictionary, "value": table.column("value")})
