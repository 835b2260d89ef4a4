"""Cold-start import time of each handler module, on the dependency layer's versions.

Each measurement is a fresh ``python -I`` whose import path is what a Lambda sandbox sees: the code
(``lambdas/``), the layer's x86_64 twin (the same pins and trim rules as the aarch64 layer that deploys),
and links to this venv's boto3 standing in for the runtime's. Two cases:

- no byte code: every module of the layer and the code compiled at import, as on Lambda (neither ships
  .pyc; the runtime's standard library does, so its byte code is used in both cases);
- byte code: everything compiled once beforehand, what shipping .pyc files would save.

Byte code lives under ``-X pycache_prefix`` in a temporary directory (``-I`` ignores ``PYTHON*``
variables), never next to the layer or the repository's sources.

Figures are from this machine (x86_64, Python 3.11), not from Lambda's arm64 CPUs: compare them with
each other, not with AWS's Init Duration.

    .venv/bin/python benchmarks/bench_cold_start.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cdk_app import layer
from tests.test_layer import runtime_stand_in

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["featurize_lambda.partition", "featurize_lambda.features", "featurize_lambda.reduce"]

PROBE = """
import sys, sysconfig, time, json
lambdas, site, runtime, module = sys.argv[1:5]
stdlib = [p for p in sys.path if p.startswith((sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")))
          and "site-packages" not in p]
sys.path[:] = [lambdas, site, runtime, *stdlib]
import importlib
started = time.perf_counter()
importlib.import_module(module)
print(json.dumps({"import_s": time.perf_counter() - started, "modules": len(sys.modules)}))
"""


def measure(module: str, site: Path, runtime: Path, flags: list[str]) -> tuple[float, float, int]:
    """(import seconds inside the process, whole process seconds, modules loaded) of one fresh process."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-I", *flags, "-c", PROBE, str(ROOT / "lambdas"), str(site), str(runtime), module],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    report = json.loads(result.stdout)
    return report["import_s"], wall, report["modules"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per module and case")
    args = parser.parse_args()

    started = time.perf_counter()
    twin = layer.twin()
    print(f"layer twin: {twin} (ready in {time.perf_counter() - started:.1f} s)")
    site = twin / layer.SITE_DIR
    with tempfile.TemporaryDirectory(prefix="featurize-cold-start-") as scratch:
        runtime = runtime_stand_in(Path(scratch) / "runtime", site)
        compiled, stdlib_only = Path(scratch) / "pyc", Path(scratch) / "pyc-stdlib"
        for module in MODULES:  # compile everything once
            measure(module, site, runtime, ["-X", f"pycache_prefix={compiled}"])
        # The same byte code without that of the layer and the code (the prefix mirrors absolute paths).
        shutil.copytree(compiled, stdlib_only)
        for source in (site, ROOT / "lambdas"):
            shutil.rmtree(stdlib_only / source.resolve().relative_to("/"), ignore_errors=True)
        cases = {
            "no byte code": ["-B", "-X", f"pycache_prefix={stdlib_only}"],
            "byte code": ["-B", "-X", f"pycache_prefix={compiled}"],
        }
        print(f"{'module':32} {'case':14} {'import (median)':>16} {'process (median)':>17} {'modules':>8}")
        for module in MODULES:
            # The cases alternate, so that the load of a shared machine weighs on both alike.
            runs: dict[str, list[tuple[float, float, int]]] = {case: [] for case in cases}
            for _ in range(args.repeat):
                for case, flags in cases.items():
                    runs[case].append(measure(module, site, runtime, flags))
            for case, results in runs.items():
                imports = statistics.median(r[0] for r in results)
                walls = statistics.median(r[1] for r in results)
                print(f"{module:32} {case:14} {imports * 1000:13.0f} ms {walls * 1000:14.0f} ms {results[0][2]:8d}")


if __name__ == "__main__":
    main()
