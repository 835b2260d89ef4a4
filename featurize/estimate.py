"""``featurize estimate``: what a run will cost and how long it will take, before it starts.

From the input's listing and footers (:mod:`featurize_lambda.core.plan`; no full read) and a small
sample computed here (a few whole ids of the first split, through the core's own validation and feature
extraction, timed per row), the estimate models:

- the plan: files, splits, buckets and chunks, as the partition step would cut them;
- on AWS: the Lambda GB-seconds of each step at the stack's memory sizes, the Step Functions state
  transitions (counted from the state machine's ASL), the S3 requests, their dollars at the list
  prices of :data:`PRICES`, and the wall time at the Map's concurrency. **A model**: its per-row rates
  are this machine's, not yet calibrated on AWS (``featurize check`` reports a real run's step
  durations to compare with);
- with ``--local``: the local engine's wall time on this machine, from constants measured on the
  benchmarks (``benchmarks/bench_estimate.py`` prints the predicted/measured ratios).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from featurize_lambda.core.features import FeatureSpec, extract, parse_features
from featurize_lambda.core.partition import normalize
from featurize_lambda.core.partition.layout import Columns
from featurize_lambda.core.plan import Plan, estimate_buckets, estimate_chunks, plan_source
from featurize_lambda.core.source import InputSource

#: The stack's defaults (``cdk_app/constants.py``; a test keeps them equal): MB per function, Map concurrency.
PARTITION_MEMORY_MB = 3008
FEATURES_MEMORY_MB = 1769
REDUCE_MEMORY_MB = 3008
MAX_CONCURRENCY = 200

#: Rows of the first split read for the sample, and the whole ids of it that are computed.
SAMPLE_READ_ROWS = 50_000
SAMPLE_IDS = 20


@dataclass(frozen=True)
class Prices:
    """List prices the dollars are computed with (one region, one date)."""

    region: str = "us-east-1"
    date: str = "2025, as the README's Costs section quotes them"
    lambda_gb_second: float = 0.0000133334  # arm64
    lambda_per_million_requests: float = 0.20
    transitions_per_thousand: float = 0.025  # Step Functions Standard
    s3_put_per_thousand: float = 0.005  # PUT, COPY, POST, LIST (S3 Standard)
    s3_get_per_thousand: float = 0.0004  # GET, SELECT and all other requests


PRICES = Prices()


@dataclass(frozen=True)
class Calibration:
    """Per-row and fixed costs of the steps: measured on this repository's benchmarks (2 cores).

    The features step's per-row cost is not here: the sample measures it for the features asked.
    ``bench_estimate.py`` re-measures the runs these constants were fitted to.
    """

    #: The local engine's fixed cost: process start, imports, engine and workers, upload, download.
    engine_seconds: float = 7.5
    #: Partition: validating, routing, sorting and writing the chunks, seconds per input row (one core).
    partition_row_seconds: float = 0.2e-6
    #: Partition: per chunk written (Parquet encoding, one PUT).
    partition_chunk_seconds: float = 0.01
    #: One features invocation on the local engine besides its compute (dispatch, the chunk's GET and
    #: the result's PUT through moto).
    chunk_seconds: float = 0.08
    #: The same on AWS (warm start, two S3 round trips at tens of ms each, Parquet decoding): a guess.
    aws_chunk_seconds: float = 0.3
    #: Local features compute runs this much slower per row than the sample (worker processes share the cores).
    local_compute_factor: float = 1.3
    #: Reduce: per feature value merged, and per chunk result read.
    reduce_value_seconds: float = 5e-8
    reduce_chunk_seconds: float = 0.01
    #: Step Functions' own latency per state transition on AWS (the local engine's is in ``engine_seconds``).
    transition_seconds: float = 0.05
    #: A Lambda cold start (the first wave of the Map pays it), seconds.
    cold_start_seconds: float = 1.5


CALIBRATION = Calibration()


@dataclass(frozen=True)
class Sample:
    """The features computed on a few ids of the first split, timed."""

    rows: int
    ids: int
    kinds: int
    features: int
    seconds: float
    #: Rows of the long ``(id, kind, value)`` table the sample became (a wide row is one per kind).
    long_rows: int = 0
    #: ``(calculator, seconds)`` of the default settings' calculators, most expensive first.
    calculators: tuple[tuple[str, float], ...] = ()

    @property
    def long_factor(self) -> float:
        """Long rows per input row (1 in long format, the kinds in wide format)."""
        return self.long_rows / self.rows if self.rows and self.long_rows else 1.0

    @property
    def row_seconds(self) -> float:
        """Compute seconds per input row."""
        return self.seconds / max(1, self.rows)

    @property
    def rows_per_id(self) -> float:
        """Rows per id (all kinds)."""
        return self.rows / max(1, self.ids)


@dataclass(frozen=True)
class Step:
    """One step of the workflow as the model sees it."""

    name: str
    invocations: int
    seconds: float  # billed seconds, all invocations together
    memory_mb: int

    @property
    def gb_seconds(self) -> float:
        """Billed GB-seconds."""
        return self.seconds * self.memory_mb / 1024


@dataclass(frozen=True)
class Estimate:
    """The whole estimate: the plan, the sample, the AWS model and the local prediction."""

    plan: Plan
    sample: Sample
    ids: int
    chunks: int
    steps: tuple[Step, ...]
    transitions: int
    s3_puts: int
    s3_gets: int
    aws_wall_seconds: float
    local_wall_seconds: float
    workers: int
    max_concurrency: int
    prices: Prices = field(default=PRICES)

    @property
    def lambda_requests(self) -> int:
        """Lambda invocations."""
        return sum(step.invocations for step in self.steps)

    @property
    def gb_seconds(self) -> float:
        """Lambda GB-seconds of every step."""
        return sum(step.gb_seconds for step in self.steps)

    def dollars(self) -> dict[str, float]:
        """Dollars per item at :attr:`prices`, and their total."""
        p = self.prices
        items = {
            "lambda compute": self.gb_seconds * p.lambda_gb_second,
            "lambda requests": self.lambda_requests / 1e6 * p.lambda_per_million_requests,
            "state transitions": self.transitions / 1000 * p.transitions_per_thousand,
            "s3 requests": self.s3_puts / 1000 * p.s3_put_per_thousand + self.s3_gets / 1000 * p.s3_get_per_thousand,
        }
        items["total"] = sum(items.values())
        return items


@cache
def asl_counts(path: str | None = None) -> tuple[int, int]:
    """``(transitions per run, transitions per Map item)`` counted from the state machine's ASL.

    Per run: entering each top-level state on the success path, plus the execution's start and end.
    Per item: each child execution's start, entering each state of the item processor, and its end, plus
    the Map's own bookkeeping of the item (AWS bills child executions of a Distributed Map as Standard
    transitions; about 5 per item, as the README's Costs section says).
    """
    from .workflow import ASL_PATH

    asl_path = Path(path) if path else ASL_PATH
    document = json.loads(asl_path.read_text(encoding="utf-8"))

    def success_path(states: dict[str, Any], start: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        name: str | None = start
        while name is not None:
            state = states[name]
            found.append(state)
            name = None if state.get("End") or state["Type"] in ("Succeed", "Fail") else state.get("Next")
        return found

    top = success_path(document["States"], document["StartAt"])
    per_item = 0
    for state in top:
        if state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state["Iterator"]
            per_item = max(per_item, len(success_path(processor["States"], processor["StartAt"])))
    # child: start + its states + end; the Map's item: dispatched + result recorded
    return len(top) + 2, (per_item + 2 + 2 if per_item else 0)


def take_sample(source: InputSource, columns: Columns, features: Any, drop_nan: bool = False) -> Sample:
    """Read the first rows of the first file, keep its first few whole ids, compute their features, timed.

    An id is whole in the sample if it is not the last one read (unless the file ended); ids are assumed
    contiguous in the file (an export per device, a table sorted by id), as the model of rows per id is.
    """
    spec = parse_features(features)
    first = source.files[0]
    fmt = first.format
    name = source.name(first)
    schema = fmt.schema(source.filesystem, first.path, name, {})
    batch = next(iter(fmt.batches(source.filesystem, first.path, name, schema.names, SAMPLE_READ_ROWS, {})), None)
    if batch is None or batch.num_rows == 0:
        return Sample(0, 0, 0, 0, 0.0)
    table = pa.Table.from_batches([batch])
    ended = batch.num_rows < SAMPLE_READ_ROWS
    if columns.id in table.column_names:
        ids = table.column(columns.id).to_pandas()
        order = list(dict.fromkeys(ids.tolist()))
        keep = order if ended or len(order) == 1 else order[:-1]
        keep = keep[:SAMPLE_IDS]
        table = table.filter(pa.array(ids.isin(keep).to_numpy()))
    normalized = normalize(table, columns, drop_nan=drop_nan)
    frame = normalized.frame
    best = math.inf
    result = None
    # The best of several runs: the first warms caches, and on a shared machine the least disturbed
    # run is the one that measures the compute (up to 5 runs, while they take under 2 s together).
    spent, runs = 0.0, 0
    while runs < 2 or (runs < 5 and spent < 2.0):
        started = time.perf_counter()
        result = extract(frame, normalized.kinds, spec)
        seconds = time.perf_counter() - started
        best, spent, runs = min(best, seconds), spent + seconds, runs + 1
    n_ids = int(frame["id"].nunique())
    timings = []
    if len(spec.default) > 1 and not spec.kinds:
        # Each calculator alone, once: which ones the features step's time goes to.
        for name, params in spec.default.items():
            started = time.perf_counter()
            extract(frame, normalized.kinds, FeatureSpec(default={name: params}))
            timings.append((name, time.perf_counter() - started))
        timings.sort(key=lambda item: -item[1])
    features_out = result.shape[1] if result is not None else 0
    return Sample(len(table), n_ids, len(normalized.kinds), features_out, best, len(frame), tuple(timings))


def model(
    plan: Plan,
    sample: Sample,
    chunk_size: int | None = None,
    memory_mb: tuple[int, int, int] = (PARTITION_MEMORY_MB, FEATURES_MEMORY_MB, REDUCE_MEMORY_MB),
    max_concurrency: int = MAX_CONCURRENCY,
    workers: int | None = None,
    local_input: bool = True,
    calibration: Calibration = CALIBRATION,
) -> Estimate:
    """The estimate of a run of ``plan``'s input with the sample's features (pure arithmetic).

    Parameters
    ----------
    plan : Plan
        The input's splits.
    sample : Sample
        The timed sample (its rows per id and compute seconds per row).
    chunk_size : int, optional
        Ids per chunk (None: about 100,000 rows per chunk).
    memory_mb : tuple of int
        Partition, features and reduce memory, MB.
    max_concurrency : int
        Chunks computed at once on AWS.
    workers : int, optional
        Local worker processes (default: the cores).
    local_input : bool
        Whether the CLI uploads the input first (one PUT per file).
    """
    c = calibration
    rows = plan.total_rows_estimate
    ids = max(1, round(rows / sample.rows_per_id)) if sample.ids else max(1, rows // 1000)
    # The partition step counts long rows (a wide input row is one row per kind).
    chunks = estimate_chunks(round(rows * sample.long_factor), ids, chunk_size)
    rows_per_chunk = rows / max(1, chunks)
    compute = rows_per_chunk * sample.row_seconds
    values = ids * (sample.features or 1)

    partition = rows * c.partition_row_seconds + chunks * c.partition_chunk_seconds
    chunk = c.aws_chunk_seconds + compute
    reduce = values * c.reduce_value_seconds + chunks * c.reduce_chunk_seconds
    steps = (
        Step("partition", 1, partition, memory_mb[0]),
        Step("features", chunks, chunks * chunk, memory_mb[1]),
        Step("reduce", 1, reduce, memory_mb[2]),
    )
    per_run, per_item = asl_counts()
    transitions = per_run + per_item * chunks
    # PUT: config, manifest, every chunk and result, the Map's results (~3), the output, the summary
    # (plus one per local file uploaded); GET: the input's ranges (16 MiB for CSV, a footer and column
    # chunks per row group for Parquet), the manifest (Map, reduce), per chunk the config, the chunk and
    # its result, and the config at reduce.
    input_gets = sum(max(1, math.ceil(s.bytes / (16 << 20))) + (3 if s.kind == "parquet" else 0) for s in plan.splits)
    uploads = plan.files if local_input else 0
    s3_puts = 2 + 2 * chunks + 3 + 1 + 1 + uploads + 1  # + one LIST at reduce
    s3_gets = input_gets + 2 + 3 * chunks + 1

    concurrency = max(1, min(max_concurrency, chunks))
    waves = math.ceil(chunks / concurrency)
    aws_wall = (
        partition + c.cold_start_seconds + waves * chunk + reduce + (per_run + per_item * waves) * c.transition_seconds
    )
    workers = workers or os.cpu_count() or 1
    local_waves = math.ceil(chunks / workers)
    local_wall = (
        c.engine_seconds + partition + local_waves * (c.chunk_seconds + compute * c.local_compute_factor) + reduce
    )
    return Estimate(
        plan=replace(plan, chunks_estimate=chunks, buckets=estimate_buckets(round(rows * sample.long_factor))),
        sample=sample, ids=ids, chunks=chunks, steps=steps,
        transitions=transitions,
        s3_puts=s3_puts, s3_gets=s3_gets, aws_wall_seconds=aws_wall, local_wall_seconds=local_wall,
        workers=workers, max_concurrency=max_concurrency,
    )


def estimate(
    source: InputSource,
    columns: Columns,
    features: Any = "minimal",
    chunk_size: int | None = None,
    drop_nan: bool = False,
    **kwargs: Any,
) -> Estimate:
    """Plan ``source``, time a sample of it, and model the run (see :func:`model` for ``kwargs``)."""
    sample = take_sample(source, columns, features, drop_nan)
    plan = plan_source(source, chunk_size=chunk_size)
    return model(plan, sample, chunk_size=chunk_size, **kwargs)


def _cache_path() -> Path:
    """Where the measured engine cost is kept (``FEATURIZE_ESTIMATE_CACHE``, else ``~/.cache/featurize/``)."""
    configured = os.environ.get("FEATURIZE_ESTIMATE_CACHE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "featurize" / "estimate.json"


def engine_fixed_seconds(workers: int | None = None) -> float:
    """The wall time of a ``featurize run`` of a tiny input on this machine: measured once, then cached.

    The fixed cost of a local run (Python imports, the engine and its worker processes, upload,
    download) is most of a small run's time and depends on the machine, so it is measured here rather
    than assumed: the first ``featurize estimate --local`` runs a 1,000-row input in a fresh process
    (a few seconds) and keeps the figure, per version and worker count, in :func:`_cache_path`
    (delete the file to measure again). Falls back to :attr:`Calibration.engine_seconds` if the run fails.
    """
    import subprocess
    import sys
    import tempfile

    from featurize import __version__

    workers = workers or os.cpu_count() or 1
    key = f"{__version__}/workers={workers}"
    path = _cache_path()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if isinstance(cached, dict) and isinstance(cached.get(key), int | float):
        return float(cached[key])
    with tempfile.TemporaryDirectory(prefix="featurize-estimate-") as folder:
        data = Path(folder) / "tiny.csv"
        data.write_text("id,time,value\n" + "".join(f"{i // 100},{i % 100},{(i * 7919) % 101}\n" for i in range(1000)))
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "featurize", "run", str(data), "--output", str(Path(folder) / "tiny.parquet"),
             "--workers", str(workers)],
            capture_output=True, check=False,
        )
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        return CALIBRATION.engine_seconds
    cached = cached if isinstance(cached, dict) else {}
    cached[key] = round(seconds, 3)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached, indent=1), encoding="utf-8")
    except OSError:
        pass  # a read-only home: measured again next time
    return seconds


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def render(result: Estimate, local: bool) -> list[str]:
    """The lines ``featurize estimate`` prints."""
    plan, sample = result.plan, result.sample
    kinds = {s.kind for s in plan.splits}
    lines = [
        f"input: {plan.files} file(s), {plan.total_bytes:,} bytes, about {plan.total_rows_estimate:,} rows "
        f"({'exact, from Parquet footers' if kinds == {'parquet'} else 'estimated from the first blocks'}; "
        f"{plan.bytes_read:,} bytes read to plan)",
        f"plan: {len(plan.splits)} split(s), {plan.buckets} bucket(s), {result.chunks} chunk(s) of about "
        f"{plan.total_rows_estimate // max(1, result.chunks):,} rows; about {result.ids:,} ids",
        f"sample: {sample.ids} ids, {sample.rows:,} rows, {sample.features} features computed in "
        f"{sample.seconds:.3f} s ({sample.row_seconds * 1e6:.2f} us per row)",
    ]
    if sample.calculators:
        total = sum(seconds for _, seconds in sample.calculators) or 1.0
        lines.append("  most of it: " + ", ".join(
            f"{name} {seconds / total:.0%}" for name, seconds in sample.calculators[:3]
        ))
    if local:
        lines.append(
            f"local engine: about {_seconds(result.local_wall_seconds)} wall with {result.workers} worker(s) "
            "(its fixed cost measured on this machine once; calibrated on the benchmarks within +-50%)"
        )
        return lines
    p = result.prices
    lines.append("AWS (a model, not yet calibrated on AWS; `featurize check` reports a run's real step durations):")
    for step in result.steps:
        lines.append(
            f"  {step.name}: {step.invocations:,} invocation(s) at {step.memory_mb} MB, "
            f"{step.seconds:,.1f} s, {step.gb_seconds:,.1f} GB-s"
        )
    lines.append(f"  step functions: {result.transitions:,} state transitions")
    lines.append(f"  s3: {result.s3_puts:,} PUT/LIST, {result.s3_gets:,} GET requests")
    dollars = result.dollars()
    lines.append(
        f"  dollars (list prices in {p.region}, {p.date}): "
        + ", ".join(f"{name} ${value:.4f}" for name, value in dollars.items() if name != "total")
        + f"; total ${dollars['total']:.4f}"
    )
    lines.append(
        f"  wall: about {_seconds(result.aws_wall_seconds)} at max_concurrency {result.max_concurrency}"
    )
    return lines


def stack_settings(
    stack: str, region: str | None = None, profile: str | None = None
) -> tuple[tuple[int, int, int], int]:
    """``((partition, features, reduce) memory MB, max_concurrency)`` of a deployed stack's functions.

    Raises
    ------
    featurize.targets.TargetError
        If the stack or its functions cannot be read.
    """
    from featurize_lambda.limits import ENV_MAX_CONCURRENCY

    from .targets import TargetError, _session

    session = _session(region, profile)
    try:
        cfn = session.client("cloudformation")
        functions = session.client("lambda")
        resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
        memory: dict[str, int] = {}
        concurrency = MAX_CONCURRENCY
        for resource in resources:
            if resource["ResourceType"] != "AWS::Lambda::Function":
                continue
            for role in ("Partition", "Features", "Reduce"):
                if resource["LogicalResourceId"].startswith(f"{role}Function"):
                    config = functions.get_function_configuration(FunctionName=resource["PhysicalResourceId"])
                    memory[role] = int(config["MemorySize"])
                    variables = config.get("Environment", {}).get("Variables", {})
                    if ENV_MAX_CONCURRENCY in variables:
                        concurrency = int(variables[ENV_MAX_CONCURRENCY])
    except Exception as error:  # no credentials, no network, no such stack
        raise TargetError(f"stack {stack!r}: {error}") from None
    missing = [role for role in ("Partition", "Features", "Reduce") if role not in memory]
    if missing:
        raise TargetError(f"stack {stack!r} has no {', '.join(missing)} function(s): is it a featurize stack?")
    return (memory["Partition"], memory["Features"], memory["Reduce"]), concurrency
