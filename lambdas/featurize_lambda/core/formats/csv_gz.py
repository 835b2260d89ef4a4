"""Gzip-compressed CSV input (``.csv.gz``): the CSV reader over a gzip stream whose integrity is checked."""

from __future__ import annotations

import io
import zlib
from typing import TYPE_CHECKING, Any

# pyarrow is imported where a format reads, not here: the CLI takes its suffixes from FORMATS and
# starts without pyarrow (and numpy).
if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

from ...errors import InputError
from .csv import CsvFormat

#: Typical gzip ratio of a numeric CSV, to estimate the rows of a ``.csv.gz`` from its size.
GZIP_RATIO = 4.0


class GzipReader(io.RawIOBase):
    """A gzip stream's decompressed bytes, with its integrity checked.

    pyarrow's own gzip stream ends quietly at a truncated file's end, which would silently lose the
    rows after the cut. zlib checks each member's CRC and length, and this reader raises when the
    data ends before the end-of-stream marker. Concatenated members (``cat a.gz b.gz``) are read on.
    """

    def __init__(self, raw: Any, name: str) -> None:
        self._raw, self._name = raw, name
        self._inflate = zlib.decompressobj(wbits=31)
        self._input = b""
        self._pending = bytearray()
        self._done = False

    def readable(self) -> bool:
        """It is."""
        return True

    def _corrupt(self, why: str) -> InputError:
        return InputError(f"input {self._name} cannot be read as CSV: its gzip data is {why}")

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` decompressed bytes (b"" at the end)."""
        size = 1 << 20 if size is None or size < 0 else size
        while len(self._pending) < size and not self._done:
            if not self._input:
                self._input = self._raw.read(1 << 20)
                if not self._input:
                    if not self._inflate.eof:
                        raise self._corrupt("truncated (it ends before its end-of-stream marker)")
                    self._done = True
                    break
            if self._inflate.eof:  # a member ended: what follows is another member, or padding
                if not self._input.strip(b"\0"):
                    self._input = b""
                    continue
                self._inflate = zlib.decompressobj(wbits=31)
            try:
                self._pending += self._inflate.decompress(self._input, 1 << 22)
            except zlib.error as error:
                raise self._corrupt(f"corrupt ({error})") from None
            self._input = self._inflate.unused_data if self._inflate.eof else self._inflate.unconsumed_tail
        data = bytes(self._pending[:size])
        del self._pending[:size]
        return data

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer``; the byte count."""
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class GzipCsvFormat(CsvFormat):
    """A CSV file compressed with gzip (one member or several concatenated), decompressed as it is read."""

    suffixes = (".csv.gz",)

    def open_stream(self, filesystem: pafs.FileSystem, path: str, name: str) -> pa.NativeFile:
        """The decompressed bytes; a truncated or corrupt file raises an InputError naming ``name``."""
        import pyarrow as pa

        raw = filesystem.open_input_stream(path, compression=None)
        return pa.PythonFile(GzipReader(raw, name), mode="r")

    def text_bytes(self, size: int) -> float:
        """The compressed size times a typical ratio."""
        return size * GZIP_RATIO
