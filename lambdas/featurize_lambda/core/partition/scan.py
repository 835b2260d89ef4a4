"""The first pass: read the whole input once, validate every batch and spill its rows into hash buckets."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError
from ..source import InputSource
from .checks import Locator, Validator, float_values, nulls, type_name
from .layout import Columns, Layout, decode, missing_column, resolve_layout, role_of
from .limits import BUCKET_ROWS, Limits
from .reader import Reader, Retype, estimate_rows
from .spill import Bucket, Spill, id_hashes


def _timestamps(series: pd.Series) -> pd.Series:
    """Text parsed as UTC timestamps (NaT where a value is not one).

    pandas infers one format from the first value; values in another ISO 8601 form (a date next to a
    date and time) are parsed again as ISO 8601, so that only values that are no timestamp fail.
    """
    with warnings.catch_warnings():
        # "Could not infer format": the fallback below is the answer to it, not the user's concern.
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(series, errors="coerce", utc=True)
    retry = (parsed.isna() & series.notna()).to_numpy()
    if retry.any():
        parsed = parsed.copy()
        parsed[retry] = pd.to_datetime(series[retry], format="ISO8601", errors="coerce", utc=True)
    return parsed


def _time_target(text: pa.Array) -> str:
    """How to read a text time column: ``"number"`` or ``"timestamp"``, whichever more of its first values are.

    Ties (and a column of nulls) count as numbers.
    """
    series = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
    numbers = int(pd.to_numeric(series, errors="coerce").notna().sum())
    return "number" if numbers >= int(_timestamps(series).notna().sum()) else "timestamp"


def _parse_time(text: pa.Array, target: str) -> tuple[pa.Array, np.ndarray]:
    """A text time column parsed as ``target`` ("number" or "timestamp"); the mask of values that are not."""
    series = pd.Series(text.to_numpy(zero_copy_only=False), dtype=object)
    if target == "number":
        parsed = pd.to_numeric(series, errors="coerce")
        bad = (parsed.isna() & series.notna()).to_numpy()
        return pa.array(parsed.to_numpy(dtype=np.float64, na_value=np.nan), type=pa.float64()), bad
    parsed = _timestamps(series)
    bad = (parsed.isna() & series.notna()).to_numpy()
    return pa.array(parsed.dt.tz_localize(None).astype("datetime64[ns]")), bad


@dataclass
class Scan:
    """State of the first pass: the layout, types fixed by the first rows, kinds seen, problems found."""

    layout: Layout
    drop_nan: bool
    time_target: str | None = None
    bucket_rows: int = BUCKET_ROWS
    validator: Validator = field(default_factory=Validator)
    id_type: pa.DataType | None = None
    sort_type: pa.DataType | None = None
    kind_codes: dict[str, int] = field(default_factory=dict)
    kind_rows: dict[int, int] = field(default_factory=dict)
    dropped: int = 0

    def _kinds(self, array: pa.Array, at: Locator) -> np.ndarray:
        """Codes of a kind column's values, numbered in first-seen order (renumbered at the end)."""
        assert self.layout.kind is not None  # only a layout with a kind column reads kinds
        array = decode(array)
        self.validator.add("kind", self.layout.kind, nulls(array), at)
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
                f"{role} column {getattr(self.layout, role)!r} holds {type_name(first)} values in the first file "
                f"but {type_name(values.type)} in {file}: one run needs one {noun} type"
            ) from None

    def _ids(self, ids: pa.Array, file: str, at: Locator) -> pa.Array:
        ids = self._one_type(decode(ids), "id_type", "id", "id", file)
        self.validator.add("id", self.layout.id, nulls(ids), at)
        return ids

    def _times(self, times: pa.Array, file: str, at: Locator) -> pa.Array:
        assert self.layout.sort is not None  # only a layout with a sort column reads times
        times = decode(times)
        bad = None
        text_time = pa.types.is_string(times.type) or pa.types.is_large_string(times.type)
        # Text after a first file of another type is that file's type or an error (_one_type).
        if text_time and (self.sort_type is None or self.time_target is not None):
            # A text time column is all timestamps or all numbers (sorting it as text would order a
            # stray value anywhere, and "10" before "9"); which one is decided by the first batch.
            text = times
            if self.time_target is None:
                self.time_target = _time_target(text)
            times, bad = _parse_time(text, self.time_target)
            self.validator.add(f"badtime:{self.time_target}", self.layout.sort, bad, at, text)
        times = self._one_type(times, "sort_type", "sort", "time", file)
        missing = nulls(times)
        # A value that is not a timestamp (or number) is reported as such, not again as a null.
        self.validator.add("sort", self.layout.sort, missing if bad is None else missing & ~bad, at)
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
            floats, bad = float_values(raw)
            self.validator.add("nonnumeric", name, bad, at, decode(raw))
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
        for kind_code in np.flatnonzero(counts):
            self.kind_rows[int(kind_code)] = self.kind_rows.get(int(kind_code), 0) + int(counts[kind_code])
        return long

    def kinds(self) -> tuple[list[str], np.ndarray]:
        """The run's kinds in output order, and the map from first-pass codes to output codes.

        A kind column's values are sorted (tsfresh's order); wide columns keep the file's order. A kind
        left without rows (every value dropped) is not a kind of the output, as in tsfresh.
        """
        if self.layout.kinds is not None:
            names = list(self.layout.kinds)
        else:
            names = [""] * len(self.kind_codes)  # every code 0..n-1 is filled below
            for name, code in self.kind_codes.items():
                names[code] = name
        present = [code for code in range(len(names)) if self.kind_rows.get(code, 0) > 0]
        ordered = present if self.layout.kinds is not None else sorted(present, key=lambda c: names[c])
        remap = np.full(max(len(names), 1), -1, dtype=np.int32)
        remap[ordered] = np.arange(len(ordered), dtype=np.int32)
        return [names[c] for c in ordered], remap


