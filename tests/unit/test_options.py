"""RunOptions is the one source of the run options: the README's table, the CLI's flags, the API's keywords
and the step contracts the ASL reads all follow it (no S3, no engine)."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import featurize
from featurize.cli import app
from featurize.workflow import load_definition
from featurize_lambda.contracts import (
    ChunkFailure,
    FailureList,
    ManifestItem,
    PartitionSummary,
    RunDocument,
    RunSummary,
)
from featurize_lambda.errors import InputError
from featurize_lambda.options import Flag, RunOptions, check_flags, execution_input, flag_name, option_fields, spec

README = Path(__file__).resolve().parents[2] / "README.md"


def _execution_input_table() -> list[tuple[str, str]]:
    """``(field, default cell)`` of the README's execution-input table, in order."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The execution input") :]
    table = section[section.index("| field | default | meaning |") :].split("\n\n", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    return [(re.fullmatch(r"\| `(\w+)`", row[0]).group(1), row[1]) for row in rows]


def test_the_readme_execution_input_table_lists_every_option_in_order_with_its_default():
    table = _execution_input_table()
    assert [name for name, _ in table] == [f.name for f in option_fields()]
    for f, (_, default) in zip(option_fields(), table, strict=True):
        literal = re.fullmatch(r"`([^`]*)`", default)
        if literal and not literal.group(1).startswith("s3://"):
            # a JSON literal in the table is the field's default (the step applies it)
            assert json.loads(literal.group(1)) == f.default, f.name


def test_the_cli_run_has_one_flag_per_option_and_the_api_one_keyword_per_flag():
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    flags = [flag_name(f) for f in option_fields() if spec(f).flag is not Flag.NONE]
    for flag in flags:
        assert flag in result.output
    names = {f.name for f in option_fields() if spec(f).flag is not Flag.NONE}
    assert names <= set(inspect.signature(featurize.run).parameters)
    keywords = {
        name
        for name, parameter in inspect.signature(featurize.extract_features).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY or name.startswith("column_")
    }
    # tsfresh's own names for two of them: chunksize and default_fc_parameters/kind_to_fc_parameters
    assert names - {"chunk_size", "features"} <= keywords


def _paths(node):
    """Every ``$.field`` path of a state (``Path`` fields and ``.$`` parameters), not its item processor's."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ItemProcessor":
                continue
            if isinstance(value, str) and (key.endswith(".$") or key.endswith("Path")) and value.startswith("$."):
                yield value
            else:
                yield from _paths(value)
    elif isinstance(node, list):
        for value in node:
            yield from _paths(value)


def test_the_asl_reads_only_fields_of_the_partition_summary():
    definition = json.loads(load_definition())
    # The Map and Reduce get the Partition task's output (the Map's ResultPath is null).
    assert definition["States"]["Features"]["ResultPath"] is None
    paths = [*_paths(definition["States"]["Features"]), *_paths(definition["States"]["Reduce"])]
    fields = {name.removeprefix("$.") for name in paths}
    assert fields == {"manifest_key", "max_concurrency"}
    summary = PartitionSummary("r", "runs/r/manifest.json", "s3://b/o.parquet", 1, 1, 1, 1, None, 1, [], 200)
    assert fields <= set(summary.to_json())


def test_every_option_default_is_valid_and_round_trips_through_the_run_document():
    options = RunOptions.from_input({"input": "s3://b/in.parquet"})
    assert (options.column_id, options.column_sort, options.chunk_size, options.drop_nan) == ("id", "time", None, False)
    assert options.tolerated_failure_percentage == 0.0 and not options.column_sort_explicit
    document = RunDocument(options, "s3://b/out.parquet", ["value"])
    assert RunDocument.from_json(json.loads(json.dumps(document.to_json()))) == document
    explicit = RunOptions.from_input({"input": "s3://b/in.parquet", "column_sort": None, "chunk_size": 3})
    assert RunOptions.from_json(json.loads(json.dumps(explicit.to_json()))) == explicit
    assert explicit.column_sort_explicit and explicit.column_sort is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"chunk_size": 0}, "--chunk-size must be a positive number of ids per chunk"),
        ({"tolerated_failure_percentage": 101.0}, "--tolerated-failure-percentage must be from 0 to 100"),
        ({"max_concurrency": 0}, "--max-concurrency must be a whole number from 1 to 10000"),
        ({"features": "everything"}, "unknown feature preset"),
    ],
)
def test_the_cli_checks_its_flags_with_its_own_messages(given, message):
    with pytest.raises(InputError, match=re.escape(message)):
        check_flags(given)


def test_column_flags_are_left_to_the_partition_step():
    check_flags({"column_id": "", "drop_nan": True})  # refused by the step (exit 1), not by the CLI


def test_the_api_execution_input_is_checked_as_the_step_checks_it():
    assert execution_input(column_id="id", chunk_size=None) == {"column_id": "id", "chunk_size": None}
    with pytest.raises(InputError, match="chunk_size must be a positive integer"):
        execution_input(chunk_size=0)
    with pytest.raises(InputError, match=r"drop_nan must be true or false, got 'yes'"):
        execution_input(drop_nan="yes")
    with pytest.raises(InputError, match="unknown option"):
        execution_input(chunk=3)


def test_contracts_round_trip_and_tolerate_unknown_keys():
    item = ManifestItem("r", 3, 10, 2)
    assert ManifestItem.from_json(item.to_json() | {"later": 1}) == item
    assert ManifestItem.from_json({"run": "r", "chunk": 1, "rows": 0}) == ManifestItem("r", 1, 0, None)
    failure = ChunkFailure(1, 10, 2, "s3://b/k", "ValueError", "bad", ["a", "b"])
    listing = FailureList("r", "s3://b/o.parquet", 4, 1, 2, 10, 30.0, [failure])
    assert FailureList.from_json(json.loads(json.dumps(listing.to_json()))) == listing
    complete = RunSummary("r", "s3://b/o.parquet", 3, 30, 10, 2, 0, [])
    assert "failures" not in complete.to_json() and RunSummary.from_json(complete.to_json()) == complete
    with pytest.raises(KeyError, match="lacks 'chunk'"):
        ManifestItem.from_json({"run": "r"})


def test_the_options_and_contracts_import_without_pandas_and_know_the_presets():
    import subprocess
    import sys

    from featurize_lambda.core.settings import PRESET_NAMES
    from featurize_lambda.options import PRESETS

    assert tuple(PRESETS) == tuple(PRESET_NAMES)
    code = "import sys, featurize_lambda.contracts; print(sorted({'pandas', 'numpy'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    check_flags({"features": "minimal"})  # a preset: not parsed before the run
    with pytest.raises(InputError, match="unknown feature calculator .no_such_calculator."):
        check_flags({"features": {"no_such_calculator": None}})


def test_the_api_sends_a_zero_to_be_checked_not_dropped():
    from featurize import api

    with pytest.raises(InputError, match="chunk_size must be a positive integer"):
        api._execution_input("id", features="minimal", chunk_size=0)
    assert "drop_nan" not in api._execution_input("id", features="minimal", drop_nan=False)
    assert api._execution_input("id", features="minimal", tolerated_failure_percentage=0)[
        "tolerated_failure_percentage"
    ] == 0
