"""The interface every input format implements (one class per format, one module each).

A format declares the file name endings it reads and how it reads one file of an
:class:`~featurize_lambda.core.source.InputSource`: open it on the source's pyarrow ``FileSystem`` (the
local disk, or S3 through the ranged reader of :mod:`featurize_lambda.storage`), read its schema (a
CSV's header and the types inferred from its first block) and stream its record batches. The partition
step sees only this interface; :mod:`featurize_lambda.core.formats` lists the formats.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

# pyarrow is imported where a format reads, not here: the CLI takes its suffixes from FORMATS and
# starts without pyarrow (and numpy).
if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs



class InputFormat(ABC):
    """One input format.

    Attributes
    ----------
    label : str
        How messages name the format (``"Parquet"``, ``"CSV"``). Formats with one label are one
        *family*: a folder may mix them (``.csv`` and ``.csv.gz`` parts), not two families.
    suffixes : tuple of str
        File name endings, lower case; the first is the one messages list.
    typed : bool
        Whether the file declares its column types (Parquet) or they are inferred from the first rows
        and may not fit a later row (CSV; see :meth:`misfit_column`).
    """

    label: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]
    typed: ClassVar[bool] = True

    def matches(self, name: str) -> str | None:
        """The suffix of ``name`` this format reads (case-insensitive, longest first), else None."""
        lower = name.lower()
        for suffix in sorted(self.suffixes, key=len, reverse=True):
            if lower.endswith(suffix):
                return suffix
        return None

    @abstractmethod
    def schema(
        self, filesystem: pafs.FileSystem, path: str, name: str, column_types: dict[str, pa.DataType]
    ) -> pa.Schema:
        """The file's columns and types.

        Parameters
        ----------
        filesystem : pyarrow.fs.FileSystem
            Where the file is.
        path : str
            Its path there.
        name : str
            How messages name it.
        column_types : dict
            Types to read columns as instead of the inferred ones (formats that infer types).
        """

    @abstractmethod
    def batches(
        self,
        filesystem: pafs.FileSystem,
        path: str,
        name: str,
        columns: list[str],
        batch_rows: int,
        column_types: dict[str, pa.DataType],
    ) -> Iterator[pa.RecordBatch]:
        """The file's ``columns`` in record batches of about ``batch_rows`` rows, in file order, streaming.

        Read-ahead must stay bounded (the partition step's memory bound depends on it).
        """

    def rows(self, filesystem: pafs.FileSystem, path: str, size: int) -> int | None:
        """The file's rows when they are known without reading it (a footer), else None."""
        return None

    def text_bytes(self, size: int) -> float:
        """About how many bytes of CSV-like text a file of ``size`` bytes holds (to estimate its rows)."""
        return float(size)

    def misfit_column(self, error: Exception, schema: pa.Schema) -> tuple[str, str] | None:
        """``(column, inferred type)`` when ``error`` says an inferred column type did not fit a later row."""
        return None
