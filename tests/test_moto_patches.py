"""Every moto patch, checked so that a moto upgrade that breaks one fails here."""

from __future__ import annotations

import inspect
import json
import os

import moto
import pytest
from moto.awslambda.models import LambdaFunction
from moto.stepfunctions.models import StateMachine

from featurize import _moto_patches
from featurize.engine import BUCKET, ROLE_NAME

from .conftest import wait


def test_moto_is_the_pinned_version():
    assert moto.__version__ == "5.2.5"


def test_patched_methods_exist_with_the_signatures_the_patches_assume():
    _moto_patches.install()
    assert LambdaFunction._invoke_lambda is _moto_patches._invoke_lambda
    # the CloudFormation hook is exercised end to end by tests/test_deploy_rehearsal.py
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
