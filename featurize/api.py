"""The Python API: tsfresh's ``extract_features`` call, computed by the featurize workflow.

Replace ``from tsfresh import extract_features`` with ``from featurize import extract_features``: the
same arguments give the same DataFrame, computed on a local engine (started once per process and
reused), on ``featurize serve`` (``endpoint=``) or on a deployed stack (``stack=``). The caller's own
boto3 clients and environment are never redirected.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from featurize_lambda.core.outputs import has_output_suffix, is_dataset
from featurize_lambda.errors import InputError
from featurize_lambda.options import check_impute_output, execution_input

from .client import RunFailed, Runner, RunResult, Target, check_local_dataset, is_local_dataset, new_run_name
from .progress import watch_with_progress
from .targets import endpoint_target, stack_target

if TYPE_CHECKING:
    import pandas as pd

    from .engine import LocalEngine

__all__ = ["extract_features", "run", "shutdown", "InputError", "RunFailed", "Run"]

_engine: LocalEngine | None = None
_engine_lock = threading.Lock()


def local_engine(workers: int | None = None) -> LocalEngine:
    """The process's local engine: started on first use, reused by later calls, closed at exit.

    ``workers`` applies when the engine starts; later calls reuse it as it is.
    """
    global _engine
    with _engine_lock:
        if _engine is None:
            from .engine import LocalEngine

            engine = LocalEngine(workers=workers)
            engine.start()
            atexit.register(engine.close)
            _engine = engine
        return _engine


def shutdown() -> None:
    """Close the process's local engine now (it is also closed at exit); the next call starts a new one."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.close()
            _engine = None


@contextmanager
def _target(
    stack: str | None, endpoint: str | None, workers: int | None, region: str | None = None, profile: str | None = None
) -> Iterator[Target]:
    if stack is not None:
        yield stack_target(stack, region, profile, endpoint_url=endpoint)
    elif endpoint is not None:
        yield endpoint_target(endpoint)
    else:
        yield local_engine(workers).target()


@dataclass(frozen=True)
class Run:
    """A finished run: where its output is and what it counted.

    Attributes
    ----------
    execution_arn, output : str
        The execution and its output URI (``s3://...``).
    local_output : pathlib.Path or None
        Where the output was downloaded, if a local path was asked for.
    ids, rows, features, chunks : int
        Counts from the run's summary.
    seconds : float
        Wall time from start to end.
    """

    execution_arn: str
    output: str
    local_output: Path | None
    ids: int
    rows: int
    features: int
    chunks: int
    seconds: float

    @classmethod
    def from_result(cls, result: RunResult, local_output: Path | None) -> Run:
        """Build from the client's result."""
        s = result.summary
        return cls(result.execution_arn, result.output, local_output, s.get("ids", 0), s.get("rows", 0),
                   s.get("features", 0), s.get("chunks", 0), result.seconds)  # fmt: skip


