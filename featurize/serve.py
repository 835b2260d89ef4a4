"""``featurize serve``: the local engine as a long-lived endpoint that any AWS client can drive."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__
from .engine import CREDENTIALS, LocalEngine


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connection_info(engine: LocalEngine) -> dict[str, Any]:
    """What a client needs: endpoint, region, names, and the environment to export."""
    assert engine.info is not None
    info = engine.info
    return {
        # `featurize run` uses a running server only if it is of its own version.
        "version": __version__,
        "endpoint_url": info.endpoint_url,
        "region": info.region,
        "bucket": info.bucket,
        "state_machine_arn": info.state_machine_arn,
        "environment": {
            "AWS_ENDPOINT_URL": info.endpoint_url,
            "AWS_DEFAULT_REGION": info.region,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        },
    }


def running_executions(engine: LocalEngine) -> list[str]:
    """ARNs of the executions still RUNNING on the engine's state machine."""
    assert engine.info is not None
    sfn = engine.client("stepfunctions")
    response = sfn.list_executions(stateMachineArn=engine.info.state_machine_arn, statusFilter="RUNNING")
    return [execution["executionArn"] for execution in response.get("executions", [])]


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees either no file or the whole of it.

    A client (or test) waits for the info file to appear: written in place, it could read it half
    written. A temporary file in the same directory, renamed over ``path``, appears complete.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def serve(
    host: str,
    port: int,
    workers: int | None,
    info_file: Path,
    say: Callable[[str], None],
    stop: threading.Event | None = None,
) -> None:
    """Run the engine until SIGINT/SIGTERM (or ``stop`` is set), then shut it down cleanly.

    On shutdown, executions still running are reported and stopped, the workers end, the port is
    freed and the info file is removed.
    """
    stop = stop or threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    engine = LocalEngine(workers=workers, host=host, port=port)
    try:
        engine.start()
        info = connection_info(engine)
        write_atomically(info_file, json.dumps(info, indent=2) + "\n")
        say(f"featurize engine listening on {info['endpoint_url']} (info: {info_file})")
        say(f"state machine: {info['state_machine_arn']}")
        say(f"bucket:        {info['bucket']}")
        say("export " + " ".join(f"{k}={v}" for k, v in info["environment"].items()))
        say("Ctrl-C or SIGTERM stops it.")
        while not stop.wait(0.5):
            pass
        running = running_executions(engine)
        if running:
            say(f"stopping {len(running)} running execution(s): " + ", ".join(a.rsplit(":", 1)[-1] for a in running))
            sfn = engine.client("stepfunctions")
            for arn in running:
                sfn.stop_execution(executionArn=arn, error="featurize.Shutdown", cause="featurize serve stopped")
        say("shutting down")
    finally:
        engine.close()
        info_file.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
