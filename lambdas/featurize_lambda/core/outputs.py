"""The output rules, written once: the output formats' name endings, datasets, and where a failure list goes.

An output ending in ``/`` is a Parquet *dataset* (a prefix or folder): one part per chunk
(:func:`part_name`), a manifest (:data:`MANIFEST_NAME`), a failure list when failures were tolerated
(:data:`DATASET_FAILURES_NAME`) and a success marker (:data:`SUCCESS_NAME`) written last. Every name
but the parts' starts with ``_``, which pyarrow, Spark, Athena and Glue skip when they read the prefix.

The default output key is :attr:`featurize_lambda.keys.RunKeys.default_output`; an output equal to the
input is refused by :class:`featurize_lambda.options.RunOptions`.
"""

from __future__ import annotations

from ..errors import InputError

#: Output name endings (case-insensitive): Parquet, or CSV for ``.csv``.
OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")

#: The ending that replaces an output's suffix to name its failure list.
FAILURES_SUFFIX = ".failures.json"


#: A dataset's manifest, its failure list and its success marker (written last), inside its prefix.
MANIFEST_NAME = "_manifest.json"
DATASET_FAILURES_NAME = "_failures.json"
SUCCESS_NAME = "_SUCCESS"


def is_dataset(name: str) -> bool:
    """Whether an output is a Parquet dataset: a prefix or folder, named with a trailing ``/``."""
    return name.endswith("/")


def is_output_name(name: str) -> bool:
    """Whether an output names a format: one of :data:`OUTPUT_SUFFIXES`, or a dataset (``/``)."""
    return is_dataset(name) or has_output_suffix(name)


def part_name(index: int) -> str:
    """The name of a dataset's part ``index`` (one per chunk), inside its prefix."""
    return f"part-{index:05d}.parquet"


def has_output_suffix(name: str) -> bool:
    """Whether a path or URI ends with one of :data:`OUTPUT_SUFFIXES`."""
    return name.lower().endswith(OUTPUT_SUFFIXES)


def is_csv(name: str) -> bool:
    """Whether an output is written as CSV (else Parquet)."""
    return name.lower().endswith(".csv")


def failures_name(output: str) -> str:
    """Where the failure list of a partial output goes: next to it, ``<output stem>.failures.json``.

    A dataset's failure list is inside its prefix: ``<prefix>_failures.json``.
    """
    if is_dataset(output):
        return output + DATASET_FAILURES_NAME
    for suffix in OUTPUT_SUFFIXES:
        if output.lower().endswith(suffix):
            return output[: -len(suffix)] + FAILURES_SUFFIX
    return output + FAILURES_SUFFIX


def check_dataset_empty(output: str, found: list[str]) -> None:
    """Refuse a dataset output whose prefix already holds objects (``found``: a few of their keys).

    Raises
    ------
    InputError
        Naming one of them: featurize never overwrites, nor mixes two runs' parts.
    """
    if found:
        raise InputError(
            f"output {output} is not empty (it holds {found[0]}, ...): a dataset output must be a new or "
            "empty prefix, featurize overwrites nothing; choose another output or delete its objects"
        )


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
    if not is_output_name(output):
        raise InputError(
            f"output {output!r} must end with one of {list(OUTPUT_SUFFIXES)}, or with / for a Parquet dataset"
        )
    folder = input_uri.rstrip("/") + "/"
    if input_is_folder and output.startswith(folder):
        raise InputError(
            f"output {output} is inside the input folder {folder}: a later run would read it as input; "
            "write the output elsewhere"
        )
