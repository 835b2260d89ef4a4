"""Features handler: compute the features of one chunk and write them next to it in S3."""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Environment
from .core.features import extract, parse_features
from .errors import IntegrityError
from .keys import RunKeys
from .s3io import get_json, get_parquet, put_json, put_parquet

logger = Logger(service="featurize")


def features(event: dict[str, Any], env: Environment, s3: Any) -> dict[str, Any]:
    """Compute one chunk's features.

    On any error a failure record (chunk, error type, message) is written to S3 before the error is
    raised again, so that the Reduce step can name the chunk and its cause whatever the Map does with
    failed items; Retry still applies to the raised error.

    Parameters
    ----------
    event : dict
        One manifest item: ``{"run": <name>, "chunk": <index>, "rows": <count>, "ids": <count>}``.
    env : Environment
        The parsed Lambda environment.
    s3 : botocore client
        S3 client.

    Returns
    -------
    dict
        ``{"chunk", "ids", "result_key"}``. The result object's metadata holds the rows and ids
        computed, which the reduce step checks against the manifest.

    Raises
    ------
    IntegrityError
        If the chunk object does not hold the rows and ids its manifest item counts.
    """
    started = time.perf_counter()
    keys = RunKeys(event["run"])
    index = int(event["chunk"])
    try:
        document = get_json(s3, env.bucket, keys.config)
        settings = parse_features(document["config"]["features"])
        chunk = get_parquet(s3, env.bucket, keys.chunk(index))
        expected = {name: event[name] for name in ("rows", "ids") if event.get(name)}
        found = {"rows": len(chunk), "ids": int(chunk["id"].nunique())}
        if any(found[name] != count for name, count in expected.items()):
            raise IntegrityError(f"chunk {index} object holds {found}, its manifest item says {expected}")
        result = extract(chunk, document["kinds"], settings)
        put_parquet(s3, env.bucket, keys.result(index), result, index=True, metadata={"rows": len(chunk)})
    except Exception as error:
        record = {"chunk": index, "error": type(error).__name__, "message": str(error)}
        put_json(s3, env.bucket, keys.failure(index), record)
        logger.exception("chunk failed", extra={"chunk": index, "error": record["error"]})
        raise
    summary = {"chunk": index, "ids": len(result), "result_key": keys.result(index)}
    logger.info("chunk done", extra=summary | {"rows": len(chunk), "seconds": round(time.perf_counter() - started, 3)})
    return summary


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: see :func:`features`."""
    return features(event, Environment.from_env(os.environ), boto3.client("s3"))
