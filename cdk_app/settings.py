"""Deployment settings, parsed once from CDK context and passed to the stack as plain values.

Every key has its default here and the same value in ``cdk.json`` (a test keeps them equal). Override one
with ``npx cdk deploy -c key=value`` or by editing ``cdk.json``. Values given with ``-c`` arrive as strings,
so lists accept ``a,b`` as well as a JSON array, and booleans accept ``true``/``false``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from . import constants

#: Context keys and their defaults.
DEFAULTS: dict[str, Any] = {
    "stack_name": "FeaturizeStack",
    "intermediate_expiry_days": 7,
    "upload_expiry_days": 30,
    "access_log_expiry_days": 90,
    "versioned": False,
    "removal_policy": "retain",
    "auto_delete_objects": False,
    "input_buckets": [],
    "output_buckets": [],
    "log_retention_days": 30,
    "log_level": "INFO",
    "partition_memory_mb": constants.PARTITION_MEMORY_MB,
    "features_memory_mb": constants.FEATURES_MEMORY_MB,
    "reduce_memory_mb": constants.REDUCE_MEMORY_MB,
    "max_concurrency": constants.MAX_CONCURRENCY,
    "input_kms_keys": [],
    "output_kms_keys": [],
}

#: CloudWatch Logs accepts only these retention periods (days).
RETENTION_DAYS: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

_REMOVAL_POLICIES = {"retain": RemovalPolicy.RETAIN, "destroy": RemovalPolicy.DESTROY}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# S3 bucket naming rules (general purpose buckets): 3-63 chars, lowercase, digits, dots, hyphens.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# IAM grants KMS actions on key ARNs (an alias ARN would not match the key the bucket encrypts with).
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")


def _fail(key: str, message: str) -> ValueError:
    return ValueError(f"CDK context {key!r}: {message} (set it in cdk.json or with -c {key}=...)")


def _as_int(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        number = int(value)
    else:
        raise _fail(key, f"expected an integer, got {value!r}")
    if not low <= number <= high:
        raise _fail(key, f"must be between {low} and {high}, got {number}")
    return number


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _fail(key, f"expected true or false, got {value!r}")


def _as_list(key: str, value: Any, pattern: re.Pattern[str], what: str, bad_message: str) -> tuple[str, ...]:
    """A list context value: a JSON list or ``a,b``; empty entries and repeats dropped, each entry matched."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else [part.strip() for part in text.split(",")]
    if not isinstance(value, list | tuple) or not all(isinstance(entry, str) for entry in value):
        raise _fail(key, f"expected a list of {what}, got {value!r}")
    entries = tuple(dict.fromkeys(entry for entry in value if entry))
    bad = [entry for entry in entries if not pattern.match(entry)]
    if bad:
        raise _fail(key, f"{bad_message}{bad}")
    return entries


def _as_bucket_list(key: str, value: Any) -> tuple[str, ...]:
    return _as_list(key, value, _BUCKET_NAME, "bucket names", "not valid S3 bucket names: ")


def _as_key_arn_list(key: str, value: Any) -> tuple[str, ...]:
    expected = "expected KMS key ARNs arn:aws:kms:<region>:<account>:key/<key id> (not aliases), got "
    return _as_list(key, value, _KMS_KEY_ARN, "KMS key ARNs", expected)


def _choice(key: str, value: Any, choices: Mapping[str, Any] | tuple[str, ...]) -> str:
    text = str(value).strip()
    normalized = text.upper() if key == "log_level" else text.lower()
    if normalized not in choices:
        raise _fail(key, f"expected one of {list(choices)}, got {value!r}")
    return normalized