def _retype(column: str, inferred: str, layout: Layout) -> pa.DataType:
    """The type to read a CSV column as when its inferred type did not fit a later row.

    Integers widen to float (time and values), anything else is read as text: an id column then holds
    text ids; a value column's non-numbers are counted and reported; a time column's text is parsed.
    """
    if inferred in ("int64", "int32", "int16", "int8") and column != layout.id:
        return pa.float64()
    return pa.string()


def first_pass(
    source: InputSource, columns: Columns, drop_nan: bool, limits: Limits, directory: str
) -> tuple[Scan, list[Bucket]]:
    """Scan the whole input once: validate it and spill its rows into hash buckets."""
    column_types: dict[str, pa.DataType] = {}
    time_target: str | None = None
    attempt = 0
    while True:
        attempt += 1
        reader = Reader(source, limits, column_types)
        layout = resolve_layout(reader.schema(), columns, source.partition_columns)
        for file in source.files[1:] if not source.tables else ():
            names = reader.file_schema(file).names + [k for k, _ in file.partition]
            for name in layout.columns:
                if name not in names:
                    raise missing_column(name, role_of(name, layout), names, source.name(file))
        estimate = estimate_rows(source, reader, len(layout.values))
        # More than max_buckets buckets would mean too many open files: larger buckets instead.
        bucket_rows = max(limits.bucket_rows, math.ceil(estimate / limits.max_buckets))
        n_buckets = max(1, math.ceil(estimate / bucket_rows))
        scan = Scan(layout, drop_nan, time_target=time_target, bucket_rows=bucket_rows)
        spill: Spill | None = None
        try:
            for file_name, offset, batch in reader.batches(layout.columns):
                long = scan.long(batch, file_name, offset)
                if long is None or long.num_rows == 0:
                    if long is None and spill is not None:
                        spill.discard()  # a problem was found: only counting goes on
                        spill = None
                    continue
                if spill is None:
                    spill = Spill(directory, f"p{attempt}", long.schema, n_buckets, limits.buffer_rows)
                row_buckets = (id_hashes(long.column("id").combine_chunks()) % np.uint64(n_buckets)).astype(np.int64)
                spill.add(long, row_buckets)
        except BaseException as error:
            if spill is not None:
                spill.discard()
            if not isinstance(error, Retype):
                raise
            retype = error
            if retype.column in column_types and column_types[retype.column] == pa.string():
                raise InputError(f"input {source.display}: column {retype.column!r} cannot be read") from None
            column_types[retype.column] = _retype(retype.column, retype.inferred, layout)
            if retype.column == layout.sort and column_types[retype.column] == pa.string():
                time_target = "timestamp" if retype.inferred.startswith("timestamp") else "number"
            continue
        scan.validator.raise_if_any()
        buckets = spill.close() if spill is not None else []
        return scan, buckets
