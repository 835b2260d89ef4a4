"""Record batches of a whole source, file after file, through each file's input format.

The format classes (:mod:`featurize_lambda.core.formats`) know how to open and stream one file; this
reader strings a source's files together, adds the Hive folder columns, names the file and row of
every batch, and turns a reader's failure into the user's error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from ...errors import InputError
from ..source import InputFile, InputSource
from .limits import Limits


@dataclass
class Retype(Exception):
    """A column whose type, inferred from the first rows (CSV), does not fit a later row."""

    column: str
    inferred: str


#: Messages of pyarrow's decompression errors (a corrupt or truncated ``.gz``): the input's fault.
_COMPRESSION_ERROR = re.compile(r"gzip|zlib|inflate|compress|truncated", re.IGNORECASE)
#: What a reader raises when the file's bytes are not what its format says.
_READ_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


class Reader:
    """Record batches of every file of a source, in order, with the Hive folder columns added.

    pyarrow's own streaming readers are used (``ParquetFile.iter_batches``, ``csv.open_csv``): they
    read ahead a bounded number of blocks. The dataset scanner was measured to read ahead without
    bound when its consumer is slower than the disk (peak memory grew with the input), so it is not.

    Parameters
    ----------
    source : InputSource
        What to read.
    limits : Limits
        ``batch_rows`` is the batch size.
    column_types : dict
        Types to read columns as, for formats that infer them (a CSV column retyped after
        :class:`Retype`).
    """

    def __init__(self, source: InputSource, limits: Limits, column_types: dict[str, pa.DataType]) -> None:
        self.source = source
        self.limits = limits
        self.column_types = column_types

    def _unreadable(self, file: InputFile, error: Exception) -> InputError:
        text = str(error).strip().split("\n")[0]
        return InputError(f"input {self.source.name(file)} cannot be read as {file.format.label}: {text}")

    def schema(self) -> pa.Schema:
        """The first file's columns (what the roles are resolved against)."""
        if self.source.tables:
            return self.source.tables[0].schema
        return self.file_schema(self.source.files[0])

    def file_schema(self, file: InputFile) -> pa.Schema:
        """One file's columns and types (a CSV's as inferred from its first block)."""
        try:
            return file.format.schema(self.source.filesystem, file.path, self.source.name(file), self.column_types)
        except _READ_ERRORS as error:
            raise self._unreadable(file, error) from None
        except OSError as error:
            if _COMPRESSION_ERROR.search(str(error)):
                raise self._unreadable(file, error) from None
            raise

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
            name = self.source.name(file)
            iterator = file.format.batches(
                self.source.filesystem, file.path, name, present, self.limits.batch_rows, self.column_types
            )
            offset = 0
            while True:
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                except _READ_ERRORS as error:
                    misfit = file.format.misfit_column(error, schema)
                    if misfit is not None:
                        raise Retype(*misfit) from None
                    raise self._unreadable(file, error) from None
                except OSError as error:
                    if _COMPRESSION_ERROR.search(str(error)):
                        raise self._unreadable(file, error) from None
                    raise
                for column, value in file.partition:
                    if column in wanted and column not in present:
                        batch = _with_constant(batch, column, value, self.column_types.get(column))
                yield name, offset, batch.select(wanted)
                offset += batch.num_rows


def _with_constant(batch: pa.RecordBatch, name: str, value: str, dtype: pa.DataType | None) -> pa.RecordBatch:
    """Add a Hive folder column (``name=value``) to a batch: integers stay integers, the rest is text."""
    if dtype is None:
        dtype = pa.int64() if re.fullmatch(r"-?\d{1,18}", value) else pa.string()
    column = pa.array([int(value) if pa.types.is_integer(dtype) else value] * batch.num_rows, type=dtype)
    return pa.RecordBatch.from_arrays([*batch.columns, column], names=[*batch.schema.names, name])


def estimate_rows(source: InputSource, reader: Reader, n_values: int) -> int:
    """Rows of the long layout: from the files' own row counts (Parquet footers), else from their bytes."""
    if source.tables:
        return sum(t.num_rows for t in source.tables) * n_values
    counted = [f.format.rows(source.filesystem, f.path, f.size) for f in source.files]
    if all(rows is not None for rows in counted):
        return sum(rows for rows in counted if rows is not None) * n_values
    # A numeric CSV row costs about as many bytes as its columns' printed values: ~9 each with the comma.
    bytes_per_row = max(4, 9 * len(reader.file_schema(source.files[0]).names))
    size = sum(f.format.text_bytes(f.size) for f in source.files)
    return int(size / bytes_per_row) * n_values
