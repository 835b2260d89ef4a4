"""Where a run goes: a fresh local engine, a running engine's endpoint, or a deployed stack.

Every target is the same pair of boto3 clients (S3, Step Functions) plus a bucket and a state machine,
so the code that starts, watches and fetches a run is one code path for all three.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import NoCredentialsError

from .client import Target

if TYPE_CHECKING:  # the engine imports moto: only the command that starts one pays for it
    from .engine import ServiceName

#: CloudFormation output keys of the stack (``cdk_app/constants.py`` defines them).
OUTPUT_BUCKET = "BucketName"
OUTPUT_STATE_MACHINE = "StateMachineArn"


#: What to do without AWS credentials.
NO_CREDENTIALS = "no AWS credentials found: run `aws configure`, set AWS_PROFILE, or pass --profile NAME"


class TargetError(Exception):
    """The target cannot be reached or resolved (no such stack, no credentials, ...)."""


def _session(region: str | None, profile: str | None) -> boto3.Session:
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except Exception as error:  # botocore's ProfileNotFound and friends
        raise TargetError(str(error)) from None


def clients(
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    services: tuple[ServiceName, ...] = ("s3", "stepfunctions", "cloudformation"),
) -> tuple[Any, ...]:
    """Clients of ``services`` for AWS, or for an engine at ``endpoint_url``.

    ``services`` defaults to S3, Step Functions and CloudFormation (what a target needs).

    Against an endpoint without configured credentials, dummy ones are used (the engine accepts any).
    """
    session = _session(region, profile)
    kwargs: dict[str, Any] = {}
    if endpoint_url is not None:
        from .engine import CREDENTIALS, REGION

        kwargs["endpoint_url"] = endpoint_url
        kwargs["region_name"] = session.region_name or REGION
        if session.get_credentials() is None:
            kwargs |= CREDENTIALS
    elif session.region_name is None:
        raise TargetError("no AWS region: pass --region or set AWS_REGION / a profile region")
    return tuple(session.client(name, **kwargs) for name in services)


def stack_target(
    stack: str, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None
) -> Target:
    """Resolve a deployed stack's bucket and state machine from its CloudFormation outputs."""
    s3, sfn, cfn = clients(region, profile, endpoint_url)
    try:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except cfn.exceptions.ClientError as error:
        raise TargetError(f"stack {stack!r}: {error.response['Error'].get('Message', error)}") from None
    except NoCredentialsError:
        raise TargetError(NO_CREDENTIALS) from None
    except Exception as error:  # no credentials, no network
        raise TargetError(f"stack {stack!r}: {error}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    missing = [key for key in (OUTPUT_BUCKET, OUTPUT_STATE_MACHINE) if key not in outputs]
    if missing:
        raise TargetError(f"stack {stack!r} has no output(s) {missing}: is it a featurize stack?")
    return Target(s3, sfn, outputs[OUTPUT_BUCKET], outputs[OUTPUT_STATE_MACHINE])


def endpoint_target(endpoint_url: str) -> Target:
    """A running local engine (``featurize serve``) at ``endpoint_url``, with its default names."""
    from .engine import ACCOUNT, BUCKET, REGION, STATE_MACHINE

    s3, sfn, _ = clients(endpoint_url=endpoint_url)
    return Target(s3, sfn, BUCKET, f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE}")


@contextmanager
def open_target(
    stack: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    workers: int | None = None,
) -> Iterator[Target]:
    """The target a command names: a stack, an endpoint, or (neither) a local engine for the block."""
    if stack is not None:
        yield stack_target(stack, region, profile, endpoint_url)
    elif endpoint_url is not None:
        yield endpoint_target(endpoint_url)
    else:
        from .engine import LocalEngine

        with LocalEngine(workers=workers) as engine:
            yield engine.target()
