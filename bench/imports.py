"""Cold imports, measured against what the Lambda bundle holds: the runtime dependencies.

The development environment also has test and deploy tools (moto, the anki package,
CDK), and some of them change what the app's imports load: with `cryptography`
present, python-jose loads it instead of its pure-Python backends. So both imports are
timed in a fresh interpreter without site-packages (`-I -S`), against a directory
holding exactly `[project].dependencies` of pyproject.toml, built once with pip and
kept under `.cache/` until that list changes. When pip cannot build it (offline), the
development environment is used instead (as with `--import-env dev`), and the report
says so. The interpreter is this machine's (the function's is Python 3.13 on arm64):
the figures are relative, both imports timed alike.
"""

from __future__ import annotations

import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from bench.servers import ROOT

CACHE_DIR = ROOT / ".cache" / "bench-runtime"

_TIMER = (
    "import sys, time; sys.path[:0] = {path!r}; t = time.perf_counter(); import {modules}; "
    "print((time.perf_counter() - t) * 1000)"
)
# What the function's environment names (values are never used: nothing connects).
_ENV = {
    "JAVUMBO_BACKEND": "aws",
    "JAVUMBO_BUCKET": "bench",
    "JAVUMBO_USERS_TABLE": "users",
    "JAVUMBO_AUTH_TABLE": "auth",
    "JAVUMBO_JWT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:bench",
    "AWS_REGION": "us-east-1",
}


def runtime_environment() -> Path | None:
    """A directory with the runtime dependencies for this interpreter, or None."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        requirements = sorted(tomllib.load(f)["project"]["dependencies"])
    key = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()[:16]
    target = CACHE_DIR / key
    if target.is_dir():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=CACHE_DIR))
    try:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", str(staging), *requirements],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            print(f"\n  (pip could not build the runtime environment: {result.stderr.strip()})")
            return None
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not merely another run that finished first
                raise
        return target
    except subprocess.TimeoutExpired:
        print("\n  (pip took too long to build the runtime environment)")
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _import_ms(modules: str, runtime: Path | None) -> float:
    if runtime is None:  # the development environment, site-packages and all
        command = [sys.executable, "-c", _TIMER.format(path=[], modules=modules)]
    else:
        path = [str(runtime), str(ROOT)]
        command = [sys.executable, "-I", "-S", "-c", _TIMER.format(path=path, modules=modules)]
    result = subprocess.run(  # noqa: S603
        command,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def cold_imports(named: dict[str, str], runs: int, *, runtime_only: bool) -> dict[str, Any]:
    """Median of `runs` imports of each module list, each in a fresh interpreter.

    One untimed run each first compiles the bytecode; then the lists take turns, so a
    busy moment on the machine falls on both alike.
    """
    runtime = runtime_environment() if runtime_only else None
    times: dict[str, list[float]] = {name: [] for name in named}
    for run in range(runs + 1):
        for name, modules in named.items():
            elapsed = _import_ms(modules, runtime)
            if run:
                times[name].append(elapsed)
    return {
        "environment": (
            "runtime dependencies only, on this machine's Python"
            if runtime
            else "development environment"
        ),
        **{
            name: {"medianMs": round(statistics.median(t), 1), "runsMs": [round(x, 1) for x in t]}
            for name, t in times.items()
        },
    }
