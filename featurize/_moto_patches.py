"""Every change featurize makes to moto, in one place (moto is pinned to 5.2.5).

1. ``LambdaFunction._invoke_lambda`` normally runs the function in Docker. Here it calls a dispatcher
   set by the local engine, which runs the real handler in a worker process.
2. The Map workers of moto's Step Functions interpreter recurse once per item, so a worker with
   about 1,000 items dies of a ``RecursionError`` in a daemon thread and leaves the execution RUNNING
   forever. Their ``_eval_pool`` methods are replaced by loops with the same steps in the same order.

3. moto's ``AWS::StepFunctions::StateMachine`` ignores ``DefinitionSubstitutions`` and creates the
   machine in the backend that does not execute. The replacement applies the substitutions and creates
   it in the executing backend, so a synthesized CDK template can be deployed into the local engine
   (the deploy rehearsal).
4. A Retry's wait is a real ``time.sleep`` in moto's ``retrier_decl`` module. Its ``time`` is replaced by
   a shim whose ``sleep`` is scaled by :func:`set_retry_wait_scale` (1.0, the real wait, unless a test
   asks for less): fault-injection tests run the workflow's own Retry policy without waiting minutes.

``tests/test_moto_patches.py`` fails if a moto upgrade moves or changes what is patched here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
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
_retry_wait_scale = 1.0


def set_retry_wait_scale(scale: float) -> None:
    """Multiply every Retry wait of the interpreter by ``scale`` (1.0: the waits the ASL asks for)."""
    global _retry_wait_scale
    if scale < 0:
        raise ValueError("the retry wait scale must be >= 0")
    _retry_wait_scale = scale


def _scaled_sleep(seconds: float) -> None:
    time.sleep(seconds * _retry_wait_scale)


#: Replaces the ``time`` module as seen by moto's retrier (it only calls ``time.sleep``).
RETRY_CLOCK = SimpleNamespace(sleep=_scaled_sleep)


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


def _state_machine_from_cloudformation(
    cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
) -> StateMachine:
    """Replacement of ``StateMachine.create_from_cloudformation_json`` (a classmethod)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends
    from moto.stepfunctions.utils import cfn_to_api_tags

    properties = cloudformation_json["Properties"]
    definition = properties.get("DefinitionString", "")
    for key, value in (properties.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    backend = stepfunctions_parser_backends[account_id][region_name]
    return backend.create_state_machine(
        properties.get("StateMachineName", resource_name),
        definition,
        properties.get("RoleArn", ""),
        tags=cfn_to_api_tags(properties.get("Tags", [])),
    )


def install() -> None:
    """Apply every patch (idempotent)."""
    global _installed
    if _installed:
        return
    LambdaFunction._invoke_lambda = _invoke_lambda
    StateMachine.create_from_cloudformation_json = classmethod(_state_machine_from_cloudformation)
    for cls, open_job_frame, close_frame, record in LOOPED_WORKERS:
        cls._eval_pool = _looping_eval_pool(open_job_frame, close_frame, record)
    retrier_decl.time = RETRY_CLOCK
    _installed = True


# -- Unnamed executions get a UUID name (the engine's own block; see install_execution_names) -------
_names_installed = False


def install_execution_names() -> None:
    """Give an execution started without ``name`` a UUID name, as AWS does (idempotent).

    moto 5.2.5's executing backend (``StepFunctionsParserBackend.start_execution``) names it ``None``:
    its ARN ends in ``:None``, its output goes under ``outputs/None/``, the next unnamed start fails
    with ExecutionAlreadyExists and ListExecutions leaves out its ``name``.
    """
    global _names_installed
    if _names_installed:
        return
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    start_execution.__doc__ = "moto's start_execution, with a UUID name when none is given (as AWS)."
    start_execution.__wrapped__ = original  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = start_execution
    _names_installed = True


# -- The end of an execution is signalled (the engine's own block; see install_end_signal) ----------
_end_signal = threading.Condition()
_end_signal_installed = False


def install_end_signal() -> None:
    """Notify :func:`wait_for_execution_end`'s waiters when an execution's interpreter thread ends (idempotent).

    A client in the engine's process then learns of the end at once instead of at its next poll.
    """
    global _end_signal_installed
    if _end_signal_installed:
        return
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._execution_logic

    def _execution_logic(self: Any) -> None:
        try:
            original(self)
        finally:
            with _end_signal:
                _end_signal.notify_all()

    _execution_logic.__doc__ = "moto's execution logic, then a notification that an execution ended."
    _execution_logic.__wrapped__ = original  # type: ignore[attr-defined]
    ExecutionWorker._execution_logic = _execution_logic
    _end_signal_installed = True


def wait_for_execution_end(ended: Callable[[], bool], seconds: float) -> bool:
    """Wait until ``ended()`` is true, checked whenever an execution ends, for at most ``seconds``."""
    with _end_signal:
        return _end_signal.wait_for(ended, seconds)
