"""The local engine: moto's S3, Lambda and Step Functions on 127.0.0.1, running the real workflow.

The engine starts moto's server in this process on a free loopback port, switches on its Step
Functions interpreter, creates the bucket, the three functions and the state machine from the same
ASL file that deploys to AWS, and runs every Lambda invocation in a process pool of real handlers.
The client then drives it with the same boto3 code it uses on AWS: only the endpoint differs.

This process's own boto3 clients get the endpoint explicitly (:meth:`LocalEngine.client`): the
environment of the calling process (a notebook, say) is never pointed at the engine, except
``MOTO_PORT``, which moto's interpreter reads to build its own clients. Only the worker processes get
``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import multiprocessing
import os
import shutil
import socket
import tempfile
import threading
import urllib.request
import zipfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from featurize_lambda import names

from . import _moto_patches, _worker
from .workflow import render

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "featurize-local"
STATE_MACHINE = "featurize"
ROLE_NAME = "featurize-local"
#: Dummy credentials: moto accepts any.
CREDENTIALS = {"aws_access_key_id": "featurize-local", "aws_secret_access_key": "featurize-local"}

#: Environment of every worker process (the endpoint is added per invocation).
WORKER_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
    "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
}

#: Function role -> (function name, handler). Tests may swap a handler (``handlers=`` argument).
HANDLERS = dict(names.HANDLERS)


@dataclass(frozen=True)
class EngineInfo:
    """What a client needs to drive an engine."""

    endpoint_url: str
    region: str
    bucket: str
    state_machine_arn: str


@dataclass
class Fault:
    """A test hook: make chosen invocations fail as the Lambda service would, before any handler runs.

    The failure reaches the state machine as a Lambda error of type ``error``, so the workflow's own
    Retry (throttling and service errors) and its failure handling apply, exactly as on AWS; the
    handler does not run, so no failure record is written (as when AWS throttles or a sandbox dies).

    Parameters
    ----------
    function : str
        The function's role: ``"partition"``, ``"features"`` or ``"reduce"``.
    chunk : int, optional
        Only invocations whose event is this chunk (a manifest item); None: every invocation.
    times : int, optional
        How many matching invocations fail; None: all of them (a permanent failure).
    error : str
        The error type (``errorType``), e.g. ``Lambda.TooManyRequestsException`` (retried by the
        workflow), ``Sandbox.Timedout`` or ``Runtime.OutOfMemory`` (not retried).
    message : str
        The error message.
    """

    function: str = "features"
    chunk: int | None = None
    times: int | None = 1
    error: str = "Lambda.TooManyRequestsException"
    message: str = "Rate exceeded (injected by the local engine)"
    #: Invocations failed so far.
    injected: int = field(default=0, compare=False)

    def matches(self, role: str, event: Any) -> bool:
        """Whether an invocation of ``role`` with ``event`` is one this fault fails now."""
        if role != self.function or (self.times is not None and self.injected >= self.times):
            return False
        return self.chunk is None or (isinstance(event, dict) and event.get("chunk") == self.chunk)


_running: LocalEngine | None = None
_running_lock = threading.Lock()


def _moto_api(endpoint: str, action: str, document: dict[str, Any] | None) -> None:
    """POST to moto's own API (``/moto-api/reset``, ``/moto-api/config``)."""
    data = json.dumps(document).encode() if document is not None else b""
    request = urllib.request.Request(f"{endpoint}/moto-api/{action}", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _check_port(host: str, port: int) -> None:
    """Raise OSError if ``host:port`` cannot be bound (moto's server thread would hang on it instead)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "featurize local engine: handlers run from the installed package")
    return buffer.getvalue()


class LocalEngine:
    """moto on loopback plus a process pool of real handlers; use as a context manager.

    Parameters
    ----------
    workers : int, optional
        Worker processes (concurrent Lambda invocations); default: the number of cores.
    host : str
        Address to bind (loopback by default).
    port : int
        Port to bind; 0 picks a free one.
    handlers : dict, optional
        Overrides of :data:`HANDLERS` (role -> ``module.function``), for tests.
    log_level : str
        Powertools log level inside the handlers.
    create_resources : bool
        Create the bucket, functions and state machine; False leaves an empty engine (for deploying a
        synthesized CDK template into it: the deploy rehearsal).
    faults : sequence of Fault, optional
        Invocations to fail (a test hook; see :class:`Fault` and :meth:`inject`).
    retry_wait_scale : float
        Multiplies every Retry wait of the workflow (tests of retries use a small value; 1.0 waits
        as long as the ASL says, as AWS does).
    layer_dir : str or pathlib.Path, optional
        A built layer (a directory holding ``python/``, e.g. :func:`cdk_app.layer.twin`) standing in for
        the layers of functions deployed from a code asset, which moto keeps but cannot run. The workers
        then import as a Lambda sandbox does: third-party packages from the asset and this layer only
        (plus the runtime's boto3), never from this venv. Only with ``create_resources=False``.
    """

    def __init__(
        self,
        workers: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        handlers: dict[str, str] | None = None,
        log_level: str = "WARNING",
        create_resources: bool = True,
        faults: Sequence[Fault] = (),
        retry_wait_scale: float = 1.0,
        layer_dir: str | Path | None = None,
    ) -> None:
        if layer_dir is not None and create_resources:
            raise ValueError("layer_dir is for deployed stacks: the engine's own functions run the installed package")
        if layer_dir is not None and not (Path(layer_dir) / "python").is_dir():
            raise ValueError(f"layer_dir {layer_dir} holds no python/ directory")
        self.layer_dir = None if layer_dir is None else Path(layer_dir)
        self.workers = workers or os.cpu_count() or 1
        self.host = host
        self.port = port
        self.handlers = HANDLERS | (handlers or {})
        self.log_level = log_level
        self.create_resources = create_resources
        #: Function name -> the directory its code ran from, when it came from a deployed asset.
        self.code_dirs: dict[str, str] = {}
        self.info: EngineInfo | None = None
        self._endpoint: str | None = None
        self._server: Any = None
        self._pool: ProcessPoolExecutor | None = None
        self.faults: list[Fault] = list(faults)
        self.retry_wait_scale = retry_wait_scale
        self._faults_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> EngineInfo:
        """Start the server, the worker pool and create the stack's resources."""
        from moto.server import ThreadedMotoServer

        global _running
        with _running_lock:
            if _running is not None:
                raise RuntimeError(
                    "a local engine is already running in this process; close it first or drive it "
                    f"through its endpoint {_running._endpoint}"
                )
            _running = self
        try:
            _check_port(self.host, self.port)
        except OSError:
            with _running_lock:
                _running = None
            raise
        _moto_patches.install()
        # Workers start first: they import pandas and the handlers while this process starts moto.
        self._pool = self._new_pool()
        # werkzeug logs every request of the server to stderr; keep only its errors.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto's interpreter warns that ToleratedFailurePercentage has no effect: by design, featurize's
        # Reduce step judges chunk failures itself (see the README), so the warning says nothing new.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto's Step Functions interpreter builds its Lambda/S3 clients from MOTO_PORT.
        os.environ["MOTO_PORT"] = str(port)
        # moto's backends are global to the process: start from a clean slate, then switch on the
        # Step Functions interpreter (both through moto's documented server API).
        _moto_api(endpoint, "reset", None)
        _moto_api(endpoint, "config", {"stepfunctions": {"execute_state_machine": True}})
        self._endpoint = endpoint
        _moto_patches.set_dispatcher(self._dispatch)
        _moto_patches.set_retry_wait_scale(self.retry_wait_scale)
        if self.create_resources:
            self.info = EngineInfo(endpoint, REGION, BUCKET, self._create_resources())
        return self.info

    def close(self) -> None:
        """Stop the server and the workers."""
        global _running
        if _running is not self:
            return
        _moto_patches.set_dispatcher(None)
        _moto_patches.set_retry_wait_scale(1.0)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._endpoint = None
        with _running_lock:
            _running = None

    def __enter__(self) -> LocalEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- clients ---------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """A boto3 client for this engine (explicit endpoint and dummy credentials)."""
        if self._endpoint is None:
            raise RuntimeError("the engine is not started")
        return boto3.client(
            service,
            endpoint_url=self._endpoint,
            region_name=REGION,
            config=Config(retries={"max_attempts": 2}),
            **CREDENTIALS,
        )

    @property
    def endpoint_url(self) -> str:
        """The engine's endpoint (``http://127.0.0.1:<port>``)."""
        if self._endpoint is None:
            raise RuntimeError("the engine is not started")
        return self._endpoint

    def target(self):  # noqa: ANN201 - the type lives in the client module
        """The :class:`featurize.client.Target` of this engine (its bucket and state machine)."""
        from .client import Target

        if self.info is None:
            raise RuntimeError("the engine is not started")
        return Target(self.client("s3"), self.client("stepfunctions"), self.info.bucket, self.info.state_machine_arn)

    # -- internals -------------------------------------------------------------------------------
    def _new_pool(self) -> ProcessPoolExecutor:
        """A worker pool, warming up while the server starts (the endpoint is known only then)."""
        layer_site = None if self.layer_dir is None else str(self.layer_dir / "python")
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_worker.initialize,
            initargs=(WORKER_ENVIRONMENT | {"POWERTOOLS_LOG_LEVEL": self.log_level}, layer_site),
        )
        # Lambda-like workers import the handlers from the deployed asset, known only at the first
        # invocation: they start cold, as a Lambda does.
        modules = () if layer_site else tuple(sorted({h.rpartition(".")[0] for h in self.handlers.values()}))
        for _ in range(self.workers):
            pool.submit(_worker.warm, modules)
        return pool

    # -- fault injection (tests) ------------------------------------------------------------------
    def inject(self, *faults: Fault) -> list[Fault]:
        """Add faults (see :class:`Fault`); returns the engine's current fault list."""
        with self._faults_lock:
            self.faults.extend(faults)
            return list(self.faults)

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._faults_lock:
            self.faults.clear()

    def _injected(self, function: Any, event: Any) -> tuple[Any, bool] | None:
        """The error of the first fault matching this invocation (and count it), else None."""
        role = function.handler.rpartition(".")[0].rpartition(".")[2]
        with self._faults_lock:
            for fault in self.faults:
                if fault.matches(role, event):
                    fault.injected += 1
                    return {"errorType": fault.error, "errorMessage": fault.message}, True
        return None

    def _dispatch(self, function: Any, event: Any) -> tuple[Any, bool]:
        """Run one invocation in the pool (called from moto's server threads)."""
        injected = self._injected(function, event) if self.faults else None
        if injected is not None:
            return injected
        pool = self._pool
        if pool is None:
            return {"errorType": "Lambda.ServiceException", "errorMessage": "the local engine is stopped"}, True
        try:
            # The endpoint travels with each invocation, as a Lambda's environment does.
            variables = dict(function.environment_vars) | {"AWS_ENDPOINT_URL": self._endpoint}
            code_dir = self._code_dir(function)
            future = pool.submit(_worker.invoke, function.handler, event, variables, function.function_name, code_dir)
            return future.result()
        except BrokenProcessPool:
            # A worker died (out of memory, killed): as on AWS, the invocation fails without a payload
            # of the handler's. Replace the pool so later invocations run.
            if self._pool is pool:
                self._pool = self._new_pool()
            return {"errorType": "Runtime.ExitError", "errorMessage": "the worker process died"}, True

    def _code_dir(self, function: Any) -> str | None:
        """Where a function's deployed code asset is unpacked, if it holds its handler module.

        Functions created by this engine carry a placeholder zip and run the installed package; a
        function deployed from a CDK template runs from its own asset, as on AWS.
        """
        code = getattr(function, "code_bytes", b"") or b""
        module_path = function.handler.rpartition(".")[0].replace(".", "/") + ".py"
        digest = hashlib.sha256(code).hexdigest()[:16]
        directory = Path(tempfile.gettempdir()) / "featurize-assets" / digest
        if not directory.is_dir():
            try:
                with zipfile.ZipFile(io.BytesIO(code)) as archive:
                    if module_path not in archive.namelist():
                        return None
                    staging = Path(tempfile.mkdtemp(prefix="featurize-asset-"))
                    archive.extractall(staging)
            except zipfile.BadZipFile:
                return None
            directory.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(directory)
            except OSError:  # another thread unpacked the same asset first
                shutil.rmtree(staging, ignore_errors=True)
        if not (directory / module_path).is_file():
            return None
        self.code_dirs[function.function_name] = str(directory)
        return str(directory)

    def _create_resources(self) -> str:
        iam, s3, lam, sfn = (self.client(name) for name in ("iam", "s3", "lambda", "stepfunctions"))
        role = iam.create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
        )["Role"]["Arn"]
        s3.create_bucket(Bucket=BUCKET)
        code = _dummy_zip()
        arns = {}
        for role_name, handler in self.handlers.items():
            arns[role_name] = lam.create_function(
                FunctionName=f"featurize-{role_name}",
                Runtime="python3.12",
                Role=role,
                Handler=handler,
                Code={"ZipFile": code},
                Timeout=900,
                Environment={
                    "Variables": {
                        names.ENV_BUCKET: BUCKET,
                        "POWERTOOLS_SERVICE_NAME": "featurize",
                        "POWERTOOLS_LOG_LEVEL": self.log_level,
                    }
                },
            )["FunctionArn"]
        definition = render(
            {
                "PartitionFunctionArn": arns["partition"],
                "FeaturesFunctionArn": arns["features"],
                "ReduceFunctionArn": arns["reduce"],
                "BucketName": BUCKET,
            }
        )
        return sfn.create_state_machine(name=STATE_MACHINE, definition=definition, roleArn=role)["stateMachineArn"]
