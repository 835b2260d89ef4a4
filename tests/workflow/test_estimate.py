"""``featurize estimate``: the plan numbers, the cost arithmetic, the ASL count, the CLI (no timing assertions)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import featurize.targets
from featurize import estimate as est
from featurize.cli import app
from featurize_lambda.core.partition.layout import Columns
from featurize_lambda.core.plan import Plan, Split
from featurize_lambda.core.source import local_source

runner = CliRunner()
COLUMNS = Columns(id="id", sort="time", value="value", kind=None)
ASL = Path(__file__).resolve().parents[2] / "statemachine" / "featurize.asl.json"


def _frame(n_ids: int, n_points: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "id": np.repeat(np.arange(n_ids), n_points),
        "time": np.tile(np.arange(n_points), n_ids),
        "value": rng.normal(size=n_ids * n_points),
    })


def _cli(*args: Any) -> Any:
    return runner.invoke(app, ["estimate", *[str(a) for a in args]], catch_exceptions=False)


def test_plan_numbers_of_a_generated_folder(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    # 3 files x 100 ids x 500 points, ids distinct across files: 300 ids, 150,000 rows
    for number in range(3):
        frame = _frame(100, 500)
        frame["id"] += 100 * number
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"p{number}.parquet",
                       row_group_size=10_000)
    result = est.estimate(local_source(str(folder)), COLUMNS, "minimal")
    assert result.plan.files == 3 and result.plan.total_rows_estimate == 150_000
    assert result.sample.rows_per_id == 500 and result.ids == 300
    # 100,000 rows a chunk at 500 rows an id: 200 ids a chunk -> ceil(300 / 200) = 2 chunks
    assert result.chunks == 2 == result.plan.chunks_estimate
    assert result.steps[1].invocations == 2
    with_size = est.estimate(local_source(str(folder)), COLUMNS, "minimal", chunk_size=7)
    assert with_size.chunks == math.ceil(300 / 7)
    # the sample computed the minimal set: 10 features of one kind
    assert result.sample.features == 10 and result.sample.kinds == 1


def test_wide_input_chunks_count_long_rows(tmp_path: Path) -> None:
    # 300 ids x 200 rows x 3 value columns: 600 long rows an id -> 167 ids a chunk -> 2 chunks
    # (counted in input rows it would be 1)
    frame = _frame(300, 200).drop(columns="value")
    for name in ("a", "b", "c"):
        frame[name] = np.arange(len(frame), dtype=float)
    path = tmp_path / "wide.parquet"
    frame.to_parquet(path, index=False)
    result = est.estimate(local_source(str(path)), Columns(id="id", sort="time", value="value", kind=None), "minimal")
    assert result.sample.long_factor == 3 and result.ids == 300 and result.chunks == 2
    assert result.sample.features == 30


def test_sample_keeps_whole_ids_of_the_first_rows(tmp_path: Path) -> None:
    # ids of 30,000 rows: the first 50,000 rows hold one whole id and part of the next
    path = tmp_path / "long.parquet"
    _frame(4, 30_000).to_parquet(path, index=False)
    sample = est.take_sample(local_source(str(path)), COLUMNS, "minimal")
    assert (sample.ids, sample.rows) == (1, 30_000)


def test_asl_counts_are_read_from_the_state_machine(tmp_path: Path) -> None:
    # the ASL on main: Partition -> Features (Map of ComputeFeatures) -> Reduce
    assert est.asl_counts() == (3 + 2, 1 + 2 + 2)
    document = json.loads(ASL.read_text())
    processor = document["States"]["Features"]["ItemProcessor"]
    processor["States"]["ComputeFeatures"].pop("End")
    processor["States"]["ComputeFeatures"]["Next"] = "Done"
    processor["States"]["Done"] = {"Type": "Succeed"}
    changed = tmp_path / "asl.json"
    changed.write_text(json.dumps(document))
    assert est.asl_counts(str(changed)) == (5, 6)


def test_cost_arithmetic_against_a_hand_computation() -> None:
    splits = tuple(Split(f"f{n}.parquet", "parquet", 0, 40 << 20, (0, 1), 5_000_000, 40 << 20) for n in range(4))
    plan = Plan(splits, 4 * (40 << 20), 20_000_000, 20, 0, files=4)
    sample = est.Sample(rows=10_000, ids=10, kinds=1, features=10, seconds=0.02)  # 2 us a row, 1,000 rows an id
    calibration = est.Calibration(
        engine_seconds=5.0, partition_row_seconds=1e-6, partition_chunk_seconds=0.01, chunk_seconds=0.05,
        aws_chunk_seconds=0.1,
        local_compute_factor=1.0, reduce_value_seconds=1e-6, reduce_chunk_seconds=0.0, transition_seconds=0.0,
        cold_start_seconds=1.0,
    )
    result = est.model(plan, sample, memory_mb=(2048, 1024, 4096), max_concurrency=50, workers=2,
                       local_input=False, calibration=calibration)
    # by hand: 20,000 ids, 100 ids a chunk -> 200 chunks of 100,000 rows
    assert (result.ids, result.chunks) == (20_000, 200)
    partition = 20e6 * 1e-6 + 200 * 0.01  # 22 s at 2 GB
    chunk = 0.1 + 100_000 * 2e-6  # 0.3 s at 1 GB
    reduce = 20_000 * 10 * 1e-6  # 0.2 s at 4 GB
    gb_seconds = partition * 2 + 200 * chunk * 1 + reduce * 4
    assert result.gb_seconds == pytest.approx(gb_seconds)
    transitions = 5 + 5 * 200
    assert result.transitions == transitions
    # S3: PUT config, manifest, 200 chunks + 200 results, 3 Map results, output, summary, 1 LIST;
    # GET: 3 MiB-blocks (40 MiB / 16 MiB) + 3 per Parquet split, 2 manifests, 3 per chunk, 1 config
    puts = 2 + 400 + 3 + 1 + 1 + 1
    gets = 4 * (3 + 3) + 2 + 600 + 1
    assert (result.s3_puts, result.s3_gets) == (puts, gets)
    dollars = result.dollars()
    assert dollars["lambda compute"] == pytest.approx(gb_seconds * 0.0000133334)
    assert dollars["lambda requests"] == pytest.approx(202 * 0.20 / 1e6)
    assert dollars["state transitions"] == pytest.approx(transitions * 0.025 / 1000)
    assert dollars["s3 requests"] == pytest.approx(puts * 0.005 / 1000 + gets * 0.0004 / 1000)
    assert dollars["total"] == pytest.approx(sum(v for k, v in dollars.items() if k != "total"))
    # wall at concurrency 50: 4 waves of chunks after the partition and one cold start
    assert result.aws_wall_seconds == pytest.approx(partition + 1.0 + 4 * chunk + reduce)
    # local: 2 workers -> 100 waves of the local overhead plus the compute
    assert result.local_wall_seconds == pytest.approx(5.0 + partition + 100 * (0.05 + 100_000 * 2e-6) + reduce)


def test_defaults_are_the_stacks() -> None:
    constants = pytest.importorskip("cdk_app.constants")
    assert (est.PARTITION_MEMORY_MB, est.FEATURES_MEMORY_MB, est.REDUCE_MEMORY_MB) == (
        constants.PARTITION_MEMORY_MB, constants.FEATURES_MEMORY_MB, constants.REDUCE_MEMORY_MB
    )
    assert est.MAX_CONCURRENCY == constants.MAX_CONCURRENCY


def test_prices_are_the_readmes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for figure in ("$0.0000133334 per GB-s", "$0.20 per million", "$0.025 per 1,000", "us-east-1"):
        assert figure in readme
    assert (est.PRICES.lambda_gb_second, est.PRICES.transitions_per_thousand) == (0.0000133334, 0.025)


def test_cli_prints_the_plan_and_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(est, "engine_fixed_seconds", lambda workers=None: 1234.0)
    path = tmp_path / "series.parquet"
    _frame(300, 1000).to_parquet(path, index=False)
    result = _cli(path, "--max-concurrency", "2")
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("input: 1 file(s), ") and "300,000 rows (exact, from Parquet footers; " in lines[0]
    assert "3 chunk(s)" in lines[1] and "about 300 ids" in lines[1]
    assert "a model, not yet calibrated on AWS" in result.stdout
    assert "features: 3 invocation(s) at 1769 MB" in result.stdout
    assert "step functions: 20 state transitions" in result.stdout  # 5 + 5 x 3
    assert "list prices in us-east-1, 2025" in result.stdout and "at max_concurrency 2" in result.stdout
    assert "most of it: " in result.stdout  # the minimal set's calculators, timed one by one
    local = _cli(path, "--local", "--workers", "3")
    assert local.exit_code == 0 and "local engine: about" in local.stdout and "3 worker(s)" in local.stdout
    assert "GB-s" not in local.stdout
    assert "about 20.6 min wall" in local.stdout  # the measured fixed cost is what the prediction adds to


def test_engine_cost_is_measured_once_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    cache = tmp_path / "estimate.json"
    monkeypatch.setenv("FEATURIZE_ESTIMATE_CACHE", str(cache))
    calls: list[list[str]] = []

    def fake_run(args: list[str], **kwargs: Any) -> Any:
        calls.append(args)
        assert args[1:4] == ["-m", "featurize", "run"] and Path(args[4]).read_text().count("\n") == 1001
        return SimpleNamespace(returncode=0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    first = est.engine_fixed_seconds(2)
    assert len(calls) == 1 and first >= 0
    assert est.engine_fixed_seconds(2) == pytest.approx(first, abs=1e-3) and len(calls) == 1  # from the cache
    est.engine_fixed_seconds(3)  # another worker count is another measurement
    assert len(calls) == 2 and len(json.loads(cache.read_text())) == 2
    monkeypatch.setattr(subprocess, "run", lambda args, **kwargs: SimpleNamespace(returncode=1))
    assert est.engine_fixed_seconds(4) == est.CALIBRATION.engine_seconds  # a failed run: the constant


def test_cli_reads_the_stacks_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "series.parquet"
    _frame(20, 100).to_parquet(path, index=False)
    functions = {"PartitionFunctionA1": 4096, "FeaturesFunctionB2": 2048, "ReduceFunctionC3": 8192}

    def client(name: str) -> Any:
        if name == "cloudformation":
            resources = [{"ResourceType": "AWS::Lambda::Function", "LogicalResourceId": k, "PhysicalResourceId": k}
                         for k in functions]
            return SimpleNamespace(describe_stack_resources=lambda **kw: {"StackResources": resources})
        return SimpleNamespace(get_function_configuration=lambda **kw: {
            "MemorySize": functions[kw["FunctionName"]],
            "Environment": {"Variables": {"FEATURIZE_MAX_CONCURRENCY": "7"}},
        })

    monkeypatch.setattr(featurize.targets, "_session", lambda region, profile: SimpleNamespace(client=client))
    result = _cli(path, "--stack", "mine")
    assert result.exit_code == 0, result.stderr
    assert "at 4096 MB" in result.stdout and "at 2048 MB" in result.stdout and "at 8192 MB" in result.stdout
    assert "at max_concurrency 7" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.parquet"], "error: input missing.parquet does not exist"),
        (["data.txt"], "error: input data.txt: unknown format"),
        (["empty.csv"], "error: input empty.csv is empty"),
        (["ok.parquet", "--features", "nope"], "error: unknown feature preset 'nope'"),
        (["ok.parquet", "--stack", "s", "--local"], "error: --stack and --local exclude each other"),
        (["ok.parquet", "--max-concurrency", "0"], "error: --max-concurrency must be"),
        (["ok.parquet", "--column-id", "device"], "error: id column 'device' is not in"),
    ],
)
def test_cli_errors_are_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("data.txt").write_text("id,value\n1,2\n")
    Path("empty.csv").write_text("")
    _frame(3, 10).to_parquet("ok.parquet", index=False)
    result = _cli(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1, result.stderr
