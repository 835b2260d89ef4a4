"""The run options, declared once: the execution input's fields, the CLI's ``run`` flags, the API's keywords.

Each option is one field of :class:`RunOptions` with its execution-input name (the field name), type,
default, validation, help text and the kind of CLI flag it becomes. The partition step parses the
execution input through :meth:`RunOptions.from_input`; the CLI builds the flags of ``featurize run``
from :func:`option_fields`; the Python API validates its keywords with :func:`execution_input`.

Adding an option: one field here (and where the option acts: the core, or the handler that reads it).

Only the standard library: no pydantic (the Lambda's 250 MB); the core's settings parser (pandas, numpy)
is imported only to check a ``features`` value, so the CLI and the client import this module cheaply.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .keys import parse_s3_uri
from .limits import check_max_concurrency

if TYPE_CHECKING:
    from .core.settings import FeatureSpec

#: The preset names (``core.settings.PRESET_NAMES``; a test checks they agree): a preset given on the
#: command line needs no check before the run, nor the calculators' imports.
PRESETS = ("minimal", "efficient", "comprehensive")


class Flag(enum.Enum):
    """How an option appears on ``featurize run``."""

    #: Not a flag of its own (``input`` is the command's argument; ``output`` is the CLI's ``--output``,
    #: a local path or a URI).
    NONE = "none"
    #: ``--name VALUE``; absent means "not in the execution input" (the step's default applies).
    VALUE = "value"
    #: ``--name`` alone sets true; absent means "not in the execution input".
    SWITCH = "switch"


@dataclass(frozen=True)
class OptionSpec:
    """What :class:`RunOptions` declares about one option besides its name, type and default.

    Attributes
    ----------
    help : str
        The CLI flag's help (and the API's docstring wording).
    check : callable
        ``check(value, what)`` validates a JSON value and returns it converted; raises
        :class:`InputError` naming ``what`` (the field name, or the flag).
    flag : Flag
        The kind of CLI flag.
    cli_type : type
        The flag value's type on the command line (``str`` for ``features``: a preset, a file or JSON).
    precheck : bool
        Whether the CLI checks the flag before it starts a run (a refusal, exit 2); the others are
        checked by the partition step (a failed run, exit 1).
    flag_message : str or None
        The CLI's own message when the flag's value is refused (else the check's, naming the flag).
    from_flag : callable or None
        Turns the flag's text into the execution input's value (``--features``: a file or inline JSON).
    """

    help: str
    check: Callable[[Any, str], Any]
    flag: Flag = Flag.VALUE
    cli_type: type = str
    precheck: bool = False
    flag_message: str | None = None
    from_flag: Callable[[Any], Any] | None = None


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (what the user sent, in their terms)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _optional_str(value: Any, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InputError(f"{what} must be a non-empty string or null, got {value!r}")
    return value


def _input(value: Any, what: str) -> str:
    if not value:
        raise InputError(
            'the execution input needs "input": "s3://bucket/key" (CSV, CSV.gz or Parquet, or a folder of them)'
        )
    parse_s3_uri(value, what)
    return value


def _output(value: Any, what: str) -> str | None:
    if _optional_str(value, what) is not None:
        parse_s3_uri(value, what)
    return value


def _column_id(value: Any, what: str) -> str:
    if _optional_str(value, what) is None:
        raise InputError(f"{what} must name the id column")
    return value


def _features(value: Any, what: str) -> FeatureSpec:
    from .core.settings import FeatureSpec, parse_features  # pandas and the calculators: only when checked

    return value if isinstance(value, FeatureSpec) else parse_features(value)


def _chunk_size(value: Any, what: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise InputError(f"{what} must be a positive integer (ids per chunk) or null, got {value!r}")
    return value


def _boolean(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{what} must be true or false, got {value!r}")
    return value


def _percentage(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise InputError(
            f"{what} must be a number from 0 to 100 (the share of chunks that may fail "
            f"and still give a partial output), got {value!r}"
        )
    return float(value)


def _max_concurrency(value: Any, what: str) -> int | None:
    return None if value is None else check_max_concurrency(value, what)


def option(default: Any, spec: OptionSpec) -> Any:
    """A :class:`RunOptions` field: its default and its :class:`OptionSpec`."""
    return field(default=default, metadata={"option": spec})


@dataclass(frozen=True)
class RunOptions:
    """One run's options, parsed from its execution input (``input`` is the only required field).

    ``column_sort_explicit`` and ``column_value_explicit`` are not options: they record whether the user
    named the column (a named column that is missing is an error, a defaulted one that is missing
    changes the meaning: row order is time order; no ``value`` column means wide format).
    """

    input: str = option(None, OptionSpec("Local file or folder, or s3:// URI of an object or prefix.", _input,
                                          Flag.NONE))  # fmt: skip
    output: str | None = option(
        None, OptionSpec("s3:// URI of the output (.parquet, .csv, or ending in / a dataset).", _output, Flag.NONE)
    )
    column_id: str = option("id", OptionSpec("Id column \\[default: id].", _column_id))
    column_sort: str | None = option(
        "time", OptionSpec("Time column \\[default: time; if absent, row order is time order].", _optional_str)
    )
    column_value: str | None = option(
        "value", OptionSpec("Value column \\[default: value; if absent, wide format].", _optional_str)
    )
    column_kind: str | None = option(None, OptionSpec("Kind column (long format with kinds).", _optional_str))
    features: FeatureSpec = option(
        "minimal",
        OptionSpec(
            "minimal | efficient | comprehensive | PATH.json | inline JSON (tsfresh settings, per-kind, custom) "
            "\\[default: minimal].",
            _features,
            precheck=True,
            from_flag=lambda value: features_from_flag(value),
        ),
    )
    chunk_size: int | None = option(
        None,
        OptionSpec("Ids per chunk \\[default: chosen from the data size].", _chunk_size, cli_type=int, precheck=True,
                   flag_message="--chunk-size must be a positive number of ids per chunk"),
    )  # fmt: skip
    drop_nan: bool = option(
        False,
        OptionSpec("Drop missing values (NaN, empty) instead of refusing the input.", _boolean, Flag.SWITCH, bool),
    )
    tolerated_failure_percentage: float = option(
        0.0,
        OptionSpec("Share of chunks (%) that may fail and still give a partial output plus a failure list.",
                   _percentage, cli_type=float, precheck=True,
                   flag_message="--tolerated-failure-percentage must be from 0 to 100"),
    )  # fmt: skip
    max_concurrency: int | None = option(
        None,
        OptionSpec(
            "Chunks computed at once (the Map's MaxConcurrency; keep it below the account's Lambda concurrency "
            "quota) \\[default: the stack's max_concurrency, 200].",
            _max_concurrency,
            cli_type=int,
            precheck=True,
        ),
    )
    impute: bool = option(
        False,
        OptionSpec("Impute the output as tsfresh's impute does: +-inf to the column's max/min, NaN to its median.",
                   _boolean, Flag.SWITCH, bool),
    )  # fmt: skip
    column_sort_explicit: bool = False
    column_value_explicit: bool = False

    @classmethod
    def from_input(cls, raw: Any) -> RunOptions:
        """Validate an execution input document.

        Raises
        ------
        InputError
            For a document that is not an object, an unknown field, a missing ``input``, a field of the
            wrong type or out of range, or an output equal to the input.
        """
        if not isinstance(raw, Mapping):
            raise InputError(
                'the execution input must be a JSON object, e.g. {"input": "s3://bucket/key"}, got a JSON '
                f"{_json_type(raw)}"
            )
        known = [f.name for f in option_fields()]
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise InputError(f"unknown execution input field(s) {unknown}; known: {sorted(known)}")
        values = {f.name: spec(f).check(raw.get(f.name, f.default), f.name) for f in option_fields()}
        if values["output"] is not None and values["output"] == values["input"]:
            raise InputError("output must differ from input: featurize never overwrites its input")
        check_impute_output(values["output"], values["impute"])
        return cls(**values, column_sort_explicit="column_sort" in raw, column_value_explicit="column_value" in raw)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form, stored in the run's ``run.json`` (:meth:`from_json` reads it back)."""
        document = {f.name: getattr(self, f.name) for f in fields(self)}
        return document | {"features": self.features.to_json()}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> RunOptions:
        """Read back :meth:`to_json` (a run document's options)."""
        names = {f.name for f in option_fields()}
        parsed = cls.from_input({name: value for name, value in document.items() if name in names})
        return replace(
            parsed,
            column_sort_explicit=bool(document.get("column_sort_explicit")),
            column_value_explicit=bool(document.get("column_value_explicit")),
        )


def check_impute_output(output: str | None, impute: bool) -> None:
    """Refuse ``impute`` with a dataset output (an output ending in ``/``) before a run starts.

    Raises
    ------
    InputError
        Naming the option: imputing needs whole columns (their max, min and median over every id),
        which a dataset's parts, written one at a time, never hold.
    """
    if impute and output is not None and output.endswith("/"):
        raise InputError(
            f"impute cannot be used with a dataset output ({output}): it needs whole columns, and a "
            "dataset is written part by part; write a single .parquet/.csv output, or impute when reading the dataset"
        )


def spec(f: Field[Any]) -> OptionSpec:
    """The :class:`OptionSpec` of a :class:`RunOptions` field."""
    return f.metadata["option"]


def option_fields() -> list[Field[Any]]:
    """The option fields of :class:`RunOptions`, in declaration order (the README's table order)."""
    return [f for f in fields(RunOptions) if "option" in f.metadata]


def flag_name(f: Field[Any]) -> str:
    """The CLI flag of an option (``--chunk-size``)."""
    return "--" + f.name.replace("_", "-")


def check_flags(values: Mapping[str, Any]) -> None:
    """Validate the ``featurize run`` flags given (None: not given) before a run starts.

    Raises
    ------
    InputError
        With the CLI's message for the first refused flag (naming the flag).
    """
    for f in option_fields():
        value = values.get(f.name)
        if value is None or not spec(f).precheck or (f.name == "features" and value in PRESETS):
            continue
        try:
            spec(f).check(value, flag_name(f))
        except InputError as error:
            raise InputError(spec(f).flag_message or str(error)) from None


def execution_input(**given: Any) -> dict[str, Any]:
    """The execution-input fields of the options given (None is JSON null), each validated as the step would.

    Raises
    ------
    InputError
        For an unknown option or a refused value (the execution input's message).
    """
    known = {f.name: f for f in option_fields()}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InputError(f"unknown option(s) {unknown}; known: {sorted(known)}")
    for name, value in given.items():
        spec(known[name]).check(value, name)
    return dict(given)


def features_from_flag(value: str) -> Any:
    """The ``--features`` value: a preset name, settings as inline JSON (``{...}``), or a ``.json`` file's settings.

    Raises
    ------
    InputError
        If the JSON or the file cannot be read (the message names ``--features``).
    """
    if value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError as error:
            raise InputError(f"--features: not valid JSON ({error})") from None
    if not value.lower().endswith(".json"):
        return value
    try:
        return json.loads(Path(value).read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"--features {value}: {error.strerror or error}") from None
    except ValueError as error:
        raise InputError(f"--features {value}: not valid JSON ({error})") from None
