"""The one S3 adapter of the handlers: tables, JSON documents, and the input as a pyarrow filesystem.

Every S3 call of the handlers goes through :class:`S3Storage`, over the handler's boto3 client (typed
with the ``types-boto3[s3]`` stubs, a development dependency only: the Lambda never imports them).

The input is streamed through a ``PyFileSystem`` over the same client: pyarrow's own ``S3FileSystem``
would need its endpoint, region and credentials configured a second time (and cannot reach an
in-process mock). Files are read with ranged GETs of at least :data:`BLOCK_BYTES` (sequential CSV reads
cost one request per block; Parquet reads fetch exactly the column chunks they need).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .core.source import InputSource, closest, select_files, single_file
from .errors import InputError
from .keys import parse_s3_uri

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

#: Parquet compression of every object featurize writes (fast to encode and decode).
COMPRESSION = "zstd"

#: Prefix of featurize's own key-value metadata in the Parquet objects it writes.
METADATA_PREFIX = "featurize."

#: Error codes of a missing object (HEAD answers with the bare status code).
_MISSING = ("404", "NoSuchKey", "NotFound")


def _featurize_metadata(schema: pa.Schema) -> dict[str, Any]:
    """The metadata :meth:`S3Storage.put_parquet` stored in a schema (its ``featurize.`` keys, decoded)."""
    return {
        name.decode()[len(METADATA_PREFIX) :]: json.loads(value)
        for name, value in (schema.metadata or {}).items()
        if name.decode(errors="replace").startswith(METADATA_PREFIX)
    }


def _error_code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


class S3Storage:
    """Reads and writes of one handler invocation, over its boto3 S3 client.

    Parameters
    ----------
    s3 : S3Client
        The boto3 S3 client (``boto3.client("s3")``; the local engine sets its endpoint).
    """

    def __init__(self, s3: S3Client) -> None:
        self.s3 = s3

    # -- objects ---------------------------------------------------------------------------------

    def get_bytes(self, bucket: str, key: str, what: str = "object") -> bytes:
        """Read a whole object; a missing object or bucket is an :class:`InputError` naming it."""
        try:
            return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise InputError(f"{what} s3://{bucket}/{key} does not exist") from None
        except self.s3.exceptions.NoSuchBucket:
            raise InputError(f"{what} bucket {bucket!r} does not exist") from None

    def exists(self, bucket: str, key: str) -> bool:
        """Whether an object exists."""
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except self.s3.exceptions.ClientError as error:
            if _error_code(error) in _MISSING:
                return False
            raise
        return True

    def list_objects(self, bucket: str, prefix: str, limit: int | None = None) -> list[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix`` (paginated; at most ``limit``)."""
        found: list[tuple[str, int]] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.extend((item["Key"], int(item["Size"])) for item in page.get("Contents", []))
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """Every key under a prefix (paginated)."""
        return [key for key, _ in self.list_objects(bucket, prefix)]

    # -- JSON documents --------------------------------------------------------------------------

    def put_json(self, bucket: str, key: str, document: Any, indent: int | None = None) -> None:
        """Write a small JSON document (values JSON cannot hold, such as timestamps, as text)."""
        body = json.dumps(document, default=str, indent=indent).encode()
        self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    def put_json_uri(self, uri: str, document: Any, what: str = "output") -> None:
        """Write a small JSON document, indented for people, at an ``s3://`` URI."""
        bucket, key = parse_s3_uri(uri, what)
        self.put_json(bucket, key, document, indent=1)

    def get_json(self, bucket: str, key: str) -> Any:
        """Read a small JSON document."""
        return json.loads(self.get_bytes(bucket, key))

    # -- tables ----------------------------------------------------------------------------------

    def put_table(self, bucket: str, key: str, table: pa.Table) -> int:
        """Write a table as one Parquet object; returns its size."""
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression=COMPRESSION)
        body = buffer.getvalue()
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        return len(body)

    def put_parquet(
        self, bucket: str, key: str, frame: pd.DataFrame, index: bool = False, metadata: dict[str, Any] | None = None
    ) -> int:
        """Write a frame as one Parquet object, with optional metadata (small JSON values); returns its size."""
        table = pa.Table.from_pandas(frame, preserve_index=index)
        if metadata:
            extra = {f"{METADATA_PREFIX}{k}".encode(): json.dumps(v).encode() for k, v in metadata.items()}
            table = table.replace_schema_metadata((table.schema.metadata or {}) | extra)
        return self.put_table(bucket, key, table)

    def put_table_blocks(
        self, bucket: str, key: str, schema: pa.Schema, blocks: Iterable[pa.Table], csv: bool = False
    ) -> int:
        """Write a stream of tables (one schema) as one Parquet or CSV object; returns its size.

        The blocks go to a local temporary file (Lambda's ``/tmp``), which is then uploaded (multipart
        when large): memory holds one block, not the object.
        """
        handle, path = tempfile.mkstemp(suffix=".csv" if csv else ".parquet")
        os.close(handle)
        try:
            writer = pacsv.CSVWriter(path, schema) if csv else pq.ParquetWriter(path, schema, compression=COMPRESSION)
            with writer:
                for block in blocks:
                    writer.write_table(block)
            self.s3.upload_file(path, bucket, key)
            return os.path.getsize(path)
        finally:
            os.remove(path)

    def get_table(self, bucket: str, key: str, columns: list[str] | None = None) -> pa.Table:
        """Read one Parquet object (only ``columns``, if given)."""
        return pq.read_table(pa.BufferReader(self.get_bytes(bucket, key)), columns=columns)

    def get_footer(self, bucket: str, key: str, size: int) -> tuple[pa.Schema, int, dict[str, Any]]:
        """One Parquet object's footer only (ranged GETs): its schema, its rows, :meth:`put_parquet`'s metadata."""
        path = f"{bucket}/{key}"
        with self.filesystem({path: size}).open_input_file(path) as handle:
            meta = pq.ParquetFile(handle).metadata
            schema = meta.schema.to_arrow_schema()
        return schema, meta.num_rows, _featurize_metadata(schema)

    def put_empty(self, bucket: str, key: str) -> None:
        """Write an empty object (a success marker)."""
        self.s3.put_object(Bucket=bucket, Key=key, Body=b"")

    def get_parquet(self, bucket: str, key: str) -> pd.DataFrame:
        """Read one Parquet object written by :meth:`put_parquet`."""
        return self.get_table(bucket, key).to_pandas()

    def get_parquet_with_metadata(self, bucket: str, key: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Read one Parquet object and the metadata :meth:`put_parquet` stored with it."""
        table = self.get_table(bucket, key)
        return table.to_pandas(), _featurize_metadata(table.schema)

    # -- the input -------------------------------------------------------------------------------

    def filesystem(self, sizes: dict[str, int] | None = None) -> pafs.FileSystem:
        """A read-only pyarrow FileSystem over the client (paths are ``bucket/key``)."""
        return pafs.PyFileSystem(S3ReadOnly(self.s3, sizes))

    def resolve_input(self, uri: str) -> InputSource:
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
                    head = self.s3.head_object(Bucket=bucket, Key=key)
                except self.s3.exceptions.ClientError as error:
                    if _error_code(error) not in _MISSING:
                        raise
                else:
                    size = int(head["ContentLength"])
                    return single_file(self.filesystem({f"{bucket}/{key}": size}), f"{bucket}/{key}", size, uri)
            prefix = key.rstrip("/") + "/"
            objects = self.list_objects(bucket, prefix)
            if not objects:
                raise InputError(f"input {uri} does not exist (no such object, and no objects under it)"
                                 f"{self._suggestion(bucket, key)}")  # fmt: skip
        except self.s3.exceptions.NoSuchBucket:
            raise InputError(f"input bucket {bucket!r} does not exist") from None
        except self.s3.exceptions.ClientError as error:
            code = _error_code(error)
            if code == "NoSuchBucket":
                raise InputError(f"input bucket {bucket!r} does not exist") from None
            if code in ("403", "AccessDenied", "Forbidden"):
                raise InputError(
                    f"input {uri}: access denied; grant the partition function read access to it"
                ) from None
            raise
        entries = [(f"{bucket}/{k}", size) for k, size in objects]
        return select_files(self.filesystem(dict(entries)), entries, f"{bucket}/{prefix}", uri)

    def _suggestion(self, bucket: str, key: str) -> str:
        """``; did you mean s3://...?`` naming the closest key or folder next to a missing key, or nothing."""
        parent = key.rstrip("/").rpartition("/")[0]
        below = f"{parent}/" if parent else ""
        nearby: set[str] = set()
        for other, _ in self.list_objects(bucket, below, limit=1000):
            head, slash, _ = other[len(below) :].partition("/")
            nearby.add(other)
            if slash:
                nearby.add(f"{below}{head}/")  # a folder next to the missing key
        hint = closest(key, sorted(nearby))
        return f"; did you mean s3://{bucket}/{hint}?" if hint else ""


#: Bytes fetched per GET when a file is read sequentially (CSV): smaller reads are served from them.
BLOCK_BYTES = 16 << 20
#: Bytes fetched at least per GET when a file is read at random (Parquet reads footers, then exactly
#: the column chunks it needs: a small minimum avoids many tiny GETs without fetching unneeded data).
RANDOM_ACCESS_BYTES = 64 << 10


class _RangedReader(io.RawIOBase):
    """A seekable, read-only view of one S3 object, fetched in ranges on demand."""

    def __init__(self, s3: S3Client, bucket: str, key: str, size: int, block: int) -> None:
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

    def __init__(self, s3: S3Client, sizes: dict[str, int] | None = None) -> None:
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
            for key, size in S3Storage(self._s3).list_objects(bucket, prefix.rstrip("/") + "/")
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
