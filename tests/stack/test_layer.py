"""The dependency layer: what deploys (the aarch64 build, checked statically) and its x86_64 twin (imported).

The aarch64 layer cannot be loaded on this machine, so its contents are checked from files: dist-info
versions against the pins and the test venv, every module ``lambdas/`` imports, ELF architecture and
linked libraries, size. The twin (same pins, same trim rules, x86_64 wheels for this interpreter) is
imported in an isolated interpreter, so a trim that removes something the handlers need fails here.
Both come from the layer cache (built on first use).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import threading
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cdk_app import layer
from featurize._worker import LAMBDA_RUNTIME_PACKAGES

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"
FIRST_PARTY = {"featurize_lambda", "custom_features"}
#: The Lambda runtime's distributions (import names in LAMBDA_RUNTIME_PACKAGES).
RUNTIME_DISTRIBUTIONS = {"boto3", "botocore", "s3transfer", "urllib3", "jmespath", "python-dateutil", "six"}
#: Lambda counts 250 MB (MiB) unzipped for code plus layers; keep 30 MB of headroom.
MAX_UNZIPPED_BYTES = 220 * 2**20


@pytest.fixture(scope="module")
def arm() -> Path:
    return layer.build("aarch64", layer.PYTHON_VERSION) / layer.SITE_DIR


@pytest.fixture(scope="module")
def twin() -> Path:
    return layer.twin() / layer.SITE_DIR


def _dists(site: Path) -> dict[str, str]:
    found = {}
    for metadata in site.glob("*.dist-info/METADATA"):
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8"))
        found[layer.canonical_name(headers["Name"])] = headers["Version"]
    return found


def _lambda_imports() -> set[str]:
    """Every absolute module name that a file of ``lambdas/`` imports (at any depth of the file).

    Imports under ``if TYPE_CHECKING:`` are left out: only a type checker runs them (the boto3 stubs).
    """
    names = set()
    for path in LAMBDAS.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
            for statement in node.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return names


def _module_in(site: Path, name: str) -> bool:
    base = site.joinpath(*name.split("."))
    return (
        (base / "__init__.py").is_file()
        or base.with_suffix(".py").is_file()
        or any(base.parent.glob(f"{base.name}.*.so"))
    )


# -- the pins --------------------------------------------------------------------------------------------


def test_the_test_venv_runs_exactly_the_pinned_versions() -> None:
    pins = layer.pinned_versions()
    assert {"pyarrow", "numpy", "pandas", "aws-lambda-powertools"} <= set(pins)
    assert {name: importlib.metadata.version(name) for name in pins} == pins


def test_requirements_txt_takes_the_lambda_pins_from_their_file() -> None:
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "-r requirements-lambda.txt" in lines
    pinned_here = {layer.canonical_name(Requirement(line).name) for line in lines if line and not line.startswith("-")}
    assert not pinned_here & set(layer.pinned_versions()), "pin each Lambda dependency once, in requirements-lambda.txt"


def test_a_range_is_refused_before_anything_is_downloaded(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements-lambda.txt"
    requirements.write_text("six>=1.16\n")
    with pytest.raises(layer.LayerBuildError, match="not an exact pin"):
        layer.build("x86_64", layer.running_python(), requirements)


# -- the aarch64 layer, statically -----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["arm", "twin"])
def test_dist_info_versions_are_the_pins(which: str, request: pytest.FixtureRequest) -> None:
    site: Path = request.getfixturevalue(which)
    assert _dists(site) == layer.pinned_versions()


def test_every_dependency_of_a_shipped_distribution_is_shipped_or_in_the_runtime(arm: Path) -> None:
    shipped = set(_dists(arm))
    environment = {"python_version": layer.PYTHON_VERSION, "sys_platform": "linux", "platform_machine": "aarch64"}
    for metadata in arm.glob("*.dist-info/METADATA"):
        headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8"))
        for text in headers.get_all("Requires-Dist") or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate(environment | {"extra": ""}):
                name = layer.canonical_name(requirement.name)
                assert name in shipped | RUNTIME_DISTRIBUTIONS, f"{headers['Name']} needs {text}"
                if name in shipped:
                    assert requirement.specifier.contains(_dists(arm)[name]), f"{headers['Name']} needs {text}"


def test_every_module_the_lambdas_import_is_in_the_layer(arm: Path) -> None:
    imported = _lambda_imports()
    third_party = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names | FIRST_PARTY | LAMBDA_RUNTIME_PACKAGES
    }
    # The walk must see the real dependencies (or this test would pass on an empty list).
    assert {"pandas", "numpy", "pyarrow", "pyarrow.parquet", "aws_lambda_powertools"} <= third_party
    assert "boto3" in imported
    assert [name for name in sorted(third_party) if not _module_in(arm, name)] == []


def test_shared_objects_are_aarch64_and_link_only_the_layer_or_the_base_os(arm: Path) -> None:
    objects = layer.shared_objects(arm)
    assert len(objects) > 50
    machines = {path.relative_to(arm).as_posix(): layer.read_elf(path).machine for path in objects}
    assert {name for name, machine in machines.items() if machine != layer.ELF_MACHINE["aarch64"]} == set()
    assert layer.unresolved_libraries(arm) == {}


def test_the_elf_reader_knows_this_machine_and_a_missing_library(twin: Path, tmp_path: Path) -> None:
    interpreter = layer.read_elf(Path(sys.executable).resolve())
    assert interpreter.machine == layer.ELF_MACHINE["x86_64"] and "libc.so.6" in interpreter.needed
    (extension,) = (twin / "pyarrow").glob("lib.cpython-*.so")
    # pyarrow's main extension links libarrow by its soname; alone in a directory, that is unresolved.
    (tmp_path / extension.name).write_bytes(extension.read_bytes())
    missing = layer.unresolved_libraries(tmp_path)[extension.name]
    assert any(name.startswith("libarrow.so.") for name in missing)
    assert layer.read_elf(twin / "pyarrow" / next(n for n in missing if n.startswith("libarrow.so."))).soname


def test_the_trim_removed_tests_headers_flight_and_duplicate_libraries(arm: Path) -> None:
    files = [p.relative_to(arm).as_posix() for p in arm.rglob("*") if p.is_file()]
    for prefix in ("pandas/tests/", "pyarrow/tests/", "pyarrow/include/", "numpy/f2py/", "numpy/_core/include/"):
        assert not [f for f in files if f.startswith(prefix)], prefix
    assert not [f for f in files if "/tests/" in f or "__pycache__" in f or f.endswith((".pyx", ".pxd", ".pyi"))]
    assert not [f for f in files if "flight" in f.rsplit("/", 1)[-1]]
    digests: dict[str, str] = {}
    for path in layer.shared_objects(arm):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest not in digests, f"{path.name} duplicates {digests.get(digest)}"
        digests[digest] = path.name
    # The copy kept is the one the extensions load (the soname), not the unversioned development name.
    assert (arm / "pyarrow" / "libarrow_python.so.2600").is_file() and not (
        arm / "pyarrow" / "libarrow_python.so"
    ).exists()


def test_layer_and_code_fit_lambda_with_headroom(arm: Path) -> None:
    code = sum(p.stat().st_size for p in LAMBDAS.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    total = layer.directory_size(arm) + code
    assert total < MAX_UNZIPPED_BYTES, f"{total / 2**20:.1f} MiB unzipped (layer + code)"


# -- the x86_64 twin, imported ---------------------------------------------------------------------------

#: Runs in ``python -I``: sys.path is the asset, the twin and a stand-in for the runtime's boto3, nothing
#: else of this venv. Imports every handler, then checks the codecs featurize writes with.
IMPORT_PROBE = """
import io, json, sys, sysconfig
lambdas, site, runtime = sys.argv[1:4]
stdlib = [p for p in sys.path if p.startswith((sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")))
          and "site-packages" not in p]
sys.path[:] = [lambdas, site, runtime, *stdlib]
import importlib
report = {}
for name in sys.argv[4:]:
    module = importlib.import_module(name)
    assert callable(getattr(module, "handler", None)) or name.startswith("custom_features"), name
    report[name] = module.__file__
for name in ("pandas", "numpy", "pyarrow", "aws_lambda_powertools", "dateutil", "boto3"):
    report[name] = sys.modules[name].__file__
try:
    import tsfresh  # in this venv, not in the layer: must not be reachable
    report["tsfresh"] = tsfresh.__file__
except ImportError:
    report["tsfresh"] = None

import pyarrow as pa, pyarrow.parquet as pq
from featurize_lambda.storage import COMPRESSION
from featurize_lambda.core.partition import SPILL_COMPRESSION
table = pa.table({"id": list(range(1000)), "value": [float(i) for i in range(1000)]})
buffer = io.BytesIO()
pq.write_table(table, buffer, compression=COMPRESSION)
back = pq.read_table(io.BytesIO(buffer.getvalue()))
assert back.equals(table)
assert pq.ParquetFile(io.BytesIO(buffer.getvalue())).metadata.row_group(0).column(0).compression == COMPRESSION.upper()
sink = pa.BufferOutputStream()
with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=SPILL_COMPRESSION)) as writer:
    writer.write_table(table)
