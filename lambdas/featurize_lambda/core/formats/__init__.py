"""The input formats: one class per format in its own module, and the one list they are found in.

Everything that accepts or names input files derives from :data:`FORMATS`: which files of a folder
are data (:mod:`featurize_lambda.core.source`), how the partition step reads them, the messages that
list the known endings, and the CLI's accepted suffixes. Adding a format is a new module with an
:class:`~featurize_lambda.core.formats.base.InputFormat` subclass and one line in :data:`FORMATS`.
"""

from __future__ import annotations

from .base import InputFormat
from .csv import CsvFormat
from .csv_gz import GzipCsvFormat
from .parquet import ParquetFormat

#: Every input format, in the order messages list them.
FORMATS: tuple[InputFormat, ...] = (ParquetFormat(), CsvFormat(), GzipCsvFormat())

__all__ = ["FORMATS", "InputFormat", "format_of", "input_suffixes", "labels", "named_suffixes"]


def format_of(name: str) -> InputFormat | None:
    """The format a file name's ending names (case-insensitive; the longest ending wins), else None."""
    best: tuple[int, InputFormat] | None = None
    for candidate in FORMATS:
        suffix = candidate.matches(name)
        if suffix is not None and (best is None or len(suffix) > best[0]):
            best = (len(suffix), candidate)
    return best[1] if best else None


def input_suffixes() -> tuple[str, ...]:
    """Every accepted file name ending (``.parquet``, ``.pq``, ``.csv``, ``.csv.gz``)."""
    return tuple(suffix for candidate in FORMATS for suffix in candidate.suffixes)


def labels() -> list[str]:
    """The format families' labels (``Parquet``, ``CSV``), in the order of :data:`FORMATS`."""
    return list(dict.fromkeys(candidate.label for candidate in FORMATS))


def named_suffixes() -> str:
    """The main ending of each format, as messages list them: ``.parquet, .csv or .csv.gz``."""
    names = [candidate.suffixes[0] for candidate in FORMATS]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
