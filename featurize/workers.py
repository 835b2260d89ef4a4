"""The local engine's workers: one process per slot, forked warm from a template, each isolated.

On AWS every Lambda invocation runs in its own sandbox: one that dies (out of memory, ``os._exit``)
fails only its own invocation. A ``ProcessPoolExecutor`` breaks every invocation in flight when one of
its processes dies; here each slot is its own process, so a dying worker fails only the invocation it
ran (a ``Runtime.ExitError`` naming its exit status, as Lambda reports it) and is replaced by a fresh
fork of the template.

The template is started with :mod:`subprocess` (``python -m featurize._workerhost``), never by
multiprocessing's spawn or forkserver, which re-import the caller's main module: the engine works from
a script without the ``__main__`` guard, ``python -c``, a heredoc and a notebook. It imports pandas and
the handlers once; a fork of it is ready in milliseconds.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

#: BLAS/OpenMP thread variables pinned to one thread: the workers already use every core.
SINGLE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")

#: How long a dead worker's exit code may take to be reported by the template (it reaps at once).
EXIT_REPORT_SECONDS = 2.0


class PoolClosed(RuntimeError):
    """The pool was closed while an invocation waited for a worker."""


@dataclass(eq=False)
class _Worker:
    pid: int
    connection: Connection
    #: Tag of the invocation running now (the execution's name), None when idle.
    tag: str | None = None
    killed: str | None = None


@dataclass
class _Exits:
    """Exit codes reported by the template, by pid."""

    codes: dict[int, int] = field(default_factory=dict)
    condition: threading.Condition = field(default_factory=threading.Condition)


def exit_message(code: int | None) -> str:
    """Lambda's wording for a runtime that ended: ``exit status 137`` or ``signal: killed``."""
    if code is None:
        return "Runtime exited without providing a reason"
    if code < 0:
        try:
            name = signal.Signals(-code).name.removeprefix("SIG").lower()
        except ValueError:
            name = str(-code)
        return f"Runtime exited with error: signal: {'killed' if name == 'kill' else name}"
    return f"Runtime exited with error: exit status {code}"


