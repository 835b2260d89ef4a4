"""What a run reads: one file, or every data file of a folder/prefix, on any pyarrow FileSystem.

The partition step streams its input through :mod:`featurize_lambda.core.partition`, which sees only
an :class:`InputSource`: a pyarrow ``FileSystem`` (S3 in the Lambda, the local disk in tests and
benchmarks) and the files to read in order. This module decides which files of a folder are data
(by name, through the formats of :mod:`featurize_lambda.core.formats`), checks that they share one
format, and reads folder names written Hive-style (``kind=temperature/part-0.parquet``) as extra columns.
"""

from __future__ import annotations

import difflib
import posixpath
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs

from ..errors import InputError
from .formats import InputFormat, format_of, labels, named_suffixes

#: Names a folder may hold besides its data files: hidden files and Spark/Hadoop markers
#: (``_SUCCESS``, ``.part-0.crc``, ``_common_metadata``), as pyarrow datasets ignore them too.
IGNORED_PREFIXES = (".", "_")


@dataclass(frozen=True)
class InputFile:
    """One file of the input.

    Parameters
    ----------
    path : str
        The path on the source's filesystem (``bucket/key`` on S3).
    size : int
        Size in bytes (known from the listing: no extra request per file).
    partition : tuple of (str, str)
        Hive-style ``name=value`` folder names between the source's root and the file.
    """

    path: str
    size: int
    partition: tuple[tuple[str, str], ...] = ()

    @property
    def format(self) -> InputFormat:
        """The format its name's ending names (a source holds only files of a known format)."""
        found = format_of(self.path)
        if found is None:
            raise ValueError(f"{self.path}: not a file of a known input format")
        return found


@dataclass(frozen=True)
class InputSource:
    """Every file of one input, in the order their rows count as the input's row order.

    Parameters
    ----------
    filesystem : pyarrow.fs.FileSystem
        Where the files are.
    files : tuple of InputFile
        Data files in path order (their rows are concatenated in this order).
    format : str
        The format family in lower case, ``"parquet"`` or ``"csv"`` (a ``.csv.gz`` file is a CSV), or
        ``"table"``; each file's own format is :attr:`InputFile.format`.
    display : str
        How to name the input in messages (``s3://bucket/prefix/`` or a local path).
    tables : tuple of pyarrow.Table
        In-memory input instead of files (:func:`table_source`); ``filesystem`` is then None.
    """

    filesystem: pafs.FileSystem | None
    files: tuple[InputFile, ...]
    format: str
    display: str
    tables: tuple[pa.Table, ...] = field(default=())

    @property
    def size(self) -> int:
        """Total bytes of the input files."""
        return sum(f.size for f in self.files)

    def name(self, file: InputFile) -> str:
        """How to name one file in messages."""
        if self.display.startswith("s3://"):
            return f"s3://{file.path}"
        return file.path

    @property
    def partition_columns(self) -> list[str]:
        """Names of the Hive-style folder columns, in order of first appearance."""
        names: list[str] = []
        for file in self.files:
            names += [k for k, _ in file.partition if k not in names]
        return names


def table_source(table: pa.Table, display: str = "the input table") -> InputSource:
    """An in-memory table as a source (the non-streaming entry point :func:`normalize` uses)."""
    return InputSource(None, (), "table", display, (table,))


def _hive(relative: str) -> tuple[tuple[str, str], ...]:
    """``a=1/b=x/part.parquet`` -> ``(("a", "1"), ("b", "x"))``."""
    pairs = []
    for segment in relative.split("/")[:-1]:
        name, sep, value = segment.partition("=")
        if sep and name:
            pairs.append((urllib.parse.unquote(name), urllib.parse.unquote(value)))
    return tuple(pairs)


def select_files(
    filesystem: pafs.FileSystem, entries: Iterable[tuple[str, int]], root: str, display: str
) -> InputSource:
    """The data files of a folder listing, checked to share one known format.

    Parameters
    ----------
    filesystem : pyarrow.fs.FileSystem
        Where the files are.
    entries : iterable of (path, size)
        Every file under the folder (recursively).
    root : str
        The folder's path (files' Hive-style names are read relative to it).
    display : str
        How to name the folder in messages.

    Raises
    ------
    InputError
        If the folder holds no data file, files of an unknown format, or both Parquet and CSV.
    """
    root = root.rstrip("/") + "/" if root else ""
    files: list[InputFile] = []
    unknown: list[str] = []
    formats: dict[str, str] = {}  # format label -> its first file
    for path, size in sorted(entries):
        relative = path[len(root) :] if path.startswith(root) else path
        if any(part.startswith(IGNORED_PREFIXES) for part in relative.split("/")) or path.endswith("/"):
            continue
        found = format_of(relative)
        if found is None:
            unknown.append(relative)
            continue
        if size == 0:
            # An empty object in a folder is not data (folder markers, empty parts of a job's output).
            continue
        formats.setdefault(found.label, relative)
        files.append(InputFile(path, size, _hive(relative)))
    if unknown:
        raise InputError(
            f"input {display} holds {len(unknown)} file(s) that are not {named_suffixes()} "
            f"(e.g. {unknown[:3]}); move them elsewhere or point the input at the data files only"
        )
    if len(formats) > 1:
        first, second = [label for label in labels() if label in formats][:2]
        raise InputError(
            f"input {display} mixes {first} and {second} files (e.g. {formats[first]!r} and {formats[second]!r}); "
            "one run reads one format"
        )
    if not files:
        raise InputError(f"input {display} holds no data files ({named_suffixes()}), or only empty ones")
    return InputSource(filesystem, tuple(files), next(iter(formats)).lower(), display)



def single_file(filesystem: pafs.FileSystem, path: str, size: int, display: str) -> InputSource:
    """One file as a source; its name must end with a known format.

    Raises
    ------
    InputError
        For an unknown format or an empty file.
    """
    found = format_of(path)
    if found is None:
        raise InputError(f"input {display}: unknown format; use {named_suffixes()} (or a folder of them)")
    if size == 0:
        raise InputError(f"input {display} is empty (0 bytes)")
    return InputSource(filesystem, (InputFile(path, size),), found.label.lower(), display)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (for "did you mean" hints), if any is close."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def local_source(path: str) -> InputSource:
    """A local file or folder as a source (tests, benchmarks, the CLI's own checks)."""
    filesystem = pafs.LocalFileSystem()
    absolute = posixpath.normpath(path) if path.startswith("/") else posixpath.abspath(path)
    info = filesystem.get_file_info(absolute)
    if info.type == pafs.FileType.File:
        return single_file(filesystem, absolute, info.size, path)
    if info.type == pafs.FileType.Directory:
        infos = filesystem.get_file_info(pafs.FileSelector(absolute, recursive=True))
        entries = [(i.path, i.size) for i in infos if i.type == pafs.FileType.File]
        return select_files(filesystem, entries, absolute, path)
    raise InputError(f"input {path} does not exist")
