"""Checks of a local input before any run starts: its columns against the column options.

The partition step checks everything again (it is the only check for ``s3://`` inputs); this one reads
only a local file's header (CSV) or footer (Parquet) with the partition core's own format readers and
resolves the column roles with its own logic, so a misspelled column is refused with the message the
partition step would give, in a fraction of a second instead of after an engine start and a run.
"""

from __future__ import annotations

from typing import Any

from featurize_lambda.errors import InputError


def check_local_columns(path: str, options: dict[str, Any]) -> None:
    """Resolve the column roles of local input ``path`` (a file or folder) as the partition step would.

    Parameters
    ----------
    path : str
        The local input as the user gave it (messages name it so).
    options : dict
        The execution-input fields given (``column_id``, ``column_sort``, ``column_value``,
        ``column_kind``; None or absent: not given, the partition step's defaults apply).

    Raises
    ------
    InputError
        The partition step's message: a missing column (with its field and a "did you mean"), no value
        column, duplicated column names (an unreadable file is left to the partition step).
    """
    from featurize_lambda.core.partition.layout import Columns, resolve_layout
    from featurize_lambda.core.partition.limits import Limits
    from featurize_lambda.core.partition.reader import Reader
    from featurize_lambda.core.source import local_source
    from featurize_lambda.options import option_fields

    given = {key: value for key, value in options.items() if value is not None}
    defaults = {f.name: f.default for f in option_fields()}

    def field(name: str) -> Any:
        return given.get(name, defaults[name])

    columns = Columns(
        id=field("column_id"),
        sort=field("column_sort"),
        value=field("column_value"),
        kind=field("column_kind"),
        sort_explicit="column_sort" in given,
        value_explicit="column_value" in given,
    )
    source = local_source(path)
    try:
        schema = Reader(source, Limits(), {}).schema()
    except (InputError, OSError):
        # A file that cannot be read is the partition step's to report: it reads the whole input and
        # names the row (a header-only read cannot).
        return
    resolve_layout(schema, columns, source.partition_columns)


__all__ = ["InputError", "check_local_columns"]
