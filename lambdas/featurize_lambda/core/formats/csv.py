"""CSV input (``.csv``): a header row, column types inferred from the first block, streamed in blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

# pyarrow is imported where a format reads, not here: the CLI takes its suffixes from FORMATS and
# starts without pyarrow (and numpy).
if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.fs as pafs

from .base import InputFormat

#: Bytes per block read from a CSV input: pyarrow's CSV reader reads ahead a few dozen blocks, so the
#: block size bounds its memory (1 MiB blocks: ~40 MB measured).
CSV_BLOCK_BYTES = 1 << 20

#: pyarrow's message when a later row does not fit a column's type as inferred from the first block.
_MISFIT = re.compile(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+)")


class CsvFormat(InputFormat):
    """Comma-separated text with a header row, read with pyarrow's streaming ``csv.open_csv``."""

    label = "CSV"
    suffixes = (".csv",)
    typed = False

    def open_stream(self, filesystem: pafs.FileSystem, path: str, name: str) -> pa.NativeFile:
        """The file's bytes, read sequentially (on S3: large ranged GETs, block by block)."""
        return filesystem.open_input_stream(path, compression=None)

    def _reader(
        self,
        filesystem: pafs.FileSystem,
        path: str,
        name: str,
        column_types: dict[str, pa.DataType],
        columns: list[str] | None = None,
    ) -> pacsv.CSVStreamingReader:
        import pyarrow.csv as pacsv

        convert = pacsv.ConvertOptions(
            column_types={k: v for k, v in column_types.items() if columns is None or k in columns},
            include_columns=columns or [],
            strings_can_be_null=True,  # "", "NA", "NaN", "null"... are missing in text columns too, as in pandas
        )
        return pacsv.open_csv(self.open_stream(filesystem, path, name),
                              read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES), convert_options=convert)

    def schema(
        self, filesystem: pafs.FileSystem, path: str, name: str, column_types: dict[str, pa.DataType]
    ) -> pa.Schema:
        """The header's columns, typed as inferred from the first block (or as ``column_types`` says)."""
        with self._reader(filesystem, path, name, column_types) as reader:
            return reader.schema

    def batches(
        self,
        filesystem: pafs.FileSystem,
        path: str,
        name: str,
        columns: list[str],
        batch_rows: int,
        column_types: dict[str, pa.DataType],
    ) -> Iterator[pa.RecordBatch]:
        """Blocks gathered into batches of about ``batch_rows`` rows (CSV blocks are small)."""
        import pyarrow as pa

        pending: list[pa.RecordBatch] = []
        rows = 0
        with self._reader(filesystem, path, name, column_types, columns) as reader:
            for batch in reader:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= batch_rows:
                    yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
                    pending, rows = [], 0
        if rows:
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]

    def misfit_column(self, error: Exception, schema: pa.Schema) -> tuple[str, str] | None:
        """The column (and its inferred type) that a later row's value did not fit."""
        match = _MISFIT.search(str(error))
        return (schema.names[int(match.group(1))], match.group(2)) if match else None
