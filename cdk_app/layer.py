"""The Lambdas' dependency layer, built by the project itself from ``requirements-lambda.txt``.

At synth time, CDK local bundling (no Docker) runs :func:`build`: pip installs the pinned manylinux
wheels for CPython 3.12 on the functions' architecture into ``python/`` (the directory Lambda puts on
``sys.path`` from a layer), then :data:`TRIM_RULES` removes what the handlers never import. The result is
cached under ``~/.cache/featurize/layers/<hash>`` (``FEATURIZE_LAYER_CACHE`` overrides the root), keyed by
the pins, the trim rules and the platform, so only the first synth downloads (77 MB of wheels).

The same function builds an x86_64 twin of the same pins and trim rules: this machine cannot load
aarch64 code, so the tests and the deploy rehearsal import the handlers from the twin, and a trim that
removes something the handlers need fails there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_cdk import aws_lambda as lambda_
    from constructs import Construct

#: Repository root (resolved from this file, never from the working directory).
REPO_ROOT = Path(__file__).resolve().parent.parent

#: The Lambdas' pins: the only input of the layer besides the trim rules.
REQUIREMENTS = REPO_ROOT / "requirements-lambda.txt"

#: Environment variable overriding the cache root (default ``~/.cache/featurize/layers``).
CACHE_ENV = "FEATURIZE_LAYER_CACHE"

#: Lambda's runtime (python3.12 on Amazon Linux 2023, glibc 2.34).
PYTHON_VERSION = "3.12"
#: Newest glibc of the runtime: no wheel may need a newer one.
MAX_GLIBC_MINOR = 34

#: Directory of the layer zip that Lambda adds to ``sys.path`` (``/opt/python``).
SITE_DIR = "python"

#: Bumped whenever :func:`build` changes what it produces for the same pins and rules.
BUILD_VERSION = "1"

#: Glob patterns (``fnmatch``, relative to ``python/``) of what the handlers never import or execute.
#: Each group saves space for the 250 MB unzipped limit; the x86_64 twin proves the rest still imports.
TRIM_RULES: tuple[str, ...] = (
    # Arrow Flight (RPC, 30 MB): no handler speaks it. Substrait's Python module goes too, but not
    # libarrow_substrait: libarrow_python links it (DT_NEEDED), so every pyarrow import loads it.
    "pyarrow/libarrow_flight.so*",
    "pyarrow/libarrow_python_flight.so*",
    "pyarrow/_flight.*",
    "pyarrow/flight.py",
    "pyarrow/_substrait.*",
    "pyarrow/substrait.py",
    # pyarrow's C++ test helpers.
    "pyarrow/_pyarrow_cpp_tests.*",
    # Arrow's S3 filesystem (16 MB): handlers read and write S3 through boto3 only. Nothing but
    # pyarrow._s3fs links libarrow_s3 (checked at build time: every DT_NEEDED must resolve).
    "pyarrow/libarrow_s3.so*",
    "pyarrow/_s3fs.*",
    # C++ headers, Cython sources and type stubs: build-time only.
    "pyarrow/include/*",
    "pyarrow/src/*",
    "*.pyx",
    "*.pxd",
    "*.pxi",
    "*.pyi",
    "*.h",
    "*.c",
    "*.cpp",
    "numpy/_core/include/*",
    "numpy/_core/lib/*",
    "numpy/f2py/*",
    "numpy/_pyinstaller/*",
    "numpy/typing/tests/*",
    # Test suites of the libraries (~27 MB).
    "pandas/tests/*",
    "pyarrow/tests/*",
    "numpy/*/tests/*",
    "numpy/tests/*",
    "numpy/testing/_private/extbuild.py",
    # Console scripts pip writes for the target (numpy-config, f2py): never run in Lambda.
    "bin/*",
    # Byte code compiled on this machine (pip --no-compile avoids most of it; Lambda compiles in memory).
    "*/__pycache__/*",
    "__pycache__/*",
)

#: Libraries every Lambda sandbox (Amazon Linux 2023) provides; manylinux wheels may link only these.
BASE_OS_LIBRARIES = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libutil.so.1",
        "libresolv.so.2",
        "libnsl.so.1",
        "libstdc++.so.6",
        "libgcc_s.so.1",
        "libz.so.1",
        "ld-linux-aarch64.so.1",
        "ld-linux-x86-64.so.2",
    }
)

#: ELF ``e_machine`` of each supported platform.
ELF_MACHINE = {"aarch64": 183, "x86_64": 62}


class LayerBuildError(RuntimeError):
    """The layer could not be built (pip failed, or the trimmed set is inconsistent)."""


# -- ELF -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElfInfo:
    """What the layer checks of a shared object: its architecture and the libraries it links."""

    machine: int
    needed: tuple[str, ...]
    soname: str | None


def read_elf(path: Path) -> ElfInfo:
    """Read the ELF machine, ``DT_NEEDED`` entries and ``DT_SONAME`` of a 64-bit little-endian object.

    Parameters
    ----------
    path : pathlib.Path
        A shared object or executable.

    Returns
    -------
    ElfInfo

    Raises
    ------
    ValueError
        If the file is not a 64-bit little-endian ELF object.
    """
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
    (machine,) = struct.unpack_from("<H", data, 18)
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    soname = None
    for _name, sh_type, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        strtab_offset = sections[link][4]

        def string(index: int, base: int = strtab_offset) -> str:
            end = data.index(b"\0", base + index)
            return data[base + index : end].decode()

        for entry in range(offset, offset + size, entsize or 16):
            tag, value = struct.unpack_from("<qQ", data, entry)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                needed.append(string(value))
            elif tag == 14:  # DT_SONAME
                soname = string(value)
    return ElfInfo(machine, tuple(needed), soname)


def shared_objects(site: Path) -> list[Path]:
    """Every ELF shared object under ``site`` (``*.so`` and versioned ``*.so.N``)."""
    return sorted(p for p in site.rglob("*") if p.is_file() and (p.suffix == ".so" or ".so." in p.name))


def unresolved_libraries(site: Path) -> dict[str, list[str]]:
    """``DT_NEEDED`` entries that neither the layer nor the base OS provides, per shared object."""
    objects = shared_objects(site)
    provided = {p.name for p in objects} | BASE_OS_LIBRARIES
    missing = {}
    for path in objects:
        absent = [name for name in read_elf(path).needed if name not in provided]
        if absent:
            missing[path.relative_to(site).as_posix()] = absent
    return missing


# -- the build -------------------------------------------------------------------------------------------


def canonical_name(name: str) -> str:
    """A distribution name as PEP 503 compares them (``typing_extensions`` -> ``typing-extensions``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(requirements: Path = REQUIREMENTS) -> dict[str, str]:
    """``{canonical name: version}`` of the pins; every requirement must be ``name==version``.

    Raises
    ------
    LayerBuildError
        On a line that is not an exact pin (the layer is installed with ``--no-deps``: a range would
        make the build depend on the day it runs).
    """
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)", text)
        if match is None:
            raise LayerBuildError(f"{requirements.name}: {text!r} is not an exact pin (name==version)")
        pins[canonical_name(match[1])] = match[2]
    return pins


