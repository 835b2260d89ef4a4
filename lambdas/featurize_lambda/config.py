"""Configuration, parsed once at the edge and passed down as plain values.

Two sources: the Lambda environment (:class:`Environment`, set by the stack or the local engine) and
the execution input a user types in the console or sends from the SDK (:class:`RunConfig`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .core.settings import FeatureSpec, parse_features
from .errors import InputError
from .keys import OUTPUTS_PREFIX
from .limits import DEFAULT_MAX_CONCURRENCY, ENV_MAX_CONCURRENCY, MAX_CONCURRENCY_LIMIT, check_max_concurrency

#: Fields of the execution input, with their defaults. ``input`` is the only required one.
INPUT_DEFAULTS: dict[str, Any] = {
    "input": None,
    "output": None,
    "column_id": "id",
    "column_sort": "time",
    "column_value": "value",
    "column_kind": None,
    "features": "minimal",
    "chunk_size": None,
    "drop_nan": False,
    "tolerated_failure_percentage": 0,
    "max_concurrency": None,
}


@dataclass(frozen=True)
class Environment:
    """What a handler learns from its environment variables.

    Parameters
    ----------
    bucket : str
        The stack's bucket: chunks, results, manifests and default outputs live here.
    input_buckets, output_buckets : tuple of str, optional
        The buckets this deployment may read inputs from and write outputs to (the stack bucket
        included); None means unrestricted (the local engine).
    max_concurrency : int
        The deployment's default ``max_concurrency`` (chunks computed at once).
    """

    bucket: str
    input_buckets: tuple[str, ...] | None = None
    output_buckets: tuple[str, ...] | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Environment:
        """Parse the Lambda environment; fail with a clear message if the deployment is broken."""
        bucket = environ.get("FEATURIZE_BUCKET")
        if not bucket:
            raise RuntimeError("FEATURIZE_BUCKET is not set: the function was deployed without its bucket")

        def buckets(name: str) -> tuple[str, ...] | None:
            value = environ.get(name)
            return None if value is None else tuple(b for b in value.split(",") if b)

        raw = environ.get(ENV_MAX_CONCURRENCY, str(DEFAULT_MAX_CONCURRENCY))
        try:
            max_concurrency = check_max_concurrency(int(raw), ENV_MAX_CONCURRENCY)
        except (ValueError, InputError):
            raise RuntimeError(
                f"{ENV_MAX_CONCURRENCY}={raw!r} is not a whole number from 1 to {MAX_CONCURRENCY_LIMIT}: the function "
                "was deployed with a bad max_concurrency"
            ) from None
        return cls(bucket, buckets("FEATURIZE_INPUT_BUCKETS"), buckets("FEATURIZE_OUTPUT_BUCKETS"), max_concurrency)

    def check_granted(self, uri: str, what: str) -> None:
        """Fail fast if the stack was not granted access to the bucket of ``uri``.

        Raises
        ------
        InputError
            Naming the CDK context key to set, instead of an AccessDenied deep inside a chunk.
        """
        granted = self.input_buckets if what == "input" else self.output_buckets
        bucket, key = parse_s3_uri(uri, what)
        if granted is not None and what == "output" and bucket == self.bucket and not key.startswith(OUTPUTS_PREFIX):
            raise InputError(
                f"output {uri}: in the stack bucket, outputs go under {OUTPUTS_PREFIX} "
                f"(e.g. s3://{bucket}/{OUTPUTS_PREFIX}{key.rsplit('/', 1)[-1]})"
            )
        if granted is not None and bucket not in granted:
            raise InputError(
                f"{what} bucket {bucket!r} is not granted to this stack (granted: {sorted(granted)}); add it to "
                f"the CDK context key {what}_buckets, e.g. cdk deploy -c '{what}_buckets=[\"{bucket}\"]', "
                f"or use the stack bucket {self.bucket!r}"
            )


def parse_s3_uri(uri: str, what: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key.

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
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InputError(f"{what} must be an s3:// URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise InputError(f"{what} must be s3://bucket/key, got {uri!r}")
    return bucket, key


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (what the user sent, in their terms)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _optional_str(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name, INPUT_DEFAULTS[name])
    if value is not None and (not isinstance(value, str) or not value):
        raise InputError(f"{name} must be a non-empty string or null, got {value!r}")
    return value


@dataclass(frozen=True)
class RunConfig:
    """One run's parsed execution input.

    ``column_sort_explicit`` and ``column_value_explicit`` record whether the user named the column:
    a named column that is missing is an error, a defaulted one that is missing changes the meaning
    (row order is time order; no ``value`` column means wide format).
    """

    input: str
    output: str | None
    column_id: str
    column_sort: str | None
    column_value: str | None
    column_kind: str | None
    features: FeatureSpec
    chunk_size: int | None
    column_sort_explicit: bool = False
    column_value_explicit: bool = False
    drop_nan: bool = False
    tolerated_failure_percentage: float = 0.0
    max_concurrency: int | None = None

    @classmethod
    def from_input(cls, raw: Any) -> RunConfig:
        """Validate an execution input document.

        Raises
        ------
        InputError
            For an unknown field, a missing ``input``, or a field of the wrong type.
        """
        if not isinstance(raw, Mapping):
            raise InputError(
                'the execution input must be a JSON object, e.g. {"input": "s3://bucket/key"}, got a JSON '
                f"{_json_type(raw)}"
            )
        unknown = sorted(set(raw) - set(INPUT_DEFAULTS))
        if unknown:
            raise InputError(f"unknown execution input field(s) {unknown}; known: {sorted(INPUT_DEFAULTS)}")
        if not raw.get("input"):
            raise InputError(
                'the execution input needs "input": "s3://bucket/key" (CSV, CSV.gz or Parquet, or a folder of them)'
            )
        parse_s3_uri(raw["input"], "input")
        output = _optional_str(raw, "output")
        if output is not None:
            parse_s3_uri(output, "output")
            if output == raw["input"]:
                raise InputError("output must differ from input: featurize never overwrites its input")
        column_id = _optional_str(raw, "column_id")
        if column_id is None:
            raise InputError("column_id must name the id column")
        chunk_size = raw.get("chunk_size")
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0
        ):
            raise InputError(f"chunk_size must be a positive integer (ids per chunk) or null, got {chunk_size!r}")
        drop_nan = raw.get("drop_nan", INPUT_DEFAULTS["drop_nan"])
        if not isinstance(drop_nan, bool):
            raise InputError(f"drop_nan must be true or false, got {drop_nan!r}")
        tolerated = raw.get("tolerated_failure_percentage", INPUT_DEFAULTS["tolerated_failure_percentage"])
        if isinstance(tolerated, bool) or not isinstance(tolerated, int | float) or not 0 <= tolerated <= 100:
            raise InputError(
                f"tolerated_failure_percentage must be a number from 0 to 100 (the share of chunks that may fail "
                f"and still give a partial output), got {tolerated!r}"
            )
        max_concurrency = raw.get("max_concurrency")
        if max_concurrency is not None:
            check_max_concurrency(max_concurrency)
        return cls(
            input=raw["input"],
            output=output,
            column_id=column_id,
            column_sort=_optional_str(raw, "column_sort"),
            column_value=_optional_str(raw, "column_value"),
            column_kind=_optional_str(raw, "column_kind"),
            features=parse_features(raw.get("features", INPUT_DEFAULTS["features"])),
            chunk_size=chunk_size,
            column_sort_explicit="column_sort" in raw,
            column_value_explicit="column_value" in raw,
            drop_nan=drop_nan,
            tolerated_failure_percentage=float(tolerated),
            max_concurrency=max_concurrency,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored as the run's ``run.json``."""
        return asdict(self)
