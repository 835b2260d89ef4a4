"""The workflow definition: the one ASL file that both the CDK stack and the local engine load."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

#: The state machine definition (Amazon States Language, JSONPath), with ``${...}`` placeholders.
ASL_PATH = Path(__file__).resolve().parent.parent / "statemachine" / "featurize.asl.json"

#: Every placeholder the definition uses: the three function ARNs and the bucket name.
PLACEHOLDERS = ("PartitionFunctionArn", "FeaturesFunctionArn", "ReduceFunctionArn", "BucketName")

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def load_definition() -> str:
    """The ASL text with its placeholders, as CDK's ``DefinitionBody.from_string`` takes it."""
    return ASL_PATH.read_text(encoding="utf-8")


def render(substitutions: Mapping[str, str]) -> str:
    """The ASL text with every placeholder replaced (what the local engine creates its machine from).

    Raises
    ------
    KeyError
        If a placeholder of the file has no substitution, or a substitution matches no placeholder.
    """
    text = load_definition()
    used = set(_PLACEHOLDER.findall(text))
    if used != set(substitutions):
        raise KeyError(f"placeholders {sorted(used)} != substitutions {sorted(substitutions)}")
    rendered = _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)
    json.loads(rendered)
    return rendered
