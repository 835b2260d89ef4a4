"""Every moto patch, checked so that a moto upgrade that breaks one fails here."""

from __future__ import annotations

import inspect
import json
import logging
import os

import moto
import pytest
from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.models import StateMachine

from featurize import _moto_patches
from featurize.engine import BUCKET, ROLE_NAME

from ..conftest import wait


def test_moto_is_the_pinned_version():
    assert moto.__version__ == "5.2.5"


def test_patched_methods_exist_with_the_signatures_the_patches_assume():
    _moto_patches.install()
    assert LambdaFunction._invoke_lambda is _moto_patches._invoke_lambda
    # the CloudFormation hook is exercised end to end by tests/stack/test_deploy_rehearsal.py
    assert StateMachine.create_from_cloudformation_json.__func__ is _moto_patches._state_machine_from_cloudformation
    for cls, *_ in _moto_patches.LOOPED_WORKERS:
        assert "_eval_pool" in vars(cls)
        assert list(inspect.signature(cls._eval_pool).parameters) == ["self", "job", "worker_frame"]
        assert hasattr(cls, "_eval_job") and hasattr(cls, "stopped")


def test_the_retry_wait_is_the_retrier_modules_time_sleep():
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    _moto_patches.install()
    assert retrier_decl.time is _moto_patches.RETRY_CLOCK
    assert "time.sleep(interval_seconds)" in inspect.getsource(retrier_decl.RetrierDecl._eval_body)


def create_machine(engine, name: str, definition: dict) -> str:
    sfn = engine.client("stepfunctions")
    role = engine.client("iam").get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)["stateMachineArn"]


def create_probe(engine) -> str:
    lam = engine.client("lambda")
    role = engine.client("iam").get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    return lam.create_function(
        FunctionName="probe",
        Runtime="python3.12",
        Role=role,
        Handler="tests.probe_handlers.probe",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
        Environment={"Variables": {"FEATURIZE_BUCKET": "b1"}},
    )["FunctionArn"]


def test_lambda_invocations_run_the_handler_in_a_pinned_worker_process(engine):
    create_probe(engine)
    lam = engine.client("lambda")
    response = lam.invoke(FunctionName="probe", Payload=json.dumps({"x": 1}))
    assert "FunctionError" not in response
    payload = json.loads(response["Payload"].read())
    assert payload["pid"] != os.getpid()
    assert payload["endpoint"] == engine.info.endpoint_url
    assert "AWS_ENDPOINT_URL" not in os.environ  # the calling process is never redirected
    assert payload["bucket"] == "b1" and payload["function"] == "probe" and payload["event"] == {"x": 1}
    assert payload["openblas"] == "1" and all(n == 1 for n in payload["blas_threads"])

    failed = lam.invoke(FunctionName="probe", Payload=json.dumps({"fail": True}))
    assert failed["FunctionError"]
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "ProbeError" and error["errorMessage"] == "asked to fail"


def test_task_errors_reach_catch_under_the_handler_error_type(engine):
    arn = (
        create_probe(engine)
        if "probe" not in str(engine.client("lambda").list_functions())
        else (engine.client("lambda").get_function(FunctionName="probe")["Configuration"]["FunctionArn"])
    )
    machine = create_machine(
        engine,
        "catch-probe",
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": arn,
                    "End": True,
                    "Catch": [{"ErrorEquals": ["ProbeError"], "ResultPath": "$.error", "Next": "Failed"}],
                },
                "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
            },
        },
    )
    sfn = engine.client("stepfunctions")
    done = wait(sfn, sfn.start_execution(stateMachineArn=machine, input='{"fail": true}')["executionArn"])
    assert done["status"] == "FAILED" and done["error"] == "ProbeError"
    assert json.loads(done["cause"])["errorMessage"] == "asked to fail"


N_ITEMS = 1001  # a Map worker recursed once per item; past ~970 items it died of RecursionError


@pytest.mark.slow
def test_distributed_map_with_more_than_1000_items_and_one_worker_completes(engine):
    s3 = engine.client("s3")
    s3.put_object(Bucket=BUCKET, Key="tests/items.json", Body=json.dumps([{"i": i} for i in range(N_ITEMS)]))
    machine = create_machine(
        engine,
        "distributed-recursion",
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:getObject",
                        "ReaderConfig": {"InputType": "JSON"},
                        "Parameters": {"Bucket": BUCKET, "Key": "tests/items.json"},
                    },
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        "StartAt": "Pass",
                        "States": {"Pass": {"Type": "Pass", "End": True}},
                    },
                    "MaxConcurrency": 1,
                    "ResultPath": None,
                    "End": True,
                }
            },
        },
    )
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    assert wait(sfn, arn)["status"] == "SUCCEEDED"
    map_run = sfn.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
    assert sfn.describe_map_run(mapRunArn=map_run)["itemCounts"]["succeeded"] == N_ITEMS


@pytest.mark.slow
def test_inline_map_with_more_than_1000_items_and_one_worker_completes(engine):
    machine = create_machine(
        engine,
        "inline-recursion",
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 1,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Pass",
                        "States": {"Pass": {"Type": "Pass", "End": True}},
                    },
                    "End": True,
                }
            },
        },
    )
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": list(range(N_ITEMS))}))
    done = wait(sfn, arn["executionArn"])
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == list(range(N_ITEMS))


