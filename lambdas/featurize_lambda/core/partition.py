"""Validate an input table and split it into chunks of whole ids (pure: no I/O)."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError

#: Rows per chunk when the execution input leaves ``chunk_size`` null: large enough that the
#: per-chunk overhead (a Lambda invocation, two S3 round trips) is small, small enough that a chunk
#: computes in seconds with the full feature library.
TARGET_ROWS_PER_CHUNK = 100_000
#: Upper bound on the number of chunks of one run (Map items).
MAX_CHUNKS = 10_000


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
class Normalized:
    """The input as one long frame ``id, kind, value``, sorted by id, kind and time.

    ``kinds`` is the output column order of the kinds; ``notes`` are remarks for the run summary.
    """

    frame: pd.DataFrame
    kinds: list[str]
    notes: list[str]


def _missing(name: str, what: str, available: list[str]) -> InputError:
    close = difflib.get_close_matches(name, available, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return InputError(f"{what} column {name!r} is not in the input (columns: {available}){hint}")


def _as_float(values: pd.Series, column: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        example = values[bad].iloc[0]
        raise InputError(f"column {column!r} must be numeric: {int(bad.sum())} row(s) are not, e.g. {example!r}")
    return converted.to_numpy(dtype=np.float64, na_value=np.nan)


def _is_sorted(frame: pd.DataFrame, order: list[str]) -> bool:
    """Whether ``frame`` is already sorted lexicographically by ``order`` (an O(n) check that saves a sort).

    Only plain numeric keys are checked; anything else (strings, categoricals) is sorted.
    """
    keys = [frame[c].to_numpy() for c in order]
    if len(frame) < 2 or not all(k.dtype.kind in "iuf" for k in keys):
        return len(frame) < 2
    tied = np.ones(len(frame) - 1, dtype=bool)  # rows equal on every key so far
    for key in keys:
        before, after = key[:-1], key[1:]
        if np.any(tied & (after < before)):
            return False
        tied &= after == before
    return True


def normalize(table: pd.DataFrame, columns: Columns) -> Normalized:
    """Check the input's columns and types and bring it into the chunk layout.

    Long format has a value column (and optionally a kind column); without one, every numeric column
    other than id, sort and kind is a kind (tsfresh's wide format).

    Raises
    ------
    InputError
        Naming the missing column (with the closest match), the non-numeric column, or the null ids.
    """
    available = [str(c) for c in table.columns]
    if columns.id not in table.columns:
        raise _missing(columns.id, "id", available)
    notes: list[str] = []
    sort = columns.sort
    if sort is not None and sort not in table.columns:
        if columns.sort_explicit:
            raise _missing(sort, "sort", available)
        notes.append(f"no {sort!r} column: the row order of the input is taken as the time order")
        sort = None
    if columns.kind is not None and columns.kind not in table.columns:
        raise _missing(columns.kind, "kind", available)
    value = columns.value
    if value is not None and value not in table.columns:
        if columns.value_explicit:
            raise _missing(value, "value", available)
        value = None
    if columns.kind is not None and value is None:
        raise InputError(f"a kind column ({columns.kind!r}) needs a value column; none named {columns.value!r}")

    ids = table[columns.id]
    if ids.isna().any():
        raise InputError(f"id column {columns.id!r} has {int(ids.isna().sum())} null value(s)")
    roles = {columns.id, sort, columns.kind}
    # Kinds are categoricals: stored dictionary-encoded in the chunks, compared as integer codes.
    if value is not None:
        if columns.kind:
            kind = pd.Categorical(table[columns.kind].astype(str))
            kinds = [str(k) for k in kind.categories]
        else:
            kinds = [value]
            kind = pd.Categorical.from_codes(np.zeros(len(table), dtype=np.int8), categories=kinds)
        long = pd.DataFrame({"id": ids.to_numpy(), "kind": kind, "value": _as_float(table[value], value)})
        if sort is not None:
            long["_sort"] = table[sort].to_numpy()
    else:
        wide = [c for c in table.columns if c not in roles and pd.api.types.is_numeric_dtype(table[c])]
        ignored = [str(c) for c in table.columns if c not in roles and c not in wide]
        if not wide:
            raise InputError(
                f"no value column {columns.value!r} and no numeric columns to use as kinds (columns: {available})"
            )
        if ignored:
            notes.append(f"wide format: non-numeric column(s) {ignored} ignored")
        kinds = [str(c) for c in wide]
        n = len(table)
        codes = np.repeat(np.arange(len(wide), dtype=np.int32), n)
        long = pd.DataFrame(
            {
                "id": np.tile(ids.to_numpy(), len(wide)),
                "kind": pd.Categorical.from_codes(codes, categories=kinds),
                "value": np.concatenate([_as_float(table[c], str(c)) for c in wide]),
            }
        )
        if sort is not None:
            long["_sort"] = np.tile(table[sort].to_numpy(), len(wide))
    order = ["id"] + (["kind"] if len(kinds) > 1 else []) + (["_sort"] if sort is not None else [])
    if not _is_sorted(long, order):
        long = long.sort_values(order, kind="stable", ignore_index=True)
    return Normalized(frame=long[["id", "kind", "value"]], kinds=kinds, notes=notes)


def chunk_bounds(ids: np.ndarray, chunk_size: int | None) -> tuple[list[tuple[int, int]], int, int]:
    """Row ranges of the chunks of a sorted id array; an id never spans two chunks.

    Parameters
    ----------
    ids : numpy.ndarray
        The id of every row, each id's rows contiguous.
    chunk_size : int or None
        Ids per chunk; None chooses it from the row count (:data:`TARGET_ROWS_PER_CHUNK`).

    Returns
    -------
    tuple
        ``([(row_start, row_stop), ...], ids_per_chunk, n_ids)``.
    """
    n_rows = len(ids)
    if n_rows == 0:
        return [], chunk_size or 1, 0
    new_id = np.ones(n_rows, dtype=bool)
    new_id[1:] = ids[1:] != ids[:-1]
    id_starts = np.flatnonzero(new_id)
    n_ids = len(id_starts)
    if chunk_size is None:
        n_chunks = min(max(1, math.ceil(n_rows / TARGET_ROWS_PER_CHUNK)), MAX_CHUNKS, n_ids)
        chunk_size = math.ceil(n_ids / n_chunks)
    starts = id_starts[::chunk_size]
    stops = np.append(starts[1:], n_rows)
    return list(zip(starts.tolist(), stops.tolist(), strict=True)), chunk_size, n_ids
