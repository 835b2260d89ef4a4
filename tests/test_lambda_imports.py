"""What the handlers import at run time must exist in Lambda: the runtime, the layers or the asset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Top-level packages available to the functions besides the standard library and the asset itself.
LAMBDA_PROVIDED = {
    # the Python runtime
    "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six",
    # the AWS-managed AWSSDKPandas layer
    "pandas", "numpy", "pyarrow", "pytz", "tzdata",
    # the AWS-managed Powertools layer
    "aws_lambda_powertools", "typing_extensions",
}  # fmt: skip

HANDLERS = [
    "featurize_lambda.partition",
    "featurize_lambda.features",
    "featurize_lambda.reduce",
    "custom_features.example",
]

# Runs in a fresh interpreter whose import path is the asset directory plus site-packages, with a
# finder that refuses every top-level module outside the standard library, the asset and the allowlist.
PROBE = """
import importlib, importlib.abc, sys
allowed = set(sys.argv[1].split(",")) | set(sys.stdlib_module_names) | {"featurize_lambda", "custom_features"}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top not in allowed and not top.startswith("_"):  # private stdlib modules (_sysconfigdata...)
            raise ImportError(f"{name} is not available in Lambda")
        return None
sys.meta_path.insert(0, Refuse())
sys.path[:] = [sys.argv[2]] + [p for p in sys.path if "site-packages" in p or "lib/python" in p]
for handler in sys.argv[3:]:
    module = importlib.import_module(handler)
    assert callable(getattr(module, "handler", None)) or handler.startswith("custom_features"), handler
    assert module.__file__.startswith(sys.argv[2]), module.__file__
print("ok")
"""


def probe(allowed: set[str], asset: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", "-c", PROBE, ",".join(sorted(allowed)), str(asset), *HANDLERS],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_handler_imports_with_only_what_lambda_provides():
    result = probe(LAMBDA_PROVIDED, ROOT / "lambdas")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("missing", ["aws_lambda_powertools", "pyarrow"])
def test_the_probe_fails_when_a_needed_package_is_missing(missing):
    result = probe(LAMBDA_PROVIDED - {missing}, ROOT / "lambdas")
    assert result.returncode != 0 and f"{missing} is not available in Lambda" in result.stderr


def test_the_asset_holds_no_client_code():
    asset = ROOT / "lambdas"
    assert sorted(p.name for p in asset.iterdir() if not p.name.startswith((".", "__"))) == [
        "custom_features",
        "featurize_lambda",
    ]
    sources = "\n".join(p.read_text() for p in asset.rglob("*.py"))
    assert "import featurize." not in sources and "from featurize." not in sources and "moto" not in sources
