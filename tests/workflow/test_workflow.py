"""The one ASL file: valid, with placeholders for the ARNs, the bucket and the partition only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from featurize.workflow import ASL_PATH, PLACEHOLDERS, load_definition, render

ROOT = Path(__file__).resolve().parents[2]
SUBSTITUTIONS = {name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in PLACEHOLDERS}
SUBSTITUTIONS["BucketName"] = "my-bucket"
SUBSTITUTIONS["AwsPartition"] = "aws"

#: AWS's recommended Retry block for Lambda tasks (Step Functions developer guide, "Handling errors ...
#: Lambda service exceptions"), plus throttling, which featurize retries in a retrier of its own.
LAMBDA_TRANSIENT_ERRORS = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}

TASKS = ("Partition", "Features/ComputeFeatures", "Reduce")


def _task(states: dict, path: str) -> dict:
    if "/" in path:
        outer, inner = path.split("/")
        return states[outer]["ItemProcessor"]["States"][inner]
    return states[path]


def asl_validator(path: Path) -> subprocess.CompletedProcess:
    npx = shutil.which("npx")
    assert npx, "npx (Node) is required"
    return subprocess.run(
        [npx, "--no-install", "asl-validator", "--json-path", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rendered_definition_is_valid_for_asl_validator(tmp_path):
    path = tmp_path / "rendered.asl.json"
    path.write_text(render(SUBSTITUTIONS))
    result = asl_validator(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_rejects_a_broken_definition(tmp_path):
    definition = json.loads(render(SUBSTITUTIONS))
    definition["States"]["Partition"]["Next"] = "NoSuchState"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(definition))
    assert asl_validator(path).returncode != 0


def test_placeholders_are_exactly_the_function_arns_the_bucket_and_the_partition():
    found = set(re.findall(r"\$\{(\w+)\}", load_definition()))
    assert found == set(PLACEHOLDERS) == {
        "PartitionFunctionArn", "FeaturesFunctionArn", "ReduceFunctionArn", "BucketName", "AwsPartition"
    }  # fmt: skip


def test_no_arn_names_a_partition_literally():
    """aws-cn and aws-us-gov accounts would reject arn:aws:states:::s3:... (issue 12)."""
    text = load_definition()
    assert "arn:aws:" not in text
    assert text.count("arn:${AwsPartition}:states:::s3:") == 2


def test_render_fills_in_the_local_partition_and_takes_another():
    given = {k: v for k, v in SUBSTITUTIONS.items() if k != "AwsPartition"}
    local = json.loads(render(given))["States"]["Features"]
    assert local["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    china = json.loads(render(given | {"AwsPartition": "aws-cn"}))["States"]["Features"]
    assert china["ItemReader"]["Resource"] == "arn:aws-cn:states:::s3:getObject"
    assert china["ResultWriter"]["Resource"] == "arn:aws-cn:states:::s3:putObject"


def test_render_substitutes_every_placeholder_and_refuses_partial_substitution():
    rendered = render(SUBSTITUTIONS)
    assert "${" not in rendered
    assert json.loads(rendered)["States"]["Partition"]["Resource"] == SUBSTITUTIONS["PartitionFunctionArn"]
    with pytest.raises(KeyError):
        render({k: v for k, v in SUBSTITUTIONS.items() if k != "BucketName"})


def test_workflow_shape():
    states = json.loads(load_definition())["States"]
    assert ASL_PATH == ROOT / "statemachine" / "featurize.asl.json"
    features = states["Features"]
    assert features["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert features["ItemReader"]["Resource"] == "arn:${AwsPartition}:states:::s3:getObject"
    # Per run: the partition step always writes max_concurrency into its output (the Map's input).
    assert features["MaxConcurrencyPath"] == "$.max_concurrency" and "MaxConcurrency" not in features
    # moto's grammar needs a non-integer number here; AWS accepts it. 100 %: Reduce judges failures.
    assert "100.0" in json.dumps(features["ToleratedFailurePercentage"])
    assert "WriterConfig" not in features["ResultWriter"]
    assert features["ResultPath"] is None  # the partition summary reaches Reduce unchanged
    for name in ("Partition", "Features", "Reduce"):
        # ResultPath "$": the error replaces the state's input, whatever its type. "$.error" would fail
        # with States.Runtime on a non-object execution input (a JSON string or array) instead.
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": f"{name}Failed"}]
        fail = states[f"{name}Failed"]
        assert fail["Type"] == "Fail" and fail["ErrorPath"] == "$.Error" and fail["CausePath"] == "$.Cause"
    assert states["Partition"]["Next"] == "Features" and states["Features"]["Next"] == "Reduce"
    assert states["Reduce"]["End"] is True


@pytest.mark.parametrize("path", TASKS)
def test_every_task_retries_the_transient_lambda_errors_and_nothing_else(path):
    retriers = _task(json.loads(load_definition())["States"], path)["Retry"]
    retried = [error for retrier in retriers for error in retrier["ErrorEquals"]]
    assert sorted(retried) == sorted(LAMBDA_TRANSIENT_ERRORS)  # each once; no States.ALL, no handler errors
    [throttling] = [r for r in retriers if "Lambda.TooManyRequestsException" in r["ErrorEquals"]]
    assert throttling["ErrorEquals"] == ["Lambda.TooManyRequestsException"]  # its own attempt budget
