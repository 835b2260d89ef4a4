"""S3 input/output for the handlers: tables through pyarrow, small documents as JSON."""

from __future__ import annotations

import io
import json
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


def read_table(s3: Any, bucket: str, key: str) -> pd.DataFrame:
    """Read an input table: ``.parquet``/``.pq``, ``.csv`` or ``.csv.gz`` by the key's ending."""
    data = get_bytes(s3, bucket, key, "input")
    lower = key.lower()
    if not data:
        raise InputError(f"input s3://{bucket}/{key} is empty")
    try:
        if lower.endswith((".parquet", ".pq")):
            table = pq.read_table(pa.BufferReader(data))
        elif lower.endswith(".csv.gz"):
            table = pacsv.read_csv(pa.CompressedInputStream(pa.BufferReader(data), "gzip"))
        elif lower.endswith(".csv"):
            table = pacsv.read_csv(pa.BufferReader(data))
        else:
            raise InputError(f"input s3://{bucket}/{key}: unknown format; use .parquet, .csv or .csv.gz")
    except pa.ArrowInvalid as error:
        raise InputError(f"input s3://{bucket}/{key} cannot be read: {error}") from None
    return table.to_pandas()


def put_parquet(s3: Any, bucket: str, key: str, frame: pd.DataFrame, index: bool = False) -> int:
    """Write a frame as one Parquet object; returns its size in bytes."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=index, compression=COMPRESSION)
    body = buffer.getvalue()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return len(body)


def put_csv(s3: Any, bucket: str, key: str, frame: pd.DataFrame) -> int:
    """Write a frame (without its index) as one CSV object; returns its size."""
    sink = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), sink)
    body = sink.getvalue()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return len(body)


def get_parquet(s3: Any, bucket: str, key: str) -> pd.DataFrame:
    """Read one Parquet object written by :func:`put_parquet`."""
    return pq.read_table(pa.BufferReader(get_bytes(s3, bucket, key))).to_pandas()


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
