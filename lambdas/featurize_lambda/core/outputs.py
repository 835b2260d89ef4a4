"""The output rules, written once: the output formats' name endings and where a failure list goes.

The default output key is :attr:`featurize_lambda.keys.RunKeys.default_output`; an output equal to the
input is refused by :class:`featurize_lambda.options.RunOptions`.
"""

from __future__ import annotations

from ..errors import InputError

#: Output name endings (case-insensitive): Parquet, or CSV for ``.csv``.
OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")

#: The ending that replaces an output's suffix to name its failure list.
FAILURES_SUFFIX = ".failures.json"


def has_output_suffix(name: str) -> bool:
    """Whether a path or URI ends with one of :data:`OUTPUT_SUFFIXES`."""
    return name.lower().endswith(OUTPUT_SUFFIXES)


def is_csv(name: str) -> bool:
    """Whether an output is written as CSV (else Parquet)."""
    return name.lower().endswith(".csv")


def failures_name(output: str) -> str:
    """Where the failure list of a partial output goes: next to it, ``<output stem>.failures.json``."""
    for suffix in OUTPUT_SUFFIXES:
        if output.lower().endswith(suffix):
            return output[: -len(suffix)] + FAILURES_SUFFIX
    return output + FAILURES_SUFFIX


def check_output(output: str, input_uri: str, input_is_folder: bool) -> None:
    """Refuse an output the step cannot write: a wrong ending, or inside the input folder.

    Parameters
    ----------
    output, input_uri : str
        The run's output and input (``s3://...``).
    input_is_folder : bool
        Whether the input is a folder/prefix (an output under it would be read by a later run).

    Raises
    ------
    InputError
        Saying what to change.
    """
    if not has_output_suffix(output):
        raise InputError(f"output {output!r} must end with one of {list(OUTPUT_SUFFIXES)}")
    folder = input_uri.rstrip("/") + "/"
    if input_is_folder and output.startswith(folder):
        raise InputError(
            f"output {output} is inside the input folder {folder}: a later run would read it as input; "
            "write the output elsewhere"
        )
