"""`featurize run --timings` and what keeps the CLI's start small (no pandas, no moto for a preset run)."""

from __future__ import annotations

import re
import subprocess
import sys

from ..conftest import make_long


def test_the_cli_imports_neither_pandas_nor_moto():
    # pandas (~0.6 s) is imported only to check a settings document, moto only when an engine starts.
    code = "import sys, featurize.cli, featurize.engine; print(sorted({'pandas', 'numpy', 'moto'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_the_cli_knows_the_presets_of_the_core():
    from featurize.cli import PRESETS
    from featurize_lambda.core.settings import PRESET_NAMES

    assert tuple(PRESETS) == tuple(PRESET_NAMES)


def test_timings_break_the_run_down_by_phase_and_step(tmp_path):
    make_long(n_ids=4, seed=3).to_parquet(tmp_path / "in.parquet", index=False)
    command = [sys.executable, "-m", "featurize", "run", "in.parquet", "--timings", "--no-serve", "--workers", "2"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.split("timings:\n", 1)[1].splitlines()
    phases = {}
    for line in lines:
        match = re.fullmatch(r"( *)(.+?) +(-?\d+\.\d\d) s", line)
        assert match, line
        phases[match.group(2)] = (len(match.group(1)), float(match.group(3)))
    expected = ["imports", "check input and options", "engine start (waited)", "its start took", "upload and start",
                "run (watched)", "Partition", "Features", "Reduce", "download", "shutdown", "other", "total"]
    assert list(phases) == expected
    top = [seconds for name, (indent, seconds) in phases.items() if indent == 2 and name not in ("other", "total")]
    assert all(seconds >= 0 for seconds in top)
    # The counted phases do not overlap (the engine's start in parallel is a detail line): they fit in the total.
    assert phases["other"][1] >= -0.05 and sum(top) <= phases["total"][1] + 0.05
    steps = sum(phases[step][1] for step in ("Partition", "Features", "Reduce"))
    assert steps <= phases["run (watched)"][1] + 0.05  # the steps happened while the run was watched