def test_the_stop_patches_wrap_the_methods_moto_ships():
    """A moto upgrade that renames or reshapes what the stop patches wrap fails here."""
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    _moto_patches.install()
    originals = _moto_patches.ORIGINALS
    assert ExecutionState._evaluate_with_timeout is _moto_patches._evaluate_with_timeout_unless_stopped
    assert Environment.set_error is _moto_patches._set_error_unless_stopped
    assert Environment.set_stop is _moto_patches._set_stop_or_defer
    assert Environment.next_state_name.fset is _moto_patches._set_next_state_name
    assert ExecutionWorker._get_evaluation_environment is _moto_patches._get_evaluation_environment
    assert ExecutionWorker.stop is _moto_patches._worker_stop
    # what the patches rely on in moto's own code
    assert "self.env = self._get_evaluation_environment()" in inspect.getsource(ExecutionWorker._execution_logic)
    assert "resource_runtime_part: ResourceRuntimePart = env.stack.pop()" in inspect.getsource(
        StateTaskLambda._eval_execution
    )
    assert "isinstance(self._program_state, ProgramRunning)" in inspect.getsource(originals["set_stop"])
    assert "self._program_state = ProgramError(error=error)" in inspect.getsource(originals["set_error"])
    assert list(inspect.signature(originals["evaluate_with_timeout"]).parameters) == ["self", "env"]


def probe_arn(engine) -> str:
    lam = engine.client("lambda")
    if "probe" not in str(lam.list_functions()):
        return create_probe(engine)
    return lam.get_function(FunctionName="probe")["Configuration"]["FunctionArn"]


def lambda_machine(engine, name: str) -> str:
    """Two Lambda tasks in a row, the first with a Retry and a Catch the stop must not trigger."""
    arn = probe_arn(engine)
    return create_machine(
        engine,
        name,
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": arn,
                    "Parameters": {"fail.$": "$.fail"},
                    "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                    "Next": "Again",
                },
                "Again": {"Type": "Task", "Resource": arn, "End": True},
                "Caught": {"Type": "Fail", "Error": "Caught"},
            },
        },
    )


def assert_aborted_cleanly(sfn, arn: str) -> list[str]:
    done = wait(sfn, arn)
    events = [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
    assert done["status"] == "ABORTED", (done, events)
    assert not [e for e in events if e.endswith("Failed")], events
    assert events[0] == "ExecutionStarted" and events[-1] == "ExecutionAborted", events
    return events


def test_a_stop_between_a_lambda_tasks_parameters_and_its_resource_aborts(engine, monkeypatch):
    """The race of the Ctrl-C test, made certain: StopExecution lands after the Parameters are evaluated.

    Unpatched, the Resource is pruned, the task pops the state input as its resource and fails with
    ``'dict' object has no attribute 'region'``, and the execution ends FAILED.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda

    sfn = engine.client("stepfunctions")
    machine = lambda_machine(engine, "stop-between-parameters-and-resource")
    original = StateTaskLambda._eval_parameters
    stopped: list[str] = []

    def parameters_then_stop(self, env):
        parameters = original(self, env)
        if not stopped:  # only the first task
            arn = env.states.context_object.context_object_data["Execution"]["Id"]
            stopped.append(arn)
            engine.client("stepfunctions").stop_execution(executionArn=arn)
        return parameters

    monkeypatch.setattr(StateTaskLambda, "_eval_parameters", parameters_then_stop)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"fail": false}')["executionArn"]
    events = assert_aborted_cleanly(sfn, arn)
    assert stopped == [arn]
    # the task never reached the Lambda, and the stop was not handed to Retry or Catch
    assert "LambdaFunctionSucceeded" not in events and "TaskStateExited" not in events


def test_a_stop_before_the_interpreter_has_built_its_environment_aborts(engine, monkeypatch):
    """StopExecution while the interpreter thread still parses the definition (``env`` is None)."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    sfn = engine.client("stepfunctions")
    machine = lambda_machine(engine, "stop-before-environment")
    original = ExecutionWorker._get_evaluation_entrypoint
    stopped: list[bool] = []

    def stop_then_parse(self):
        assert self.env is None
        engine.client("stepfunctions").stop_execution(executionArn=self._evaluation_details.execution_details.arn)
        stopped.append(True)
        return original(self)

    monkeypatch.setattr(ExecutionWorker, "_get_evaluation_entrypoint", stop_then_parse)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"fail": false}')["executionArn"]
    events = assert_aborted_cleanly(sfn, arn)
    assert stopped == [True] and events == ["ExecutionStarted", "ExecutionAborted"]


