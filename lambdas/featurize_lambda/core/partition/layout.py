"""Column roles: which input columns are the id, time, kind and value, long or wide format."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from ...errors import InputError
from ..source import closest


@dataclass(frozen=True)
class Columns:
    """Which input columns play which role (names as given in the execution input)."""

    id: str
    sort: str | None
    value: str | None
    kind: str | None
    sort_explicit: bool = False
    value_explicit: bool = False


#: The execution-input field that names each role's column (messages name it; the CLI shows its flag).
ROLE_FIELDS = {"id": "column_id", "sort": "column_sort", "kind": "column_kind", "value": "column_value"}


def missing_column(name: str, what: str, available: list[str], where: str = "the input") -> InputError:
    """The error for a role column not in the input, with the closest column name as a hint and its field."""
    close = closest(name, available)
    hint = f"; did you mean {close!r}?" if close else ""
    field = f" ({ROLE_FIELDS[what]})" if what in ROLE_FIELDS else ""
    return InputError(f"{what} column {name!r} is not in {where} (columns: {available}){hint}{field}")


def is_numeric(dtype: pa.DataType) -> bool:
    """Whether values of ``dtype`` are numbers (integers, floats, decimals, booleans; also dictionary-encoded)."""
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
        raise missing_column(columns.id, "id", available)
    notes: list[str] = []
    sort = columns.sort
    if sort is not None and sort not in available:
        if columns.sort_explicit:
            raise missing_column(sort, "sort", available)
        notes.append(f"no {sort!r} column: the row order of the input is taken as the time order")
        sort = None
    if columns.kind is not None and columns.kind not in available:
        raise missing_column(columns.kind, "kind", available)
    value = columns.value
    if value is not None and value not in available:
        if columns.value_explicit:
            raise missing_column(value, "value", available)
        value = None
    if columns.kind is not None and value is None:
        raise InputError(f"a kind column ({columns.kind!r}) needs a value column; none named {columns.value!r}")
    roles = [c for c in (columns.id, sort, columns.kind) if c is not None]
    if len(set(roles + ([value] if value else []))) < len(roles) + (1 if value else 0):
        raise InputError(f"the id, sort, kind and value columns must be different columns, got {roles + [value]}")
    if value is not None:
        kinds = None if columns.kind else (value,)
        return Layout(columns.id, sort, columns.kind, (value,), kinds, tuple(notes))
    wide = [n for n in names if n not in roles and is_numeric(schema.field(n).type)]
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


def decode(array: pa.Array) -> pa.Array:
    """A dictionary-encoded array as plain values (others unchanged)."""
    return array.dictionary_decode() if pa.types.is_dictionary(array.type) else array


def role_of(name: str, layout: Layout) -> str:
    """The role (``id``, ``sort``, ``kind`` or ``value``) column ``name`` plays."""
    if name == layout.id:
        return "id"
    if name == layout.sort:
        return "sort"
    if name == layout.kind:
        return "kind"
    return "value"