assert pa.ipc.open_stream(sink.getvalue()).read_all().equals(table)
report["codecs"] = [COMPRESSION, SPILL_COMPRESSION]
print(json.dumps(report))
"""

HANDLERS = [
    "featurize_lambda.partition",
    "featurize_lambda.features",
    "featurize_lambda.reduce",
    "custom_features.example",
]


def runtime_stand_in(directory: Path, twin: Path) -> Path:
    """A directory of links to this venv's copies of what the Lambda runtime provides and the layer lacks."""
    directory.mkdir(exist_ok=True)
    for name in sorted(LAMBDA_RUNTIME_PACKAGES):
        if (twin / name).exists() or (twin / f"{name}.py").exists():
            continue  # shipped in the layer, which comes first on Lambda's path
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, name
        source = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
        (directory / source.name).symlink_to(source)
    return directory


def test_the_handlers_import_from_the_twin_alone_and_its_codecs_work(twin: Path, tmp_path: Path) -> None:
    runtime = runtime_stand_in(tmp_path / "runtime", twin)
    result = subprocess.run(
        [sys.executable, "-I", "-B", "-c", IMPORT_PROBE, str(LAMBDAS), str(twin), str(runtime), *HANDLERS],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for name in HANDLERS:
        assert report[name].startswith(str(LAMBDAS) + "/"), report[name]
    for name in ("pandas", "numpy", "pyarrow", "aws_lambda_powertools", "dateutil"):
        assert report[name].startswith(str(twin) + "/"), (name, report[name])
    assert report["boto3"].startswith(str(runtime) + "/")
    assert report["tsfresh"] is None
    assert report["codecs"] == ["zstd", "lz4"]
    # Like Lambda's read-only /opt, the cached twin is never written to (no byte code next to it).
    assert not list(twin.rglob("__pycache__"))


def test_the_probe_sees_a_module_the_trim_would_remove(twin: Path, tmp_path: Path) -> None:
    # The same probe against a copy of the twin without pyarrow's parquet extension must fail: the
    # isolation is real, so a bad trim rule would show here.
    broken = tmp_path / "broken"
    layer._copy_tree(twin, broken)
    for path in (broken / "pyarrow").glob("_parquet.cpython-*.so"):
        path.unlink()
    runtime = runtime_stand_in(tmp_path / "runtime", twin)
    result = subprocess.run(
        [sys.executable, "-I", "-B", "-c", IMPORT_PROBE, str(LAMBDAS), str(broken), str(runtime), *HANDLERS],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0 and "pyarrow._parquet" in result.stderr


# -- the cache -------------------------------------------------------------------------------------------


def test_builds_are_cached_by_hash_and_atomic_under_concurrency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(layer.CACHE_ENV, str(tmp_path / "cache"))
    requirements = tmp_path / "requirements-lambda.txt"
    requirements.write_text("six==1.17.0\n")
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(layer.build("x86_64", layer.running_python(), requirements)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    built = results[0]
    assert built == tmp_path / "cache" / layer.layer_hash("x86_64", layer.running_python(), requirements)
    assert (built / layer.SITE_DIR / "six.py").is_file()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [built.name]  # no staging directory left
    # Cached: a second build does not run pip at all.
    monkeypatch.setattr(layer, "_install", lambda *args: pytest.fail("pip ran for a cached layer"))
    assert layer.build("x86_64", layer.running_python(), requirements) == built
    # Another pin, platform or Python is another layer.
    other = {
        layer.layer_hash("aarch64", layer.running_python(), requirements),
        layer.layer_hash("x86_64", "3.12", requirements),
    }
    requirements.write_text("six==1.16.0\n")
    other.add(layer.layer_hash("x86_64", layer.running_python(), requirements))
    assert built.name not in other and len(other) == 3
