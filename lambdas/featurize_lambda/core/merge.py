"""Merge the chunks' feature tables into one table sorted by id, block by block (no S3 here).

Hash-routed chunks interleave ids, so the output needs a sort across all chunks. Concatenating and
sorting whole frames holds the output three to four times over; here only the ids are sorted, and the
output is gathered in blocks of rows straight from the chunks' arrays: the chunks' tables plus one block.

Imputing (tsfresh's ``impute``) needs whole columns: a first pass over the chunks' arrays, one column
at a time, finds each column's max, min and median of its finite values (memory: one column more);
each block is then imputed as it is gathered.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from ..options import RunOptions

#: Values (rows x columns) of one output block: 8 MiB of float64 values.
BLOCK_VALUES = 1 << 20


@dataclass(frozen=True)
class Merged:
    """The merged table, as a schema and a stream of blocks in id order.

    Attributes
    ----------
    schema : pyarrow.Schema
        The id column (named ``column_id``) then every feature column (float64).
    ids : int
        Rows of the merged table (one per id).
    blocks : iterator of pyarrow.Table
        The rows in id order; consume once.
    """

    schema: pa.Schema
    ids: int
    blocks: Iterator[pa.Table]


def _columns(frames: Sequence[pd.DataFrame]) -> list[str]:
    """Every feature column, in order of first appearance (as ``pd.concat`` orders a union)."""
    return list(dict.fromkeys(column for frame in frames for column in frame.columns))


def _values(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The frame's values as float64, columns aligned to ``columns`` (missing ones NaN)."""
    if list(frame.columns) != columns:
        frame = frame.reindex(columns=columns)
    return frame.to_numpy(dtype=np.float64, copy=False)


def column_ranges(values: Sequence[np.ndarray], n_columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max, min and median of each column's finite values over every frame's array, one column at a time.

    tsfresh's ``get_range_values_per_column``: a column with no finite value gets 0 for all three.
    """
    ranges = np.zeros((3, n_columns))
    for j in range(n_columns):
        column = np.concatenate([v[:, j] for v in values]) if values else np.empty(0)
        finite = column[np.isfinite(column)]
        if len(finite):
            ranges[:, j] = finite.max(), finite.min(), np.median(finite)
    return ranges[0], ranges[1], ranges[2]


def impute_block(block: np.ndarray, ranges: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """tsfresh's ``impute_dataframe_range`` in place: +inf to the column max, -inf to its min, NaN to its median."""
    for replaced, per_column in zip((np.inf, -np.inf), ranges[:2], strict=True):
        rows, columns = np.nonzero(block == replaced)
        block[rows, columns] = per_column[columns]
    rows, columns = np.nonzero(np.isnan(block))
    block[rows, columns] = ranges[2][columns]


def merge_sorted(frames: Sequence[pd.DataFrame], column_id: str, impute: bool = False) -> Merged:
    """The frames (index = ids, one column per feature) as one table sorted by id (stable), in blocks.

    Equal to ``pd.concat(frames).sort_index(kind="stable").reset_index(names=column_id)``; with ``impute``,
    its feature columns imputed by tsfresh's ``impute`` (computed over the whole table).

    Raises
    ------
    ValueError
        When an id appears in two frames (the message names it).
    """
    columns = _columns(frames)
    values = [_values(frame, columns) for frame in frames]
    ids = np.concatenate([frame.index.to_numpy() for frame in frames]) if frames else np.empty(0, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    if len(ordered) > 1:
        same = ordered[1:] == ordered[:-1]
        if same.any():
            raise ValueError(f"id {ordered[1:][same][0]!r} appears in two chunks")
    id_array = pa.array(ordered)
    schema = pa.schema([pa.field(column_id, id_array.type)] + [pa.field(c, pa.float64()) for c in columns])
    offsets = np.cumsum([0] + [len(v) for v in values])
    step = max(1, BLOCK_VALUES // max(1, len(columns)))
    ranges = column_ranges(values, len(columns)) if impute else None

    def blocks() -> Iterator[pa.Table]:
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            source = np.searchsorted(offsets, rows, side="right") - 1
            block = np.empty((len(rows), len(columns)), dtype=np.float64, order="F")
            by_source = np.argsort(source, kind="stable")
            bounds = np.flatnonzero(np.diff(source[by_source])) + 1
            for positions in np.split(by_source, bounds):
                if len(positions):
                    index = source[positions[0]]
                    block[positions] = values[index][rows[positions] - offsets[index]]
            if ranges is not None:
                impute_block(block, ranges)
            # from_pandas: NaN becomes null, as pa.Table.from_pandas writes a frame
            features = [pa.array(block[:, j], from_pandas=True) for j in range(len(columns))]
            arrays = [id_array.slice(start, len(rows)), *features]
            yield pa.Table.from_arrays(arrays, schema=schema)

    return Merged(schema=schema, ids=len(order), blocks=blocks())


def merge_for(frames: Sequence[pd.DataFrame], options: RunOptions) -> Merged:
    """The merged output a run's options ask for: sorted by id (:func:`merge_sorted`), imputed if asked."""
    return merge_sorted(frames, options.column_id, impute=options.impute)


def union_columns(schemas: Sequence[pa.Schema], index: str = "id") -> list[str]:
    """Every feature column of the chunks' results (their footers' schemas), in order of first appearance.

    The order :func:`merge_sorted` gives a single-file output (``pd.concat``'s union), so both outputs of
    a run have the same columns in the same order; ``index`` (the results' id column) is left out.
    """
    return list(dict.fromkeys(name for schema in schemas for name in schema.names if name != index))


def dataset_part(result: pa.Table, column_id: str, columns: Sequence[str], id_type: pa.DataType,
                 index: str = "id") -> pa.Table:  # fmt: skip
    """One chunk's result as a dataset part: the id column (named ``column_id``) first, then ``columns``.

    A column the chunk lacks is padded with nulls (float64, as NaN reads back), so every part has one
    schema; rows are sorted by id (a chunk's ids are contiguous but may not be in order at a seam).
    Only this one table is held: Reduce's memory is bounded by a part, not by the output.
    """
    order = pc.sort_indices(result.column(index))
    n = result.num_rows
    ids = result.column(index).cast(id_type).take(order)
    arrays = [ids] + [
        result.column(c).cast(pa.float64()).take(order) if c in result.column_names else pa.nulls(n, pa.float64())
        for c in columns
    ]
    schema = pa.schema([pa.field(column_id, id_type)] + [pa.field(c, pa.float64()) for c in columns])
    return pa.Table.from_arrays(arrays, schema=schema)
