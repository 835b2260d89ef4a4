"""The workflow definition: the one ASL file that both the CDK stack and the local engine load."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

#: The state machine definition (Amazon States Language, JSONPath), with ``${...}`` placeholders: the
#: repository's ``statemachine/featurize.asl.json``, reached through ``featurize/statemachine`` (a symlink
#: to ``../statemachine``, not a copy), which a built package carries as package data.
ASL_PATH = (Path(__file__).resolve().parent / "statemachine" / "featurize.asl.json").resolve()

#: Every placeholder the definition uses: the three function ARNs, the bucket name and the AWS partition
#: of the service integrations' ARNs (``arn:${AwsPartition}:states:::s3:getObject``; ``aws``, ``aws-cn``,
#: ``aws-us-gov``). The stack substitutes ``AWS::Partition`` there, the local engine ``aws``.
PLACEHOLDERS = ("PartitionFunctionArn", "FeaturesFunctionArn", "ReduceFunctionArn", "BucketName", "AwsPartition")

#: Substitutions that :func:`render` fills in when the caller names none: the local engine runs in ``aws``.
LOCAL_DEFAULTS = {"AwsPartition": "aws"}

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def load_definition() -> str:
    """The ASL text with its placeholders, as CDK's ``DefinitionBody.from_string`` takes it."""
    return ASL_PATH.read_text(encoding="utf-8")


def render(substitutions: Mapping[str, str]) -> str:
    """The ASL text with every placeholder replaced (what the local engine creates its machine from).

    Parameters
    ----------
    substitutions : mapping
        Placeholder -> value; :data:`LOCAL_DEFAULTS` fill the placeholders it leaves out.

    Raises
    ------
    KeyError
        If a placeholder of the file has no substitution, or a substitution matches no placeholder.
    """
    text = load_definition()
    used = set(_PLACEHOLDER.findall(text))
    given = dict(LOCAL_DEFAULTS) | dict(substitutions)
    if used != set(given):
        raise KeyError(f"placeholders {sorted(used)} != substitutions {sorted(given)}")
    rendered = _PLACEHOLDER.sub(lambda m: given[m.group(1)], text)
    json.loads(rendered)
    return rendered
