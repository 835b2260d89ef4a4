"""Checks of one batch's values, and the problems they find, counted over the whole input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError
from .layout import decode, is_numeric


def type_name(dtype: pa.DataType) -> str:
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


def float_values(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(float64 values with NaN for missing, mask of values that are not numbers)``."""
    array = decode(array)
    n = len(array)
    if is_numeric(array.type):
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


def nulls(array: pa.Array) -> np.ndarray:
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
class Validator:
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
            elif kind.startswith("badtime:"):
                messages.append(
                    f"sort column {column!r} holds text, which must be all timestamps or all numbers; read as "
                    f"{kind.partition(':')[2]}s, {p.count} row(s) are not, the first {p.example!r} ({p.where})"
                )
            else:
                messages.append(f"{kind} column {column!r} has {p.count} null value(s) (first in {p.where})")
        if messages:
            raise InputError("; ".join(messages))
