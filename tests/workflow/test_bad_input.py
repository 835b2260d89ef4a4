"""Every bad input through the CLI on the local engine: the documented exit code, one line saying what to
fix, and the input left byte for byte as it was.

Exit 2: the CLI refuses before starting a run (what it can check locally). Exit 1: the run started and
its partition step refused the input (``error: InputError: ... (in Partition)``), before any chunk.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featurize.cli import app

from ..conftest import assert_matches_oracle, make_long, tsfresh_minimal, tsfresh_oracle, wait

cli = CliRunner()
GOOD = make_long(n_ids=6, n_points=10, seed=4)


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def with_values(values: dict[int, object], column: str = "value") -> pd.DataFrame:
    frame = GOOD.astype({column: object})
    for row, value in values.items():
        frame.loc[row, column] = value
    return frame


def text_times(frame: pd.DataFrame, stray: dict[int, str]) -> pd.DataFrame:
    """The time column as text timestamps (minute ``t`` of a day), with ``stray`` values at some rows."""
    times = [f"2024-01-01 00:{int(t):02d}:00" for t in frame["time"]]
    for row, value in stray.items():
        times[row] = value
    return frame.assign(time=times)


# name -> (files: {relative path: bytes}, CLI arguments ({dir} is the test's directory), exit code, message)
CASES: dict[str, tuple[dict[str, bytes], list[str], int, str]] = {
    "missing file": ({}, ["{dir}/nope.parquet"], 2, "error: input {dir}/nope.parquet does not exist"),
    "empty file": ({"in.csv": b""}, ["{dir}/in.csv"], 2, "error: input {dir}/in.csv is empty (0 bytes)"),
    "unknown format": ({"in.json": b"{}"}, ["{dir}/in.json"], 2, "unknown format; use one of"),
    "unknown preset": (
        {"in.csv": csv_text(GOOD).encode()},
        ["{dir}/in.csv", "--features", "everything"],
        2,
        "unknown feature preset 'everything'",
    ),
    "chunk size zero": (
        {"in.csv": csv_text(GOOD).encode()},
        ["{dir}/in.csv", "--chunk-size", "0"],
        2,
        "--chunk-size must be a positive number of ids per chunk",
    ),
    "max concurrency zero (unlimited on AWS)": (
        {"in.csv": csv_text(GOOD).encode()},
        ["{dir}/in.csv", "--max-concurrency", "0"],
        2,
        "--max-concurrency must be a whole number from 1 to 10000",
    ),
    "tolerance out of range": (
        {"in.csv": csv_text(GOOD).encode()},
        ["{dir}/in.csv", "--tolerated-failure-percentage", "150"],
        2,
        "--tolerated-failure-percentage must be from 0 to 100",
    ),
    "output is the input": (
        {"in.csv": csv_text(GOOD).encode()},
        ["{dir}/in.csv", "--output", "{dir}/in.csv"],
        2,
        "the output would overwrite the input: featurize never modifies its input",
    ),
    "output inside the input folder": (
        {"parts/a.csv": csv_text(GOOD).encode()},
        ["{dir}/parts", "--output", "{dir}/parts/out.parquet"],
        2,
        "is inside the input folder",
    ),
    "folder with a stray file": (
        {"parts/a.csv": csv_text(GOOD).encode(), "parts/notes.txt": b"x"},
        ["{dir}/parts"],
        2,
        "holds 1 file(s) that are not .parquet, .csv or .csv.gz (e.g. ['notes.txt'])",
    ),
    "folder mixing formats": (
        {"parts/a.csv": csv_text(GOOD).encode(), "parts/b.parquet": GOOD.to_parquet(index=False)},
        ["{dir}/parts"],
        2,
        "mixes Parquet and CSV files",
    ),
    "misspelled sort column": (
        {"in.parquet": GOOD.to_parquet(index=False)},
        ["{dir}/in.parquet", "--column-sort", "timestamp"],
        2,  # refused from the file's footer before any run, with the partition step's message and the flag
        "error: InputError: sort column 'timestamp' is not in the input (columns: ['id', 'time', 'value']); "
        "did you mean 'time'? (--column-sort)",
    ),
    "misspelled id column": (
        {"in.parquet": GOOD.to_parquet(index=False)},
        ["{dir}/in.parquet", "--column-id", "ids"],
        2,
        "error: InputError: id column 'ids' is not in the input (columns: ['id', 'time', 'value']); "
        "did you mean 'id'? (--column-id)",
    ),
    "missing kind column": (
        {"in.parquet": GOOD.to_parquet(index=False)},
        ["{dir}/in.parquet", "--column-kind", "knd"],
        2,
        "error: InputError: kind column 'knd' is not in the input (columns: ['id', 'time', 'value']) (--column-kind)",
    ),
    "non-numeric values": (
        {"in.csv": csv_text(with_values({20: "abc", 25: "n/a!"})).encode()},
        ["{dir}/in.csv"],
        1,
        "error: InputError: column 'value' must be numeric: 2 row(s) are not, e.g. 'abc' (row 21 of {dir}/in.csv)",
    ),
    "null ids": (
        {"in.csv": csv_text(with_values({3: None}, "id")).encode()},
        ["{dir}/in.csv"],
        1,
        "error: InputError: id column 'id' has 1 null value(s) (first in row 4 of {dir}/in.csv)",
    ),
    "NaN values": (
        {"in.parquet": with_values({1: np.nan, 5: np.nan, 7: None}).astype({"value": float}).to_parquet(index=False)},
        ["{dir}/in.parquet"],
        1,
        "error: InputError: column 'value' has 3 missing value(s) (NaN or empty; first in row 2 of {dir}/in.parquet)",
    ),
    "unparseable CSV": (
        {"in.csv": b"id,time,value\n1,0,1.5\n1,1\n"},
        ["{dir}/in.csv"],
        1,
        "cannot be read as CSV: CSV parse error: Row #3: Expected 3 columns, got 2: 1,1 (in Partition)",
    ),
    "header only": ({"in.csv": b"id,time,value\n"}, ["{dir}/in.csv"], 1, "has no rows (in Partition)"),
    "corrupt Parquet": (
        {"in.parquet": b"PAR1 not really"},
        ["{dir}/in.parquet"],
        1,
        "cannot be read as Parquet: ",
    ),
    "truncated gzip": (
        {"in.csv.gz": gzip.compress(csv_text(make_long(n_ids=50, n_points=400)).encode())[:20_000]},
        ["{dir}/in.csv.gz"],
        1,
        "cannot be read as CSV: its gzip data is truncated (it ends before its end-of-stream marker)",
    ),
    "stray text in a time column": (
        {"in.csv": csv_text(with_values({7: "soon"}, "time")).encode()},
        ["{dir}/in.csv"],
        1,
        "error: InputError: sort column 'time' holds text, which must be all timestamps or all numbers; read as "
        "numbers, 1 row(s) are not, the first 'soon' (row 8 of {dir}/in.csv)",
    ),
    "stray value among text timestamps": (
        {"in.parquet": text_times(GOOD, {12: "2024-13-45"}).to_parquet(index=False)},
        ["{dir}/in.parquet"],
        1,
        "read as timestamps, 1 row(s) are not, the first '2024-13-45' (row 13 of {dir}/in.parquet)",
    ),
    "duplicated column names": (
        {"in.csv": b"id,time,value,value\n1,0,1.5,2\n"},
        ["{dir}/in.csv"],
        2,
        "error: InputError: the input has duplicated column name(s) ['value']: column names must be unique",
    ),
}


def digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.rglob("*")
            if p.is_file()}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_with_its_code_and_one_line(engine, tmp_path, case):
    files, args, code, message = CASES[case]
    data = tmp_path / "data"
    data.mkdir()
    for name, body in files.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(body)
    before = digest(data)
    argv = ["run"] + [a.format(dir=data) for a in args] + ["--endpoint", engine.endpoint_url]
    if "--output" not in args:
        argv += ["--output", str(tmp_path / "out.parquet")]
    result = cli.invoke(app, argv, catch_exceptions=False)

    assert result.exit_code == code, result.output + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert message.format(dir=data) in last
    assert last.startswith("error: ")
    assert digest(data) == before  # the input is never modified
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ({"colum_id": "x"}, "unknown execution input field(s) ['colum_id']"),
        ({"column_id": 5}, "column_id must be a non-empty string or null, got 5"),
        ({"chunk_size": -1}, "chunk_size must be a positive integer"),
        ({"chunk_size": "10"}, "chunk_size must be a positive integer"),
        ({"drop_nan": "yes"}, "drop_nan must be true or false"),
        ({"tolerated_failure_percentage": "5%"}, "tolerated_failure_percentage must be a number from 0 to 100"),
        ({"features": {"meen": None}}, "unknown feature calculator 'meen'"),
        ({"output": "s3://featurize-local/data/bad.parquet"}, "output must differ from input"),
        ({"input": "s3://featurize-local/data/nothing-here.parquet"}, "does not exist"),
        ({"max_concurrency": 0}, "max_concurrency must be a whole number from 1 to 10000 (chunks computed at once; 0"),
        ({"max_concurrency": -2}, "max_concurrency must be a whole number from 1 to 10000"),
        ({"max_concurrency": "8"}, "max_concurrency must be a whole number from 1 to 10000"),
    ],
)
def test_bad_execution_input_fails_the_execution_at_partition(engine, execution_input, message):
    """What a console or SDK user can send and the CLI cannot: the execution fails with InputError."""
    s3, sfn = engine.client("s3"), engine.client("stepfunctions")
    body = GOOD.to_parquet(index=False)
    s3.put_object(Bucket="featurize-local", Key="data/bad.parquet", Body=body)
    document = {"input": "s3://featurize-local/data/bad.parquet"} | execution_input
    arn = sfn.start_execution(
        stateMachineArn=engine.info.state_machine_arn, name=f"bad-{uuid.uuid4().hex[:8]}", input=json.dumps(document)
    )["executionArn"]
    described = wait(sfn, arn)
    assert described["status"] == "FAILED" and described["error"] == "InputError"
    assert message in json.loads(described["cause"])["errorMessage"]
    assert s3.get_object(Bucket="featurize-local", Key="data/bad.parquet")["Body"].read() == body
    name = arn.rsplit(":", 1)[1]
    assert s3.list_objects_v2(Bucket="featurize-local", Prefix=f"runs/{name}/").get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("document", "kind"),
    [('"s3://featurize-local/data/bad.parquet"', "string"), ('["s3://featurize-local/data/bad.parquet"]', "array"),
     ("42", "number"), ("true", "boolean"), ("null", "null")],
)  # fmt: skip
def test_a_non_object_execution_input_fails_with_input_error_not_a_runtime_error(engine, document, kind):
    """Step Functions accepts any JSON as an execution input; only an object is a featurize input. The
    Partition Catch keeps the error with ResultPath "$" (a "$.error" path cannot be set on a string)."""
    sfn = engine.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=engine.info.state_machine_arn, name=f"bad-{uuid.uuid4().hex[:8]}", input=document
    )["executionArn"]
    described = wait(sfn, arn)
    assert described["status"] == "FAILED" and described["error"] == "InputError", described.get("cause")
    message = json.loads(described["cause"])["errorMessage"]
    assert message == (
        f'the execution input must be a JSON object, e.g. {{"input": "s3://bucket/key"}}, got a JSON {kind}'
    )
    history = sfn.get_execution_history(executionArn=arn)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered == ["Partition", "PartitionFailed"]


def test_drop_nan_runs_and_equals_tsfresh_on_the_cleaned_input(engine, tmp_path):
    frame = GOOD.copy()
    frame.loc[[1, 5, 7], "value"] = np.nan
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    result = cli.invoke(
        app,
        ["run", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out.csv"), "--drop-nan",
         "--endpoint", engine.endpoint_url],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert "note: drop_nan: 3 missing value(s) dropped" in result.stdout
    oracle = tsfresh_minimal(frame.dropna(), column_id="id", column_sort="time")
    assert_matches_oracle(pd.read_csv(tmp_path / "out.csv").set_index("id"), oracle)


def test_duplicate_times_keep_every_row_in_input_row_order(engine, tmp_path):
    """The rule: rows with equal (id, kind, time) are all kept, in input row order (a stable sort).
    tsfresh's own order for them is not stable, so the oracle gets the stably sorted frame and no sort
    column; the features are order-dependent."""
    rng = np.random.default_rng(9)
    n = 600
    frame = pd.DataFrame({"id": rng.integers(0, 8, n), "time": rng.integers(0, 20, n), "value": rng.normal(size=n)})
    frame.to_csv(tmp_path / "in.csv", index=False)
    settings = {"first_location_of_maximum": None, "absolute_sum_of_changes": None, "mean_change": None}
    (tmp_path / "f.json").write_text(json.dumps(settings))
    result = cli.invoke(
        app,
        ["run", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.parquet"), "--features",
         str(tmp_path / "f.json"), "--chunk-size", "3", "--endpoint", engine.endpoint_url],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output + result.stderr
    ordered = frame.sort_values(["id", "time"], kind="stable").drop(columns="time")
    oracle = tsfresh_oracle(ordered, settings, column_id="id")
    assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle)


def test_an_s3_prefix_and_a_local_folder_are_one_input_each(engine, tmp_path):
    frame = make_long(n_ids=20, n_points=25, kinds=("a", "b"), seed=12)
    s3 = engine.client("s3")
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 4)):
        body = gzip.compress(frame.iloc[part].to_csv(index=False).encode())
        s3.put_object(Bucket="featurize-local", Key=f"data/parts/day={i}/part.csv.gz", Body=body)
        (tmp_path / "local" / f"day={i}").mkdir(parents=True)
        frame.iloc[part].to_parquet(tmp_path / "local" / f"day={i}" / "part.parquet", index=False)
    oracle = tsfresh_minimal(frame, column_id="id", column_sort="time", column_kind="kind", column_value="value")
    for source in ("s3://featurize-local/data/parts/", str(tmp_path / "local")):
        result = cli.invoke(
            app,
            ["run", source, "--output", str(tmp_path / "out.parquet"), "--column-kind", "kind", "--chunk-size", "4",
             "--endpoint", engine.endpoint_url],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output + result.stderr
        assert f"20 ids, {len(frame)} rows" in result.stdout
        assert_matches_oracle(pd.read_parquet(tmp_path / "out.parquet").set_index("id"), oracle)
