"""The function's code asset, built without Docker.

Dependencies are pip-installed as Linux arm64 wheels for the Lambda runtime's Python
(cached per dependency list), then the project's own packages are copied beside them.

Optionally, a built web app and a starter deck are copied in too (`web/`, `starter/`;
see names.py), and their content is part of the asset hash.

Everything is then compiled to bytecode by an interpreter of the runtime's version, if
this machine has one (`python3.13` on PATH): the function's code directory is
read-only, so without bytecode in the bundle every cold start compiles every module it
imports, which more than doubles the import time. Bytecode is checked against nothing
(`unchecked-hash`): the bundle is never edited after it is built, and the zip's
timestamps could invalidate the default, timestamp-checked kind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, FileSystem, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from javumbo_infra import names

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPS_CACHE_DIR = PROJECT_ROOT / ".cache" / "lambda-deps"

# Lambda's Python runtimes run on Amazon Linux 2023 (glibc 2.34). pip does not widen
# a manylinux platform to older or newer glibc tags by itself, so list them.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")
IMPLEMENTATION = "cp"

# Copied into the bundle from each app package: everything but caches and dotfiles.
_APP_IGNORE = ("__pycache__", "*.py[cod]", ".*")

# The asset hash covers exactly what the bundle is built from: the app packages and
# pyproject.toml (the dependency list). Later patterns win over earlier ones.
ASSET_EXCLUDES = (
    "*",
    ".*",
    *(f"!{package}" for package in names.APP_PACKAGES),
    *(f"!{package}/**" for package in names.APP_PACKAGES),
    "!pyproject.toml",
    *_APP_IGNORE,
)


# Files the function never loads. zstandard ships two interchangeable backends of
# 11 MB each and loads the C one; its CFFI twin would only eat into the size budget.
UNUSED_FILES = ("zstandard/_cffi.*.so", "zstandard/backend_cffi.py")


class BundlingError(RuntimeError):
    """The bundle could not be built; the message says which step failed."""


def runtime_dependencies(project_root: Path) -> list[str]:
    """`[project].dependencies` of pyproject.toml: the single list of what production needs."""
    with (project_root / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    return list(project["dependencies"])


def deps_cache_key(
    requirements: Sequence[str], *, python_version: str, bytecode: bool = False
) -> str:
    payload = {
        "requirements": sorted(requirements),
        "python": python_version,
        "implementation": IMPLEMENTATION,
        "platforms": list(PLATFORMS),
        "unused": list(UNUSED_FILES),
        "bytecode": bytecode,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


class BytecodeWarning(UserWarning):
    """The bundle is built without bytecode; cold starts will compile the code."""


def interpreter_for(python_version: str) -> str | None:
    """A command running Python `python_version` on this machine, or None.

    This interpreter if it is that version, else `python<version>` from PATH, checked
    by running it (a version manager's shim may be on PATH without the version).
    """
    this = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.implementation.name == "cpython" and this == python_version:
        return sys.executable
    command = shutil.which(f"python{python_version}")
    if command is None:
        return None
    expected = f"cpython {python_version}"  # Lambda runs CPython; PyPy bytecode is no use
    says = "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"
    try:
        probe = subprocess.run(  # noqa: S603
            [command, "-c", says],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return command if probe.returncode == 0 and probe.stdout.strip() == expected else None


def compile_bytecode(directory: Path, interpreter: str) -> None:
    """Compile every module below `directory` in place, for `interpreter`'s version.

    A file that does not compile (a stray Python 2 script in some wheel, say) could not
    be imported either; it is left as source, with a warning, and the rest is compiled.
    """
    result = subprocess.run(  # noqa: S603
        [interpreter, "-m", "compileall", "-q", "-j", "0",
         "--invalidation-mode", "unchecked-hash", str(directory)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        warnings.warn(
            f"Some files in {directory.name} do not compile and stay as source:\n"
            f"{(result.stdout + result.stderr).strip()}",
            BytecodeWarning,
            stacklevel=2,
        )


def install_dependencies(
    requirements: Sequence[str],
    *,
    python_version: str,
    cache_dir: Path,
    interpreter: str | None = None,
) -> Path:
    """A directory holding `requirements` installed for the runtime; built once per key.

    With an `interpreter` of the runtime's version the modules are compiled too.
    The versions resolved on the first build are kept until the dependency list (or the
    Python version) changes; delete the cache directory to pick up newer releases.
    """
    target = cache_dir / deps_cache_key(
        requirements, python_version=python_version, bytecode=interpreter is not None
    )
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir))
    try:
        command = [
            sys.executable, "-m", "pip", "install",
            "--quiet", "--disable-pip-version-check", "--no-compile",
            "--target", str(staging),
            *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
            "--implementation", IMPLEMENTATION,
            "--python-version", python_version,
            "--only-binary=:all:",
            *requirements,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise BundlingError(
                f"pip could not install the Lambda dependencies:\n{result.stderr.strip()}"
            )
        # Console scripts are useless in a function, and their shebangs name this venv.
        shutil.rmtree(staging / "bin", ignore_errors=True)
        for cache in list(staging.rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)
        for pattern in UNUSED_FILES:
            for unused in staging.glob(pattern):
                unused.unlink()
        if interpreter is not None:
            compile_bytecode(staging, interpreter)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not merely another synth that finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def copy_app_packages(project_root: Path, output_dir: Path) -> None:
    for package in names.APP_PACKAGES:
        destination = output_dir / package
        if destination.exists():
            raise BundlingError(f"a dependency installs a top-level {package!r}: it would clash")
        shutil.copytree(
            project_root / package, destination, ignore=shutil.ignore_patterns(*_APP_IGNORE)
        )


def copy_extras(
    output_dir: Path, *, web_dir: Path | None = None, starter_deck: Path | None = None
) -> None:
    """The web app's files as `web/`, the starter deck as `starter/<its name>`."""
    for source, name in ((web_dir, names.BUNDLE_WEB_DIR), (starter_deck, names.BUNDLE_STARTER_DIR)):
        if source is not None and (output_dir / name).exists():
            raise BundlingError(f"a dependency installs a top-level {name!r}: it would clash")
    if web_dir is not None:
        shutil.copytree(web_dir, output_dir / names.BUNDLE_WEB_DIR)
    if starter_deck is not None:
        starter = output_dir / names.BUNDLE_STARTER_DIR
        starter.mkdir()
        shutil.copy2(starter_deck, starter / starter_deck.name)


@jsii.implements(ILocalBundling)
class LocalBundler:
    """Builds the bundle on this machine (the CDK falls back to Docker only if this fails)."""

    def __init__(
        self,
        *,
        project_root: Path,
        python_version: str,
        cache_dir: Path,
        web_dir: Path | None = None,
        starter_deck: Path | None = None,
    ) -> None:
        self.project_root = project_root
        self.python_version = python_version
        self.cache_dir = cache_dir
        self.web_dir = web_dir
        self.starter_deck = starter_deck
        self.interpreter = interpreter_for(python_version)

    def try_bundle(self, output_dir: str, *, image: DockerImage, **options: Any) -> bool:
        """Install (or reuse) the dependencies, copy the app packages (and the extras)
        beside them, and compile the app packages when the dependencies were compiled."""
        interpreter = self.interpreter
        deps = install_dependencies(
            runtime_dependencies(self.project_root),
            python_version=self.python_version,
            cache_dir=self.cache_dir,
            interpreter=interpreter,
        )
        shutil.copytree(deps, output_dir, dirs_exist_ok=True)
        copy_app_packages(self.project_root, Path(output_dir))
        copy_extras(Path(output_dir), web_dir=self.web_dir, starter_deck=self.starter_deck)
        if interpreter is not None:
            for package in names.APP_PACKAGES:
                compile_bytecode(Path(output_dir) / package, interpreter)
        return True


def python_version_of(runtime: lambda_.Runtime) -> str:
    """'3.13' for python3.13: the wheels must match the runtime's interpreter."""
    prefix = "python"
    if not runtime.name.startswith(prefix):
        raise ValueError(f"{runtime.name} is not a Python runtime")
    return runtime.name.removeprefix(prefix)


def lambda_code(
    *,
    runtime: lambda_.Runtime,
    project_root: Path = PROJECT_ROOT,
    cache_dir: Path = DEPS_CACHE_DIR,
    web_dir: Path | None = None,
    starter_deck: Path | None = None,
) -> lambda_.Code:
    """The project as a Lambda asset, its hash taken from the sources it is built from.

    `web_dir` (a built web app) and `starter_deck` (an Anki package) are bundled too.
    """
    bundler = LocalBundler(
        project_root=project_root,
        python_version=python_version_of(runtime),
        cache_dir=cache_dir,
        web_dir=web_dir,
        starter_deck=starter_deck,
    )
    if bundler.interpreter is None:
        # Said on every synth, not only when the bundle is built (a staged one is reused).
        version = bundler.python_version
        warnings.warn(
            f"No Python {version} on this machine (python{version} on PATH): the function "
            "is bundled without bytecode, so every cold start compiles the code it imports, "
            f"more than doubling its import time. Install Python {version} and synthesize "
            "again.",
            BytecodeWarning,
            stacklevel=2,
        )
    return lambda_.Code.from_asset(
        str(project_root),
        asset_hash_type=AssetHashType.SOURCE,
        exclude=list(ASSET_EXCLUDES),
        bundling=BundlingOptions(
            # Required by the type; never pulled, because the local bundler succeeds or raises.
            image=DockerImage.from_registry("unused"),
            local=bundler,
            # Read by nobody: listed because bundling options are part of the asset hash,
            # so a new runtime version or platform rebuilds the bundle, and a bundle
            # with bytecode is not taken for one without. The extras may live outside the
            # project, whose fingerprint is the rest of the hash: theirs are listed too.
            environment={
                "JAVUMBO_BUNDLE_PYTHON": bundler.python_version,
                "JAVUMBO_BUNDLE_PLATFORMS": ",".join(PLATFORMS),
                "JAVUMBO_BUNDLE_BYTECODE": "yes" if bundler.interpreter else "no",
                **extras_fingerprints(web_dir=web_dir, starter_deck=starter_deck),
            },
        ),
    )


def extras_fingerprints(
    *, web_dir: Path | None = None, starter_deck: Path | None = None
) -> dict[str, str]:
    """What the extras are, for the asset hash: nothing at all when there are none."""
    found = {}
    if web_dir is not None:
        found["JAVUMBO_BUNDLE_WEB"] = FileSystem.fingerprint(str(web_dir))
    if starter_deck is not None:
        fingerprint = FileSystem.fingerprint(str(starter_deck))
        found["JAVUMBO_BUNDLE_STARTER_DECK"] = f"{starter_deck.name}:{fingerprint}"
    return found
