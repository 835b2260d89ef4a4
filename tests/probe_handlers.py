"""Handlers used by the tests to look inside the local engine's workers and to inject faults."""

from __future__ import annotations

import os
from typing import Any

from featurize_lambda import features as real_features


class ProbeError(Exception):
    """Raised on request, to check how errors travel back."""


def probe(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Report where and how the handler ran."""
    if event.get("fail"):
        raise ProbeError("asked to fail")
    from threadpoolctl import threadpool_info

    return {
        "pid": os.getpid(),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "bucket": os.environ.get("FEATURIZE_BUCKET"),
        "openblas": os.environ.get("OPENBLAS_NUM_THREADS"),
        "blas_threads": [info["num_threads"] for info in threadpool_info()],
        "function": context.function_name,
        "event": event,
    }


def features_failing_on_chunk_1(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The real features handler, except that chunk 1's calculation fails permanently."""
    if event.get("chunk") != 1:
        return real_features.handler(event, context)
    original = real_features.extract

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ArithmeticError("injected failure in chunk 1")

    real_features.extract = broken
    try:
        return real_features.handler(event, context)
    finally:
        real_features.extract = original


def exit_with(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """End the worker process with ``event["code"]`` (as an out-of-memory kill would), or report its pid."""
    if event.get("code") is not None:
        os._exit(int(event["code"]))
    return {"pid": os.getpid()}
