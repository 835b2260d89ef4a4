"""Handler-level tests' S3 layout: the stack bucket, an input bucket and the run's keys (the ``s3`` fixture,
a moto client with both buckets, is in ``conftest.py``)."""

from __future__ import annotations

import pandas as pd

from featurize_lambda.config import Environment
from featurize_lambda.keys import RunKeys

BUCKET = "stack-bucket"
ENV = Environment(bucket=BUCKET)
KEYS = RunKeys("run-1")


def put_frame(s3, key: str, frame: pd.DataFrame) -> str:
    """Write ``frame`` to ``s3://data/<key>`` as Parquet, CSV or CSV.gz (by the key's suffix)."""
    if key.endswith(".parquet"):
        body = frame.to_parquet(index=False)
    else:
        body = frame.to_csv(index=False).encode()
        if key.endswith(".gz"):
            import gzip

            body = gzip.compress(body)
    s3.put_object(Bucket="data", Key=key, Body=body)
    return f"s3://data/{key}"
