"""S3 input/output for the handlers: tables through pyarrow, small documents as JSON."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import InputError

#: Parquet compression of every object featurize writes (fast to encode and decode).
COMPRESSION = "zstd"


def get_bytes(s3: Any, bucket: str, key: str, what: str = "object") -> bytes:
    """Read a whole object; a missing object or bucket is an :class:`InputError` naming it."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise InputError(f"{what} s3://{bucket}/{key} does not exist") from None
    except s3.exceptions.NoSuchBucket:
        raise InputError(f"{what} bucket {bucket!r} does not exist") from None


#: Prefix of featurize's own key-value metadata in the Parquet objects it writes.
METADATA_PREFIX = "featurize."


def put_parquet(
    s3: Any, bucket: str, key: str, frame: pd.DataFrame, index: bool = False, metadata: dict[str, Any] | None = None
) -> int:
    """Write a frame as one Parquet object, with optional metadata (small JSON values); returns its size."""
    table = pa.Table.from_pandas(frame, preserve_index=index)
    if metadata:
        extra = {f"{METADATA_PREFIX}{name}".encode(): json.dumps(value).encode() for name, value in metadata.items()}
        table = table.replace_schema_metadata((table.schema.metadata or {}) | extra)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=COMPRESSION)
    body = buffer.getvalue()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return len(body)


def put_table_blocks(
    s3: Any, bucket: str, key: str, schema: pa.Schema, blocks: Iterable[pa.Table], csv: bool = False
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
        s3.upload_file(path, bucket, key)
        return os.path.getsize(path)
    finally:
        os.remove(path)


def get_parquet(s3: Any, bucket: str, key: str) -> pd.DataFrame:
    """Read one Parquet object written by :func:`put_parquet`."""
    return pq.read_table(pa.BufferReader(get_bytes(s3, bucket, key))).to_pandas()


def get_parquet_with_metadata(s3: Any, bucket: str, key: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read one Parquet object and the metadata :func:`put_parquet` stored with it."""
    table = pq.read_table(pa.BufferReader(get_bytes(s3, bucket, key)))
    metadata = {
        name.decode()[len(METADATA_PREFIX) :]: json.loads(value)
        for name, value in (table.schema.metadata or {}).items()
        if name.decode(errors="replace").startswith(METADATA_PREFIX)
    }
    return table.to_pandas(), metadata


def put_json(s3: Any, bucket: str, key: str, document: Any) -> None:
    """Write a small JSON document."""
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode(), ContentType="application/json")


def get_json(s3: Any, bucket: str, key: str) -> Any:
    """Read a small JSON document."""
    return json.loads(get_bytes(s3, bucket, key))


def exists(s3: Any, bucket: str, key: str) -> bool:
    """Whether an object exists."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under a prefix (paginated)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys
