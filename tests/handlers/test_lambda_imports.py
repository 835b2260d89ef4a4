"""What the handlers import at run time must exist in Lambda: the runtime, the layer or the asset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cdk_app import layer
from featurize._worker import LAMBDA_RUNTIME_PACKAGES

ROOT = Path(__file__).resolve().parents[2]


def top_level_modules(site: Path) -> set[str]:
    """Importable top-level names of a site directory (packages, modules, extension modules)."""
    names = set()
    for path in site.iterdir():
        if path.is_dir() and (path / "__init__.py").is_file():
            names.add(path.name)
        elif path.suffix in (".py", ".so"):
            names.add(path.name.split(".")[0])
    return names


@pytest.fixture(scope="module")
def layer_site() -> Path:
    """The dependency layer's x86_64 twin (same pins and trim rules as what deploys)."""
    return layer.twin() / layer.SITE_DIR


@pytest.fixture(scope="module")
def lambda_provided(layer_site: Path) -> set[str]:
    """Top-level packages available to the functions besides the standard library and the asset itself."""
    return set(LAMBDA_RUNTIME_PACKAGES) | top_level_modules(layer_site)


def test_the_layer_ships_the_pinned_packages_and_nothing_else(layer_site: Path) -> None:
    assert top_level_modules(layer_site) == {
        "pyarrow", "numpy", "pandas", "dateutil", "six", "aws_lambda_powertools", "jmespath", "typing_extensions",
    }  # fmt: skip


HANDLERS = [
    "featurize_lambda.partition",
    "featurize_lambda.features",
    "featurize_lambda.reduce",
    "custom_features.example",
]

# Runs in a fresh interpreter whose import path is the asset directory, the layer, then site-packages
# (the runtime's boto3), with a finder that refuses every top-level module outside the standard library,
# the asset and the allowlist.
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
sys.path[:] = [sys.argv[2], sys.argv[3]] + [p for p in sys.path if "site-packages" in p or "lib/python" in p]
for handler in sys.argv[4:]:
    module = importlib.import_module(handler)
    assert callable(getattr(module, "handler", None)) or handler.startswith("custom_features"), handler
    assert module.__file__.startswith(sys.argv[2]), module.__file__
for name in ("pandas", "pyarrow", "aws_lambda_powertools"):
    assert sys.modules[name].__file__.startswith(sys.argv[3]), sys.modules[name].__file__
print("ok")
"""


def probe(allowed: set[str], asset: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", "-B", "-c", PROBE, ",".join(sorted(allowed)), str(asset), str(site), *HANDLERS],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_handler_imports_with_only_what_lambda_provides(lambda_provided, layer_site):
    result = probe(lambda_provided, ROOT / "lambdas", layer_site)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("missing", ["aws_lambda_powertools", "pyarrow"])
def test_the_probe_fails_when_a_needed_package_is_missing(missing, lambda_provided, layer_site):
    result = probe(lambda_provided - {missing}, ROOT / "lambdas", layer_site)
    assert result.returncode != 0 and f"{missing} is not available in Lambda" in result.stderr


def test_the_asset_holds_no_client_code():
    asset = ROOT / "lambdas"
    assert sorted(p.name for p in asset.iterdir() if not p.name.startswith((".", "__"))) == [
        "custom_features",
        "featurize_lambda",
    ]
    sources = "\n".join(p.read_text() for p in asset.rglob("*.py"))
    assert "import featurize." not in sources and "from featurize." not in sources and "moto" not in sources
