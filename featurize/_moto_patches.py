"""Every change featurize makes to moto, in one place (moto is pinned to 5.2.5).

1. ``LambdaFunction._invoke_lambda`` normally runs the function in Docker. Here it calls a dispatcher
   set by the local engine, which runs the real handler in a worker process.
2. The Map workers of moto's Step Functions interpreter recurse once per item, so a worker with
   about 1,000 items dies of a ``RecursionError`` in a daemon thread and leaves the execution RUNNING
   forever. Their ``_eval_pool`` methods are replaced by loops with the same steps in the same order.

``tests/test_moto_patches.py`` fails if a moto upgrade moves or changes what is patched here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker import (
    IterationWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator.distributed_iterator_worker import (  # noqa: E501
    DistributedIteratorWorker,
)

#: ``dispatcher(function, event) -> (payload, errored)``; set by :func:`set_dispatcher`.
Dispatcher = Callable[[LambdaFunction, Any], tuple[Any, bool]]
_dispatcher: Dispatcher | None = None
_installed = False


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Route every Lambda invocation of this process's moto backends to ``dispatcher``."""
    global _dispatcher
    _dispatcher = dispatcher


def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    """Replacement of ``LambdaFunction._invoke_lambda``: returns ``(payload_json, errored, logs)``.

    An errored payload ``{"errorType", "errorMessage"}`` lets Retry/Catch match on ``errorType``.
    """
    if _dispatcher is None:
        payload, errored = {"errorType": "Lambda.ServiceException", "errorMessage": "no local engine"}, True
    else:
        payload, errored = _dispatcher(self, {} if event is None else event)
    return json.dumps(payload), errored, ""


def _looping_eval_pool(open_job_frame: str, close_frame: str, record_source_event: bool) -> Callable[..., None]:
    """Build an ``_eval_pool`` that iterates instead of recursing.

    Parameters
    ----------
    open_job_frame : str
        Method of the worker frame that opens a job's frame (``open_inner_frame`` or ``open_frame``).
    close_frame : str
        Method that closes a frame (``close_frame`` or ``delete_frame``).
    record_source_event : bool
        Whether the last job's last event becomes the worker frame's source event (inline Map).
    """

    def _eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
        if job is None:
            getattr(self._env, close_frame)(worker_frame)
            return
        while True:
            job_frame = getattr(worker_frame, open_job_frame)()
            self._eval_job(env=job_frame, job=job)
            getattr(worker_frame, close_frame)(job_frame)
            if isinstance(job.job_output, Exception) or self.stopped():
                break
            next_job = self._job_pool.next_job()
            if next_job is None:
                if record_source_event:
                    worker_frame.event_history_context.source_event_id = (
                        job_frame.event_history_context.last_published_event_id
                    )
                break
            self._job_pool.close_job(job)
            job = next_job
        getattr(self._env, close_frame)(worker_frame)
        self._job_pool.close_job(job)

    _eval_pool.__doc__ = "Evaluate jobs until the pool is empty (loop instead of moto's recursion)."
    return _eval_pool


#: (class, open-job-frame method, close method, record source event): what each worker does.
LOOPED_WORKERS = (
    (IterationWorker, "open_inner_frame", "close_frame", True),
    (DistributedItemProcessorWorker, "open_inner_frame", "delete_frame", False),
    (DistributedIteratorWorker, "open_frame", "delete_frame", False),
)


def install() -> None:
    """Apply every patch (idempotent)."""
    global _installed
    if _installed:
        return
    LambdaFunction._invoke_lambda = _invoke_lambda
    for cls, open_job_frame, close_frame, record in LOOPED_WORKERS:
        cls._eval_pool = _looping_eval_pool(open_job_frame, close_frame, record)
    _installed = True
