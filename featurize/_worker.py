"""What runs inside the local engine's worker processes: the real Lambda handlers.

A worker is what a Lambda sandbox is on AWS: it imports the handler named by the function's
configuration and calls it with the event and a context object; the environment carries the
function's variables and points boto3 at the local engine.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import sysconfig
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

#: BLAS/OpenMP thread variables pinned to one thread: workers already use every core.
SINGLE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")

#: Top-level packages the Lambda Python runtime itself provides (boto3 and its dependencies); anything
#: else a handler imports must come from its code asset or its layer.
LAMBDA_RUNTIME_PACKAGES = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six"})

#: Where a Lambda-like worker may import third-party modules from: code assets, then the layer.
_lambda_paths: list[str] = []


class _LambdaImports(importlib.abc.MetaPathFinder):
    """The import view of a Lambda sandbox: the standard library, the runtime's boto3, the asset, the layer.

    Installed first on ``sys.meta_path``: a top-level module that is none of those is looked up only in
    the asset and layer directories, so a package (or a module) missing from the layer fails to import
    here as it would on AWS, instead of being found in this venv's site-packages.
    """

    def __init__(self) -> None:
        # The interpreter's own directories, for private modules that sys.stdlib_module_names omits
        # (``_sysconfigdata_*``).
        stdlib = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
        self.stdlib_paths = sorted(stdlib | {os.path.join(p, "lib-dynload") for p in stdlib})

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if "." in name or name in sys.builtin_module_names or name in sys.stdlib_module_names:
            return None  # submodules resolve through their package's __path__
        if name in LAMBDA_RUNTIME_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, [*_lambda_paths, *self.stdlib_paths])
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r} in the code asset or the layer", name=name)
        return spec


@dataclass
class LocalContext:
    """The subset of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        """Local runs have no deadline; report the Lambda maximum (15 minutes)."""
        return 900_000


def initialize(environment: dict[str, str], layer_site: str | None = None) -> None:
    """Process-pool initializer: the engine endpoint, dummy credentials and one BLAS thread.

    ``layer_site``, when given, is a layer's ``python/`` directory: the worker then imports like a Lambda
    sandbox (:class:`_LambdaImports`), its third-party packages from the layer and the code asset only.
    """
    os.environ.update(environment)
    os.environ.update(dict.fromkeys(SINGLE_THREAD, "1"))
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if layer_site is not None:
        # /opt/python comes after the code (/var/task) and before the runtime's packages, as on AWS.
        # Both are read-only there: no byte code is written (and the cached layer stays as built).
        sys.dont_write_bytecode = True
        _lambda_paths.append(layer_site)
        sys.path.insert(0, layer_site)
        sys.meta_path.insert(0, _LambdaImports())


def warm(modules: tuple[str, ...]) -> int:
    """Import the handler modules ahead of the first invocation (as a provisioned Lambda would).

    Also what every first invocation would pay once per worker otherwise: boto3's S3 service model
    (loaded into the default session's cache by creating a client; nothing connects) and pyarrow's
    Parquet modules (a tiny in-memory round trip). Forked workers inherit both.
    """
    for module in modules:
        importlib.import_module(module)
    import io

    import boto3
    import pandas as pd

    boto3.client("s3", region_name=os.environ.get("AWS_REGION", "us-east-1"), endpoint_url="http://127.0.0.1:9")
    buffer = io.BytesIO()
    pd.DataFrame({"id": [0], "value": [0.0]}).to_parquet(buffer, index=False)
    pd.read_parquet(io.BytesIO(buffer.getvalue()))
    return os.getpid()


def _use_code_dir(code_dir: str) -> None:
    """Import the packages of ``code_dir`` (an unpacked asset) from there, not from the installed copy."""
    if sys.path[0] != code_dir:
        sys.path.insert(0, code_dir)
    if code_dir not in _lambda_paths:
        _lambda_paths.insert(0, code_dir)
    packages = {p.name for p in Path(code_dir).iterdir() if p.is_dir()}
    for name in list(sys.modules):
        top = name.partition(".")[0]
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if top in packages and not module_file.startswith(code_dir):
            del sys.modules[name]


def invoke(
    handler: str, event: Any, variables: dict[str, str], function_name: str, code_dir: str | None = None
) -> tuple[Any, bool]:
    """Call ``module.function`` (the Lambda ``Handler`` string) as the Lambda runtime would.

    ``code_dir``, when given, is the function's unpacked code asset: the handler is imported from it.

    Returns
    -------
    tuple
        ``(payload, errored)``; an error becomes ``{"errorType", "errorMessage", "stackTrace"}``.
    """
    os.environ.update(variables)
    if code_dir is not None:
        _use_code_dir(code_dir)
    try:
        module_name, _, function = handler.rpartition(".")
        entry = getattr(importlib.import_module(module_name), function)
        return entry(event, LocalContext(function_name=function_name)), False
    except Exception as error:  # noqa: BLE001 - every error is reported as the Lambda runtime does
        return {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
            "stackTrace": traceback.format_exception(error),
        }, True
