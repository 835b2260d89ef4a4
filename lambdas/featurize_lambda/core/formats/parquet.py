"""Parquet input (``.parquet``, ``.pq``): column types from the file, rows from its footer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

# pyarrow is imported where a format reads, not here: the CLI takes its suffixes from FORMATS and
# starts without pyarrow (and numpy).
if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

from .base import InputFormat


class ParquetFormat(InputFormat):
    """Parquet files, read row group by row group with ``ParquetFile.iter_batches`` (bounded read-ahead)."""

    label = "Parquet"
    suffixes = (".parquet", ".pq")

    def _open(self, filesystem: pafs.FileSystem, path: str) -> pq.ParquetFile:
        import pyarrow.parquet as pq

        # Random access: the footer first, then exactly the column chunks asked for.
        return pq.ParquetFile(filesystem.open_input_file(path), pre_buffer=False)

    def schema(
        self, filesystem: pafs.FileSystem, path: str, name: str, column_types: dict[str, pa.DataType]
    ) -> pa.Schema:
        """The file's Arrow schema (from its footer)."""
        return self._open(filesystem, path).schema_arrow

    def batches(
        self,
        filesystem: pafs.FileSystem,
        path: str,
        name: str,
        columns: list[str],
        batch_rows: int,
        column_types: dict[str, pa.DataType],
    ) -> Iterator[pa.RecordBatch]:
        """Batches of ``batch_rows`` rows of ``columns``."""
        yield from self._open(filesystem, path).iter_batches(batch_size=batch_rows, columns=columns)

    def rows(self, filesystem: pafs.FileSystem, path: str, size: int) -> int | None:
        """Rows from the footer (about one per 8 bytes when it cannot be read or says none)."""
        import pyarrow as pa

        try:
            rows = self._open(filesystem, path).metadata.num_rows
        except (pa.ArrowInvalid, OSError):
            rows = 0
        return rows or size // 8
