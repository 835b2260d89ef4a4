"""The ``featurize`` command line: ``run``, ``demo`` and ``--version``.

Exit codes: 0 success; 1 the run started and failed (input problems found by the partition step
included); 2 the command refused before starting a run (usage, unreadable local input, bad options);
130 interrupted (the execution is stopped).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console

from featurize import __version__
from featurize.client import (
    RunFailed,
    Runner,
    RunResult,
    Target,
    cause_message,
    check_local_dataset,
    execution_name,
    is_local_dataset,
    new_run_name,
)
from featurize.progress import watch_with_progress
from featurize.targets import NO_CREDENTIALS, TargetError, open_target
from featurize_lambda.core.formats import FORMATS, input_suffixes
from featurize_lambda.core.outputs import (
    DATASET_FAILURES_NAME,
    OUTPUT_SUFFIXES,
    failures_name,
    has_output_suffix,
    is_dataset,
)
from featurize_lambda.errors import InputError
from featurize_lambda.options import PRESETS as OPTION_PRESETS
from featurize_lambda.options import Flag, check_flags, check_impute_output, flag_name, option_fields, spec

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Serverless tsfresh-compatible feature extraction.")
out = Console()
err = Console(stderr=True)

#: The input file endings the CLI accepts: those of the partition step's formats (one list for both).
INPUT_SUFFIXES = input_suffixes()
#: The main ending of each input format, as the help lists them.
_INPUT_NAMES = ", ".join(candidate.suffixes[0] for candidate in FORMATS)

StackOption = Annotated[str | None, typer.Option("--stack", help="Run on this deployed CloudFormation stack (AWS).")]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint", help="Endpoint URL: a running `featurize serve`, or with --stack a stack's endpoint."),
]
RegionOption = Annotated[str | None, typer.Option("--region", help="AWS region \\[default: from your AWS config].")]
ProfileOption = Annotated[str | None, typer.Option("--profile", help="AWS profile \\[default: from your AWS config].")]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, help="Local worker processes \\[default: all cores].")
]


VerboseOption = Annotated[
    bool, typer.Option("--verbose", help="Show the engine's logs (moto, workers) and full tracebacks.")
]

#: The preset names (defined with the run options, which need no pandas; checked by a test).
PRESETS = OPTION_PRESETS

#: The info file a running `featurize serve` writes in its working directory.
SERVE_INFO = "featurize-serve.json"


def _set_verbose(verbose: bool) -> None:
    """``--verbose``: the local engine shows its logs and its workers' stderr."""
    from featurize import engine

    engine.set_verbose(verbose)


@contextmanager
def _guard(verbose: bool) -> Iterator[None]:
    """Ctrl-C anywhere: one line, exit 130; an unexpected error: one ``error:`` line, exit 1.

    With ``--verbose`` an unexpected error shows its traceback.
    """
    try:
        yield
    except KeyboardInterrupt:
        _say(err, "interrupted")
        raise typer.Exit(code=130) from None
    except (typer.Exit, typer.Abort, click.ClickException):
        raise
    except Exception as error:
        if verbose:
            raise
        _say(err, f"error: {type(error).__name__}: {error} (--verbose shows the traceback)")
        raise typer.Exit(code=1) from None


