"""Infrastructure constants: one place, units in every name.

Values a deployer may want to change without editing code (retention, memory, extra
buckets) are CDK context instead: see :mod:`cdk_app.settings` and ``cdk.json``.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Size
from aws_cdk import aws_lambda as lambda_

# The handlers own the max_concurrency default, bound and variable name (they validate it at run time).
from featurize_lambda import limits as _handler_limits
from featurize_lambda import names as _names

#: Repository root, resolved from this file (never from the working directory).
REPO_ROOT = Path(__file__).resolve().parent.parent

#: The Lambda code asset: the runtime packages (``featurize_lambda``, ``custom_features``) and nothing else.
LAMBDA_ASSET_DIR = REPO_ROOT / "lambdas"

#: Never shipped in the asset even if present on disk (byte code, caches, packaging leftovers).
LAMBDA_ASSET_EXCLUDE = (
    "**/__pycache__",
    "**/*.pyc",
    "**/*.pyo",
    "**/.pytest_cache",
    "**/.ruff_cache",
    "**/*.egg-info",
    "**/tests",
    "**/.DS_Store",
)

# The runtime and the architecture must match the dependency layer's wheels (cdk_app/layer.py builds
# CPython 3.12 manylinux aarch64).
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64

#: Handlers inside the asset, per function role.
PARTITION_HANDLER = _names.PARTITION_HANDLER
FEATURES_HANDLER = _names.FEATURES_HANDLER
REDUCE_HANDLER = _names.REDUCE_HANDLER

# Partition streams the input through hash buckets spilled to /tmp (memory flat, ~270 MB measured at 30M
# rows; the memory buys vCPU for parsing and sorting); Reduce merges the chunk results block by block.
# Defaults, overridable by context (*_memory_mb): 3,008 MB, the most a new account may give a function
# ("New AWS accounts have reduced concurrency and memory quotas"); raise them once the quota is raised.
PARTITION_MEMORY_MB = 3008
PARTITION_TIMEOUT = Duration.minutes(15)  # the Lambda maximum
PARTITION_EPHEMERAL_STORAGE = Size.mebibytes(10_240)  # /tmp: the spill files, ~8.4 bytes a row (the Lambda maximum)

# One Features invocation computes one chunk: 1,769 MB is exactly one vCPU. Chunks are sized by the
# partition step to finish in a few minutes.
FEATURES_MEMORY_MB = 1769
FEATURES_TIMEOUT = Duration.minutes(5)
FEATURES_EPHEMERAL_STORAGE = Size.mebibytes(512)  # /tmp, the Lambda default

REDUCE_MEMORY_MB = 3008
REDUCE_TIMEOUT = Duration.minutes(15)  # the Lambda maximum
REDUCE_EPHEMERAL_STORAGE = Size.gibibytes(4)  # /tmp

#: Default MaxConcurrency of the Distributed Map (context ``max_concurrency``); the execution input may
#: override it per run. A new account's Lambda concurrency quota may be as low as 10: the throttling
#: Retry of the ASL rides through that (at least 15 minutes of continuous throttling per chunk).
MAX_CONCURRENCY = _handler_limits.DEFAULT_MAX_CONCURRENCY
#: The largest MaxConcurrency of a Distributed Map.
MAX_CONCURRENCY_LIMIT = _handler_limits.MAX_CONCURRENCY_LIMIT

#: Lambda's memory range, MB.
LAMBDA_MEMORY_RANGE_MB = (128, 10_240)

#: Powertools service name (``POWERTOOLS_SERVICE_NAME``) of every function.
SERVICE_NAME = _names.SERVICE_NAME

#: Prefix of the server access logs in the access-log bucket.
ACCESS_LOGS_PREFIX = "s3-access/"

#: Abort incomplete multipart uploads (partial objects are billed) after this many days.
ABORT_MULTIPART_AFTER = Duration.days(1)

#: Environment variables the functions read. The bucket lists are comma-separated bucket names.
ENV_BUCKET = _names.ENV_BUCKET
ENV_INPUT_BUCKETS = _names.ENV_INPUT_BUCKETS
ENV_OUTPUT_BUCKETS = _names.ENV_OUTPUT_BUCKETS
#: The stack's default max_concurrency, which the partition step echoes into its output for the Map.
ENV_MAX_CONCURRENCY = _names.ENV_MAX_CONCURRENCY

#: CloudFormation output keys, read by the client with DescribeStacks (keep stable).
OUTPUT_BUCKET_NAME = "BucketName"
OUTPUT_STATE_MACHINE_ARN = "StateMachineArn"
OUTPUT_STATE_MACHINE_NAME = "StateMachineName"
OUTPUT_CONSOLE_URL = "StateMachineConsoleUrl"

#: The AWS console's domain per partition (for the console URL output).
CONSOLE_DOMAINS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