def platform_tags(machine: str) -> list[str]:
    """The manylinux tags pip may pick for ``machine``: glibc 2.17 up to the runtime's 2.34."""
    if machine not in ELF_MACHINE:
        raise ValueError(f"unsupported platform {machine!r}; expected one of {sorted(ELF_MACHINE)}")
    return ["manylinux2014_" + machine] + [f"manylinux_2_{minor}_{machine}" for minor in range(17, MAX_GLIBC_MINOR + 1)]


def layer_hash(machine: str, python_version: str = PYTHON_VERSION, requirements: Path = REQUIREMENTS) -> str:
    """Hash of everything the layer is built from: the pins, the trim rules, the platform, the builder."""
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    digest.update(json.dumps([TRIM_RULES, machine, python_version, MAX_GLIBC_MINOR, BUILD_VERSION]).encode())
    return digest.hexdigest()


def running_python() -> str:
    """``major.minor`` of this interpreter: the version of the twin it can import."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def cache_root() -> Path:
    """Root of the layer cache: ``$FEATURIZE_LAYER_CACHE`` or ``~/.cache/featurize/layers``."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "featurize" / "layers"


def _trimmed(relative: str) -> bool:
    return any(fnmatch(relative, rule) for rule in TRIM_RULES)


def _trim(site: Path) -> None:
    for path in sorted(site.rglob("*"), reverse=True):  # children before their directories
        relative = path.relative_to(site).as_posix()
        if path.is_dir():
            if not any(path.iterdir()) or relative in ("bin", "__pycache__"):
                shutil.rmtree(path)
        elif _trimmed(relative):
            path.unlink()


