"""--help at 80 columns: no ``<bool>`` for flags, every flag's name whole; ``--flag true`` read as the flag."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from featurize.cli import app, flag_values

COMMANDS = sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_80_columns_with_whole_flag_names_and_no_bool(command):
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "…" not in result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())
    click_command = typer.main.get_command(app).commands[command]
    for param in click_command.params:
        for name in param.opts:
            if name.startswith("--"):
                assert f" {name} " in result.output, (name, result.output)


def test_flag_values_read_true_and_false():
    args = ["run", "x.csv", "--drop-nan", "true", "--verbose=false", "--timings", "No", "--column-id", "1"]
    assert flag_values(args) == ["run", "x.csv", "--drop-nan", "--column-id", "1"]
    assert flag_values(["run", "--drop-nan=yes", "x.csv"]) == ["run", "--drop-nan", "x.csv"]


def test_drop_nan_true_on_the_command_line_is_the_flag(tmp_path):
    """Before, ``--drop-nan true`` was 'Got unexpected extra argument (true)'; now the run goes on."""
    environment = os.environ | {"COLUMNS": "80"}
    completed = subprocess.run(
        [sys.executable, "-m", "featurize", "run", "missing.csv", "--drop-nan", "true"],
        cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.strip() == "error: input missing.csv does not exist or is not a file or folder"
