"""No engine log at the default log level: a failing run prints its `started` line and one `error:` line;
`--verbose` shows what the engine logged (here moto's dump of the failed task)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import make_long


@pytest.mark.parametrize("verbose", [False, True])
def test_a_failing_input_gives_one_error_line_unless_verbose(tmp_path, verbose):
    make_long(n_ids=3, seed=2).to_parquet(tmp_path / "in.parquet", index=False)
    command = [sys.executable, "-m", "featurize", "run", "in.parquet", "--column-sort", "tme", "--workers", "1"]
    result = subprocess.run(command + (["--verbose"] if verbose else []), cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    error = "error: InputError: sort column 'tme' is not in the input"
    if verbose:
        assert "FailureEventException" in result.stderr and lines[-1].startswith(error)
    else:
        assert len(lines) == 2 and lines[0].startswith("started arn:aws:states:") and lines[1].startswith(error)


def test_an_unexpected_error_is_one_line_and_verbose_shows_its_traceback(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from featurize.cli import app
    from featurize.client import Runner

    def broken(self, uri, path):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(Runner, "download", broken)
    monkeypatch.chdir(tmp_path)
    make_long(n_ids=3, seed=2).to_parquet("in.parquet", index=False)
    result = CliRunner().invoke(app, ["run", "in.parquet", "--workers", "1"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: RuntimeError: the disk is on fire (--verbose shows the traceback)"
    )
    assert "Traceback" not in result.stderr
    verbose = CliRunner().invoke(app, ["run", "in.parquet", "--workers", "1", "--verbose"])
    assert isinstance(verbose.exception, RuntimeError)  # re-raised: typer shows its traceback
