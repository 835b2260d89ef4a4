"""The one ASL file: valid, with placeholders for the ARNs and the bucket only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from featurize.workflow import ASL_PATH, PLACEHOLDERS, load_definition, render

ROOT = Path(__file__).resolve().parent.parent
SUBSTITUTIONS = {name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in PLACEHOLDERS}
SUBSTITUTIONS["BucketName"] = "my-bucket"


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


def test_placeholders_are_exactly_the_function_arns_and_the_bucket():
    found = set(re.findall(r"\$\{(\w+)\}", load_definition()))
    assert (
        found == set(PLACEHOLDERS) == {"PartitionFunctionArn", "FeaturesFunctionArn", "ReduceFunctionArn", "BucketName"}
    )


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
    assert features["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert isinstance(features["MaxConcurrency"], int) and features["MaxConcurrency"] > 0
    # moto's grammar needs a non-integer number here; AWS accepts it. 100 %: Reduce judges failures.
    assert "100.0" in json.dumps(features["ToleratedFailurePercentage"])
    assert "WriterConfig" not in features["ResultWriter"]
    task = features["ItemProcessor"]["States"]["ComputeFeatures"]
    assert "Lambda.TooManyRequestsException" in task["Retry"][0]["ErrorEquals"]
    for name in ("Partition", "Features", "Reduce"):
        catch = states[name]["Catch"][0]
        assert catch["ErrorEquals"] == ["States.ALL"]
        fail = states[catch["Next"]]
        assert fail["Type"] == "Fail" and fail["ErrorPath"] == "$.error.Error" and fail["CausePath"] == "$.error.Cause"
    assert states["Partition"]["Next"] == "Features" and states["Features"]["Next"] == "Reduce"
    assert states["Reduce"]["End"] is True
