"""Deploy rehearsal: the synthesized CDK template and its assets, deployed into the local engine.

Catches wrong asset contents, handler paths, environment variables and definition substitutions
without AWS (IAM is not enforced locally: the template tests check it). Then the CLI runs on the
deployed stack (``--stack NAME --endpoint URL``) and its result equals the local engine's.

The functions run their deployed code asset on the x86_64 twin of the dependency layer (same pins, same
trim rules; this machine cannot load the aarch64 layer that deploys), with no access to this venv's
third-party packages but the runtime's boto3: a module the trim removed fails here as on AWS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cdk_app import layer
from featurize.cli import app as cli_app
from featurize.engine import LocalEngine

from ..conftest import assert_matches_oracle, make_long, tsfresh_minimal
from ..rehearsal import STACK, deploy_rehearsal, zip_directory

# moto skips bucket policies (IAM and TLS enforcement are checked by the template tests instead).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy")


#: A handler deployed beside the asset's code: reports where the Lambda-like workers import from.
PROBE_MODULE = """
import importlib
import importlib.metadata


def handler(event, context):
    origins = {name: importlib.import_module(name).__file__ for name in event["present"]}
    absent = {}
    for name in event["absent"]:
        try:
            importlib.import_module(name)
            absent[name] = None
        except ImportError as error:
            absent[name] = str(error)
    versions = {name: importlib.metadata.version(name) for name in event["versions"]}
    return {"origins": origins, "absent": absent, "versions": versions}
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    with deploy_rehearsal(tmp_path_factory.mktemp("cdk.out")) as engine:
        yield engine


def test_the_stack_deploys_with_its_outputs(deployed):
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in deployed.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    }
    assert {"BucketName", "StateMachineArn", "StateMachineConsoleUrl"} <= set(outputs)
    definition = json.loads(
        deployed.client("stepfunctions").describe_state_machine(stateMachineArn=outputs["StateMachineArn"])[
            "definition"
        ]
    )
    assert "${" not in json.dumps(definition)
    assert definition["States"]["Features"]["ItemReader"]["Parameters"]["Bucket"] == outputs["BucketName"]
    functions = deployed.client("lambda").list_functions()["Functions"]
    assert sorted(f["Handler"] for f in functions) == [
        "featurize_lambda.features.handler",
        "featurize_lambda.partition.handler",
        "featurize_lambda.reduce.handler",
    ]
    for function in functions:
        assert function["Environment"]["Variables"]["FEATURIZE_BUCKET"] == outputs["BucketName"]


def test_featurize_run_on_the_deployed_stack_runs_the_deployed_asset(deployed, tmp_path):
    frame = make_long(n_ids=20, kinds=("x", "y"), seed=13)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    result = CliRunner().invoke(
        cli_app,
        ["run", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out.parquet"), "--column-kind", "kind",
         "--chunk-size", "6", "--stack", STACK, "--endpoint", deployed.endpoint_url],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    oracle = tsfresh_minimal(frame, column_id="id", column_sort="time", column_kind="kind", column_value="value")
    assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle)
    # Each function ran from its deployed code asset, not from the installed package.
    assert len(deployed.code_dirs) == 3
    for directory in deployed.code_dirs.values():
        assert (Path(directory) / "featurize_lambda" / "partition.py").is_file()
        assert not (Path(directory) / "featurize").exists() and not (Path(directory) / "tests").exists()


def test_the_deployed_functions_import_their_dependencies_from_the_layer_twin(deployed):
    # A probe handler deployed with the same code asset, in the same Lambda-like workers: each
    # dependency resolves inside the twin, boto3 in the runtime, and what the trim removed is absent.
    lam = deployed.client("lambda")
    role = lam.list_functions()["Functions"][0]["Role"]
    lam.create_function(
        FunctionName="LayerProbe",
        Runtime="python3.12",
        Role=role,
        Handler="layer_probe.handler",
        Code={"ZipFile": zip_directory(deployed.code_asset, {"layer_probe.py": PROBE_MODULE})},
    )
    event = {
        "present": ["pandas", "numpy", "pyarrow", "pyarrow.parquet", "aws_lambda_powertools", "dateutil",
                    "featurize_lambda", "boto3"],
        "absent": ["pyarrow._flight", "pyarrow._s3fs", "tsfresh", "moto"],
        "versions": ["pandas", "numpy", "pyarrow", "aws-lambda-powertools"],
    }  # fmt: skip
    response = lam.invoke(FunctionName="LayerProbe", Payload=json.dumps(event))
    assert "FunctionError" not in response, response["Payload"].read()
    report = json.loads(response["Payload"].read())
    site = str(deployed.twin / "python")
    for name in ("pandas", "numpy", "pyarrow", "pyarrow.parquet", "aws_lambda_powertools", "dateutil"):
        assert report["origins"][name].startswith(site + "/"), (name, report["origins"][name])
    assert report["origins"]["featurize_lambda"].startswith(deployed.code_dirs["LayerProbe"])
    assert not report["origins"]["boto3"].startswith(site)  # the runtime's, not shipped in the layer
    assert all(report["absent"].values()), report["absent"]
    pins = layer.pinned_versions()
    assert report["versions"] == {name: pins[name] for name in event["versions"]}


def test_a_layer_stands_in_only_for_deployed_functions(tmp_path):
    # The engine's own functions run the installed package: a layer there would be silently ignored.
    with pytest.raises(ValueError, match="deployed stacks"):
        LocalEngine(layer_dir=layer.twin())
    with pytest.raises(ValueError, match="no python/ directory"):
        LocalEngine(create_resources=False, layer_dir=tmp_path)