def _dedupe(site: Path) -> None:
    """Keep one copy of each shared library that a wheel ships under several names.

    Wheels hold no symlinks, so ``libarrow_python.so``, ``.so.2600`` and ``.so.2600.1.0`` are three
    identical files. The extensions load it by its ``DT_SONAME`` (``libarrow_python.so.2600``): that copy
    stays and identical copies under other names go (a layer zip could keep symlinks, but CDK's asset zip
    and Lambda's unzip are not guaranteed to).
    """
    objects = shared_objects(site)
    needed = {name for path in objects for name in read_elf(path).needed}
    by_content: dict[tuple[Path, int, str], list[Path]] = {}
    for path in objects:
        key = (path.parent, path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
        by_content.setdefault(key, []).append(path)
    for copies in by_content.values():
        if len(copies) < 2:
            continue
        soname = read_elf(copies[0]).soname
        keep = [p for p in copies if p.name == soname or p.name in needed] or [min(copies, key=lambda p: len(p.name))]
        for path in copies:
            if path not in keep:
                path.unlink()


def _install(machine: str, python_version: str, requirements: Path, site: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", "--no-deps", "--no-compile",
        *(f"--platform={tag}" for tag in platform_tags(machine)),
        f"--python-version={python_version}", "--implementation=cp", f"--abi=cp{python_version.replace('.', '')}",
        "--target", str(site), "-r", str(requirements),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LayerBuildError(
            f"pip could not install the {machine} CPython {python_version} wheels of {requirements.name}:\n"
            f"{result.stderr.strip()}"
        )


def build(machine: str, python_version: str = PYTHON_VERSION, requirements: Path = REQUIREMENTS) -> Path:
    """Build (or find in the cache) the trimmed layer of ``requirements`` for ``machine``.

    Parameters
    ----------
    machine : str
        ``"aarch64"`` (what deploys) or ``"x86_64"`` (the twin this machine can import).
    python_version : str
        CPython ``major.minor`` of the wheels: the runtime's for the layer, :func:`running_python` for
        the twin (an extension module loads only into the version it was built for).
    requirements : pathlib.Path
        The pins (every package pinned with ``==``; dependencies are not resolved: ``--no-deps``).

    Returns
    -------
    pathlib.Path
        The layer's root: its ``python/`` directory holds the packages.

    Raises
    ------
    LayerBuildError
        If pip fails or a shared object of the trimmed set links a library that is neither in the
        layer nor in the base OS.
    """
    pinned_versions(requirements)  # refuse a range before downloading anything
    root = cache_root()
    final = root / layer_hash(machine, python_version, requirements)
    if (final / SITE_DIR).is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    # Built beside its final place and renamed in one step: concurrent builders (two pytest workers)
    # each build their own copy and the first rename wins; a half-built directory is never visible.
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name[:12]}-", dir=root))
    try:
        site = staging / SITE_DIR
        _install(machine, python_version, requirements, site)
        _trim(site)
        _dedupe(site)
        missing = unresolved_libraries(site)
        if missing:
            raise LayerBuildError(f"the trimmed {machine} layer links libraries it does not hold: {missing}")
        (staging / "layer.json").write_text(
            json.dumps(
                {
                    "machine": machine,
                    "python": python_version,
                    "requirements": requirements.read_text(),
                    "trim_rules": TRIM_RULES,
                },
                indent=1,
            )
        )
        try:
            os.replace(staging, final)
        except OSError:  # another builder got there first: its identical result stays
            if not (final / SITE_DIR).is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def twin(requirements: Path = REQUIREMENTS) -> Path:
    """The x86_64 build of the same pins and trim rules for this interpreter (what tests import)."""
    return build("x86_64", running_python(), requirements)


def directory_size(root: Path) -> int:
    """Bytes of every file under ``root`` (the unzipped size Lambda counts)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


# -- CDK -------------------------------------------------------------------------------------------------


def _copy_tree(source: Path, destination: Path) -> None:
    """Copy ``source`` into ``destination``, hard-linking files when both are on one file system.

    CDK bundles into a fresh directory of every cloud assembly: linking makes a synth cost no copy of
    the ~180 MB layer (CDK and the CLI only read and zip it).
    """

    def link_or_copy(src: str, dst: str) -> Any:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(source, destination, copy_function=link_or_copy, dirs_exist_ok=True)


def _local_bundling(machine: str, requirements: Path) -> Any:
    """CDK local bundling of the layer: :func:`build`, then the cached tree into CDK's output directory.

    Defined on first use: importing aws_cdk starts jsii's Node process, which the builder's other users
    (the engine's tests, the benchmark) do not need.
    """
    import jsii
    from aws_cdk import BundlingOptions, ILocalBundling

    @jsii.implements(ILocalBundling)
    class LocalBuild:
        def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:  # noqa: ARG002 - jsii's signature
            """Build the layer into ``output_dir``; never returns False (that would fall back to Docker)."""
            try:
                layer = build(machine, PYTHON_VERSION, requirements)
            except LayerBuildError as error:
                # Raised instead of returning False: CDK would then try Docker, which is neither needed
                # nor (usually) installed, and its error would hide this one.
                raise LayerBuildError(f"featurize could not build its Lambda layer: {error}") from None
            _copy_tree(layer / SITE_DIR, Path(output_dir) / SITE_DIR)
            return True

    return LocalBuild()


def dependencies_layer(scope: Construct, construct_id: str, machine: str = "aarch64") -> lambda_.LayerVersion:
    """The layer version of the Lambdas' pinned dependencies, bundled locally at synth time.

    Parameters
    ----------
    scope : constructs.Construct
        The stack.
    construct_id : str
        Construct id.
    machine : str
        Wheel platform (``aarch64`` for the arm64 functions).

    Returns
    -------
    aws_cdk.aws_lambda.LayerVersion
    """
    from aws_cdk import AssetHashType, BundlingOptions, DockerImage
    from aws_cdk import aws_lambda as lambda_

    requirements = REQUIREMENTS
    code = lambda_.Code.from_asset(
        # The source is not read (local bundling builds from the pins); the custom hash stands for it,
        # so that no synth fingerprints the ~180 MB output.
        str(REPO_ROOT / "cdk_app"),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=layer_hash(machine, PYTHON_VERSION, requirements),
        bundling=BundlingOptions(
            # Required by the type; never pulled, since local bundling always succeeds or raises.
            image=DockerImage.from_registry("featurize-local-bundling-only"),
            local=_local_bundling(machine, requirements),
        ),
    )
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=code,
        description="featurize: pyarrow, numpy, pandas, Powertools (requirements-lambda.txt)",
        compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
        compatible_architectures=[lambda_.Architecture.ARM_64 if machine == "aarch64" else lambda_.Architecture.X86_64],
    )


def main() -> None:
    """``make layer``: build (or find in the cache) the layer and its twin; print where, how big, how long."""
    import time

    for machine, python_version in (("aarch64", PYTHON_VERSION), ("x86_64", running_python())):
        started = time.perf_counter()
        try:
            root = build(machine, python_version)
        except LayerBuildError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(1) from None
        size = directory_size(root / SITE_DIR)
        print(
            f"{machine} cp{python_version.replace('.', '')}: {size / 2**20:.1f} MiB unzipped "
            f"({time.perf_counter() - started:.1f} s) {root}"
        )


if __name__ == "__main__":
    main()
