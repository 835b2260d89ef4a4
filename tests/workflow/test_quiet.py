"""No engine log at the default log level: a failing run prints its `started` line and one `error:` line;
`--verbose` shows what the engine logged (here moto's one-line log of the failed state)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ..conftest import make_long


@pytest.mark.parametrize("verbose", [False, True])
def test_a_failing_input_gives_one_error_line_unless_verbose(tmp_path, verbose):
    frame = make_long(n_ids=3, seed=2)
    frame.loc[4, "value"] = float("nan")  # found by the partition step (a misspelled column is refused before)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    command = [sys.executable, "-m", "featurize", "run", "in.parquet", "--workers", "1"]
    result = subprocess.run(command + (["--verbose"] if verbose else []), cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    error = "error: InputError: column 'value' has 1 missing value(s) (NaN or empty; first in row 5 of in.parquet)"
    for text in ("FailureEventException", "stackTrace", "StateFail", "s3://featurize-local/inputs/"):
        assert text not in lines[-1]
    if verbose:
        # moto's failure log, one line (the handler's message), not its dump with the stack trace
        logged = [line for line in lines if line.startswith("state 'PartitionFailed' failed: InputError: ")]
        assert len(logged) == 1 and lines[-1].startswith(error)
        assert "FailureEventException" not in result.stderr and "StateFail" not in result.stderr
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
