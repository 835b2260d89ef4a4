"""The local engine's worker template: ``python -m featurize._workerhost`` (started by :mod:`featurize.workers`).

This module is the template's own entry point, so a worker never imports the caller's ``__main__``
(a script without ``if __name__ == "__main__":``, ``python -c``, a heredoc or a notebook all work).
The template imports the handlers once, then forks one warm worker per request read on stdin
(``fork``); each worker connects back to the engine's socket and runs one invocation at a time. The
template reports each worker's end on stdout (``exit <pid> <exit code>``), so that the engine can name
how a worker died, as Lambda's ``Runtime.ExitError`` does.

Environment (set by the engine): ``FEATURIZE_WORKER_ADDRESS`` (the engine's Unix socket),
``FEATURIZE_WORKER_AUTHKEY`` (hex), ``FEATURIZE_WORKER_MODULES`` (comma-separated handler modules to
import ahead), ``FEATURIZE_WORKER_SYS_PATH`` (JSON list: the caller's import path, as multiprocessing's
spawn passes it, without its main module).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any


def _report(line: str) -> None:
    """One line on the control pipe (stdout), written in one call so lines never interleave."""
    try:
        os.write(1, (line + "\n").encode())
    except OSError:  # the engine is gone; the template ends when stdin closes
        pass


def _reap(*_: Any) -> None:
    """SIGCHLD: collect every ended worker and report its exit code (negative: killed by that signal)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _report(f"exit {pid} {os.waitstatus_to_exitcode(status)}")


def _serve(address: str, authkey: bytes) -> None:
    """In a forked worker: connect to the engine and run invocations until it hangs up."""
    from multiprocessing.connection import Client

    from featurize import _worker

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle, not each worker's
    # The control pipes belong to the template: a handler's print() goes to stderr instead.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    connection = Client(address, family="AF_UNIX", authkey=authkey)
    connection.send(os.getpid())
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        connection.send(_worker.invoke(*request))


def main() -> None:
    """Warm up, then fork a worker for each ``fork`` line on stdin until stdin closes."""
    address = os.environ["FEATURIZE_WORKER_ADDRESS"]
    authkey = bytes.fromhex(os.environ["FEATURIZE_WORKER_AUTHKEY"])
    sys.path[:] = json.loads(os.environ.get("FEATURIZE_WORKER_SYS_PATH", "[]")) or sys.path
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine stops the template (stdin closes)
    from featurize import _worker

    # A deployed stack's layer (the deploy rehearsal): import as a Lambda sandbox does.
    _worker.initialize({}, os.environ.get("FEATURIZE_WORKER_LAYER_SITE") or None)
    modules = [m for m in os.environ.get("FEATURIZE_WORKER_MODULES", "").split(",") if m]
    _worker.warm(tuple(modules))
    signal.signal(signal.SIGCHLD, _reap)
    _report("ready")
    for line in sys.stdin:
        if line.strip() != "fork":
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _serve(address, authkey)
            except BaseException:  # noqa: BLE001 - a worker never returns into the template's loop
                code = 1
            finally:
                os._exit(code)
        _report(f"forked {pid}")


if __name__ == "__main__":
    main()
