"""Which package may import which: the import contracts in pyproject.toml bite.

`make lint` runs `lint-imports` on the project as it is. Here a copy of the project gets
one forbidden import per contract, and every contract must report its own as broken.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = [contract["name"] for contract in CONFIG["contracts"]]

# (module added to the copy, its source, the contract it breaks, the import reported)
VIOLATIONS = [
    (
        "collection/_forbidden.py",
        "import fastapi\n",
        "collection: the standard library and zstandard only",
        "collection._forbidden -> fastapi",
    ),
    (
        "storage/_forbidden.py",
        "import collection\n",
        "storage: nothing of Anki, accounts or HTTP",
        "storage._forbidden -> collection",
    ),
    (
        "auth/_forbidden.py",
        "import storage\n",
        "auth: nothing of collections, their storage or HTTP",
        "auth._forbidden -> storage",
    ),
    (
        "storage/_forbidden_api.py",
        "import api\n",
        "api wires the rest: only the tests and the benchmark import it",
        "storage._forbidden_api -> api",
    ),
    (
        "auth/_forbidden_tests.py",
        "import tests.support\n",
        "the app imports neither the tests nor the benchmark",
        "auth._forbidden_tests -> tests.support",
    ),
    (
        "bench/_forbidden.py",
        "import tests.conftest\n",
        "bench uses the tests only through tests.support",
        "bench._forbidden -> tests.conftest",
    ),
    (
        "tests/support/_forbidden.py",
        "import tests.conftest\n",
        "tests.support imports no other test module and no bench",
        "tests.support._forbidden -> tests.conftest",
    ),
    (
        "tests/_forbidden.py",
        "import bench\n",
        "only tests.bench imports bench",
        "tests._forbidden -> bench",
    ),
]


def _python_files_only(directory: str, names: list[str]) -> set[str]:
    return {
        name
        for name in names
        if name == "__pycache__"
        or (not name.endswith(".py") and not Path(directory, name).is_dir())
    }


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())",
            "--no-cache",
        ],
        cwd=project,
        # Wide enough that no contract name is wrapped.
        env={**os.environ, "COLUMNS": "400", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def broken_sections(output: str) -> dict[str, str]:
    """Each broken contract's report, by the contract's name."""
    _, _, broken = output.partition("Broken contracts\n----------------\n")
    starts = sorted(
        (broken.index(f"\n{name}\n-"), name) for name in CONTRACTS if f"\n{name}\n-" in broken
    )
    ends = [start for start, _ in starts[1:]] + [len(broken)]
    return {name: broken[start:end] for (start, name), end in zip(starts, ends, strict=True)}


@pytest.fixture(scope="module")
def violated(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on a copy of the project with every forbidden import added."""
    project = tmp_path_factory.mktemp("layers")
    shutil.copy(ROOT / "pyproject.toml", project)
    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, project / package, ignore=_python_files_only)
    for module, source, _, _ in VIOLATIONS:
        (project / module).write_text(source)
    return lint_imports(project)


def test_every_contract_is_tried() -> None:
    assert sorted(contract for _, _, contract, _ in VIOLATIONS) == sorted(CONTRACTS)


@pytest.mark.parametrize(
    ("contract", "reported"),
    [(contract, reported) for _, _, contract, reported in VIOLATIONS],
    ids=[module for module, _, _, _ in VIOLATIONS],
)
def test_a_forbidden_import_breaks_its_contract(
    violated: subprocess.CompletedProcess[str], contract: str, reported: str
) -> None:
    assert violated.returncode != 0, violated.stdout
    assert f"{contract} BROKEN" in violated.stdout
    assert reported in broken_sections(violated.stdout).get(contract, ""), violated.stdout


def imported_packages(package: Path) -> set[str]:
    """The top-level names of every absolute import in a package's modules."""
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names


def test_collection_imports_only_the_standard_library_and_zstandard() -> None:
    """Exactly, not only the packages the contract names."""
    allowed = sys.stdlib_module_names | {"collection", "zstandard"}
    assert imported_packages(ROOT / "collection") - allowed == set()


def test_the_check_sees_a_forbidden_package_it_does_not_name(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text("import requests.adapters\nfrom os import path\n")
    assert imported_packages(tmp_path) == {"requests", "os"}
