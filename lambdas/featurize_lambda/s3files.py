"""S3 as a read-only pyarrow FileSystem, over boto3: the partition step streams its input through it.

pyarrow's own ``S3FileSystem`` would need its endpoint, region and credentials configured a second
time (and cannot reach an in-process mock); a ``PyFileSystem`` over the handler's boto3 client uses the
same client, credentials and endpoint as every other S3 call of the handler, on AWS and locally.
Files are read with ranged GETs of at least :data:`BLOCK_BYTES` (sequential CSV reads cost one request
per block; Parquet reads fetch exactly the column chunks they need).
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from .config import parse_s3_uri
from .core.source import InputSource, closest, select_files, single_file
from .errors import InputError

#: Bytes fetched per GET when a file is read sequentially (CSV): smaller reads are served from them.
BLOCK_BYTES = 16 << 20
#: Bytes fetched at least per GET when a file is read at random (Parquet reads footers, then exactly
#: the column chunks it needs: a small minimum avoids many tiny GETs without fetching unneeded data).
RANDOM_ACCESS_BYTES = 64 << 10


class _RangedReader(io.RawIOBase):
    """A seekable, read-only view of one S3 object, fetched in ranges on demand."""

    def __init__(self, s3: Any, bucket: str, key: str, size: int, block: int) -> None:
        self._s3, self._bucket, self._key, self._size = s3, bucket, key, size
        self._block = block
        self._position = 0
        self._buffer = b""
        self._buffer_start = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def _fetch(self, start: int, length: int) -> bytes:
        stop = min(self._size, start + length) - 1
        if stop < start:
            return b""
        response = self._s3.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={start}-{stop}")
        return response["Body"].read()

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._position
        if size == 0 or self._position >= self._size:
            return b""
        offset = self._position - self._buffer_start
        if 0 <= offset and offset + size <= len(self._buffer):
            data = self._buffer[offset : offset + size]
        elif size >= self._block:
            data = self._fetch(self._position, size)  # a large read: exactly what was asked
        else:
            self._buffer = self._fetch(self._position, self._block)
            self._buffer_start = self._position
            data = self._buffer[:size]
        self._position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class S3ReadOnly(pafs.FileSystemHandler):
    """The pyarrow ``FileSystemHandler`` of :func:`filesystem` (paths are ``bucket/key``)."""

    def __init__(self, s3: Any, sizes: dict[str, int] | None = None) -> None:
        self._s3 = s3
        self._sizes = dict(sizes or {})

    def get_type_name(self) -> str:
        """The filesystem's name."""
        return "featurize-s3"

    def normalize_path(self, path: str) -> str:
        """Paths are used as given (``bucket/key``)."""
        return path

    def equals(self, other: Any) -> bool:
        """Only the same instance."""
        return self is other

    def _size(self, path: str) -> int:
        if path not in self._sizes:
            bucket, _, key = path.partition("/")
            self._sizes[path] = int(self._s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        return self._sizes[path]

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        """Every path is a file; sizes come from the listing (or one HEAD)."""
        return [pafs.FileInfo(path, pafs.FileType.File, size=self._size(path)) for path in paths]

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        """Every object under the selector's prefix."""
        bucket, _, prefix = selector.base_dir.partition("/")
        return [
            pafs.FileInfo(f"{bucket}/{key}", pafs.FileType.File, size=size)
            for key, size in list_objects(self._s3, bucket, prefix.rstrip("/") + "/")
        ]

    def open_input_file(self, path: str) -> pa.NativeFile:
        """A seekable file read with ranged GETs."""
        bucket, _, key = path.partition("/")
        return pa.PythonFile(_RangedReader(self._s3, bucket, key, self._size(path), RANDOM_ACCESS_BYTES), mode="r")

    def open_input_stream(self, path: str) -> pa.NativeFile:
        """A reader for sequential reads, served block by block."""
        bucket, _, key = path.partition("/")
        return pa.PythonFile(_RangedReader(self._s3, bucket, key, self._size(path), BLOCK_BYTES), mode="r")

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise OSError("featurize reads its input and never writes to it")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only


def filesystem(s3: Any, sizes: dict[str, int] | None = None) -> pafs.FileSystem:
    """A read-only pyarrow FileSystem over a boto3 S3 client (paths are ``bucket/key``)."""
    return pafs.PyFileSystem(S3ReadOnly(s3, sizes))


def list_objects(s3: Any, bucket: str, prefix: str, limit: int | None = None) -> list[tuple[str, int]]:
    """``(key, size)`` of every object under ``prefix`` (paginated; at most ``limit``)."""
    found: list[tuple[str, int]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend((item["Key"], int(item["Size"])) for item in page.get("Contents", []))
        if limit is not None and len(found) >= limit:
            return found[:limit]
    return found


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


def resolve_input(s3: Any, uri: str) -> InputSource:
    """The input an ``s3://`` URI names: one object, or every data file under a prefix.

    ``s3://bucket/data.parquet`` is one object; ``s3://bucket/folder/`` (or ``s3://bucket/folder`` when
    no such object exists) is every data object under the prefix, recursively, in key order.

    Raises
    ------
    InputError
        If the bucket or the object/prefix does not exist (with the closest key as a hint), or access
        is denied.
    """
    bucket, key = parse_s3_uri(uri, "input")
    try:
        if not key.endswith("/"):
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
            except s3.exceptions.ClientError as error:
                if _error_code(error) not in ("404", "NoSuchKey", "NotFound"):
                    raise
            else:
                size = int(head["ContentLength"])
                return single_file(filesystem(s3, {f"{bucket}/{key}": size}), f"{bucket}/{key}", size, uri)
        prefix = key.rstrip("/") + "/"
        objects = list_objects(s3, bucket, prefix)
        if not objects:
            parent = key.rstrip("/").rpartition("/")[0]
            below = f"{parent}/" if parent else ""
            nearby: set[str] = set()
            for other, _ in list_objects(s3, bucket, below, limit=1000):
                head, slash, _ = other[len(below) :].partition("/")
                nearby.add(other)
                if slash:
                    nearby.add(f"{below}{head}/")  # a folder next to the missing key
            hint = closest(key, sorted(nearby))
            suggestion = f"; did you mean s3://{bucket}/{hint}?" if hint else ""
            raise InputError(f"input {uri} does not exist (no such object, and no objects under it){suggestion}")
    except s3.exceptions.NoSuchBucket:
        raise InputError(f"input bucket {bucket!r} does not exist") from None
    except s3.exceptions.ClientError as error:
        code = _error_code(error)
        if code == "NoSuchBucket":
            raise InputError(f"input bucket {bucket!r} does not exist") from None
        if code in ("403", "AccessDenied", "Forbidden"):
            raise InputError(f"input {uri}: access denied; grant the partition function read access to it") from None
        raise
    entries = [(f"{bucket}/{k}", size) for k, size in objects]
    sizes = dict(entries)
    return select_files(filesystem(s3, sizes), entries, f"{bucket}/{prefix}", uri)
