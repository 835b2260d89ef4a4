"""The featurize stack: one bucket, three Lambda functions and the state machine of the ASL file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    Aws,
    CfnMapping,
    CfnOutput,
    Duration,
    Fn,
    Size,
    Stack,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from featurize.workflow import PLACEHOLDERS, load_definition
from featurize_lambda.keys import (
    FAILURE_LIST_NAME,
    INPUTS_PREFIX,
    MAP_RESULTS_PREFIX,
    OUTPUTS_PREFIX,
    RUNS_PREFIX,
)

from . import constants
from .layer import dependencies_layer
from .settings import Settings

#: Actions the Distributed Map needs on its own child executions (AWS Step Functions developer guide,
#: "IAM policies for using Distributed Map states"; RedriveExecution lets a failed Map Run be redriven).
MAP_CHILD_EXECUTION_ACTIONS = ("states:DescribeExecution", "states:StopExecution", "states:RedriveExecution")

#: ResultWriter writes the Map Run's manifest with multipart uploads and reads it back.
RESULT_WRITER_ACTIONS = (
    "s3:PutObject",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
)


@dataclass(frozen=True)
class _Role:
    """What differs between the three functions."""

    name: str
    handler: str
    description: str
    memory_mb: int
    timeout: Duration
    ephemeral_storage: Size


class FeaturizeStack(Stack):
    """Bucket, functions, state machine and outputs of one featurize deployment.

    Parameters
    ----------
    scope : constructs.Construct
        The app.
    construct_id : str
        Construct id (the app uses the stack name).
    settings : Settings
        Parsed context (see :mod:`cdk_app.settings`).
    **kwargs
        Passed to :class:`aws_cdk.Stack` (``env``, ``synthesizer``, ...).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs) -> None:
        super().__init__(
            scope,
            construct_id,
            stack_name=settings.stack_name,
            description="featurize: tsfresh-compatible time-series feature extraction on Step Functions + Lambda",
            **kwargs,
        )
        self.settings = settings
        self.access_log_bucket = self._access_log_bucket()
        self.bucket = self._data_bucket()

        # One asset, shared by the three functions: the runtime code of lambdas/ (featurize_lambda and the
        # user's custom_features modules), without byte code or caches.
        code = lambda_.Code.from_asset(str(constants.LAMBDA_ASSET_DIR), exclude=list(constants.LAMBDA_ASSET_EXCLUDE))
        layers = self._layers()
        self.input_bucket_names = [self.bucket.bucket_name, *settings.input_buckets]
        self.output_bucket_names = [self.bucket.bucket_name, *settings.output_buckets]
        common_env = {
            constants.ENV_BUCKET: self.bucket.bucket_name,
            "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
            "POWERTOOLS_LOG_LEVEL": settings.log_level,
        }
        # The partition step checks the run's input and output buckets against these lists, so that a
        # bucket the stack was not granted fails at once with the context key to set, not with AccessDenied.
        partition_env = common_env | {
            constants.ENV_INPUT_BUCKETS: Fn.join(",", self.input_bucket_names),
            constants.ENV_OUTPUT_BUCKETS: Fn.join(",", self.output_bucket_names),
            # Echoed into the partition step's output, where the Map's MaxConcurrencyPath reads it.
            constants.ENV_MAX_CONCURRENCY: str(settings.max_concurrency),
        }
        self.partition_function = self._function(
            _Role(
                "Partition",
                constants.PARTITION_HANDLER,
                "featurize: validate the input and split it into chunks of whole ids",
                settings.partition_memory_mb,
                constants.PARTITION_TIMEOUT,
                constants.PARTITION_EPHEMERAL_STORAGE,
            ),
            code,
            layers,
            partition_env,
        )
        self.features_function = self._function(
            _Role(
                "Features",
                constants.FEATURES_HANDLER,
                "featurize: compute the features of one chunk",
                settings.features_memory_mb,
                constants.FEATURES_TIMEOUT,
                constants.FEATURES_EPHEMERAL_STORAGE,
            ),
            code,
            layers,
            common_env,
        )
        self.reduce_function = self._function(
            _Role(
                "Reduce",
                constants.REDUCE_HANDLER,
                "featurize: check every chunk result and concatenate them into the output",
                settings.reduce_memory_mb,
                constants.REDUCE_TIMEOUT,
                constants.REDUCE_EPHEMERAL_STORAGE,
            ),
            code,
            layers,
            common_env,
        )
        self._grant_data_access()
        self.state_machine = self._state_machine()
        self._outputs()

    # -- storage -----------------------------------------------------------------------------------------

    def _bucket(self, construct_id: str, **options: Any) -> s3.Bucket:
        """A bucket with the stack's security settings (private, TLS only, SSE-S3) and removal policy."""
        return s3.Bucket(
            self,
            construct_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # Server access log delivery (the log bucket) supports SSE-S3 only.
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=self.settings.removal_policy,
            auto_delete_objects=self.settings.auto_delete_objects,
            **options,
        )

    def _access_log_bucket(self) -> s3.Bucket:
        # Its own access is not logged (that would recurse); cdk-nag's S1 accepts a bucket that is the
        # access-log destination of another bucket of the stack.
        return self._bucket(
            "AccessLogBucket",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(self.settings.access_log_expiry_days),
                    abort_incomplete_multipart_upload_after=constants.ABORT_MULTIPART_AFTER,
                )
            ],
        )

    def _data_bucket(self) -> s3.Bucket:
        days = Duration.days(self.settings.intermediate_expiry_days)
        noncurrent = days if self.settings.versioned else None
        expiry = {
            RUNS_PREFIX: days,
            MAP_RESULTS_PREFIX: days,
            INPUTS_PREFIX: Duration.days(self.settings.upload_expiry_days),
        }
        rules = [
            s3.LifecycleRule(
                id=f"expire-{prefix.rstrip('/')}",
                prefix=prefix,
                expiration=expiration,
                noncurrent_version_expiration=noncurrent,
                abort_incomplete_multipart_upload_after=constants.ABORT_MULTIPART_AFTER,
            )
            for prefix, expiration in expiry.items()
        ]
        if self.settings.versioned:
            # Outputs are kept, but overwritten versions (of any prefix) need not be.
            rules.append(s3.LifecycleRule(id="expire-noncurrent", noncurrent_version_expiration=days))
        return self._bucket(
            "Bucket",
            versioned=self.settings.versioned,
            lifecycle_rules=rules,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix=constants.ACCESS_LOGS_PREFIX,
        )

    # -- functions ---------------------------------------------------------------------------------------

    def _layers(self) -> list[lambda_.ILayerVersion]:
        """The one layer of the functions: their pinned dependencies, built by the project (cdk_app/layer.py).

        No AWS-managed layer: AWSSDKPandas's pyarrow lacks the zstd and lz4 codecs every featurize file
        uses, and its versions differ per region and release (see the README, "What ships").
        """
        return [dependencies_layer(self, "DependenciesLayer")]

    def _function(
        self,
        role: _Role,
        code: lambda_.Code,
        layers: list[lambda_.ILayerVersion],
        environment: dict[str, str],
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{role.name}LogGroup",
            retention=self.settings.log_retention,
            removal_policy=self.settings.removal_policy,
        )
        # An explicit role instead of AWSLambdaBasicExecutionRole: that managed policy lets a function
        # create and write any log group of the account; this one writes only its own.
        execution_role = iam.Role(
            self,
            f"{role.name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"featurize {role.name.lower()} function",
        )
        execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        function = lambda_.Function(
            self,
            f"{role.name}Function",
            description=role.description,
            runtime=constants.RUNTIME,
            architecture=constants.ARCHITECTURE,
            handler=role.handler,
            code=code,
            layers=layers,
            memory_size=role.memory_mb,
            timeout=role.timeout,
            ephemeral_storage_size=role.ephemeral_storage,
            environment=environment,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=execution_role,
        )
        _acknowledge(
            execution_role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) has no resource-level "
            "permissions; AWS requires Resource '*' for these two actions, which is all CDK grants there.",
        )
        _acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.12 is pinned on purpose: the dependency layer is built from CPython 3.12 wheels "
            "(cdk_app/layer.py PYTHON_VERSION) and must move together with the runtime.",
        )
        return function

    # -- permissions -------------------------------------------------------------------------------------

    def _grant_data_access(self) -> None:
        """Least-privilege S3 access of each function (exact actions, prefixes of the stack bucket)."""
        bucket = self.bucket
        runs_objects = bucket.arn_for_objects(f"{RUNS_PREFIX}*")
        extra_inputs = [
            s3.Bucket.from_bucket_name(self, f"InputBucket{i}", name)
            for i, name in enumerate(self.settings.input_buckets)
        ]
        extra_outputs = [
            s3.Bucket.from_bucket_name(self, f"OutputBucket{i}", name)
            for i, name in enumerate(self.settings.output_buckets)
        ]

        # ListBucket makes a missing key a 404 (NoSuchKey, reported by name) instead of a 403.
        partition = self.partition_function.role
        partition.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadInputs",
                actions=["s3:GetObject"],
                resources=[b.arn_for_objects("*") for b in (bucket, *extra_inputs)],
            )
        )
        partition.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListInputBuckets",
                actions=["s3:ListBucket"],
                resources=[b.bucket_arn for b in (bucket, *extra_inputs)],
            )
        )
        partition.add_to_principal_policy(
            iam.PolicyStatement(sid="WriteChunks", actions=["s3:PutObject"], resources=[runs_objects])
        )

        for function, sid in ((self.features_function, "Features"), (self.reduce_function, "Reduce")):
            function.role.add_to_principal_policy(
                iam.PolicyStatement(sid=f"{sid}ReadRuns", actions=["s3:GetObject"], resources=[runs_objects])
            )
            function.role.add_to_principal_policy(
                iam.PolicyStatement(sid=f"{sid}ListBucket", actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
            )
        self.features_function.role.add_to_principal_policy(
            iam.PolicyStatement(sid="WriteResults", actions=["s3:PutObject"], resources=[runs_objects])
        )
        # The output is uploaded in parts when large: a failed upload is aborted, not left to the lifecycle rule.
        self.reduce_function.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteOutputs",
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[
                    bucket.arn_for_objects(f"{OUTPUTS_PREFIX}*"),
                    *(b.arn_for_objects("*") for b in extra_outputs),
                ],
            )
        )
        # The run's failure list (every failed chunk), which a failed run's cause points to.
        self.reduce_function.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteFailureLists",
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{RUNS_PREFIX}*/{FAILURE_LIST_NAME}")],
            )
        )
        # Buckets encrypted with SSE-KMS: reading needs kms:Decrypt; writing needs kms:GenerateDataKey, and
        # a multipart upload also kms:Decrypt (S3 decrypts the data key to assemble the parts).
        if self.settings.input_kms_keys:
            partition.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="DecryptInputs", actions=["kms:Decrypt"], resources=list(self.settings.input_kms_keys)
                )
            )
        if self.settings.output_kms_keys:
            self.reduce_function.role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="EncryptOutputs",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=list(self.settings.output_kms_keys),
                )
            )

        reason_runs = (
            "Scoped to the runs/ prefix of the stack's own bucket, where each run keeps its chunks, results "
            "and manifest under a per-execution key chosen at run time; the prefix cannot be narrower."
        )
        _acknowledge(
            partition,
            self._object_finding(bucket, "*"),
            "The partition step reads its input from any key of the stack bucket (the client "
            "uploads local files there; users name their own keys); read-only.",
        )
        _acknowledge(partition, self._object_finding(bucket, f"{RUNS_PREFIX}*"), reason_runs)
        for imported in extra_inputs:
            _acknowledge(
                partition,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{imported.bucket_name}/*]",
                f"Read-only access to input bucket {imported.bucket_name}, granted by the deployer "
                "with the input_buckets context key; input keys are chosen per run.",
            )
        _acknowledge(self.features_function.role, self._object_finding(bucket, f"{RUNS_PREFIX}*"), reason_runs)
        _acknowledge(self.reduce_function.role, self._object_finding(bucket, f"{RUNS_PREFIX}*"), reason_runs)
        _acknowledge(
            self.reduce_function.role,
            self._object_finding(bucket, f"{OUTPUTS_PREFIX}*"),
            "Write-only (s3:PutObject, s3:AbortMultipartUpload) to the outputs/ prefix of the stack bucket, "
            "where each run writes its result under a key chosen at run time.",
        )
        _acknowledge(
            self.reduce_function.role,
            self._object_finding(bucket, f"{RUNS_PREFIX}*/{FAILURE_LIST_NAME}"),
            "Write-only (s3:PutObject) to the failure list of a run (runs/<execution>/failures.json), whose "
            "execution name is only known at run time.",
        )
        for imported in extra_outputs:
            _acknowledge(
                self.reduce_function.role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{imported.bucket_name}/*]",
                f"Write-only (s3:PutObject, s3:AbortMultipartUpload) to output bucket {imported.bucket_name}, "
                "granted by the deployer with the output_buckets context key; output keys are chosen per run.",
            )

    def _object_finding(self, bucket: s3.IBucket, pattern: str) -> str:
        """cdk-nag's finding id for a wildcard object resource of a bucket of this stack."""
        logical_id = self.get_logical_id(bucket.node.default_child)
        return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{pattern}]"

    # -- workflow ----------------------------------------------------------------------------------------

    def _state_machine(self) -> sfn.StateMachine:
        # A name fixed at synth time lets the policy below name the machine's own ARNs without a reference
        # to the machine (which would be circular: the machine depends on its role's policies).
        name = f"{self.settings.stack_name[:71]}-workflow"
        # Vended-logs prefix: Step Functions then needs no per-log-group CloudWatch Logs resource policy
        # (whose size is limited per account). The stack id's GUID keeps the name unique per deployment.
        log_group = logs.LogGroup(
            self,
            "StateMachineLogGroup",
            log_group_name=Fn.join(
                "", ["/aws/vendedlogs/states/", name, "-", Fn.select(2, Fn.split("/", Aws.STACK_ID))]
            ),
            retention=self.settings.log_retention,
            removal_policy=self.settings.removal_policy,
        )
        functions = {
            "PartitionFunctionArn": self.partition_function,
            "FeaturesFunctionArn": self.features_function,
            "ReduceFunctionArn": self.reduce_function,
        }
        substitutions = {key: fn.function_arn for key, fn in functions.items()}
        substitutions["BucketName"] = self.bucket.bucket_name
        # The service integrations' ARNs (arn:<partition>:states:::s3:...) in the deploying account's partition.
        substitutions["AwsPartition"] = Aws.PARTITION
        if set(substitutions) != set(PLACEHOLDERS):
            raise ValueError(f"substitutions {sorted(substitutions)} != placeholders {sorted(PLACEHOLDERS)}")

        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # The one definition, as a plain string so that cfn-lint validates it.
            definition_body=sfn.DefinitionBody.from_string(load_definition()),
            definition_substitutions=substitutions,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        for function in functions.values():
            function.grant_invoke(machine.role)
        # The ItemReader reads the manifest written by the partition step.
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadManifests",
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{RUNS_PREFIX}*")],
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="WriteMapRunResults",
                actions=list(RESULT_WRITER_ACTIONS),
                resources=[self.bucket.arn_for_objects(f"{MAP_RESULTS_PREFIX}*")],
            )
        )

        machine_arn = self.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        executions_arn = self.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{name}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        map_policy = iam.Policy(
            self,
            "DistributedMapPolicy",
            statements=[
                iam.PolicyStatement(
                    sid="StartChildExecutions", actions=["states:StartExecution"], resources=[machine_arn]
                ),
                iam.PolicyStatement(
                    sid="ManageChildExecutions", actions=list(MAP_CHILD_EXECUTION_ACTIONS), resources=[executions_arn]
                ),
            ],
            roles=[machine.role],
        )
        # Permissions in place before the machine exists (no cycle: the policy does not reference it).
        # On the CfnStateMachine only: the construct's children include the role the policy attaches to.
        machine.node.default_child.node.add_dependency(map_policy)

        _acknowledge(
            map_policy,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
            f"execution:{name}/*]",
            "The Distributed Map's child executions are named by Step Functions at run time "
            "(execution:<machine>/<map run>:<id>); AWS documents this ARN pattern for their Describe/Stop.",
        )
        _acknowledge(
            machine.role,
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs delivery (logs:CreateLogDelivery and related) and X-Ray tracing have no "
            "resource-level permissions; AWS requires Resource '*' for them, which is all CDK grants there.",
        )
        for function in functions.values():
            logical_id = self.get_logical_id(function.node.default_child)
            _acknowledge(
                machine.role,
                f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]",
                "lambda:InvokeFunction on this function's versions and aliases (ARN:*), as CDK's "
                "grant_invoke emits; only the three featurize functions are invocable.",
            )
        _acknowledge(
            machine.role,
            self._object_finding(self.bucket, f"{RUNS_PREFIX}*"),
            "The Distributed Map's ItemReader reads the manifest of the current run (runs/<execution>/"
            "manifest.json), whose key is only known at run time; read-only (s3:GetObject).",
        )
        _acknowledge(
            machine.role,
            self._object_finding(self.bucket, f"{MAP_RESULTS_PREFIX}*"),
            "The Distributed Map's ResultWriter writes Map Run manifests under mapruns/<map run id>/, "
            "named by Step Functions at run time.",
        )
        return machine

    # -- outputs -----------------------------------------------------------------------------------------

    def _outputs(self) -> None:
        arn = self.state_machine.state_machine_arn
        CfnOutput(
            self,
            constants.OUTPUT_BUCKET_NAME,
            value=self.bucket.bucket_name,
            description="Bucket of inputs (inputs/), intermediates (runs/) and default outputs (outputs/)",
        )
        CfnOutput(self, constants.OUTPUT_STATE_MACHINE_ARN, value=arn, description="The featurize state machine")
        CfnOutput(
            self,
            constants.OUTPUT_STATE_MACHINE_NAME,
            value=self.state_machine.state_machine_name,
            description="Name of the featurize state machine",
        )
        # The console's domain differs per partition (aws-cn, aws-us-gov): looked up at deploy time.
        domains = CfnMapping(
            self,
            "ConsoleDomain",
            mapping={partition: {"Domain": domain} for partition, domain in constants.CONSOLE_DOMAINS.items()},
        )
        CfnOutput(
            self,
            constants.OUTPUT_CONSOLE_URL,
            value=Fn.join(
                "",
                [
                    "https://",
                    Aws.REGION,
                    ".",
                    domains.find_in_map(Aws.PARTITION, "Domain"),
                    "/states/home?region=",
                    Aws.REGION,
                    "#/statemachines/view/",
                    arn,
                ],
            ),
            description="The state machine in the AWS console (executions, Map Runs, logs)",
        )


def _acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children), with the reason it is acceptable."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
