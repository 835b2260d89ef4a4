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

5. A state's failure is logged (``--verbose``) as one line with the handler's message, not as the
   whole event with the Lambda's stack trace and the state's repr (:func:`install_failure_log`).
6. A StopExecution wins, wherever it lands: an exception after the stop is the stop's, a stopped
   program stays stopped, a stop before the environment or the first state is kept for then, and the
   program's body always runs so its history closes with ``ExecutionAborted`` (:func:`_program_eval`).

``tests/workflow/test_moto_patches.py`` fails if a moto upgrade moves or changes what is patched here.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker import (
    IterationWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator.distributed_iterator_worker import (  # noqa: E501
    DistributedIteratorWorker,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS

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


#: moto's originals, wrapped by the stop patches (kept so that the wrappers call what moto ships).
ORIGINALS: dict[str, Callable[..., Any]] = {
    "evaluate_with_timeout": ExecutionState._evaluate_with_timeout,
    "set_error": Environment.set_error,
    "set_stop": Environment.set_stop,
    "next_state_name": Environment.next_state_name.fset,
    "get_evaluation_environment": ExecutionWorker._get_evaluation_environment,
}
#: Guards ``ExecutionWorker.env`` between the interpreter thread that builds it and a StopExecution.
_worker_env_lock = threading.Lock()
#: Attribute holding a stop that arrived too early: ``(stop_date, cause, error)``.
PENDING_STOP = "_featurize_pending_stop"

StopArgs = tuple[datetime.datetime, str | None, str | None]


def _is_stopped(env: Environment) -> bool:
    return isinstance(env.program_state(), ProgramStopped)


def _evaluate_with_timeout_unless_stopped(self: ExecutionState, env: Environment) -> None:
    """Replacement of ``ExecutionState._evaluate_with_timeout``: an exception after a stop is the stop's.

    Once the program is stopped, the state's remaining components are pruned and its stack is no
    longer consistent: what it raises then is an artefact of the stop, not a task failure, so it must
    not reach the state's failure handling (failed event, Retry, Catch, ``set_error``). The state then
    returns and ``State._eval_body`` sees the program is not running.
    """
    try:
        ORIGINALS["evaluate_with_timeout"](self, env)
    except Exception:
        if _is_stopped(env):
            return
        raise


def _set_error_unless_stopped(self: Environment, error: Any) -> None:
    """Replacement of ``Environment.set_error``: a stopped program stays stopped (AWS: ABORTED is final)."""
    with self._state_mutex:
        if isinstance(self._program_state, ProgramStopped):
            return
        ORIGINALS["set_error"](self, error)


def _set_stop_or_defer(self: Environment, stop_date: datetime.datetime, cause: str | None, error: str | None) -> None:
    """Replacement of ``Environment.set_stop``: before the program has started, keep the stop for then."""
    with self._state_mutex:
        if self._program_state is None:
            setattr(self, PENDING_STOP, (stop_date, cause, error))
            return
        ORIGINALS["set_stop"](self, stop_date=stop_date, cause=cause, error=error)


def _set_next_state_name(self: Environment, next_state_name: str) -> None:
    """Setter of ``Environment.next_state_name`` that applies a deferred stop when the program starts.

    The program's first ``next_state_name`` is what makes it running; a stop kept until then is applied
    at once, and the top-level program records ``ExecutionAborted`` as ``Program._eval_body`` would (it
    will not run: every component prunes on a stopped program).
    """
    with self._state_mutex:
        starting = self._program_state is None
        ORIGINALS["next_state_name"](self, next_state_name)
        pending: StopArgs | None = getattr(self, PENDING_STOP, None) if starting else None
        if pending is None:
            return
        setattr(self, PENDING_STOP, None)
        stop_date, cause, error = pending
        ORIGINALS["set_stop"](self, stop_date=stop_date, cause=cause, error=error)
    # The program's body (:func:`_program_eval`) then writes ExecutionAborted.


def _program_eval(self: Program, env: Environment) -> None:
    """Replacement of ``Program.eval``: the program's body always runs, so a stopped program closes its history.

    moto makes the program running (its first ``next_state_name``), then evaluates it on a thread through
    ``EvalComponent.eval``, which skips ``_eval_body`` unless the program is still running: a StopExecution
    landing in between left ABORTED without ``ExecutionAborted`` in the history. ``_eval_body``'s loop does
    nothing on a stopped program and its tail writes the closing event, once.
    """
    timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
    env.next_state_name = self.start_at.start_at_name
    worker_thread = threading.Thread(target=self._eval_body, args=(env,), daemon=True)
    TMP_THREADS.append(worker_thread)
    worker_thread.start()
    worker_thread.join(timeout=timeout)
    if worker_thread.is_alive():
        env.set_timed_out()


def _get_evaluation_environment(self: ExecutionWorker) -> Environment:
    """Replacement of ``ExecutionWorker._get_evaluation_environment``: publish the env, with any early stop."""
    env = ORIGINALS["get_evaluation_environment"](self)
    with _worker_env_lock:
        self.env = env
        pending: StopArgs | None = getattr(self, PENDING_STOP, None)
    if pending is not None:
        stop_date, cause, error = pending
        env.set_stop(stop_date=stop_date, cause=cause, error=error)
    return env


def _worker_stop(self: ExecutionWorker, stop_date: datetime.datetime, error: str | None, cause: str | None) -> None:
    """Replacement of ``ExecutionWorker.stop``: a stop before the env exists is kept for it."""
    with _worker_env_lock:
        env = self.env
        if env is None:
            setattr(self, PENDING_STOP, (stop_date, cause, error))
            return
    env.set_stop(stop_date=stop_date, cause=cause, error=error)


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
    ExecutionState._evaluate_with_timeout = _evaluate_with_timeout_unless_stopped
    Environment.set_error = _set_error_unless_stopped
    Environment.set_stop = _set_stop_or_defer
    Environment.next_state_name = Environment.next_state_name.setter(_set_next_state_name)
    ExecutionWorker._get_evaluation_environment = _get_evaluation_environment
    ExecutionWorker.stop = _worker_stop
    Program.eval = _program_eval
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


# -- A state's failure is logged in one line (the messages' own block; see install_failure_log) ------
_failure_log_installed = False


def failure_log_line(failure_event_exception: Any) -> str:
    """One line for a FailureEventException: the failed state, the error, the handler's message.

    moto 5.2.5's ``EvalComponent._log_failure_event_exception`` logs the whole event (the Lambda's
    cause JSON with its ``stackTrace``) and the component's repr (``at '(StateFail| {...``): ~3.4 KB
    per failure, at every level of the interpreter it passes through.
    """
    from featurize.client import cause_message

    event = failure_event_exception.failure_event
    error = event.error_name.error_name if event.error_name else "an error"
    pair = failure_event_exception.extract_error_cause_pair() or (None, None)
    cause = cause_message(pair[1] or "")
    return f"state {event.state_name!r} failed: {error}" + (f": {cause}" if cause else "")


def install_failure_log() -> None:
    """Log a state's failure as :func:`failure_log_line` instead of moto's dump (idempotent).

    The log is shown with ``--verbose`` only; the failure itself reaches users as the run's result.
    """
    global _failure_log_installed
    if _failure_log_installed:
        return
    from moto.stepfunctions.parser.asl.component import eval_component

    original = eval_component.EvalComponent._log_failure_event_exception

    def _log_failure_event_exception(self: Any, failure_event_exception: Any) -> None:
        eval_component.LOG.error("%s", failure_log_line(failure_event_exception))

    _log_failure_event_exception.__doc__ = "moto's failure log, as one line (the handler's message, no stack)."
    _log_failure_event_exception.__wrapped__ = original  # type: ignore[attr-defined]
    eval_component.EvalComponent._log_failure_event_exception = _log_failure_event_exception
    _failure_log_installed = True
