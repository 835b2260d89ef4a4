"""Entry point of ``npx cdk synth|deploy`` (``cdk.json``: ``.venv/bin/python -m cdk_app.app``).

:func:`build_app` is also what the tests synthesize: it primes the app with the context of ``cdk.json``
(feature flags and settings), which the CDK CLI passes on its own but plain ``python``/pytest do not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from .settings import Settings
from .stack import FeaturizeStack

#: The CDK CLI's configuration, at the repository root.
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` of ``cdk.json``: feature flags and the defaults of the settings."""
    return dict(json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {}))


def build_app(
    context: Mapping[str, Any] | None = None, *, nag: bool = True, outdir: str | None = None
) -> tuple[App, FeaturizeStack]:
    """Build the app and its one stack.

    Parameters
    ----------
    context : mapping, optional
        Context overriding ``cdk.json`` (the CLI's ``-c`` values, which arrive through the environment,
        override both).
    nag : bool
        Run the cdk-nag AWS Solutions checks at synthesis (a finding that is neither fixed nor
        acknowledged makes synthesis fail).
    outdir : str, optional
        Cloud assembly directory (default: the CLI's, or a temporary directory).

    Returns
    -------
    tuple
        ``(app, stack)``.
    """
    app = App(context=cdk_json_context() | dict(context or {}), outdir=outdir)
    settings = Settings.from_context(app.node.try_get_context)
    stack = FeaturizeStack(app, settings.stack_name, settings=settings)
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    """Synthesize the app (called by the CDK CLI)."""
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
