"""The Python API wherever tsfresh works: the engine's workers never re-import the caller's ``__main__``.

multiprocessing's spawn and forkserver re-import the caller's main module in each worker: a script
without ``if __name__ == "__main__":`` would start the engine again in every worker, and a heredoc has
no file to re-import (``'<stdin>'``). The engine's worker template is its own module started with
``subprocess``; each test runs the API from a fresh interpreter in the way it names.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import assert_matches_oracle, make_long, tsfresh_oracle

SETTINGS = {"mean": None, "maximum": None, "length": None}
FRAME = make_long(n_ids=8, n_points=25, seed=5)

#: No ``__main__`` guard: what a tsfresh user's script often looks like.
SCRIPT = f"""
import pandas as pd
from featurize import extract_features

frame = pd.read_parquet("in.parquet")
table = extract_features(frame, default_fc_parameters={SETTINGS!r}, column_id="id", column_sort="time",
                         n_jobs=2, disable_progressbar=True)
table.to_parquet("out.parquet")
print("done", len(table))
"""


@pytest.fixture
def folder(tmp_path) -> Path:
    FRAME.to_parquet(tmp_path / "in.parquet", index=False)
    return tmp_path


def check(folder: Path, result: subprocess.CompletedProcess[str] | None = None) -> None:
    if result is not None:
        assert result.returncode == 0, result.stderr
        assert "done 8" in result.stdout
        assert "Traceback" not in result.stderr and "worker process died" not in result.stderr
    table = pd.read_parquet(folder / "out.parquet")
    assert_matches_oracle(table, tsfresh_oracle(FRAME, SETTINGS, column_id="id", column_sort="time"))


def python(folder: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=folder, input=stdin, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_a_script_without_the_main_guard(folder):
    (folder / "script.py").write_text(SCRIPT, encoding="utf-8")
    check(folder, python(folder, "script.py"))


def test_python_c(folder):
    check(folder, python(folder, "-c", SCRIPT))


def test_a_heredoc_with_the_guard(folder):
    # ``python - <<EOF``: the script is read from stdin, there is no file for a worker to re-import.
    guarded = "def main():\n" + textwrap.indent(SCRIPT, "    ") + '\nif __name__ == "__main__":\n    main()\n'
    check(folder, python(folder, "-", stdin=guarded))


def test_a_notebook(folder):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SCRIPT)])
    resources = {"metadata": {"path": str(folder)}}  # the kernel's working directory
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources=resources).execute()
    outputs = notebook.cells[0].outputs
    assert not [o for o in outputs if o.get("output_type") == "error"], json.dumps(outputs)[:2000]
    assert "done 8" in "".join(o.get("text", "") for o in outputs)
    check(folder)
