"""Error types whose class names become the Step Functions error names (``errorType``)."""


class FeaturizeError(Exception):
    """Base class of every error featurize raises on purpose."""


class InputError(FeaturizeError, ValueError):
    """The execution input or the input table is invalid; the message says what to fix.

    A ``ValueError`` too, as tsfresh raises for bad arguments.
    """


class ChunkFailed(FeaturizeError):
    """One or more chunks have no result; the message names each chunk and its error."""


class IntegrityError(FeaturizeError):
    """Counts do not add up (rows or ids lost or duplicated between the steps); never the user's input."""
