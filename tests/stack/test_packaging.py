"""The built client package: the one ASL file travels with it as package data (not a second copy in the repo)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_carries_the_asl_file_and_the_lambda_packages(tmp_path):
    # A symlink, so the repository holds one ASL file; the wheel holds its bytes.
    assert (ROOT / "featurize" / "statemachine").is_symlink()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("featurize-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        asl = archive.read("featurize/statemachine/featurize.asl.json")
    assert asl == (ROOT / "statemachine" / "featurize.asl.json").read_bytes()
    for module in ("featurize/workflow.py", "featurize_lambda/partition.py", "featurize_lambda/core/formats/csv.py",
                   "featurize_lambda/core/calculators/models/pacf.py", "featurize_lambda/core/tsfresh_presets.json"):
        assert module in names, module