def test_a_stop_before_the_program_enters_its_first_state_aborts(engine, monkeypatch):
    """StopExecution after the environment exists but before the program is running (ignored by moto)."""
    from moto.stepfunctions.parser.asl.component.program.program import Program

    sfn = engine.client("stepfunctions")
    machine = lambda_machine(engine, "stop-before-first-state")
    original = Program.eval

    def stop_then_run(self, env):
        assert env.program_state() is None
        arn = env.states.context_object.context_object_data["Execution"]["Id"]
        engine.client("stepfunctions").stop_execution(executionArn=arn)
        return original(self, env)

    monkeypatch.setattr(Program, "eval", stop_then_run)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"fail": false}')["executionArn"]
    assert assert_aborted_cleanly(sfn, arn) == ["ExecutionStarted", "ExecutionAborted"]


def test_a_stop_between_the_programs_start_and_its_body_closes_the_history(engine, monkeypatch):
    """StopExecution after the program is running, before its body runs: moto skipped the body (and with
    it ``ExecutionAborted``), leaving ABORTED with a history that never closes."""
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    sfn = engine.client("stepfunctions")
    machine = lambda_machine(engine, "stop-before-body")
    original = Environment.is_running
    stopped: list[str] = []

    def stop_then_check(self):
        if not stopped and self.program_state() is not None and not self.is_frame():
            stopped.append(self.states.context_object.context_object_data["Execution"]["Id"])
            engine.client("stepfunctions").stop_execution(executionArn=stopped[0])
        return original(self)

    monkeypatch.setattr(Environment, "is_running", stop_then_check)
    arn = sfn.start_execution(stateMachineArn=machine, input='{"fail": false}')["executionArn"]
    assert assert_aborted_cleanly(sfn, arn) == ["ExecutionStarted", "ExecutionAborted"]
    assert stopped == [arn]


def test_task_failures_without_a_stop_still_fail(engine, monkeypatch):
    """The stop patches change nothing for an execution that is not stopped: Retry, then Catch."""
    monkeypatch.setattr(_moto_patches, "_retry_wait_scale", 0.0)
    sfn = engine.client("stepfunctions")
    machine = lambda_machine(engine, "failure-without-stop")
    arn = sfn.start_execution(stateMachineArn=machine, input='{"fail": true}')["executionArn"]
    done = wait(sfn, arn)
    events = [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
    assert done["status"] == "FAILED" and done["error"] == "Caught"
    assert events.count("LambdaFunctionFailed") == 3  # the first attempt and two retries


# -- The engine's block: unnamed executions, the end signal ------------------------------------------
def test_an_unnamed_execution_gets_a_uuid_name_as_on_aws_and_runs_lists_it(engine):
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from typer.testing import CliRunner

    from featurize.cli import app

    assert StepFunctionsParserBackend.start_execution.__wrapped__ is not None  # installed by the engine
    sfn = engine.client("stepfunctions")
    machine = engine.info.state_machine_arn
    # No name twice (the AWS CLI's start-execution without --name): two executions, UUID names.
    arns = [sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"] for _ in range(2)]
    names = [arn.rsplit(":", 1)[1] for arn in arns]
    assert len(set(names)) == 2 and all(str(uuid.UUID(name)) == name for name in names)
    for arn in arns:
        described = wait(sfn, arn)
        assert described["name"] == arn.rsplit(":", 1)[1] and described["status"] == "FAILED"  # no input
    listed = {e["executionArn"]: e.get("name") for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    assert [listed[arn] for arn in arns] == names

    result = CliRunner().invoke(app, ["runs", "--endpoint", engine.endpoint_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert {line.split()[0] for line in result.stdout.splitlines()} >= set(names)


def test_the_end_of_an_execution_is_signalled_to_a_waiting_client(engine):
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    assert ExecutionWorker._execution_logic.__wrapped__ is not None
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=engine.info.state_machine_arn, input="{}")["executionArn"]
    # True: it returned because the execution ended (False would be the 120 s bound).
    assert engine.wait_for_end(arn, 120.0) is True
    assert sfn.describe_execution(executionArn=arn)["status"] != "RUNNING"


# -- The messages' block: a state's failure logged in one line ---------------------------------------
def test_the_failure_log_replaces_the_method_moto_ships():
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    _moto_patches.install_failure_log()
    patched = EvalComponent._log_failure_event_exception
    assert list(inspect.signature(patched.__wrapped__).parameters) == ["self", "failure_event_exception"]


def test_a_failed_task_is_logged_in_one_line_with_the_handlers_message(engine, caplog):
    """moto logged ~3.4 KB per failure: the event with the Lambda's stack trace and the state's repr."""
    arn = (
        create_probe(engine)
        if "probe" not in str(engine.client("lambda").list_functions())
        else (engine.client("lambda").get_function(FunctionName="probe")["Configuration"]["FunctionArn"])
    )
    machine = create_machine(
        engine, "failure-log", {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": arn, "End": True}}}
    )
    caplog.set_level(logging.ERROR, logger="moto.stepfunctions.parser.asl.component.eval_component")
    sfn = engine.client("stepfunctions")
    done = wait(sfn, sfn.start_execution(stateMachineArn=machine, input='{"fail": true}')["executionArn"])
    assert done["status"] == "FAILED" and "stackTrace" in done["cause"]  # the cause itself is AWS's
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("eval_component")]
    assert lines and all(line == "state 'Call' failed: ProbeError: asked to fail" for line in lines), lines
