"""The local engine: moto's S3, Lambda and Step Functions on 127.0.0.1, running the real workflow.

The engine starts moto's server in this process on a free loopback port, switches on its Step
Functions interpreter, creates the bucket, the three functions and the state machine from the same
ASL file that deploys to AWS, and runs every Lambda invocation in an isolated worker process of real handlers
(:mod:`featurize.workers`): a worker that dies fails only its own invocation, as a Lambda sandbox.
The client then drives it with the same boto3 code it uses on AWS: only the endpoint differs.

This process's own boto3 clients get the endpoint explicitly (:meth:`LocalEngine.client`): the
environment of the calling process (a notebook, say) is never pointed at the engine, except
``MOTO_PORT``, which moto's interpreter reads to build its own clients. Only the worker processes get
``AWS_ENDPOINT_URL``.

The engine's own logs (moto, werkzeug, Flask, the workers' stderr) are silent unless it is verbose
(:func:`set_verbose`, the CLI's ``--verbose``): errors reach the user through the run's result.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

import boto3
from botocore.config import Config

from featurize_lambda import names

from .workers import PoolClosed, WorkerPool
from .workflow import render

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "featurize-local"
STATE_MACHINE = "featurize"
ROLE_NAME = "featurize-local"
#: The AWS services featurize creates clients of (a ``Literal``, as the boto3 stubs type ``client``).
ServiceName = Literal["s3", "stepfunctions", "cloudformation", "iam", "lambda", "logs"]


class Credentials(TypedDict):
    """Keyword arguments of ``boto3.client`` that set static credentials."""

    aws_access_key_id: str
    aws_secret_access_key: str


#: Dummy credentials: moto accepts any.
CREDENTIALS: Credentials = {"aws_access_key_id": "featurize-local", "aws_secret_access_key": "featurize-local"}

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

#: The default of :class:`LocalEngine`'s ``verbose`` (the CLI's ``--verbose`` sets it).
_verbose = False

#: Loggers of the engine's machinery: quiet unless verbose (their errors reach users as results).
ENGINE_LOGGERS = ("werkzeug", "moto", "flask", "botocore", "urllib3")

#: Seconds between two checks for invocations of ended executions (killed so the workers are free).
REAP_SECONDS = 0.1


def set_verbose(verbose: bool) -> None:
    """Whether engines started from now on show their logs and their workers' stderr."""
    global _verbose
    _verbose = verbose


def _quiet_logs(verbose: bool) -> None:
    """Silence the engine's loggers, or (verbose) show their warnings and errors."""
    for name in ENGINE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if verbose else logging.CRITICAL + 1)
    # moto's interpreter warns that ToleratedFailurePercentage has no effect: by design, featurize's
    # Reduce step judges chunk failures itself (see the README), so the warning says nothing new.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.ERROR if verbose else logging.CRITICAL + 1)