def _start_and_watch(
    target: Target, source: Any, execution_input: dict[str, Any], show_progress: bool, output_name: str | None = None
) -> tuple[Runner, RunResult]:
    """Upload a DataFrame, local file or local folder if needed, start the execution, watch it to the end.

    ``output_name``: the file name of the output in the target bucket (its suffix picks the format).
    """
    import pandas as pd

    runner = Runner(target)
    name = new_run_name()
    if output_name is not None:
        execution_input["output"] = runner.default_output(name, output_name)
    if isinstance(source, pd.DataFrame):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "input.parquet"
            source.to_parquet(path, index=False)
            execution_input["input"] = runner.upload(path, name, label="the DataFrame")
    elif isinstance(source, str | os.PathLike) and str(source).startswith("s3://"):
        execution_input["input"] = str(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            from featurize_lambda.core.source import local_source  # pyarrow's readers, only for a folder

            # Checked as the partition step checks a prefix (data files by name, one format), before uploading.
            files = [Path(file.path) for file in local_source(str(path)).files]
            execution_input["input"] = runner.upload_folder(path, files, name, label=str(source))
        elif path.is_file():
            execution_input["input"] = runner.upload(path, name, label=str(source))
        else:
            raise InputError(f"input {source} does not exist or is not a file or folder")
    else:
        raise InputError(f"the input must be a pandas DataFrame, a local path or an s3:// URI, got {type(source)}")
    arn = runner.start(execution_input, name)
    try:
        result = watch_with_progress(runner, arn, name, Console(stderr=True), disable=not show_progress)
    except RunFailed as failure:
        if failure.error == "InputError":
            raise InputError(failure.cause) from failure
        raise
    return runner, result


def _execution_input(column_id: str | None, **options: Any) -> dict[str, Any]:
    """The execution input of the options given, validated as the partition step would, before any upload.

    ``column_id``, ``column_sort``, ``column_kind``, ``column_value`` and ``features`` are always sent
    (None is JSON null: tsfresh's meaning of no such column); any other option only when given (not None
    or False), so a stack without a newer option still runs a call that does not use it.
    """
    if column_id is None:
        raise InputError("You have to set the column_id which contains the ids of the different time series")
    always = ("column_sort", "column_kind", "column_value", "features")
    given = {
        name: value
        for name, value in options.items()
        if name in always or (value is not None and value is not False)  # 0 is given (and refused where it must be)
    }
    return execution_input(column_id=column_id, **given)


def _features_field(default_fc_parameters: Any, kind_to_fc_parameters: Any) -> Any:
    """tsfresh's two settings arguments as the ``features`` field (tsfresh's defaults included)."""
    if default_fc_parameters is None and kind_to_fc_parameters is None:
        return "comprehensive"
    if kind_to_fc_parameters is not None:
        return {"default": dict(default_fc_parameters or {}), "kinds": {str(k): dict(v) for k, v in
                                                                         kind_to_fc_parameters.items()}}  # fmt: skip
    return dict(default_fc_parameters) if not isinstance(default_fc_parameters, str) else default_fc_parameters


def extract_features(
    timeseries_container: Any,
    default_fc_parameters: Any = None,
    kind_to_fc_parameters: Any = None,
    column_id: str | None = None,
    column_sort: str | None = None,
    column_kind: str | None = None,
    column_value: str | None = None,
    chunksize: int | None = None,
    n_jobs: int | None = None,
    show_warnings: Any = None,
    disable_progressbar: bool = False,
    impute_function: Callable[[pd.DataFrame], Any] | None = None,
    profile: Any = None,
    profiling_filename: Any = None,
    profiling_sorting: Any = None,
    distributor: Any = None,
    pivot: bool = True,
    *,
    stack: str | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    max_concurrency: int | None = None,
    drop_nan: bool = False,
    tolerated_failure_percentage: float | None = None,
    impute: bool = False,
) -> pd.DataFrame | list[tuple[Any, str, float]]:
    """tsfresh 0.21.2's ``extract_features``, computed by the featurize workflow.

    The arguments and their defaults are tsfresh's, in tsfresh's order, with tsfresh's meaning:
    ``column_id`` is required; with ``column_value=None`` and no ``column_kind`` every other column is a
    kind (wide format); without settings, ``ComprehensiveFCParameters``; ``impute_function`` is applied
    to the result. ``chunksize`` is the number of ids per chunk (tsfresh counts id/kind series);
    ``n_jobs`` is the number of local worker processes when this call starts the local engine.
    ``show_warnings``, ``profile``, ``profiling_filename``, ``profiling_sorting`` and ``distributor``
    have no meaning here and are ignored. The keyword-only arguments are featurize's own: the
    ``featurize run`` options tsfresh has no argument for.

    Parameters
    ----------
    timeseries_container : pandas.DataFrame, str or path
        The long or wide table, a local file (Parquet, CSV, CSV.gz) or an ``s3://`` URI.
    stack : str, optional
        Run on this deployed CloudFormation stack (AWS credentials as for boto3).
    endpoint : str, optional
        Run on a running ``featurize serve`` at this URL (with ``stack``: that stack on this endpoint).
    region : str, optional
        With ``stack``: the AWS region (``--region``) [default: from your AWS config].
    max_concurrency : int, optional
        Chunks computed at once (the Map's ``MaxConcurrency``, 1 to 10,000); default: the stack's
        ``max_concurrency`` (200). Keep it below the account's Lambda concurrency quota.
    drop_nan, tolerated_failure_percentage, impute : optional
        As in the execution input (see the README): drop rows with a missing value instead of refusing
        the input; the share of chunks (%) that may fail and still give a partial result; impute the
        result in the workflow (tsfresh's ``impute``: ±inf to the column's max/min, NaN to its median).

    ``profile`` is tsfresh's profiling switch, not an AWS profile: with ``stack``, the AWS profile is
    read from the environment (``AWS_PROFILE``).

    Returns
    -------
    pandas.DataFrame or list
        tsfresh's result: one row per id (index = the ids), one column per feature; with
        ``pivot=False`` tsfresh's long format, a list of ``(id, feature name, value)``.

    Raises
    ------
    InputError
        For bad arguments or bad input (the CLI's messages; a ``ValueError``).
    RunFailed
        When the run fails (``error``, ``cause``, ``state`` and the failed ``chunks``).
    """
    import pandas as pd

    features = _features_field(default_fc_parameters, kind_to_fc_parameters)
    execution_input = _execution_input(
        column_id, features=features, column_sort=column_sort, column_kind=column_kind, column_value=column_value,
        chunk_size=chunksize, max_concurrency=max_concurrency, drop_nan=drop_nan,
        tolerated_failure_percentage=tolerated_failure_percentage, impute=impute,
    )  # fmt: skip
    with _target(stack, endpoint, n_jobs, region) as target:
        runner, result = _start_and_watch(target, timeseries_container, execution_input, not disable_progressbar)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "features.parquet"
            runner.download(result.output, path)
            table = pd.read_parquet(path)
    frame = table.iloc[:, 1:]
    frame.index = pd.Index(table.iloc[:, 0].to_numpy())  # tsfresh's index: the ids, no name, never a RangeIndex
    if impute_function is not None:
        impute_function(frame)
    if not pivot:
        return [(i, column, value) for i, row in zip(frame.index, frame.to_numpy(), strict=True)
                for column, value in zip(frame.columns, row, strict=True)]  # fmt: skip
    return frame


def run(
    timeseries_container: Any,
    output: str | os.PathLike | None = None,
    *,
    features: Any = "minimal",
    column_id: str = "id",
    column_sort: str | None = "time",
    column_kind: str | None = None,
    column_value: str | None = "value",
    chunk_size: int | None = None,
    drop_nan: bool = False,
    tolerated_failure_percentage: float | None = None,
    max_concurrency: int | None = None,
    impute: bool = False,
    stack: str | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Run:
    """Run the workflow without loading the result: for tables too large to hold in memory.

    Parameters
    ----------
    timeseries_container : pandas.DataFrame, str or path
        The input, as for :func:`extract_features`.
    output : str or path, optional
        An ``s3://`` URI, or a local path to download the output to; default: the target bucket's
        ``outputs/<execution name>/features.parquet`` (on the local engine it lives as long as the process).
    features, column_id, column_sort, column_kind, column_value, chunk_size, drop_nan,
    tolerated_failure_percentage, max_concurrency, impute
        As in the execution input (see the README); the ``featurize run`` options of the same names.
    stack, endpoint, region, profile, workers
        Where it runs, as ``featurize run --stack/--endpoint/--region/--profile/--workers``.

    Returns
    -------
    Run
        Execution ARN, output URI, local output path, counts and seconds.
    """
    local = None if output is None or str(output).startswith("s3://") else Path(output)
    dataset = output is not None and (is_dataset(str(output)) if local is None else is_local_dataset(str(output)))
    execution_input = _execution_input(
        column_id, features=features, column_sort=column_sort, column_kind=column_kind, column_value=column_value,
        chunk_size=chunk_size, drop_nan=drop_nan, tolerated_failure_percentage=tolerated_failure_percentage,
        max_concurrency=max_concurrency, impute=impute,
    )  # fmt: skip
    if output is not None and local is None:
        execution_input["output"] = str(output)
    if local is not None and not (dataset or has_output_suffix(local.name)):
        raise InputError(f"output {output}: use a .parquet or .csv path, or a folder ending in / for a Parquet dataset")
    check_impute_output("dataset/" if dataset else None, impute)
    if dataset and local is not None:
        try:
            check_local_dataset(local)
        except FileExistsError as error:
            raise InputError(str(error)) from None
    with _target(stack, endpoint, workers, region, profile) as target:
        in_bucket = ("features/" if dataset else local.name) if local is not None else None
        runner, result = _start_and_watch(target, timeseries_container, execution_input, progress, in_bucket)
        if local is not None:
            runner.download(result.output, local)
    return Run.from_result(result, local)
