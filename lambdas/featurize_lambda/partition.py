"""Partition handler: validate the input and split it, streaming, into chunks of whole ids in S3."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
import pyarrow as pa
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from .config import Environment
from .contracts import ManifestItem, PartitionSummary, RunDocument
from .core.outputs import check_dataset_empty, check_output, is_dataset
from .core.partition import Columns, Limits, Partitioned, partition_source
from .core.source import InputSource
from .errors import InputError
from .keys import RunKeys, parse_s3_uri, s3_uri
from .names import SERVICE_NAME
from .options import RunOptions
from .storage import S3Storage

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

logger = Logger(service=SERVICE_NAME)

#: Chunk uploads in flight at once (Parquet encoding releases the GIL; S3 PUTs are I/O).
UPLOAD_THREADS = 8


class _Uploader:
    """Encodes chunks as Parquet and PUTs them from a few threads, with a bound on chunks in flight."""

    def __init__(self, storage: S3Storage, bucket: str, keys: RunKeys) -> None:
        self._storage, self._bucket, self._keys = storage, bucket, keys
        self._pool = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="chunk-upload")
        self._slots = threading.BoundedSemaphore(2 * UPLOAD_THREADS)
        self._futures: list[Future] = []
        self.bytes = 0

    def _put(self, index: int, table: pa.Table) -> int:
        try:
            return self._storage.put_table(self._bucket, self._keys.chunk(index), table)
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


def _split(
    storage: S3Storage, bucket: str, keys: RunKeys, options: RunOptions, source: InputSource,
    limits: Limits | None, spill_dir: str | None,
) -> tuple[Partitioned, int]:  # fmt: skip
    """Cut the source into chunk objects (uploaded as they are cut); returns the result and the bytes written."""
    columns = Columns(
        id=options.column_id,
        sort=options.column_sort,
        value=options.column_value,
        kind=options.column_kind,
        sort_explicit=options.column_sort_explicit,
        value_explicit=options.column_value_explicit,
    )
    uploader = _Uploader(storage, bucket, keys)
    try:
        result = partition_source(
            source,
            columns,
            uploader,
            chunk_size=options.chunk_size,
            drop_nan=options.drop_nan,
            spill_dir=spill_dir or tempfile.gettempdir(),
            limits=limits,
        )
    except OSError as error:
        uploader.abort()
        if error.errno == 28:  # ENOSPC: the spill files outgrew /tmp
            raise InputError(
                f"input {options.input} needs more temporary space than the partition function has ({error}); "
                "deploy it with more ephemeral storage (/tmp, up to 10 GB) or split the input"
            ) from None
        raise
    except BaseException:
        uploader.abort()
        raise
    uploader.wait()
    return result, uploader.bytes


def partition(
    event: dict[str, Any], env: Environment, s3: S3Client, limits: Limits | None = None, spill_dir: str | None = None
) -> dict[str, Any]:
    """Split the run's input into chunk objects, then write the run document and the manifest.

    Parameters
    ----------
    event : dict
        ``{"input": <execution input>, "execution_name": <name>}`` (built by the state machine).
    env : Environment
        The parsed Lambda environment.
    s3 : S3Client
        S3 client.
    limits : Limits, optional
        Memory and chunk size bounds (tests shrink them); default: the core's constants.
    spill_dir : str, optional
        Where the temporary bucket files go; default: the system's temporary directory (``/tmp``).

    Returns
    -------
    dict
        A :class:`~featurize_lambda.contracts.PartitionSummary`: small metadata only (run name, manifest
        key, output URI, counts and the Map's ``max_concurrency``: the execution input's, else the
        deployment's default).
    """
    started = time.perf_counter()
    options = RunOptions.from_input(event.get("input"))
    keys = RunKeys(event["execution_name"])
    output = options.output or s3_uri(env.bucket, keys.default_output)
    check_output(output, options.input, input_is_folder=False)
    env.check_granted(options.input, "input")
    env.check_granted(output, "output")
    storage = S3Storage(s3)
    source = storage.resolve_input(options.input)
    check_output(output, options.input, input_is_folder=source.files[0].path != options.input[len("s3://") :])
    if is_dataset(output):
        out_bucket, out_prefix = parse_s3_uri(output, "output")
        check_dataset_empty(output, [s3_uri(out_bucket, k) for k, _ in storage.list_objects(out_bucket, out_prefix, 1)])
    result, chunk_bytes = _split(storage, env.bucket, keys, options, source, limits, spill_dir)

    items = [ManifestItem(keys.name, c.index, c.rows, c.ids).to_json() for c in result.chunks]
    storage.put_json(env.bucket, keys.config, RunDocument(options, output, result.kinds).to_json())
    # The manifest is written last: its presence means every chunk it names exists.
    storage.put_json(env.bucket, keys.manifest, items)
    summary = PartitionSummary(
        run=keys.name,
        manifest_key=keys.manifest,
        output=output,
        rows=result.rows,
        ids=result.ids,
        kinds=len(result.kinds),
        chunks=len(items),
        chunk_size=options.chunk_size,
        files=len(source.files),
        notes=result.notes,
        max_concurrency=options.max_concurrency or env.max_concurrency,
    ).to_json()
    measured = {"input_bytes": source.size, "chunk_bytes": chunk_bytes, "buckets": result.buckets,
                "spill_bytes": result.spill_bytes, "seconds": round(time.perf_counter() - started, 3)}  # fmt: skip
    logger.info("partitioned", extra=summary | measured)
    return summary


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point: see :func:`partition`."""
    return partition(event, Environment.from_env(os.environ), boto3.client("s3"))
