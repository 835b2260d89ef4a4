"""Limits of the workflow that the handlers, the stack and the clients share.

Only the standard library and :mod:`.errors`: ``cdk synth`` imports this module, and must not import
pandas or pyarrow to build a template.
"""

from __future__ import annotations

from typing import Any

from .errors import InputError
from .names import ENV_MAX_CONCURRENCY

__all__ = ["DEFAULT_MAX_CONCURRENCY", "ENV_MAX_CONCURRENCY", "MAX_CONCURRENCY_LIMIT", "check_max_concurrency"]

#: Chunks computed at once (the Distributed Map's ``MaxConcurrency``) when neither the execution input nor
#: the stack (``FEATURIZE_MAX_CONCURRENCY``, from the CDK context key ``max_concurrency``) says otherwise.
DEFAULT_MAX_CONCURRENCY = 200

#: The largest ``MaxConcurrency`` a Distributed Map accepts (AWS: up to 10,000 parallel child executions).
MAX_CONCURRENCY_LIMIT = 10_000


def check_max_concurrency(value: Any, what: str = "max_concurrency") -> int:
    """Validate a ``max_concurrency`` (a positive integer up to :data:`MAX_CONCURRENCY_LIMIT`).

    0 is refused: Step Functions reads it as "no limit", which on a new account's Lambda concurrency
    quota means throttling, not speed.

    Raises
    ------
    InputError
        Naming ``what``, for anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY_LIMIT:
        raise InputError(
            f"{what} must be a whole number from 1 to {MAX_CONCURRENCY_LIMIT} (chunks computed at once; 0 would "
            f"mean unlimited, which Step Functions allows and a Lambda concurrency quota does not), got {value!r}"
        )
    return value