def _running_serve(info_file: Path) -> str | None:
    """The endpoint of a live `featurize serve` of this version described by ``info_file``, else None.

    A stale file (the server is gone), another version's server or an unreadable file is ignored: the
    run starts its own engine, as without the file.
    """
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
        endpoint, machine = info["endpoint_url"], info["state_machine_arn"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if info.get("version") != __version__:
        return None
    import boto3
    from botocore.config import Config

    from featurize.engine import CREDENTIALS, REGION

    sfn = boto3.client(
        "stepfunctions", endpoint_url=endpoint, region_name=info.get("region", REGION),
        config=Config(connect_timeout=0.5, read_timeout=2, retries={"max_attempts": 1}), **CREDENTIALS,
    )  # fmt: skip
    try:
        sfn.describe_state_machine(stateMachineArn=machine)
    except Exception:  # noqa: BLE001 - refused, timed out, not a featurize engine: not usable
        return None
    return str(endpoint)


@dataclass(frozen=True)
class Where:
    """Which target a command talks to (see :mod:`featurize.targets`)."""

    stack: str | None = None
    endpoint: str | None = None
    region: str | None = None
    profile: str | None = None
    workers: int | None = None


class _EarlyEngine:
    """A local engine starting in a thread while the command checks its arguments and input."""

    def __init__(self, workers: int | None) -> None:
        from featurize.engine import LocalEngine

        self.engine = LocalEngine(workers=workers)
        self.error: BaseException | None = None
        self.started = time.perf_counter()
        self._thread = threading.Thread(target=self._start, name="featurize-engine-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self.engine.start()
        except BaseException as error:  # noqa: BLE001 - re-raised in the command's thread by target()
            self.error = error

    def target(self) -> Target:
        """The engine's target, once it has started."""
        self._thread.join()
        if self.error is not None:
            raise TargetError(f"the local engine did not start: {self.error}")
        return self.engine.target()

    def close(self) -> None:
        """Stop the engine (after its start, if it is still starting)."""
        self._thread.join()
        self.engine.close()


@contextmanager
def _early_engine(where: Where) -> Iterator[_EarlyEngine | None]:
    """Start the local engine at once when ``where`` names no other target; close it at the end."""
    if where.stack is not None or where.endpoint is not None:
        yield None
        return
    early = _EarlyEngine(where.workers)
    try:
        yield early
    finally:
        closing = time.perf_counter()
        early.close()
        TIMINGS.add("shutdown", closing)


@contextmanager
def _target(where: Where, early: _EarlyEngine | None = None) -> Iterator[Target]:
    """Open the target, turning resolution problems into a refusal (exit 2)."""
    if early is not None:
        waited = time.perf_counter()
        try:
            target = early.target()
        except TargetError as error:
            raise _refuse(str(error)) from None
        TIMINGS.add("engine start (waited)", waited)
        # Indented lines are details, not counted in the total: the start ran while the input was checked.
        TIMINGS.phases.append(("  its start took", time.perf_counter() - early.started))
        yield target
        return
    with ExitStack() as stack:
        started = time.perf_counter()
        try:
            target = stack.enter_context(
                open_target(where.stack, where.endpoint, where.region, where.profile, where.workers)
            )
        except TargetError as error:
            raise _refuse(str(error)) from None
        TIMINGS.add("engine start" if where.stack is None and where.endpoint is None else "connect", started)
        try:
            yield target
        finally:
            closing = time.perf_counter()
            stack.close()
            TIMINGS.add("shutdown", closing)


class Timings:
    """The phases of one command, for ``--timings`` (seconds of wall clock, in order)."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, float]] = []
        #: Whether ``--timings`` asked for them (the steps are then read from the execution's history).
        self.enabled = False

    def add(self, phase: str, started: float) -> None:
        """Record that ``phase`` ran from ``started`` (a ``time.perf_counter()``) until now."""
        self.phases.append((phase, time.perf_counter() - started))

    def lines(self, total: float) -> list[str]:
        """The breakdown, one phase a line, then what the phases leave out and the total."""
        width = max([len(name) for name, _ in self.phases] + [12])
        rows = [f"  {name:<{width}} {seconds:6.2f} s" for name, seconds in self.phases]
        other = total - sum(seconds for name, seconds in self.phases if not name.startswith("  "))
        return ["timings:", *rows, f"  {'other':<{width}} {other:6.2f} s", f"  {'total':<{width}} {total:6.2f} s"]


TIMINGS = Timings()


def _process_age() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere since the CLI module loaded)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as uptime:
            up = float(uptime.read().split()[0])
        return max(0.0, up - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _LOADED


_LOADED = time.perf_counter()


def _say(console: Console, message: str) -> None:
    """Print plain text (no markup, no highlighting, no wrapping of long ARNs)."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def _refuse(message: str) -> typer.Exit:
    _say(err, f"error: {message}")
    return typer.Exit(code=2)


def _version(value: bool) -> None:
    if value:
        out.print(f"featurize {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Serverless, tsfresh-compatible time-series feature extraction (local engine or AWS)."""


def _has_suffix(name: str, suffixes: tuple[str, ...]) -> bool:
    return name.lower().endswith(suffixes)


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    for suffix in sorted(INPUT_SUFFIXES, key=len, reverse=True):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def build_execution_input(input_uri: str, output_uri: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """The execution input document: ``input``, ``output`` and only the options the user gave."""
    document: dict[str, Any] = {"input": input_uri}
    if output_uri is not None:
        document["output"] = output_uri
    document.update({key: value for key, value in options.items() if value is not None})
    return document


def _watch(runner: Runner, arn: str, name: str) -> RunResult:
    try:
        return watch_with_progress(runner, arn, name, err)
    except KeyboardInterrupt:
        _say(err, f"interrupted: stopped execution {arn}")
        raise typer.Exit(code=130) from None


def execute(
    input_: str,
    output: str | None,
    options: dict[str, Any],
    where: Where,
    early: _EarlyEngine | None = None,
) -> tuple[RunResult, Path | None]:
    """Validate the arguments, run on the target, download a local output.

    Returns
    -------
    tuple
        The run result and the local output path (None when the output is an S3 URI).
    """
    checking = time.perf_counter()
    local_input = None if input_.startswith("s3://") else Path(input_)
    folder_files: list[Path] | None = None
    if local_input is not None:
        if local_input.is_dir():
            folder_files = _folder_files(local_input)
        elif not local_input.is_file():
            raise _refuse(f"input {input_} does not exist or is not a file or folder")
        else:
            try:
                local_input.open("rb").close()
            except OSError as error:
                raise _refuse(f"input {input_} cannot be read: {error}") from None
            if not _has_suffix(input_, INPUT_SUFFIXES):
                raise _refuse(f"input {input_}: unknown format; use one of {list(INPUT_SUFFIXES)} or a folder of them")
            if local_input.stat().st_size == 0:
                raise _refuse(f"input {input_} is empty (0 bytes)")
    try:
        check_flags(options)
    except InputError as error:
        raise _refuse(str(error)) from None

    if output is None:
        # A local folder given as "." or "parts/" is named by its absolute path's last part.
        output = f"{_stem(input_.rstrip('/') if local_input is None else os.path.abspath(input_))}.features.parquet"
    local_output = None if output.startswith("s3://") else Path(output)
    dataset = is_dataset(output) if local_output is None else is_local_dataset(output)
    if not (dataset or has_output_suffix(output)):
        raise _refuse(f"output {output}: use one of {list(OUTPUT_SUFFIXES)}, or end it with / for a Parquet dataset")
    try:
        check_impute_output("dataset/" if dataset else output, bool(options.get("impute")))
        if dataset and local_output is not None:
            check_local_dataset(local_output)
    except (InputError, FileExistsError) as error:
        raise _refuse(str(error)) from None
    if local_output is not None and local_input is not None and local_output.resolve() == local_input.resolve():
        raise _refuse("the output would overwrite the input: featurize never modifies its input")
    if output == input_:
        raise _refuse("the output would overwrite the input: featurize never modifies its input")
    if (
        folder_files is not None
        and local_input is not None
        and local_output is not None
        and local_output.resolve().is_relative_to(local_input.resolve())
    ):
        raise _refuse(f"the output {output} is inside the input folder {input_}: a later run would read it as input")

    if local_input is not None:
        _preflight(input_, options)
    TIMINGS.add("check input and options", checking)
    name = new_run_name()
    with _target(where, early) as target:
        runner = Runner(target)
        started = time.perf_counter()
        if folder_files is not None and local_input is not None:
            input_uri = runner.upload_folder(local_input, folder_files, name, label=input_)
        elif local_input is not None:
            input_uri = runner.upload(local_input, name, label=input_)
        else:
            input_uri = input_
        in_bucket = "features/" if dataset else local_output.name if local_output is not None else None
        output_uri = runner.default_output(name, in_bucket) if in_bucket is not None else output
        arn = runner.start(build_execution_input(input_uri, output_uri, options), name)
        TIMINGS.add("upload and start", started)
        _say(err, f"started {arn}")
        started = time.perf_counter()
        try:
            result = _watch(runner, arn, name)
        finally:
            TIMINGS.add("run (watched)", started)
            if TIMINGS.enabled:
                TIMINGS.phases.extend((f"  {step}", seconds) for step, seconds in runner.step_seconds(arn))
        started = time.perf_counter()
        if local_output is not None:
            runner.download(result.output, local_output)
            if result.summary.get("failures") and dataset:  # the failure list is inside the dataset
                result.summary["failures_local"] = str(local_output / DATASET_FAILURES_NAME)
            elif result.summary.get("failures"):
                listing = local_output.parent / failures_name(local_output.name)
                runner.download(result.summary["failures"], listing)
                result.summary["failures_local"] = str(listing)
        TIMINGS.add("download", started)
    return result, local_output


def _folder_files(folder: Path) -> list[Path]:
    """The data files of a local input folder, checked as the partition step checks a prefix."""
    from featurize_lambda.core.source import local_source

    try:
        source = local_source(str(folder))
    except InputError as error:
        raise _refuse(str(error)) from None
    return [Path(f.path) for f in source.files]


def _report(result: RunResult, local_output: Path | None) -> None:
    summary = result.summary
    for note in summary.get("notes", []):
        _say(out, f"note: {note}")
    _say(
        out,
        f"{summary.get('ids')} ids, {summary.get('rows')} rows, {summary.get('features')} features, "
        f"{summary.get('chunks')} chunks in {result.seconds:.1f} s",
    )
    _say(out, f"output: {local_output if local_output is not None else result.output}")
    if summary.get("failures"):
        listing = summary.get("failures_local") or summary["failures"]
        _say(
            err,
            f"warning: partial output: {summary.get('failed_chunks')} of {summary.get('chunks')} chunk(s) failed "
            f"({summary.get('failed_ids')} ids missing); failure list: {listing}",
        )


def with_run_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` one flag per run option of :class:`~featurize_lambda.options.RunOptions`.

    The flags (their names, types, help) come from the options' declarations and go after ``output``
    in ``command``'s signature; ``command`` receives them as ``options``: execution-input name -> value,
    None for a flag not given (the step's default then applies). A switch given is True.
    """
    fields = [f for f in option_fields() if spec(f).flag is not Flag.NONE]
    flags = []
    for f in fields:
        declared = spec(f)
        if declared.flag is Flag.SWITCH:
            annotation: Any = Annotated[bool, typer.Option(flag_name(f), help=declared.help)]
            default: Any = False
        else:
            annotation, default = Annotated[declared.cli_type | None, typer.Option(help=declared.help)], None
        flags.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    signature = inspect.signature(command, eval_str=True)
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values() if p.name != "options"]
    at = next(i for i, p in enumerate(own) if p.name == "output") + 1

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        options: dict[str, Any] = {}
        for f in fields:
            value = kwargs.pop(f.name)
            if spec(f).flag is Flag.SWITCH:
                value = True if value else None
            convert = spec(f).from_flag
            try:
                options[f.name] = convert(value) if value is not None and convert is not None else value
            except InputError as error:
                raise _refuse(str(error)) from None
        command(**kwargs, options=options)

    wrapper.__signature__ = signature.replace(parameters=[*own[:at], *flags, *own[at:]])  # type: ignore[attr-defined]
    return wrapper


def _fail(failure: RunFailed) -> typer.Exit:
    where = f" (in {failure.state})" if failure.state else ""
    _say(err, f"error: {failure.error}: {in_flags(failure.cause)}{where}")
    return typer.Exit(code=1)


def _field_flags() -> dict[str, str]:
    """Execution-input field -> `run` flag (``column_sort`` -> ``--column-sort``), from `run`'s own options."""
    command = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    return {param.name: param.opts[0] for param in command.params if param.name and param.opts[0].startswith("--")}


def in_flags(message: str) -> str:
    """A message of the workflow with each ``(field)`` it names as the CLI's flag: ``(--column-sort)``."""
    for name, flag in _field_flags().items():
        message = message.replace(f"({name})", f"({flag})")
    return message


def _preflight(input_: str, options: dict[str, Any]) -> None:
    """A local input's columns checked against the column options before any run (exit 2, the partition's message)."""
    from featurize.preflight import check_local_columns

    try:
        check_local_columns(input_, options)
    except InputError as error:
        raise _refuse(f"InputError: {in_flags(str(error))}") from None


def _run_or_exit(
    input_: str, output: str | None, options: dict[str, Any], where: Where, early: bool = False
) -> tuple[RunResult, Path | None]:
    """Run, report, turn a failed run into its one ``error:`` line (exit 1).

    ``early``: start the local engine (if that is the target) while the arguments are checked.
    """
    # A missing local input is refused at once, without waiting for an engine started for nothing.
    early = early and (input_.startswith("s3://") or Path(input_).exists())
    try:
        if early:
            with _early_engine(where) as engine:
                result, local_output = execute(input_, output, options, where, engine)
        else:
            result, local_output = execute(input_, output, options, where)
    except RunFailed as failure:
        raise _fail(failure) from None
    _report(result, local_output)
    return result, local_output


@app.command()
@with_run_options
def run(
    input_: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help=f"Local file or folder, or s3:// URI of an object or prefix ({_INPUT_NAMES}).",
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            help="Local path or s3:// URI (.parquet or .csv; ending in / a Parquet dataset); "
            "default: <input stem>.features.parquet here."
        ),
    ] = None,
    workers: WorkersOption = None,
    stack: StackOption = None,
    endpoint: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    no_serve: Annotated[
        bool,
        typer.Option(
            "--no-serve", help=f"Never use a running `featurize serve` found by ./{SERVE_INFO} (start a fresh engine)."
        ),
    ] = False,
    verbose: VerboseOption = False,
    timings: Annotated[
        bool, typer.Option("--timings", help="Print how long each phase took (imports, engine, upload, steps, ...).")
    ] = False,
    options: dict[str, Any] | None = None,
) -> None:
    """Extract features from INPUT (a file or a folder of files): locally, or on a deployed stack with --stack."""
    _set_verbose(verbose)
    TIMINGS.enabled = timings
    TIMINGS.phases.append(("imports", _process_age()))
    if stack is None and endpoint is None and not no_serve:
        endpoint = _running_serve(Path(SERVE_INFO))
        if endpoint is not None:
            found = f"found by ./{SERVE_INFO}; --no-serve: a fresh engine"
            _say(err, f"using the running featurize serve at {endpoint} ({found})")
    options = options or {}
    with _guard(verbose):
        try:
            _run_or_exit(input_, output, options, Where(stack, endpoint, region, profile, workers), early=True)
        finally:
            if timings:
                for line in TIMINGS.lines(_process_age()):
                    _say(err, line)


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="Where the sample data and its features are written.")] = Path(
        "featurize-demo"
    ),
    workers: WorkersOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Generate a deterministic sample data set, extract its features locally, show the first rows."""
    _set_verbose(verbose)
    import pandas as pd

    from featurize.sample import make_sample

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sample.parquet"
    frame = make_sample()
    frame.to_parquet(path, index=False)
    _say(out, f"sample: {path} ({frame['id'].nunique()} ids x {frame['kind'].nunique()} kinds, {len(frame)} rows)")
    options = {"column_kind": "kind", "features": "minimal", "chunk_size": 50}
    result, local_output = _run_or_exit(
        str(path), str(directory / "sample.features.parquet"), options, Where(workers=workers)
    )
    table = pd.read_parquet(local_output).set_index("id")
    _say(out, f"first rows (of {table.shape[1]} columns):")
    _say(out, table.iloc[:5, :4].to_string())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 4566,
    workers: WorkersOption = None,
    info_file: Annotated[Path, typer.Option(help="Where the connection info (JSON) is written.")] = Path(
        "featurize-serve.json"
    ),
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (the engine has no authentication).")
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Run the local engine as a long-lived endpoint for the AWS CLI, boto3 and `featurize run --endpoint`."""
    _set_verbose(verbose)
    from featurize.serve import is_loopback
    from featurize.serve import serve as run_server

    if not is_loopback(host):
        if not allow_remote:
            raise _refuse(f"--host {host} is not a loopback address: add --allow-remote to expose the engine")
        _say(err, f"warning: the engine on {host} has no authentication: anyone who reaches it can use it")
    try:
        run_server(host, port, workers, info_file, lambda line: _say(out, line))
    except OSError as error:
        raise _refuse(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _in_words(values: list[Any]) -> str:
    """Distinct parameter values, a run of 4+ consecutive integers as ``a..b``."""
    distinct = list(dict.fromkeys(json.dumps(v) for v in values))
    numbers = [json.loads(v) for v in distinct]
    if (
        len(numbers) >= 4
        and all(type(n) is int for n in numbers)
        and numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    ):
        return f"{numbers[0]}..{numbers[-1]}"
    return ", ".join(distinct)


def _catalogue_entry(name: str, grid: list[dict[str, Any]] | None) -> list[str]:
    """The lines of one calculator: presets in words, parameters and what they allow, its grid, its notes."""
    from featurize_lambda.core.registry import REGISTRY
    from featurize_lambda.core.settings import presets_of

    calc = REGISTRY[name]
    lines = [f"{name}  ({', '.join(presets_of(name)) or 'in no preset'})"]
    for key, param in (calc.params or {}).items():
        lines.append(f"    {key}: {param.describe()}")
    if grid:
        keys = list(dict.fromkeys(key for setting in grid for key in setting))
        values = "; ".join(f"{key} = {_in_words([s[key] for s in grid if key in s])}" for key in keys)
        lines.append(f"    grid ({len(grid)} setting{'s' if len(grid) > 1 else ''}): {values}")
    if calc.notes:
        lines.append(f"    note: {calc.notes}")
    return lines


@app.command()
def features(
    preset: Annotated[
        str | None, typer.Option(help="Only the calculators of this preset (minimal, efficient, comprehensive).")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the preset (default: comprehensive) as a settings file for `run --features`."
        ),
    ] = False,
) -> None:
    """List the feature calculators: the presets that hold them, their parameters and grids; or export a preset."""
    from featurize_lambda.core.registry import REGISTRY
    from featurize_lambda.core.settings import PRESET_NAMES, presets

    if preset is not None and preset not in PRESET_NAMES:
        raise _refuse(f"unknown preset {preset!r}; available: {list(PRESET_NAMES)}")
    settings = presets()[preset or "comprehensive"]
    if as_json:
        # tuples (cwt_coefficients' widths) become JSON lists; settings read them back as tuples
        _say(out, json.dumps(settings, indent=1))
        return
    # the catalogue is the registry: a calculator in no preset is listed too (after tsfresh's, in their order)
    names = list(settings) if preset else list(dict.fromkeys([*settings, *REGISTRY]))
    counts = ", ".join(f"{name} {len(presets()[name])}" for name in PRESET_NAMES)
    _say(out, f"{len(names)} calculators (tsfresh 0.21.2 names and grids; presets: {counts})")
    for name in names:
        for line in _catalogue_entry(name, settings.get(name)):
            _say(out, line)


def _execution_target(execution_arn: str, where: Where) -> AbstractContextManager[Target]:
    """The target an execution runs on; its region from the ARN (``arn:aws:states:<region>:...``) unless given.

    ``where`` is resolved by :func:`_where_runs_are` (--stack, --endpoint or a running serve).
    """
    return _target(replace(where, region=where.region or _arn_region(execution_arn)))


def _arn_region(execution_arn: str) -> str:
    """The region of an execution ARN; a refusal for anything else."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[2] != "states" or parts[5] != "execution":
        raise _refuse(f"{execution_arn!r} is not a Step Functions execution ARN")
    return parts[3]


def _execution_where(execution_arn: str, where: Where) -> Where:
    """status/fetch: the ARN checked, the endpoint checked, the place of runs resolved."""
    _arn_region(execution_arn)
    return _where_runs_are(_endpoint_checked(where))


def _where_runs_are(where: Where) -> Where:
    """``where`` with an endpoint found by ./featurize-serve.json when it names no place; else a refusal."""
    if where.stack is not None or where.endpoint is not None:
        return where
    endpoint = _running_serve(Path(SERVE_INFO))
    if endpoint is None:
        raise _refuse(
            "name where the run is: --endpoint URL (a running featurize serve) or --stack NAME (AWS); "
            "a `featurize run` without them ran in its own engine, which ended with it"
        )
    _say(err, f"using the running featurize serve at {endpoint} (found by ./{SERVE_INFO})")
    return replace(where, endpoint=endpoint)


@contextmanager
def _looking_up(where: Where, execution_arn: str | None = None) -> Iterator[None]:
    """status/fetch/runs: an unknown execution, an unreachable endpoint, no credentials: one line, exit 2."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    place = f"stack {where.stack!r}" if where.stack is not None else f"the engine at {where.endpoint}"
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ExecutionDoesNotExist":
            raise _refuse(
                f"no execution {execution_arn} on {place}: check the ARN (`featurize runs` lists the runs there)"
            ) from None
        raise _refuse(f"{place}: {code}: {error.response.get('Error', {}).get('Message', error)}") from None
    except NoCredentialsError:
        raise _refuse(NO_CREDENTIALS) from None
    except EndpointConnectionError:
        raise _refuse(
            f"cannot reach {place}: is `featurize serve` running there? (it prints its endpoint; check the port)"
        ) from None
    except BotoCoreError as error:
        raise _refuse(f"{place}: {error}") from None


def _endpoint_checked(where: Where) -> Where:
    """Refuse an --endpoint that is not an http(s) URL with a numeric port, before any client is made."""
    from urllib.parse import urlsplit

    if where.endpoint is None:
        return where
    try:
        parsed = urlsplit(where.endpoint)
        parsed.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise _refuse(f"--endpoint {where.endpoint!r} is not an http(s) URL such as http://127.0.0.1:4566")
    return where


@app.command()
def status(
    execution_arn: Annotated[str, typer.Argument(metavar="EXECUTION_ARN")],
    stack: StackOption = None,
    endpoint: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Show an execution's status, chunk progress, output or error."""
    where = _execution_where(execution_arn, Where(stack, endpoint, region, profile))
    with _looking_up(where, execution_arn), _execution_target(execution_arn, where) as target:
        described, progress = Runner(target).progress(execution_arn)
    _say(out, f"{execution_name(execution_arn)}: {described['status']}")
    if progress.chunks_total is not None:
        _say(out, f"chunks: {progress.chunks_done}/{progress.chunks_total} done")
    if described["status"] == "SUCCEEDED":
        summary = json.loads(described.get("output") or "{}")
        _say(out, f"output: {summary.get('output')} ({summary.get('ids')} ids, {summary.get('features')} features)")
    elif described["status"] != "RUNNING":
        _say(out, f"error: {described.get('error')}: {cause_message(described.get('cause', ''))}")


@app.command()
def fetch(
    execution_arn: Annotated[str, typer.Argument(metavar="EXECUTION_ARN")],
    output: Annotated[
        Path | None, typer.Option(help="Local path \\[default: <execution name>.features.<ext>].")
    ] = None,
    stack: StackOption = None,
    endpoint: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Re-attach to a run: wait for it (with progress) if it is running, then download its output."""
    where = _execution_where(execution_arn, Where(stack, endpoint, region, profile))
    with _looking_up(where, execution_arn), _execution_target(execution_arn, where) as target:
        runner = Runner(target)
        try:
            result = _watch(runner, execution_arn, execution_name(execution_arn))
        except RunFailed as failure:
            raise _fail(failure) from None
        suffix = "" if is_dataset(result.output) else "." + result.output.rsplit(".", 1)[-1]
        path = output or Path(f"{execution_name(execution_arn)}.features{suffix}")
        runner.download(result.output, path)
    _report(result, path)


@app.command()
def runs(
    stack: StackOption = None,
    endpoint: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many executions.")] = 20,
) -> None:
    """List the most recent runs of a deployed stack (or of a running engine with --endpoint)."""
    if stack is None and endpoint is None:
        raise _refuse("name the runs' place: --stack NAME (AWS) or --endpoint URL (a running featurize serve)")
    where = _endpoint_checked(Where(stack, endpoint, region, profile))
    with _looking_up(where), _target(where) as target:
        executions = Runner(target).list_runs(limit)
    for execution in executions:
        stopped = execution.get("stopDate")
        _say(
            out,
            # An execution started without a name by an older engine has none: the ARN's last part.
            f"{execution.get('name') or execution_name(execution['executionArn'])}  {execution['status']:<9}  "
            f"{execution['startDate']:%Y-%m-%d %H:%M:%S}"
            + (f"  {stopped:%Y-%m-%d %H:%M:%S}" if stopped else ""),
        )


@app.command()
def check(
    stack: Annotated[str, typer.Option("--stack", help="The deployed CloudFormation stack to check.")],
    endpoint: EndpointOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the check's run before stopping it.")
    ] = 60.0,
) -> None:
    """Check a deployed stack: run a tiny generated input, compare with the core's result, time the steps."""
    from botocore.exceptions import BotoCoreError, ClientError
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    from featurize import check as checking
    from featurize.targets import clients

    where = Where(stack, endpoint, region, profile)
    with _target(where) as target:
        try:
            lam, logs, cfn = clients(region, profile, endpoint, services=("lambda", "logs", "cloudformation"))
        except TargetError as error:
            raise _refuse(str(error)) from None
        columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with RichProgress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("Partition", total=None)

            def update(progress: Any) -> None:
                bar.update(
                    task, description=progress.stage, total=progress.chunks_total, completed=progress.chunks_done
                )

            try:
                report = checking.run_check(
                    target,
                    lam,
                    logs,
                    timeout=timeout,
                    on_progress=update,
                    # The local engine writes no logs: waiting for REPORT lines there would only cost time.
                    log_wait=0.0 if endpoint is not None else checking.LOG_WAIT_SECONDS,
                    on_start=lambda arn: _say(err, f"started {arn}"),
                    cfn=cfn,
                    stack=stack,
                )
            except KeyboardInterrupt:
                _say(err, "interrupted: the check's execution is stopped")
                raise typer.Exit(code=130) from None
            except (BotoCoreError, ClientError) as error:
                # The caller's own credentials (upload, start, history): no step of the stack to blame.
                _say(err, f"error: the check could not run with these credentials: {error}")
                raise typer.Exit(code=1) from None
    for line in checking.format_report(report):
        _say(out, line)
    if report.failure is not None:
        _say(err, f"error: {report.failure.line()}")
        raise typer.Exit(code=1)
    _say(
        out,
        f"check passed: {report.ids} ids x {report.features} features in {report.chunks} chunks equal the "
        f"core's own result ({checking.CHECK_FEATURES}, each column at its calculator's tolerance)",
    )


@app.command()
def estimate(
    input_: Annotated[
        str, typer.Argument(metavar="INPUT", help=f"Local file or folder, or s3:// URI ({_INPUT_NAMES}).")
    ],
    features: Annotated[str, typer.Option(help="As `featurize run --features`.")] = "minimal",
    column_id: Annotated[str | None, typer.Option(help="Id column \\[default: id].")] = None,
    column_sort: Annotated[str | None, typer.Option(help="Time column \\[default: time].")] = None,
    column_value: Annotated[str | None, typer.Option(help="Value column \\[default: value].")] = None,
    column_kind: Annotated[str | None, typer.Option(help="Kind column.")] = None,
    chunk_size: Annotated[
        int | None, typer.Option(help="Ids per chunk \\[default: about 100,000 rows per chunk].")
    ] = None,
    drop_nan: Annotated[bool, typer.Option("--drop-nan", help="As `featurize run --drop-nan`.")] = False,
    local: Annotated[
        bool, typer.Option("--local", help="Predict the local engine's wall time on this machine instead of AWS.")
    ] = False,
    max_concurrency: Annotated[
        int | None, typer.Option(help="Chunks computed at once on AWS \\[default: the stack's, 200].")
    ] = None,
    workers: WorkersOption = None,
    stack: Annotated[
        str | None, typer.Option("--stack", help="Read memory sizes and concurrency from this deployed stack.")
    ] = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Before a run: the plan, Lambda GB-seconds, transitions, S3 requests, dollars and wall time."""
    from featurize.estimate import CALIBRATION, MAX_CONCURRENCY, engine_fixed_seconds, render, stack_settings
    from featurize.estimate import estimate as run_estimate
    from featurize_lambda.core.partition.layout import Columns
    from featurize_lambda.core.settings import parse_features
    from featurize_lambda.core.source import local_source
    from featurize_lambda.options import features_from_flag

    if stack is not None and local:
        raise _refuse("--stack and --local exclude each other: estimate a run on AWS or on this machine")
    if chunk_size is not None and chunk_size <= 0:
        raise _refuse("--chunk-size must be a positive number of ids per chunk")
    try:
        check_flags({"max_concurrency": max_concurrency})
        settings = features_from_flag(features)
        parse_features(settings)  # refused here, before any listing
        if input_.startswith("s3://"):
            import boto3

            from featurize_lambda.storage import S3Storage

            try:
                client = boto3.Session(profile_name=profile, region_name=region).client("s3")
                source = S3Storage(client).resolve_input(input_)
            except InputError:
                raise
            except Exception as error:  # no credentials, no region, no network: botocore's errors
                raise _refuse(f"input {input_} cannot be listed: {error}") from None
        else:
            path = Path(input_)
            if not path.exists():
                raise _refuse(f"input {input_} does not exist or is not a file or folder")
            if path.is_file() and not _has_suffix(input_, INPUT_SUFFIXES):
                raise _refuse(f"input {input_}: unknown format; use one of {list(INPUT_SUFFIXES)} or a folder of them")
            if path.is_file() and path.stat().st_size == 0:
                raise _refuse(f"input {input_} is empty (0 bytes)")
            source = local_source(input_)
        extra: dict[str, Any] = {}
        concurrency = MAX_CONCURRENCY
        if stack is not None:
            sizes, concurrency = stack_settings(stack, region, profile)
            extra["memory_mb"] = sizes
        columns = Columns(
            id=column_id or "id",
            sort=column_sort or "time",
            value=column_value or "value",
            kind=column_kind,
            sort_explicit=column_sort is not None,
            value_explicit=column_value is not None,
        )
        if local:
            # The local engine's fixed cost on this machine: measured once (a tiny run), then cached.
            extra["calibration"] = replace(CALIBRATION, engine_seconds=engine_fixed_seconds(workers))
        result = run_estimate(
            source, columns, settings, chunk_size=chunk_size, drop_nan=drop_nan,
            max_concurrency=max_concurrency or concurrency, workers=workers,
            local_input=not input_.startswith("s3://"), **extra,
        )
    except (InputError, TargetError) as error:
        raise _refuse(str(error)) from None
    except OSError as error:
        raise _refuse(f"input {input_} cannot be read: {error.strerror or error}") from None
    for line in render(result, local):
        _say(out, line)

#: Values a user may write after a flag (``--drop-nan true``): the flag given, or left out.
_FLAG_TRUE = ("true", "yes", "on", "1")
_FLAG_FALSE = ("false", "no", "off", "0")


def flag_values(args: list[str]) -> list[str]:
    """``args`` with ``--flag true`` / ``--flag=false`` read as the flag given or not (flags take no value).

    The flags are every command's boolean flags, from the click command typer builds.
    """
    command = typer.main.get_command(app)
    subcommands = getattr(command, "commands", {}).values()
    params = [param for sub in [command, *subcommands] for param in sub.params]
    flags = {opt for param in params if getattr(param, "is_flag", False) for opt in param.opts}
    result: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        name, equals, value = arg.partition("=")
        following = args[index + 1].lower() if index + 1 < len(args) else ""
        if name in flags and equals and value.lower() in _FLAG_TRUE + _FLAG_FALSE:
            result += [name] if value.lower() in _FLAG_TRUE else []
        elif arg in flags and following in _FLAG_TRUE + _FLAG_FALSE:
            result += [arg] if following in _FLAG_TRUE else []
            index += 1
        else:
            result.append(arg)
        index += 1
    return result


def _plain_help_types() -> None:
    """Help without a type for flags (``--drop-nan <bool>``) and without ranges in the type column.

    typer 0.29 shows ``<bool>`` for every flag and ``<int range> [x>=1]``, which widens the type column
    until long flag names (``--tolerated-failure-percentage``) are cut at 80 columns; click still checks
    the ranges.
    """
    from typer.core import TyperOption

    if getattr(TyperOption.display_type_rich, "__featurize__", False):
        return
    original = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:  # typer's own (vendored) click Context
        if self.is_flag and not self.count:
            return None
        if self.type_descriptor.is_ranged:
            return f"<{self.type_descriptor.ranged_type_name}>"
        return original(self, ctx)

    display_type_rich.__featurize__ = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    TyperOption._get_number_range_help_str = lambda self: None  # type: ignore[method-assign]


_plain_help_types()


def main() -> None:
    """Console-script entry point."""
    import sys

    app(args=flag_values(sys.argv[1:]))