class WorkerPool:
    """``size`` isolated worker processes, forked from one warm template.

    Parameters
    ----------
    size : int
        Worker processes (concurrent invocations).
    environment : dict
        Variables added to every worker's environment (credentials, region, log level).
    modules : sequence of str
        Modules the template imports ahead (the handlers).
    verbose : bool
        Let the workers' stderr (handler logs, tracebacks) through; otherwise it is discarded (the
        errors themselves travel back in the invocation's payload).
    layer_site : str, optional
        A layer's ``python/`` directory: the workers then import as a Lambda sandbox does (the deploy
        rehearsal; see :func:`featurize._worker.initialize`).
    """

    def __init__(
        self,
        size: int,
        environment: dict[str, str],
        modules: Sequence[str],
        verbose: bool = False,
        layer_site: str | None = None,
    ) -> None:
        self.size = size
        self.environment = dict(environment)
        self.layer_site = layer_site
        self.modules = tuple(modules)
        self.verbose = verbose
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._exits = _Exits()
        self._closed = threading.Event()
        self._template_ended = threading.Event()
        self._template: subprocess.Popen[bytes] | None = None
        self._listener: Listener | None = None
        self._directory: str | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the template (it warms up in the background) and ask it for ``size`` workers."""
        self._directory = tempfile.mkdtemp(prefix="featurize-workers-")
        address = str(Path(self._directory) / "socket")
        authkey = secrets.token_bytes(16)
        self._listener = Listener(address, family="AF_UNIX", authkey=authkey)
        environment = os.environ | self.environment | dict.fromkeys(SINGLE_THREAD, "1") | {
            "FEATURIZE_WORKER_ADDRESS": address,
            "FEATURIZE_WORKER_AUTHKEY": authkey.hex(),
            "FEATURIZE_WORKER_MODULES": ",".join(self.modules),
            "FEATURIZE_WORKER_LAYER_SITE": self.layer_site or "",
            # The caller's import path (its script's folder included), without its main module.
            "FEATURIZE_WORKER_SYS_PATH": json.dumps([p for p in sys.path if p]),
        }
        self._template = subprocess.Popen(
            [sys.executable, "-m", "featurize._workerhost"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if self.verbose else subprocess.DEVNULL,
            env=environment,
            # Its own process group: the terminal's Ctrl-C reaches the caller only, which stops cleanly.
            start_new_session=True,
        )
        for target in (self._accept, self._read_reports):
            thread = threading.Thread(target=target, name=f"featurize-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._request(self.size)

    def close(self) -> None:
        """Kill every worker and the template; invocations in flight fail, waiting ones get PoolClosed."""
        if self._closed.is_set():
            return
        self._closed.set()
        with self._lock:
            workers = list(self._busy)
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker is not None:
                workers.append(worker)
        for worker in workers:
            self._kill(worker, "the local engine stopped")
        for _ in range(self.size * 4):
            self._idle.put(None)  # wake every invocation waiting for a worker
        if self._template is not None:
            # The template holds no state: killing it spares its interpreter's shutdown (~0.3 s).
            self._template.kill()
            self._template.wait()
            for stream in (self._template.stdin, self._template.stdout):
                try:
                    stream.close()  # type: ignore[union-attr]
                except OSError:
                    pass
        if self._listener is not None:
            # Wake the thread blocked in accept() (it then sees the pool closed and returns).
            try:
                with socket.socket(socket.AF_UNIX) as waker:
                    waker.connect(str(self._listener.address))
            except OSError:
                pass
            self._listener.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    # -- invocations -----------------------------------------------------------------------------
    def invoke(self, request: tuple[Any, ...], tag: str | None = None) -> tuple[Any, bool]:
        """Run ``featurize._worker.invoke(*request)`` in a free worker; ``tag`` names its execution.

        Returns
        -------
        tuple
            The handler's ``(payload, errored)``; if the worker died, a ``Runtime.ExitError`` payload
            (the worker is replaced); if it was killed by :meth:`kill` (its execution ended), the
            non-error payload ``{"killed": reason}``, which the ended execution never uses.

        Raises
        ------
        PoolClosed
            If the pool is closed before a worker is free.
        """
        worker = self._idle.get()
        if worker is None or self._closed.is_set():
            self._idle.put(None)
            if self._template_ended.is_set() and not self._closed.is_set():
                raise PoolClosed("the local engine's worker template ended; start the engine again")
            raise PoolClosed("the local engine is stopped")
        with self._lock:
            worker.tag = tag
            self._busy.add(worker)
        try:
            worker.connection.send(request)
            result = worker.connection.recv()
        except (EOFError, OSError):
            return self._died(worker)
        with self._lock:
            self._busy.discard(worker)
            worker.tag = None
        if worker.killed is not None:  # killed just as it answered: it is gone all the same
            return self._died(worker)
        self._idle.put(worker)
        return result

    def kill(self, tag: str, reason: str) -> int:
        """Kill the workers running invocations tagged ``tag``; returns how many."""
        with self._lock:
            doomed = [worker for worker in self._busy if worker.tag == tag and worker.killed is None]
        for worker in doomed:
            self._kill(worker, reason)
        return len(doomed)

    def running(self) -> list[str | None]:
        """The tags of the invocations running now."""
        with self._lock:
            return [worker.tag for worker in self._busy]

    # -- internals -------------------------------------------------------------------------------
    def _kill(self, worker: _Worker, reason: str) -> None:
        worker.killed = reason
        try:
            os.kill(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _died(self, worker: _Worker) -> tuple[Any, bool]:
        """A worker's connection broke: it ended. Replace it and report as Lambda does."""
        with self._lock:
            self._busy.discard(worker)
        worker.connection.close()
        if not self._closed.is_set():
            self._request(1)
        if worker.killed is not None:
            with self._exits.condition:
                self._exits.codes.pop(worker.pid, None)
            # Not an error: its execution has ended (stopped), and moto would record a task error
            # over the stop (FAILED instead of ABORTED). The interpreter discards this result.
            return {"killed": worker.killed}, False
        deadline = time.monotonic() + EXIT_REPORT_SECONDS
        with self._exits.condition:
            while worker.pid not in self._exits.codes and time.monotonic() < deadline:
                self._exits.condition.wait(deadline - time.monotonic())
            code = self._exits.codes.pop(worker.pid, None)
        return {"errorType": "Runtime.ExitError", "errorMessage": f"Error: {exit_message(code)}"}, True

    def _request(self, count: int) -> None:
        """Ask the template for ``count`` more workers."""
        template = self._template
        if template is None or template.stdin is None:
            return
        try:
            template.stdin.write(b"fork\n" * count)
            template.stdin.flush()
        except (OSError, ValueError):  # the template is gone (the pool is closing)
            pass

    def _accept(self) -> None:
        """Take each new worker's connection (it sends its pid first) into the idle queue."""
        assert self._listener is not None
        while not self._closed.is_set():
            try:
                connection = self._listener.accept()
                pid = connection.recv()
            except (OSError, EOFError):
                if self._closed.is_set():
                    return
                continue
            except Exception:  # noqa: BLE001 - a worker that failed the handshake is dropped
                continue
            if self._closed.is_set():
                os.kill(pid, signal.SIGKILL)
                return
            self._idle.put(_Worker(pid, connection))

    def _read_reports(self) -> None:
        """Read the template's ``exit <pid> <code>`` lines."""
        assert self._template is not None and self._template.stdout is not None
        for raw in self._template.stdout:
            parts = raw.decode(errors="replace").split()
            if len(parts) == 3 and parts[0] == "exit":
                with self._exits.condition:
                    self._exits.codes[int(parts[1])] = int(parts[2])
                    self._exits.condition.notify_all()
        # The template ended (killed from outside, or it failed to import the handlers): no worker
        # will come; the invocations waiting for one fail instead of waiting forever.
        self._template_ended.set()
        for _ in range(self.size * 4):
            self._idle.put(None)