def _check_port(host: str, port: int) -> None:
    """Raise OSError if ``host:port`` cannot be bound (moto's server thread would hang on it instead)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _defer_moto_batch() -> None:
    """Load the ``moto.batch`` package only when one of its names is used (never, by this workflow).

    moto's Step Functions interpreter imports ``moto.batch.utils`` for its Batch integration, and the
    package's ``__init__`` imports its models and through them ``moto.ec2``: about 1.5 s of every
    engine start (measured) for a service the workflow never calls. The package module is created
    without running its ``__init__``; the first attribute read runs it, so moto's own use still works.
    """
    if "moto.batch" in sys.modules:
        return
    import moto

    spec = importlib.util.find_spec("moto.batch")
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def load_on_use(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        del module.__dict__["__getattr__"]
        loader.exec_module(module)
        return getattr(module, name)

    module.__getattr__ = load_on_use  # type: ignore[method-assign]
    sys.modules["moto.batch"] = module
    moto.batch = module


def _stop_server(server: Any) -> None:
    """Stop moto's threaded server without waiting out its 0.5 s poll interval.

    ``serve_forever`` looks at its shutdown flag between two ``select`` calls of 0.5 s; a connection
    wakes the ``select``, so the loop sees the flag at once (the connection is closed unanswered).
    """
    host, port = server.get_host_and_port()
    stopping = threading.Thread(target=server.stop, name="featurize-server-stop", daemon=True)
    stopping.start()
    for _ in range(500):  # bounded: at most ~5 s, the poll interval ten times over
        stopping.join(0.01)
        if not stopping.is_alive():
            return
        try:
            socket.create_connection((host, port), timeout=0.1).close()
        except OSError:
            pass
    stopping.join()


def _ended(execution: Any) -> bool:
    """Whether a moto execution ended or was asked to stop (its program no longer runs)."""
    status = getattr(execution.exec_status, "value", execution.exec_status)
    if status not in (None, "RUNNING"):
        return True
    worker = getattr(execution, "exec_worker", None)
    environment = getattr(worker, "env", None)
    # StopExecution marks the program stopped at once; its status changes when the step returns.
    return environment is not None and not environment.is_running()


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
    verbose : bool, optional
        Show moto's and werkzeug's logs and the workers' stderr; default: :func:`set_verbose`'s value.
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
        verbose: bool | None = None,
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
        self._pool: WorkerPool | None = None
        self.verbose = _verbose if verbose is None else verbose
        self._reaper_stop = threading.Event()
        self.faults: list[Fault] = list(faults)
        self.retry_wait_scale = retry_wait_scale
        self._faults_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> EngineInfo | None:
        """Start the server, the worker pool and create the stack's resources.

        Returns
        -------
        EngineInfo or None
            The endpoint and resources; None with ``create_resources=False`` (there are none).
        """
        _defer_moto_batch()
        from moto.server import ThreadedMotoServer

        from . import _moto_patches

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
        # Workers start first: their template imports pandas and the handlers while this process
        # imports and starts moto.
        self._pool = self._new_pool()
        _quiet_logs(self.verbose)
        _moto_patches.install()
        _moto_patches.install_execution_names()
        _moto_patches.install_end_signal()
        _moto_patches.install_failure_log()
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto's Step Functions interpreter builds its Lambda/S3 clients from MOTO_PORT.
        os.environ["MOTO_PORT"] = str(port)
        # moto's backends are global to the process: start from a clean slate, then switch on the
        # Step Functions interpreter. These are what moto's server API (/moto-api/reset, /moto-api/config)
        # calls; called in-process they spare building that API's web app (~0.15 s of every start).
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}})
        self._endpoint = endpoint
        _moto_patches.set_dispatcher(self._dispatch)
        _moto_patches.set_retry_wait_scale(self.retry_wait_scale)
        self._reaper_stop.clear()
        threading.Thread(target=self._reap, name="featurize-reaper", daemon=True).start()
        if self.create_resources:
            self.info = EngineInfo(endpoint, REGION, BUCKET, self._create_resources())
        return self.info

    def close(self) -> None:
        """Stop the server and the workers."""
        global _running
        if _running is not self:
            return
        from . import _moto_patches

        _moto_patches.set_dispatcher(None)
        _moto_patches.set_retry_wait_scale(1.0)
        self._reaper_stop.set()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._server is not None:
            _stop_server(self._server)
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
    def client(self, service: ServiceName) -> Any:
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
        return Target(
            self.client("s3"), self.client("stepfunctions"), self.info.bucket, self.info.state_machine_arn,
            wait=self.wait_for_end,
        )  # fmt: skip

    def wait_for_end(self, execution_arn: str, seconds: float) -> bool:
        """Return when the execution has ended (moto signals it; True) or after ``seconds`` (False)."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        from . import _moto_patches

        def ended() -> bool:
            for execution in stepfunctions_parser_backends[ACCOUNT][REGION]._get_executions():
                if execution.execution_arn == execution_arn:
                    return getattr(execution.exec_status, "value", execution.exec_status) not in (None, "RUNNING")
            return False

        return _moto_patches.wait_for_execution_end(ended, seconds)

    # -- internals -------------------------------------------------------------------------------
    def _new_pool(self) -> WorkerPool:
        """The workers, warming up while the server starts (the endpoint is known only then).

        Lambda-like workers (``layer_dir``) import the handlers from the deployed asset, known only at
        the first invocation: they start cold, as a Lambda does.
        """
        layer_site = None if self.layer_dir is None else str(self.layer_dir / "python")
        modules = [] if layer_site else sorted({handler.rpartition(".")[0] for handler in self.handlers.values()})
        pool = WorkerPool(
            self.workers,
            WORKER_ENVIRONMENT | {"POWERTOOLS_LOG_LEVEL": self.log_level},
            modules,
            verbose=self.verbose,
            layer_site=layer_site,
        )
        pool.start()
        return pool

    def running_invocations(self) -> list[str | None]:
        """The execution names of the invocations running now (one entry per busy worker)."""
        pool = self._pool
        return pool.running() if pool is not None else []

    @staticmethod
    def _is_running(name: str) -> bool:
        """Whether an execution of this name runs on the engine now."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        executions = stepfunctions_parser_backends[ACCOUNT][REGION]._get_executions()
        return any(execution.name == name and not _ended(execution) for execution in executions)

    def _reap(self) -> None:
        """Kill the invocations of executions that ended (stopped, failed): they would hold workers.

        moto applies a StopExecution only when the running step returns, and its Map keeps its
        items running; AWS ends a stopped execution's work at once.
        """
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        while not self._reaper_stop.wait(REAP_SECONDS):
            pool = self._pool
            tags = {tag for tag in (pool.running() if pool is not None else []) if tag is not None}
            if not tags:
                continue
            ended = set()
            for execution in stepfunctions_parser_backends[ACCOUNT][REGION]._get_executions():
                if execution.name in tags and _ended(execution):
                    ended.add(execution.name)
            for tag in ended:
                if pool is not None:
                    pool.kill(tag, f"execution {tag} ended")

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
        stopped = {"errorType": "Lambda.ServiceException", "errorMessage": "the local engine is stopped"}, True
        if pool is None:
            return stopped
        # The endpoint travels with each invocation, as a Lambda's environment does.
        variables = dict(function.environment_vars) | {"AWS_ENDPOINT_URL": self._endpoint}
        code_dir = self._code_dir(function)
        # The execution an invocation belongs to (Partition's event names it, the others carry the
        # run), if it is running: a direct Invoke naming an ended run belongs to no execution.
        tag = (event.get("execution_name") or event.get("run")) if isinstance(event, dict) else None
        if tag is not None and not self._is_running(str(tag)):
            tag = None
        try:
            # A worker that dies fails only this invocation (Runtime.ExitError) and is replaced.
            return pool.invoke((function.handler, event, variables, function.function_name, code_dir), tag)
        except PoolClosed:
            return stopped

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