@dataclass(frozen=True)
class Settings:
    """Everything the stack needs from context, validated.

    Parameters
    ----------
    stack_name : str
        CloudFormation stack name (also the construct id and the state machine's name prefix).
    intermediate_expiry_days : int
        Lifecycle expiration of the ``runs/`` and ``mapruns/`` prefixes (intermediate chunks, results,
        manifests and Map Run result files), days.
    upload_expiry_days : int
        Lifecycle expiration of the ``inputs/`` prefix (the copies of local inputs that the CLI and the
        Python API upload), days. Outputs are kept.
    access_log_expiry_days : int
        Lifecycle expiration of the S3 server access logs, days.
    versioned : bool
        Whether the stack bucket keeps object versions (noncurrent versions then expire after
        ``intermediate_expiry_days``).
    removal_policy : aws_cdk.RemovalPolicy
        What ``cdk destroy`` does with the buckets and log groups.
    auto_delete_objects : bool
        Empty the buckets on ``cdk destroy`` (requires ``removal_policy`` ``destroy``).
    input_buckets : tuple of str
        Extra buckets the partition function may read inputs from.
    output_buckets : tuple of str
        Extra buckets the reduce function may write outputs to.
    log_retention : aws_cdk.aws_logs.RetentionDays
        Retention of every log group.
    log_level : str
        ``POWERTOOLS_LOG_LEVEL`` of the functions.
    partition_memory_mb, features_memory_mb, reduce_memory_mb : int
        Memory of each function, MB (the defaults stay within a new account's 3,008 MB).
    max_concurrency : int
        Default ``MaxConcurrency`` of the Distributed Map (chunks computed at once), when the execution
        input names none.
    input_kms_keys, output_kms_keys : tuple of str
        KMS key ARNs of the input and output buckets' encryption: the partition function may decrypt
        with the first, the reduce function encrypt (GenerateDataKey) and decrypt with the second.
    """

    stack_name: str
    intermediate_expiry_days: int
    upload_expiry_days: int
    access_log_expiry_days: int
    versioned: bool
    removal_policy: RemovalPolicy
    auto_delete_objects: bool
    input_buckets: tuple[str, ...]
    output_buckets: tuple[str, ...]
    log_retention: logs.RetentionDays
    log_level: str
    partition_memory_mb: int
    features_memory_mb: int
    reduce_memory_mb: int
    max_concurrency: int = constants.MAX_CONCURRENCY
    input_kms_keys: tuple[str, ...] = ()
    output_kms_keys: tuple[str, ...] = ()

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> Settings:
        """Parse settings from a context getter (``construct.node.try_get_context``).

        Parameters
        ----------
        get : callable
            Returns the context value of a key, or ``None`` when it is not set.

        Raises
        ------
        ValueError
            Naming the context key, when a value is invalid.
        """

        def value(key: str) -> Any:
            found = get(key)
            return DEFAULTS[key] if found is None else found

        stack_name = str(value("stack_name"))
        if not _STACK_NAME.match(stack_name):
            raise _fail("stack_name", f"not a valid CloudFormation stack name: {stack_name!r}")
        removal = _choice("removal_policy", value("removal_policy"), tuple(_REMOVAL_POLICIES))
        auto_delete = _as_bool("auto_delete_objects", value("auto_delete_objects"))
        if auto_delete and removal != "destroy":
            raise _fail("auto_delete_objects", "true requires removal_policy=destroy")
        retention_days = _as_int("log_retention_days", value("log_retention_days"), 1, 3653)
        if retention_days not in RETENTION_DAYS:
            raise _fail("log_retention_days", f"CloudWatch Logs accepts only {sorted(RETENTION_DAYS)}")
        low, high = constants.LAMBDA_MEMORY_RANGE_MB
        return cls(
            stack_name=stack_name,
            intermediate_expiry_days=_as_int("intermediate_expiry_days", value("intermediate_expiry_days"), 1, 3650),
            upload_expiry_days=_as_int("upload_expiry_days", value("upload_expiry_days"), 1, 3650),
            access_log_expiry_days=_as_int("access_log_expiry_days", value("access_log_expiry_days"), 1, 3650),
            versioned=_as_bool("versioned", value("versioned")),
            removal_policy=_REMOVAL_POLICIES[removal],
            auto_delete_objects=auto_delete,
            input_buckets=_as_bucket_list("input_buckets", value("input_buckets")),
            output_buckets=_as_bucket_list("output_buckets", value("output_buckets")),
            log_retention=RETENTION_DAYS[retention_days],
            log_level=_choice("log_level", value("log_level"), _LOG_LEVELS),
            partition_memory_mb=_as_int("partition_memory_mb", value("partition_memory_mb"), low, high),
            features_memory_mb=_as_int("features_memory_mb", value("features_memory_mb"), low, high),
            reduce_memory_mb=_as_int("reduce_memory_mb", value("reduce_memory_mb"), low, high),
            max_concurrency=_as_int("max_concurrency", value("max_concurrency"), 1, constants.MAX_CONCURRENCY_LIMIT),
            input_kms_keys=_as_key_arn_list("input_kms_keys", value("input_kms_keys")),
            output_kms_keys=_as_key_arn_list("output_kms_keys", value("output_kms_keys")),
        )
