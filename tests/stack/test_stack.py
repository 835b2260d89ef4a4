"""Template tests of the CDK app: resources, least-privilege IAM, the workflow wiring, cdk-nag, cfn-lint.

Synthesis costs seconds (jsii starts a Node process), so each configuration is synthesized once per module;
the tests read the template as data. The CDK CLI test runs the real ``npx cdk synth`` of ``cdk.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk  # noqa: E402  (after the variable that silences jsii's banner)
from aws_cdk import Validations  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

import cdk_app.stack as stack_module  # noqa: E402
from cdk_app import constants, layer  # noqa: E402
from cdk_app.app import CDK_JSON, build_app, cdk_json_context  # noqa: E402
from cdk_app.settings import DEFAULTS, Settings  # noqa: E402
from cdk_app.stack import FeaturizeStack  # noqa: E402
from featurize.workflow import PLACEHOLDERS, load_definition  # noqa: E402

# One xdist worker builds every synthesis of this module (``pytest -n 2 --dist loadgroup``).
pytestmark = pytest.mark.xdist_group("cdk")

REPO = Path(__file__).resolve().parents[2]
LAMBDAS = REPO / "lambdas"
RUNTIME_PACKAGE = LAMBDAS / "featurize_lambda"

#: The only actions that may have Resource "*": AWS offers no resource-level permissions for them.
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}

#: A configuration that exercises every context key the default leaves off (values as ``-c`` gives them).
VARIANT_CONTEXT = {
    "stack_name": "FeaturizeVariant",
    "intermediate_expiry_days": "3",
    "upload_expiry_days": "12",
    "log_retention_days": "7",
    "input_buckets": "my-input-a,my-input-b",
    "output_buckets": '["my-output"]',
    "versioned": "true",
    "removal_policy": "destroy",
    "auto_delete_objects": "true",
    "features_memory_mb": "3538",
    "log_level": "debug",
    "max_concurrency": "10",
    "reduce_memory_mb": "10240",
    "input_kms_keys": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "output_kms_keys": '["arn:aws:kms:eu-west-1:444455556666:key/abcd1234-ab12-cd34-ef56-abcdef123456"]',
}

#: The most memory a new account may give a function ("New AWS accounts have reduced concurrency and
#: memory quotas"): the defaults must deploy there.
NEW_ACCOUNT_MEMORY_MB = 3008

#: The throttling a chunk must ride through (a new account's Lambda concurrency quota may be 10).
THROTTLING_SURVIVAL_S = 15 * 60


@dataclass
class Synth:
    """One synthesized configuration."""

    app: aws_cdk.App
    stack: FeaturizeStack
    template: Template
    doc: dict[str, Any]

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.doc["Resources"].items() if v["Type"] == type_}

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child)


def _synth(context: dict[str, Any] | None = None) -> Synth:
    app, stack = build_app(context, nag=False)
    template = Template.from_stack(stack)
    return Synth(app, stack, template, template.to_json())


@pytest.fixture(scope="module")
def default() -> Synth:
    return _synth()


@pytest.fixture(scope="module")
def variant() -> Synth:
    return _synth(VARIANT_CONTEXT)


def _render(value: Any) -> Any:
    """CloudFormation intrinsics as readable text: ``{"Fn::GetAtt": ["B", "Arn"]}`` -> ``<B.Arn>``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_render(v) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return arg[0].join(str(_render(part)) for part in arg[1])
        if fn == "Fn::Select":
            return f"<select {arg[0]} of {_render(arg[1])}>"
        if fn == "Fn::Split":
            return f"<split {arg[0]} {_render(arg[1])}>"
        if fn == "Fn::FindInMap":
            return f"<{arg[0]}[{_render(arg[1])}].{arg[2]}>"
    raise AssertionError(f"unexpected intrinsic {value!r}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(synth: Synth) -> list[tuple[str, dict[str, Any]]]:
    """Every statement of every AWS::IAM::Policy, with the policy's logical id."""
    found = []
    for logical_id, policy in synth.resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found.append((logical_id, statement))
    assert found, "no IAM policy found"
    return found


def _permissions(synth: Synth, role_logical_id: str, prefix: str) -> set[tuple[str, str]]:
    """(action, rendered resource) pairs granted to one role, for actions starting with ``prefix``."""
    pairs = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in _as_list(statement["Action"]):
                if action.startswith(prefix):
                    pairs.update((action, _render(r)) for r in _as_list(statement["Resource"]))
    return pairs


def _role_of(synth: Synth, function: Any) -> str:
    properties = synth.doc["Resources"][synth.logical_id(function)]["Properties"]
    return properties["Role"]["Fn::GetAtt"][0]


def _functions(synth: Synth) -> dict[str, Any]:
    stack = synth.stack
    return {
        "partition": stack.partition_function,
        "features": stack.features_function,
        "reduce": stack.reduce_function,
    }


def _function_properties(synth: Synth, role: str) -> dict[str, Any]:
    return synth.doc["Resources"][synth.logical_id(_functions(synth)[role])]["Properties"]


# -- resources --------------------------------------------------------------------------------------------


def test_resource_counts(default: Synth) -> None:
    default.template.resource_count_is("AWS::S3::Bucket", 2)  # data + server access logs
    default.template.resource_count_is("AWS::Lambda::Function", 3)
    default.template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    default.template.resource_count_is("AWS::Logs::LogGroup", 4)  # 3 functions + state machine
    default.template.resource_count_is("AWS::IAM::Role", 4)  # 3 functions + state machine
    # No custom resource (auto-delete is off by default) and hence no CDK-managed Lambda.
    assert not [r for r in default.doc["Resources"].values() if r["Type"].startswith("Custom::")]


@pytest.mark.parametrize("role", ["partition", "features", "reduce"])
def test_function_runtime_architecture_and_handler(default: Synth, role: str) -> None:
    properties = _function_properties(default, role)
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == f"featurize_lambda.{role}.handler"
    assert properties["TracingConfig"] == {"Mode": "Active"}
    # The handler exists in the runtime package (read as text: importing it would need the layers).
    source = (RUNTIME_PACKAGE / f"{role}.py").read_text(encoding="utf-8")
    assert "\ndef handler(" in source


@pytest.mark.parametrize("role", ["partition", "features", "reduce"])
def test_function_layers(default: Synth, role: str) -> None:
    # Exactly the self-built dependency layer, by reference: no ARN of a layer the stack does not build.
    (layer_id,) = default.resources("AWS::Lambda::LayerVersion")
    assert _function_properties(default, role)["Layers"] == [{"Ref": layer_id}]


def _layer_properties(synth: Synth) -> dict[str, Any]:
    (properties,) = [r["Properties"] for r in synth.resources("AWS::Lambda::LayerVersion").values()]
    return properties


@pytest.mark.parametrize("which", ["default", "variant"])
def test_one_self_built_layer_and_no_managed_one(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    properties = _layer_properties(synth)
    assert properties["CompatibleRuntimes"] == ["python3.12"]
    assert properties["CompatibleArchitectures"] == ["arm64"]
    text = json.dumps(synth.doc)
    # The accounts of the AWS-managed AWSSDKPandas and Powertools layers.
    for managed in ("336392948345", "017000801446", "AWSSDKPandas", "AWSLambdaPowertools"):
        assert managed not in text, managed


def test_the_layer_asset_is_named_by_the_pins_hash(
    default: Synth, variant: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AssetHashType.CUSTOM: the same pins give the same asset whatever the other settings, and the
    # asset changes with the hash alone (CDK never fingerprints the ~170 MB directory).
    key = _layer_properties(default)["Content"]["S3Key"]
    assert _layer_properties(variant)["Content"]["S3Key"] == key
    cached = layer.build("aarch64", layer.PYTHON_VERSION)
    monkeypatch.setattr(layer, "build", lambda *args: cached)
    monkeypatch.setattr(layer, "layer_hash", lambda *args: "0" * 64)
    assert _layer_properties(_synth())["Content"]["S3Key"] != key


def test_a_failed_layer_build_stops_synthesis_instead_of_trying_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    # Returning False from try_bundle would make CDK fall back to Docker; the builder's error must surface.
    def broken(*args: Any) -> Path:
        raise layer.LayerBuildError("pip could not install the aarch64 wheels (simulated)")

    monkeypatch.setattr(layer, "build", broken)
    with pytest.raises(Exception, match="could not build its Lambda layer.*simulated") as raised:
        build_app(nag=False)
    assert "docker" not in str(raised.value).lower()


@pytest.mark.parametrize(
    ("role", "memory_mb", "timeout_s", "tmp_mb"),
    [
        ("partition", constants.PARTITION_MEMORY_MB, 900, 10240),
        ("features", constants.FEATURES_MEMORY_MB, 300, 512),
        ("reduce", constants.REDUCE_MEMORY_MB, 900, 4096),
    ],
)
def test_function_sizes(default: Synth, role: str, memory_mb: int, timeout_s: int, tmp_mb: int) -> None:
    properties = _function_properties(default, role)
    assert properties["MemorySize"] == memory_mb
    assert properties["Timeout"] == timeout_s
    assert properties.get("EphemeralStorage", {"Size": 512}) == {"Size": tmp_mb}


def test_function_memory_follows_context(variant: Synth) -> None:
    assert _function_properties(variant, "features")["MemorySize"] == 3538
    assert _function_properties(variant, "partition")["MemorySize"] == constants.PARTITION_MEMORY_MB


@pytest.mark.parametrize("role", ["partition", "features", "reduce"])
def test_function_environment(default: Synth, role: str) -> None:
    variables = _function_properties(default, role)["Environment"]["Variables"]
    bucket = f"<{default.logical_id(default.stack.bucket)}>"
    expected = {
        "FEATURIZE_BUCKET": bucket,
        "POWERTOOLS_SERVICE_NAME": "featurize",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    if role == "partition":
        expected |= {"FEATURIZE_INPUT_BUCKETS": bucket, "FEATURIZE_OUTPUT_BUCKETS": bucket}
        expected |= {"FEATURIZE_MAX_CONCURRENCY": str(DEFAULTS["max_concurrency"])}
    assert {k: _render(v) for k, v in variables.items()} == expected


def test_granted_bucket_lists_follow_context(variant: Synth) -> None:
    variables = _function_properties(variant, "partition")["Environment"]["Variables"]
    bucket = f"<{variant.logical_id(variant.stack.bucket)}>"
    assert _render(variables["FEATURIZE_INPUT_BUCKETS"]) == f"{bucket},my-input-a,my-input-b"
    assert _render(variables["FEATURIZE_OUTPUT_BUCKETS"]) == f"{bucket},my-output"
    assert variables["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert variables["FEATURIZE_MAX_CONCURRENCY"] == "10"


@pytest.mark.parametrize("role", ["partition", "features", "reduce"])
def test_function_logs_to_its_own_log_group(default: Synth, role: str) -> None:
    properties = _function_properties(default, role)
    log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
    assert default.doc["Resources"][log_group]["Type"] == "AWS::Logs::LogGroup"
    # The role writes to that log group only (no AWSLambdaBasicExecutionRole, no logs:* on "*").
    role_id = _role_of(default, _functions(default)[role])
    assert "ManagedPolicyArns" not in default.doc["Resources"][role_id]["Properties"]
    assert _permissions(default, role_id, "logs:") == {
        ("logs:CreateLogStream", f"<{log_group}.Arn>"),
        ("logs:PutLogEvents", f"<{log_group}.Arn>"),
    }


def test_log_retention(default: Synth, variant: Synth) -> None:
    for synth, days in ((default, DEFAULTS["log_retention_days"]), (variant, 7)):
        groups = synth.resources("AWS::Logs::LogGroup")
        assert len(groups) == 4
        assert {g["Properties"].get("RetentionInDays") for g in groups.values()} == {days}


# -- IAM --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "variant"])
def test_no_wildcard_or_service_wide_actions(which: str, request: pytest.FixtureRequest) -> None:
    for policy, statement in _statements(request.getfixturevalue(which)):
        assert statement["Effect"] == "Allow", policy
        assert "NotAction" not in statement and "NotResource" not in statement, policy
        for action in _as_list(statement["Action"]):
            service, _, name = action.partition(":")
            assert action != "*" and name and name != "*", f"{policy}: service-wide action {action}"


@pytest.mark.parametrize("which", ["default", "variant"])
def test_star_resource_only_for_actions_without_resource_permissions(
    which: str, request: pytest.FixtureRequest
) -> None:
    for policy, statement in _statements(request.getfixturevalue(which)):
        if "*" in _as_list(statement["Resource"]):
            extra = set(_as_list(statement["Action"])) - STAR_RESOURCE_ACTIONS
            assert not extra, f"{policy}: Resource '*' for {sorted(extra)}"


def test_no_managed_policies(default: Synth) -> None:
    for logical_id, role in default.resources("AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], logical_id
        assert "Policies" not in role["Properties"], logical_id


def test_state_machine_invokes_only_the_three_functions(default: Synth) -> None:
    role = default.stack.state_machine.role
    role_id = default.stack.get_logical_id(role.node.default_child)
    functions = [default.logical_id(f) for f in _functions(default).values()]
    expected = {("lambda:InvokeFunction", f"<{f}.Arn>") for f in functions}
    expected |= {("lambda:InvokeFunction", f"<{f}.Arn>:*") for f in functions}
    assert _permissions(default, role_id, "lambda:") == expected
    # No other role may invoke anything.
    for other in default.resources("AWS::IAM::Role"):
        if other != role_id:
            assert _permissions(default, other, "lambda:") == set()


def test_state_machine_manages_its_own_child_executions(default: Synth) -> None:
    role_id = default.stack.get_logical_id(default.stack.state_machine.role.node.default_child)
    name = f"{DEFAULTS['stack_name']}-workflow"
    prefix = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>"
    assert _permissions(default, role_id, "states:") == {
        ("states:StartExecution", f"{prefix}:stateMachine:{name}"),
        ("states:DescribeExecution", f"{prefix}:execution:{name}/*"),
        ("states:StopExecution", f"{prefix}:execution:{name}/*"),
        ("states:RedriveExecution", f"{prefix}:execution:{name}/*"),
    }
    machine = default.doc["Resources"][default.logical_id(default.stack.state_machine)]
    assert machine["Properties"]["StateMachineName"] == name
    # The Map's permissions are a separate policy the machine depends on (no circular reference).
    map_policy = default.stack.get_logical_id(default.stack.node.find_child("DistributedMapPolicy").node.default_child)
    assert map_policy in machine["DependsOn"]
    machine_id = default.logical_id(default.stack.state_machine)
    assert machine_id not in json.dumps(default.doc["Resources"][map_policy]["Properties"])


def test_s3_permissions_per_role(default: Synth) -> None:
    stack = default.stack
    bucket = f"<{default.logical_id(stack.bucket)}.Arn>"
    roles = {name: _role_of(default, fn) for name, fn in _functions(default).items()}
    roles["state machine"] = stack.get_logical_id(stack.state_machine.role.node.default_child)
    expected = {
        "partition": {
            ("s3:GetObject", f"{bucket}/*"),
            ("s3:ListBucket", bucket),
            ("s3:PutObject", f"{bucket}/runs/*"),
        },
        "features": {
            ("s3:GetObject", f"{bucket}/runs/*"),
            ("s3:ListBucket", bucket),
            ("s3:PutObject", f"{bucket}/runs/*"),
        },
        "reduce": {
            ("s3:GetObject", f"{bucket}/runs/*"),
            ("s3:ListBucket", bucket),
            ("s3:PutObject", f"{bucket}/outputs/*"),
            ("s3:AbortMultipartUpload", f"{bucket}/outputs/*"),  # the output is uploaded in parts
            ("s3:PutObject", f"{bucket}/runs/*/failures.json"),  # the run's failure list
        },
        "state machine": {
            ("s3:GetObject", f"{bucket}/runs/*"),
            ("s3:GetObject", f"{bucket}/mapruns/*"),
            ("s3:PutObject", f"{bucket}/mapruns/*"),
            ("s3:ListMultipartUploadParts", f"{bucket}/mapruns/*"),
            ("s3:AbortMultipartUpload", f"{bucket}/mapruns/*"),
        },
    }
    assert {name: _permissions(default, role, "s3:") for name, role in roles.items()} == expected


def test_extra_buckets_are_granted_to_the_right_function_only(variant: Synth) -> None:
    roles = {name: _role_of(variant, fn) for name, fn in _functions(variant).items()}
    partition = _permissions(variant, roles["partition"], "s3:")
    reduce = _permissions(variant, roles["reduce"], "s3:")
    for name in ("my-input-a", "my-input-b"):
        assert ("s3:GetObject", f"arn:<AWS::Partition>:s3:::{name}/*") in partition
        assert ("s3:ListBucket", f"arn:<AWS::Partition>:s3:::{name}") in partition
        assert not [p for p in partition if name in p[1] and p[0] != "s3:GetObject" and p[0] != "s3:ListBucket"]
    assert ("s3:PutObject", "arn:<AWS::Partition>:s3:::my-output/*") in reduce
    assert ("s3:AbortMultipartUpload", "arn:<AWS::Partition>:s3:::my-output/*") in reduce
    everything = json.dumps(variant.doc)
    assert everything.count("my-output") == everything.count(":s3:::my-output/*") + 1  # + the env list
    for other in ("features",):
        assert not [p for p in _permissions(variant, roles[other], "s3:") if "my-" in p[1]]


# -- bucket -----------------------------------------------------------------------------------------------


def test_buckets_block_public_access_and_encrypt(default: Synth) -> None:
    for logical_id, bucket in default.resources("AWS::S3::Bucket").items():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        rules = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules == [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}], logical_id
        assert bucket["DeletionPolicy"] == "Retain", logical_id


def test_buckets_enforce_ssl(default: Synth) -> None:
    policies = {
        _render(p["Properties"]["Bucket"]): p["Properties"]["PolicyDocument"]["Statement"]
        for p in default.resources("AWS::S3::BucketPolicy").values()
    }
    for logical_id in default.resources("AWS::S3::Bucket"):
        denies = [
            s
            for s in policies[f"<{logical_id}>"]
            if s["Effect"] == "Deny"
            and s["Action"] == "s3:*"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert len(denies) == 1, logical_id
        assert {_render(r) for r in denies[0]["Resource"]} == {f"<{logical_id}.Arn>", f"<{logical_id}.Arn>/*"}


def test_data_bucket_logs_access_to_the_log_bucket(default: Synth) -> None:
    bucket = default.doc["Resources"][default.logical_id(default.stack.bucket)]["Properties"]
    log_bucket = default.logical_id(default.stack.access_log_bucket)
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": log_bucket},
        "LogFilePrefix": "s3-access/",
    }


def _lifecycle(synth: Synth) -> dict[str, dict[str, Any]]:
    bucket = synth.doc["Resources"][synth.logical_id(synth.stack.bucket)]["Properties"]
    return {rule.get("Prefix", ""): rule for rule in bucket["LifecycleConfiguration"]["Rules"]}


def test_intermediates_expire(default: Synth) -> None:
    rules = _lifecycle(default)
    assert set(rules) == {"runs/", "mapruns/", "inputs/"}  # outputs/ are kept
    assert rules["inputs/"]["ExpirationInDays"] == DEFAULTS["upload_expiry_days"] == 30
    for prefix in ("runs/", "mapruns/"):
        assert rules[prefix]["ExpirationInDays"] == DEFAULTS["intermediate_expiry_days"] == 7
    for rule in rules.values():
        assert rule["Status"] == "Enabled"
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "VersioningConfiguration" not in default.doc["Resources"][default.logical_id(default.stack.bucket)]


def test_expiry_versioning_and_removal_follow_context(variant: Synth) -> None:
    rules = _lifecycle(variant)
    assert set(rules) == {"runs/", "mapruns/", "inputs/", ""}
    assert rules["runs/"]["ExpirationInDays"] == rules["mapruns/"]["ExpirationInDays"] == 3
    assert rules["inputs/"]["ExpirationInDays"] == 12
    assert {r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in rules.values()} == {3}
    bucket = variant.doc["Resources"][variant.logical_id(variant.stack.bucket)]
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["DeletionPolicy"] == "Delete"
    assert len([r for r in variant.doc["Resources"].values() if r["Type"] == "Custom::S3AutoDeleteObjects"]) == 2


# -- state machine ----------------------------------------------------------------------------------------


def test_definition_is_the_asl_file_with_substitutions(default: Synth) -> None:
    machine = default.doc["Resources"][default.logical_id(default.stack.state_machine)]["Properties"]
    definition = machine["DefinitionString"]
    text = definition if isinstance(definition, str) else _render(definition)
    assert text == load_definition()
    substitutions = {k: _render(v) for k, v in machine["DefinitionSubstitutions"].items()}
    assert set(substitutions) == set(PLACEHOLDERS)
    functions = {name: default.logical_id(fn) for name, fn in _functions(default).items()}
    assert substitutions == {
        "PartitionFunctionArn": f"<{functions['partition']}.Arn>",
        "FeaturesFunctionArn": f"<{functions['features']}.Arn>",
        "ReduceFunctionArn": f"<{functions['reduce']}.Arn>",
        "BucketName": f"<{default.logical_id(default.stack.bucket)}>",
        "AwsPartition": "<AWS::Partition>",
    }


def test_state_machine_type_logging_and_tracing(default: Synth) -> None:
    machine = default.doc["Resources"][default.logical_id(default.stack.state_machine)]["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"] == {"Enabled": True}
    logging = machine["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    name = _render(default.doc["Resources"][log_group]["Properties"]["LogGroupName"])
    assert name.startswith("/aws/vendedlogs/states/FeaturizeStack-workflow-<select 2 of <split / <AWS::StackId>>>")


def test_outputs(default: Synth) -> None:
    outputs = {key: _render(value["Value"]) for key, value in default.doc["Outputs"].items()}
    machine = default.logical_id(default.stack.state_machine)
    assert outputs == {
        "BucketName": f"<{default.logical_id(default.stack.bucket)}>",
        "StateMachineArn": f"<{machine}>",
        "StateMachineName": f"<{machine}.Name>",
        "StateMachineConsoleUrl": "https://<AWS::Region>.<ConsoleDomain[<AWS::Partition>].Domain>/states/home"
        f"?region=<AWS::Region>#/statemachines/view/<{machine}>",
    }
    # The console of each partition: aws-cn and aws-us-gov have their own domains.
    assert default.doc["Mappings"]["ConsoleDomain"] == {
        "aws": {"Domain": "console.aws.amazon.com"},
        "aws-cn": {"Domain": "console.amazonaws.cn"},
        "aws-us-gov": {"Domain": "console.amazonaws-us-gov.com"},
    }
    assert set(outputs) == {
        constants.OUTPUT_BUCKET_NAME,
        constants.OUTPUT_STATE_MACHINE_ARN,
        constants.OUTPUT_STATE_MACHINE_NAME,
        constants.OUTPUT_CONSOLE_URL,
    }


# -- quotas of a new account, KMS, partitions (issue 12) --------------------------------------------------


@pytest.mark.parametrize("role", ["partition", "features", "reduce"])
def test_default_memory_deploys_on_a_new_account(default: Synth, role: str) -> None:
    assert _function_properties(default, role)["MemorySize"] <= NEW_ACCOUNT_MEMORY_MB
    assert DEFAULTS[f"{role}_memory_mb"] <= NEW_ACCOUNT_MEMORY_MB
    assert DEFAULTS["partition_memory_mb"] == DEFAULTS["reduce_memory_mb"] == NEW_ACCOUNT_MEMORY_MB


def test_memory_above_the_new_account_cap_by_context(variant: Synth) -> None:
    assert _function_properties(variant, "reduce")["MemorySize"] == 10240


def _definition(synth: Synth) -> dict[str, Any]:
    machine = synth.doc["Resources"][synth.logical_id(synth.stack.state_machine)]["Properties"]
    return json.loads(machine["DefinitionString"])


def _tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every Task state of the definition, the Map's inner ones included."""
    found = {}
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            found[name] = state
        if state["Type"] == "Map":
            found |= _tasks(state["ItemProcessor"])
    return found


def _expected_retry_wait_s(retrier: dict[str, Any]) -> tuple[float, float]:
    """Mean and standard deviation of a retrier's total wait when every attempt fails.

    The n-th wait is IntervalSeconds x BackoffRate^(n-1), capped at MaxDelaySeconds. With JitterStrategy
    FULL, Step Functions waits a uniformly random time between 0 and that delay (the assumption: AWS's
    "full jitter"; moto 5.2.5 implements exactly this), so each wait's mean is half the capped delay and
    its variance the delay squared over 12; the waits are independent.
    """
    interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds", float("inf"))
    delays = [min(interval * rate**n, cap) for n in range(retrier.get("MaxAttempts", 3))]
    if retrier.get("JitterStrategy") == "FULL":
        return sum(d / 2 for d in delays), sum(d * d / 12 for d in delays) ** 0.5
    return float(sum(delays)), 0.0


def test_retry_wait_model_matches_a_hand_computed_policy() -> None:
    # 5, 10, 20, 40, then 60 s capped: the oracle is the arithmetic, written out.
    policy = {"IntervalSeconds": 5, "MaxAttempts": 6, "BackoffRate": 2.0, "MaxDelaySeconds": 60}
    assert _expected_retry_wait_s(policy) == (5 + 10 + 20 + 40 + 60 + 60, 0.0)
    mean, std = _expected_retry_wait_s(policy | {"JitterStrategy": "FULL"})
    assert mean == pytest.approx(195 / 2)
    assert std == pytest.approx((sum(d * d for d in (5, 10, 20, 40, 60, 60)) / 12) ** 0.5)
    # The policy before issue 12 (6 attempts from 2 s) gave up after about a minute of throttling.
    old = {"IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0, "MaxDelaySeconds": 60, "JitterStrategy": "FULL"}
    assert _expected_retry_wait_s(old)[0] == pytest.approx((2 + 4 + 8 + 16 + 32 + 60) / 2)


def test_every_task_rides_through_15_minutes_of_throttling(default: Synth) -> None:
    """A chunk survives a new account's concurrency quota (as low as 10): the throttling Retry of every
    Task waits at least 15 minutes in expectation, and still does two standard deviations below it."""
    tasks = _tasks(_definition(default))
    assert set(tasks) == {"Partition", "ComputeFeatures", "Reduce"}
    for name, task in tasks.items():
        [throttling] = [r for r in task["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]]
        mean, std = _expected_retry_wait_s(throttling)
        assert mean >= THROTTLING_SURVIVAL_S, (name, mean)
        assert mean - 2 * std >= THROTTLING_SURVIVAL_S, (name, mean, std)
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert "Lambda.ClientExecutionTimeoutException" in retried, name


def test_the_map_reads_max_concurrency_from_the_partition_output(default: Synth) -> None:
    features = _definition(default)["States"]["Features"]
    assert features["MaxConcurrencyPath"] == "$.max_concurrency" and "MaxConcurrency" not in features
    assert DEFAULTS["max_concurrency"] == 200


def test_definition_arns_follow_the_deploying_partition(default: Synth) -> None:
    definition = _definition(default)
    text = json.dumps(definition)
    assert "arn:aws:" not in text
    features = definition["States"]["Features"]
    assert features["ItemReader"]["Resource"] == "arn:${AwsPartition}:states:::s3:getObject"
    assert features["ResultWriter"]["Resource"] == "arn:${AwsPartition}:states:::s3:putObject"


def test_no_kms_grant_without_keys(default: Synth) -> None:
    assert not [s for _, s in _statements(default) if any(a.startswith("kms:") for a in _as_list(s["Action"]))]


def test_kms_keys_are_granted_to_the_function_that_uses_them(variant: Synth) -> None:
    roles = {name: _role_of(variant, fn) for name, fn in _functions(variant).items()}
    input_key = VARIANT_CONTEXT["input_kms_keys"]
    [output_key] = json.loads(VARIANT_CONTEXT["output_kms_keys"])
    assert _permissions(variant, roles["partition"], "kms:") == {("kms:Decrypt", input_key)}
    # A multipart upload under SSE-KMS needs both: a data key per upload, decrypted again for each part.
    assert _permissions(variant, roles["reduce"], "kms:") == {("kms:GenerateDataKey", output_key),
                                                              ("kms:Decrypt", output_key)}  # fmt: skip
    assert _permissions(variant, roles["features"], "kms:") == set()
    machine_role = variant.stack.get_logical_id(variant.stack.state_machine.role.node.default_child)
    assert _permissions(variant, machine_role, "kms:") == set()


# -- context and cdk.json ---------------------------------------------------------------------------------


def test_cdk_json_holds_the_setting_defaults_and_the_recommended_feature_flags() -> None:
    context = cdk_json_context()
    assert {k: context[k] for k in DEFAULTS} == DEFAULTS
    # The flags `cdk init` writes for the installed aws-cdk-lib (its recommended-feature-flags.json).
    (tgz,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(tgz) as archive:
        recommended = json.load(archive.extractfile("package/recommended-feature-flags.json"))
    assert {k: context.get(k) for k in recommended} == recommended
    assert json.loads(CDK_JSON.read_text())["app"] == ".venv/bin/python -m cdk_app.app"


def test_feature_flags_reach_apps_built_outside_the_cli(default: Synth) -> None:
    # pytest and plain python get cdk.json's context from build_app, as the CLI would pass it.
    assert default.app.node.try_get_context("@aws-cdk/aws-iam:minimizePolicies") is True
    assert default.app.node.try_get_context("@aws-cdk/core:target-partitions") == ["aws", "aws-cn"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("intermediate_expiry_days", "soon", "expected an integer"),
        ("intermediate_expiry_days", 0, "between 1 and"),
        ("log_retention_days", 8, "accepts only"),
        ("input_buckets", "Not_A_Bucket", "not valid S3 bucket names"),
        ("output_buckets", 42, "list of bucket names"),
        ("auto_delete_objects", True, "requires removal_policy=destroy"),
        ("removal_policy", "snapshot", "expected one of"),
        ("features_memory_mb", 64, "between 128 and 10240"),
        ("versioned", "yes", "expected true or false"),
        ("max_concurrency", 0, "between 1 and 10000"),
        ("max_concurrency", "-1", "expected an integer"),
        ("input_kms_keys", "arn:aws:kms:eu-west-1:111122223333:alias/data", "not aliases"),
        ("output_kms_keys", "my-key", "KMS key ARNs"),
        ("output_kms_keys", 7, "list of KMS key ARNs"),
    ],
)
def test_invalid_context_names_the_key(key: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Settings.from_context({key: value}.get)
    assert repr(key) in str(raised.value)


def test_context_strings_from_the_cli_are_parsed() -> None:
    settings = Settings.from_context(VARIANT_CONTEXT.get)
    assert settings.intermediate_expiry_days == 3
    assert settings.input_buckets == ("my-input-a", "my-input-b")
    assert settings.output_buckets == ("my-output",)
    assert settings.versioned is True and settings.auto_delete_objects is True
    assert settings.log_level == "DEBUG"
    assert settings.max_concurrency == 10 and settings.reduce_memory_mb == 10240
    assert settings.input_kms_keys == (VARIANT_CONTEXT["input_kms_keys"],)
    assert settings.output_kms_keys == tuple(json.loads(VARIANT_CONTEXT["output_kms_keys"]))
    assert Settings.from_context({}.get) == Settings.from_context(DEFAULTS.get)


# -- cdk-nag ----------------------------------------------------------------------------------------------


def _acknowledgements(app: aws_cdk.App) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every acknowledgement in the app."""
    found = []
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id, reason in entry.data.items():
                    found.append((construct.node.path, rule_id.split("::", 1)[-1], reason))
    return found


@pytest.mark.parametrize("context", [None, VARIANT_CONTEXT], ids=["default", "variant"])
def test_cdk_nag_passes_with_reasoned_acknowledgements(context: dict[str, Any] | None, tmp_path: Path) -> None:
    app, _ = build_app(context, nag=True, outdir=str(tmp_path))
    app.synth()  # raises ValidationFailed on any finding that is neither fixed nor acknowledged
    acknowledgements = _acknowledgements(app)
    assert acknowledgements
    for path, rule_id, reason in acknowledgements:
        assert rule_id.startswith("AwsSolutions-"), (path, rule_id)
        assert len(reason.split()) >= 8, f"{path} {rule_id}: the reason must explain, got {reason!r}"


def test_every_acknowledgement_matches_a_real_finding(variant: Synth, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the acknowledgements the checks must fail, and each acknowledgement must cover a finding
    # (a stale or misspelled one would hide nothing today and the wrong thing tomorrow).
    monkeypatch.setattr(stack_module, "_acknowledge", lambda *args: None)
    bare, _ = build_app(VARIANT_CONTEXT, nag=False)
    report = AwsSolutionsChecks().validate_scope(bare)
    assert not report.success
    findings = {(r.construct_path, v.rule_name) for v in report.violations for r in v.violating_resources}
    for path, rule_id, _reason in _acknowledgements(variant.app):
        covered = [p for p, rule in findings if rule == rule_id and (p == path or p.startswith(path + "/"))]
        assert covered, f"acknowledgement {rule_id} on {path} matches no finding"
    acknowledged = {(path, rule_id) for path, rule_id, _ in _acknowledgements(variant.app)}
    for path, rule in findings:
        assert any(rule == r and (path == p or path.startswith(p + "/")) for p, r in acknowledged), (path, rule)


# -- the real CLI synth, cfn-lint and the asset -----------------------------------------------------------


@pytest.fixture(scope="module")
def cli_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``npx cdk synth -q --no-notices`` of cdk.json, into a temporary cloud assembly."""
    if shutil.which("npx") is None or not (REPO / "node_modules" / "aws-cdk").is_dir():
        pytest.fail("the CDK CLI is not installed: run `npm install` (or `make setup`) in the repository root")
    outdir = tmp_path_factory.mktemp("cdk.out")
    env = os.environ | {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_CLI_TELEMETRY": "true"}
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "-q", "--no-notices", "-o", str(outdir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"cdk synth failed:\n{result.stdout}\n{result.stderr}"
    return outdir


def _cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "cfn-lint"), "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_synth_passes_cfn_lint(cli_assembly: Path) -> None:
    template = cli_assembly / f"{DEFAULTS['stack_name']}.template.json"
    result = _cfn_lint(template)
    assert result.returncode == 0, result.stdout + result.stderr


def test_variant_template_passes_cfn_lint(variant: Synth, tmp_path: Path) -> None:
    # Versioning, extra buckets and CDK's auto-delete custom resources are valid CloudFormation too.
    template = tmp_path / "variant.template.json"
    template.write_text(json.dumps(variant.doc))
    result = _cfn_lint(template)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_checks_the_definition(cli_assembly: Path, tmp_path: Path) -> None:
    # The definition is a plain string, so cfn-lint validates the ASL: a broken state must fail.
    doc = json.loads((cli_assembly / f"{DEFAULTS['stack_name']}.template.json").read_text())
    (machine,) = [r for r in doc["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    definition = json.loads(machine["Properties"]["DefinitionString"])
    definition["States"]["Reduce"]["Type"] = "Tsak"
    machine["Properties"]["DefinitionString"] = json.dumps(definition)
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps(doc))
    result = _cfn_lint(broken)
    assert result.returncode != 0 and "Tsak" in result.stdout


def _shipped(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_lambda_asset_is_only_the_runtime_code(cli_assembly: Path) -> None:
    assets = json.loads((cli_assembly / f"{DEFAULTS['stack_name']}.assets.json").read_text())["files"]
    zips = {h: a["source"]["path"] for h, a in assets.items() if a["source"].get("packaging") == "zip"}
    doc = json.loads((cli_assembly / f"{DEFAULTS['stack_name']}.template.json").read_text())
    resources = doc["Resources"].values()
    keys = {r["Properties"]["Code"]["S3Key"] for r in resources if r["Type"] == "AWS::Lambda::Function"}
    layer_keys = {r["Properties"]["Content"]["S3Key"] for r in resources if r["Type"] == "AWS::Lambda::LayerVersion"}
    # Two directory assets: the functions' code and the dependency layer (tests/stack/test_layer.py checks it).
    assert {f"{h}.zip" for h in zips} == keys | layer_keys and len(zips) == 2, zips
    ((asset_hash, path),) = ((h, p) for h, p in zips.items() if f"{h}.zip" in keys)
    files = _shipped(cli_assembly / path)
    # Exactly the source files of lambdas/ (the runtime package and the user's custom feature modules)...
    expected = {f for f in _shipped(LAMBDAS) if "__pycache__" not in f.split("/") and not f.endswith((".pyc", ".pyo"))}
    assert files == expected
    # ...which are Python modules and package data only: no byte code, tests, or the featurize client.
    assert {"featurize_lambda/partition.py", "featurize_lambda/features.py", "featurize_lambda/reduce.py"} <= files
    for name in files:
        parts = name.split("/")
        assert name.endswith((".py", ".json")), name
        assert parts[0] != "featurize" and "tests" not in parts and "__pycache__" not in parts, name
    # Every function deploys that asset.
    assert keys == {f"{asset_hash}.zip"}


def test_the_readme_documents_every_context_key() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert [key for key in DEFAULTS if f"`{key}`" not in readme] == []


def test_building_the_stack_imports_no_data_library() -> None:
    # The stack shares the handlers' limits (featurize_lambda.limits), not their pandas/pyarrow imports.
    code = "import sys, cdk_app.stack; print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))"
    python = str(REPO / ".venv" / "bin" / "python")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
