"""Partition handler: validate the input and split it, streaming, into chunks of whole ids in S3."""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Environment, RunConfig, parse_s3_uri
from .core.partition import Columns, Limits, partition_source
from .errors import InputError
from .keys import RunKeys
from .s3files import resolve_input
from .s3io import COMPRESSION, put_json

logger = Logger(service="featurize")

OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")

#: Chunk uploads in flight at once (Parquet encoding releases the GIL; S3 PUTs are I/O).
UPLOAD_THREADS = 8


class _Uploader:
    """Encodes chunks as Parquet and PUTs them from a few threads, with a bound on chunks in flight."""

    def __init__(self, s3: Any, bucket: str, keys: RunKeys) -> None:
        self._s3, self._bucket, self._keys = s3, bucket, keys
        self._pool = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="chunk-upload")
        self._slots = threading.BoundedSemaphore(2 * UPLOAD_THREADS)
        self._futures: list[Future] = []
        self.bytes = 0

    def _put(self, index: int, table: pa.Table) -> int:
        try:
            buffer = io.BytesIO()
            pq.write_table(table, buffer, compression=COMPRESSION)
            body = buffer.getvalue()
            self._s3.put_object(Bucket=self._bucket, Key=self._keys.chunk(index), Body=body)
            return len(body)
        finally:
            self._slots.release()

    def __call__(self, index: int, table: pa.Table) -> None:
        self._slots.acquire()
        self._futures.append(self._pool.submit(self._put, index, table))

    def wait(self) -> None:
        """Wait for every upload; the first failure is raised."""
        try:
            for future in self._futures:
                self.bytes += future.result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop uploading (the step failed; the manifest will not be written)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def partition(
    event: dict[str, Any], env: Environment, s3: Any, limits: Limits | None = None, spill_dir: str | None = None
) -> dict[str, Any]:
    """Split the run's input into chunk objects, then write the run document and the manifest.

    Parameters
    ----------
    event : dict
        ``{"input": <execution input>, "execution_name": <name>}`` (built by the state machine).
    env : Environment
        The parsed Lambda environment.
    s3 : botocore client
        S3 client.
    limits : Limits, optional
        Memory and chunk size bounds (tests shrink them); default: the core's constants.
    spill_dir : str, optional
        Where the temporary bucket files go; default: the system's temporary directory (``/tmp``).

    Returns
    -------
    dict
        Small metadata only: run name, manifest key, output URI, counts and the ``max_concurrency`` of the
        Map (the execution input's, else the deployment's default).
    """
    started = time.perf_counter()
    config = RunConfig.from_input(event.get("input"))
    keys = RunKeys(event["execution_name"])
    output = config.output or f"s3://{env.bucket}/{keys.default_output}"
    if not output.lower().endswith(OUTPUT_SUFFIXES):
        raise InputError(f"output {output!r} must end with one of {list(OUTPUT_SUFFIXES)}")

    env.check_granted(config.input, "input")
    env.check_granted(output, "output")
    source = resolve_input(s3, config.input)
    in_bucket, in_key = parse_s3_uri(config.input, "input")
    folder = f"s3://{in_bucket}/{in_key.rstrip('/')}/"
    if source.files[0].path != f"{in_bucket}/{in_key}" and output.startswith(folder):
        raise InputError(
            f"output {output} is inside the input folder {folder}: a later run would read it as input; "
            "write the output elsewhere"
        )
    columns = Columns(
        id=config.column_id,
        sort=config.column_sort,
        value=config.column_value,
        kind=config.column_kind,
        sort_explicit=config.column_sort_explicit,
        value_explicit=config.column_value_explicit,
    )
    uploader = _Uploader(s3, env.bucket, keys)
    try:
        result = partition_source(
            source,
            columns,
            uploader,
            chunk_size=config.chunk_size,
            drop_nan=config.drop_nan,
            spill_dir=spill_dir or tempfile.gettempdir(),
            limits=limits,
        )
    except OSError as error:
        if error.errno == 28:  # ENOSPC: the spill files outgrew /tmp
            uploader.abort()
            raise InputError(
                f"input {config.input} needs more temporary space than the partition function has ({error}); "
                "deploy it with more ephemeral storage (/tmp, up to 10 GB) or split the input"
            ) from None
        uploader.abort()
        raise
    except BaseException:
        uploader.abort()
        raise
    uploader.wait()

    items = [{"run": keys.name, "chunk": c.index, "rows": c.rows, "ids": c.ids} for c in result.chunks]
    run_document = {"config": config.to_dict(), "output": output, "kinds": result.kinds}
    put_json(s3, env.bucket, keys.config, run_document)
    # The manifest is written last: its presence means every chunk it names exists.
    put_json(s3, env.bucket, keys.manifest, items)
    summary = {
        "run": keys.name,
        "manifest_key": keys.manifest,
        "output": output,
        "rows": result.rows,
        "ids": result.ids,
        "kinds": len(result.kinds),
        "chunks": len(items),
        "chunk_size": config.chunk_size,
        "files": len(source.files),
        "notes": result.notes,
        # Always present: the Map's MaxConcurrencyPath reads it, and a path that does not resolve fails the run.
        "max_concurrency": config.max_concurrency or env.max_concurrency,
    }
    logger.info(
        "partitioned",
        extra=summary
        | {
            "input_bytes": source.size,
            "chunk_bytes": uploader.bytes,
            "buckets": result.buckets,
            "spill_bytes": result.spill_bytes,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return summary


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: see :func:`partition`."""
    return partition(event, Environment.from_env(os.environ), boto3.client("s3"))
