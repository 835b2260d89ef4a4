"""The S3 layout of one run: the single place that knows where a run's objects live, and S3 URIs.

Every object of a run lives under ``runs/<execution name>/`` in the stack bucket, so a run is
self-contained, re-running is idempotent (deterministic keys) and a lifecycle rule on ``runs/``
expires the intermediates.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError

RUNS_PREFIX = "runs/"
OUTPUTS_PREFIX = "outputs/"
INPUTS_PREFIX = "inputs/"
MAP_RESULTS_PREFIX = "mapruns/"
#: Name of a run's failure list, ``runs/<execution name>/failures.json``.
FAILURE_LIST_NAME = "failures.json"


@dataclass(frozen=True)
class RunKeys:
    """Keys of one run's objects, derived from the run's name (the execution name).

    Parameters
    ----------
    name : str
        The execution name, unique per state machine.
    """

    name: str

    @property
    def prefix(self) -> str:
        """Prefix of every intermediate object of this run."""
        return f"{RUNS_PREFIX}{self.name}/"

    @property
    def manifest(self) -> str:
        """JSON array of chunk items, read by the Distributed Map's ItemReader."""
        return f"{self.prefix}manifest.json"

    @property
    def config(self) -> str:
        """The run's parsed configuration (columns, features), read by every features Lambda."""
        return f"{self.prefix}run.json"

    @property
    def default_output(self) -> str:
        """Output key used when the execution input names no output."""
        return f"{OUTPUTS_PREFIX}{self.name}/features.parquet"

    @property
    def results_prefix(self) -> str:
        """Prefix of the chunk results."""
        return f"{self.prefix}results/"

    @property
    def failure_list(self) -> str:
        """Every failed chunk of the run (index, ids, error, message), JSON, written by Reduce.

        A failed execution's cause is cut at 32,768 characters by Step Functions: the cause names this
        key, and the client reads the chunks from here.
        """
        return f"{self.prefix}{FAILURE_LIST_NAME}"

    def chunk(self, index: int) -> str:
        """Input rows of chunk ``index`` (Parquet)."""
        return f"{self.prefix}chunks/{index:05d}.parquet"

    def result(self, index: int) -> str:
        """Features of chunk ``index`` (Parquet), written by the features Lambda."""
        return f"{self.results_prefix}{index:05d}.parquet"

    def failure(self, index: int) -> str:
        """Failure record of chunk ``index`` (JSON), written by the features Lambda on error."""
        return f"{self.prefix}failures/{index:05d}.json"


def parse_s3_uri(uri: str, what: str = "uri") -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key: the one S3 URI parser (handlers and client).

    Parameters
    ----------
    uri : str
        The URI to split.
    what : str
        Name of the field, for the error message.

    Returns
    -------
    tuple of str
        ``(bucket, key)``.

    Raises
    ------
    InputError
        If ``uri`` is not a string ``s3://bucket/key`` with a bucket and a key.
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InputError(f"{what} must be an s3:// URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise InputError(f"{what} must be s3://bucket/key, got {uri!r}")
    return bucket, key


def s3_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key``."""
    return f"s3://{bucket}/{key}"
