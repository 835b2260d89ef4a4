"""Features handler: compute the features of one chunk and write them next to it in S3."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Environment
from .contracts import ChunkResult, FailureRecord, ManifestItem, RunDocument
from .core.features import extract
from .core.verdict import check_chunk
from .keys import RunKeys
from .names import SERVICE_NAME
from .storage import S3Storage

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

logger = Logger(service=SERVICE_NAME)


def features(event: dict[str, Any], env: Environment, s3: S3Client) -> dict[str, Any]:
    """Compute one chunk's features.

    On any error a failure record (chunk, error type, message) is written to S3 before the error is
    raised again, so that the Reduce step can name the chunk and its cause whatever the Map does with
    failed items; Retry still applies to the raised error.

    Parameters
    ----------
    event : dict
        One :class:`~featurize_lambda.contracts.ManifestItem`: ``{"run", "chunk", "rows", "ids"}``.
    env : Environment
        The parsed Lambda environment.
    s3 : S3Client
        S3 client.

    Returns
    -------
    dict
        A :class:`~featurize_lambda.contracts.ChunkResult`. The result object's metadata holds the rows
        computed, which the reduce step checks against the manifest.

    Raises
    ------
    IntegrityError
        If the chunk object does not hold the rows and ids its manifest item counts.
    """
    started = time.perf_counter()
    item = ManifestItem.from_json(event)
    keys = RunKeys(item.run)
    storage = S3Storage(s3)
    try:
        document = RunDocument.from_json(storage.get_json(env.bucket, keys.config))
        chunk = storage.get_parquet(env.bucket, keys.chunk(item.chunk))
        check_chunk(item, rows=len(chunk), ids=int(chunk["id"].nunique()))
        result = extract(chunk, document.kinds, document.options.features)
        storage.put_parquet(env.bucket, keys.result(item.chunk), result, index=True, metadata={"rows": len(chunk)})
    except Exception as error:
        record = FailureRecord(item.chunk, type(error).__name__, str(error))
        storage.put_json(env.bucket, keys.failure(item.chunk), record.to_json())
        logger.exception("chunk failed", extra={"chunk": item.chunk, "error": record.error})
        raise
    summary = ChunkResult(item.chunk, len(result), keys.result(item.chunk)).to_json()
    logger.info("chunk done", extra=summary | {"rows": len(chunk), "seconds": round(time.perf_counter() - started, 3)})
    return summary


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: see :func:`features`."""
    return features(event, Environment.from_env(os.environ), boto3.client("s3"))
