"""The Lambda environment, parsed once at the edge and passed down as plain values.

The other configuration source, the execution input, is :class:`featurize_lambda.options.RunOptions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InputError
from .keys import OUTPUTS_PREFIX, parse_s3_uri
from .limits import DEFAULT_MAX_CONCURRENCY, MAX_CONCURRENCY_LIMIT, check_max_concurrency
from .names import ENV_BUCKET, ENV_INPUT_BUCKETS, ENV_MAX_CONCURRENCY, ENV_OUTPUT_BUCKETS


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
        bucket = environ.get(ENV_BUCKET)
        if not bucket:
            raise RuntimeError(f"{ENV_BUCKET} is not set: the function was deployed without its bucket")

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
        return cls(bucket, buckets(ENV_INPUT_BUCKETS), buckets(ENV_OUTPUT_BUCKETS), max_concurrency)

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
