"""Deploy rehearsal: the synthesized CDK template and its assets, deployed into the local engine.

Catches wrong asset contents, handler paths, environment variables and definition substitutions
without AWS (IAM is not enforced locally: the template tests check it). Then the CLI runs on the
deployed stack (``--stack NAME --endpoint URL``) and its result equals the local engine's.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize.cli import app as cli_app
from featurize.engine import ACCOUNT, REGION, LocalEngine

from .conftest import assert_matches_oracle, make_long, tsfresh_minimal

STACK = "RehearsalStack"
# moto skips bucket policies (IAM and TLS enforcement are checked by the template tests instead).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy")


def zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def resolve(text: str) -> str:
    return text.replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Region}", REGION)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    from cdk_app.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, _ = build_app({"stack_name": STACK}, nag=False, outdir=str(outdir))
    app.synth()
    with LocalEngine(workers=2, create_resources=False) as engine:
        s3, ssm, cfn = (engine.client(n) for n in ("s3", "ssm", "cloudformation"))
        ssm.put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="21", Type="String")
        manifest = json.loads((outdir / f"{STACK}.assets.json").read_text())
        for asset in manifest["files"].values():
            source = outdir / asset["source"]["path"]
            body = zip_directory(source) if asset["source"].get("packaging") == "zip" else source.read_bytes()
            for destination in asset["destinations"].values():
                bucket = resolve(destination["bucketName"])
                if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
                    s3.create_bucket(Bucket=bucket)
                s3.put_object(Bucket=bucket, Key=resolve(destination["objectKey"]), Body=body)
        cfn.create_stack(
            StackName=STACK,
            TemplateBody=(outdir / f"{STACK}.template.json").read_text(),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
        )
        deadline = time.monotonic() + 120
        while (status := cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]).endswith("IN_PROGRESS"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status == "CREATE_COMPLETE", status
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
