"""The function's code asset: built without Docker, for Linux arm64, app code plus runtime
dependencies and nothing else."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from aws_cdk import App, DockerImage, FileSystem, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from javumbo_infra import bundling, names
from javumbo_infra.function import RUNTIME
from javumbo_infra.stack import JavumboStack
from tests.cdk import helpers
from tests.cdk.conftest import CDK_DIR, NO_BUNDLING

PROJECT_ROOT = CDK_DIR.parent
MAX_BUNDLE_MIB = 80
# The flags word of a .pyc header (PEP 552): hash-based, source not checked.
UNCHECKED_HASH = 0b01
ELF_MACHINE_AARCH64 = 183
FORBIDDEN = (
    "anki",
    "moto",
    "pytest",
    "_pytest",
    "aws_cdk",
    "cdk_nag",
    "jsii",
    "constructs",
    "uvicorn",
    "hypothesis",
    "cfnlint",
    "mypy",
    "ruff",
    "httpx",
    "tests",
    "cdk",
    "javumbo_infra",
)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _pyc_flags(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[4:8], "little")


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


# --- the real bundle (one `python app.py` per session) ------------------------------


def test_bundle_holds_the_app_packages_as_in_the_project(bundle_dir: Path) -> None:
    for package in names.APP_PACKAGES:
        source = PROJECT_ROOT / package
        expected = {
            p.relative_to(source)
            for p in source.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        }
        bundled = {p.relative_to(bundle_dir / package) for p in (bundle_dir / package).rglob("*")}
        bundled = {
            p
            for p in bundled
            if (bundle_dir / package / p).is_file() and "__pycache__" not in p.parts
        }
        assert bundled == expected, package


def test_bundle_bytecode_is_for_the_runtime_and_complete(bundle_dir: Path) -> None:
    runtime_version = bundling.python_version_of(RUNTIME)
    tag = f"cpython-{runtime_version.replace('.', '')}"
    compiled = list(bundle_dir.rglob("*.pyc"))
    # Never a cache of another interpreter (this machine's, say): dead weight at best.
    assert [p for p in compiled if f".{tag}." not in p.name] == []
    if bundling.interpreter_for(runtime_version) is None:
        assert compiled == []  # and the synth warned that cold starts will compile
        return
    for package in names.APP_PACKAGES:
        for source in (bundle_dir / package).rglob("*.py"):
            cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
            assert cached.is_file(), source
            assert _pyc_flags(cached) == UNCHECKED_HASH, cached
    for module in ("fastapi/routing.py", "botocore/client.py", "pydantic/main.py"):
        source = bundle_dir / module
        assert (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").is_file(), module


def test_bundle_holds_every_runtime_dependency(bundle_dir: Path) -> None:
    installed = {
        _normalise(p.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        for p in bundle_dir.glob("*.dist-info")
    }
    for requirement in bundling.runtime_dependencies(PROJECT_ROOT):
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        assert name is not None
        assert _normalise(name.group()) in installed, requirement
    for module in ("fastapi", "mangum", "boto3", "pydantic", "pydantic_core", "jose"):
        assert (bundle_dir / module).is_dir(), module


def test_native_code_is_for_arm64_linux(bundle_dir: Path) -> None:
    pydantic_core = list((bundle_dir / "pydantic_core").glob("_pydantic_core.*.so"))
    assert len(pydantic_core) == 1
    assert "aarch64-linux-gnu" in pydantic_core[0].name
    python_version = bundling.python_version_of(lambda_.Runtime.PYTHON_3_13).replace(".", "")
    extensions = list(bundle_dir.rglob("*.so"))
    assert extensions
    for extension in extensions:
        header = extension.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", extension
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, extension
        if "cpython-" in extension.name:
            assert f"cpython-{python_version}-" in extension.name, extension


def test_zstandard_keeps_only_the_backend_it_loads(bundle_dir: Path) -> None:
    package = bundle_dir / "zstandard"
    assert list(package.glob("backend_c.*aarch64-linux-gnu.so"))
    assert not list(package.glob("_cffi.*.so"))
    assert not (package / "backend_cffi.py").exists()


def test_bundle_holds_no_dev_test_or_cdk_packages(bundle_dir: Path) -> None:
    top_level = {_normalise(p.name.split("-")[0]) for p in bundle_dir.iterdir()}
    present = sorted(set(FORBIDDEN) & top_level)
    assert present == []
    assert not (bundle_dir / "bin").exists()


def test_bundle_is_small(bundle_dir: Path) -> None:
    size = _size(bundle_dir)
    print(f"\nbundle: {size / 2**20:.1f} MiB unzipped in {bundle_dir}")
    assert size < MAX_BUNDLE_MIB * 2**20


def test_handler_module_is_in_the_bundle(bundle_dir: Path) -> None:
    module = Path(*names.HANDLER.split(".")[:-1]).with_suffix(".py")
    if not (PROJECT_ROOT / module).exists():
        pytest.skip(f"{module} is not written yet")
    handler = names.HANDLER.rsplit(".", 1)[1]
    assert re.search(
        rf"^(def {handler}\b|{handler}\s*[:=])", (bundle_dir / module).read_text(), re.M
    )


def _imported_top_levels(tree: ast.AST) -> set[str]:
    """Absolute imports anywhere in the module (lazy ones too), except type-checking ones."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_app_code_imports_only_what_is_bundled(bundle_dir: Path) -> None:
    """A module missing from the bundle would fail the function at run time, not at deploy."""
    bundled = {p.name.split(".")[0] for p in bundle_dir.iterdir() if "-" not in p.name}
    missing: dict[str, set[str]] = {}
    for package in names.APP_PACKAGES:
        for source in sorted((bundle_dir / package).rglob("*.py")):
            imported = _imported_top_levels(ast.parse(source.read_text()))
            unknown = imported - set(sys.stdlib_module_names) - bundled - {"__future__"}
            if unknown:
                missing[str(source.relative_to(bundle_dir))] = unknown
    assert missing == {}


# --- how the bundle is built --------------------------------------------------------


def test_dependencies_come_from_pyproject() -> None:
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as f:
        expected = tomllib.load(f)["project"]["dependencies"]
    assert bundling.runtime_dependencies(PROJECT_ROOT) == expected


def test_cache_key_follows_the_dependency_list_and_python_version() -> None:
    key = bundling.deps_cache_key(["a>=1", "b"], python_version="3.13")
    assert key == bundling.deps_cache_key(["b", "a>=1"], python_version="3.13")
    assert key != bundling.deps_cache_key(["a>=2", "b"], python_version="3.13")
    assert key != bundling.deps_cache_key(["a>=1", "b"], python_version="3.12")
    assert key != bundling.deps_cache_key(["a>=1", "b"], python_version="3.13", bytecode=True)


def _fake_python(directory: Path, version: str, prints: str, status: int = 0) -> None:
    """A `python<version>` on PATH that prints `prints` and exits with `status`."""
    script = directory / f"python{version}"
    script.write_text(f"#!/bin/sh\necho {prints}\nexit {status}\n")
    script.chmod(0o755)


def test_the_interpreter_is_found_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    this = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert bundling.interpreter_for(this) == sys.executable
    monkeypatch.setenv("PATH", str(tmp_path))
    assert bundling.interpreter_for("9.7") is None  # not on PATH
    _fake_python(tmp_path, "9.8", "cpython 9.8")
    assert bundling.interpreter_for("9.8") == str(tmp_path / "python9.8")
    _fake_python(tmp_path, "9.9", "no such version", status=127)  # a version manager's shim
    assert bundling.interpreter_for("9.9") is None
    _fake_python(tmp_path, "9.6", "cpython 9.5")  # answers, but is another version
    assert bundling.interpreter_for("9.6") is None
    _fake_python(tmp_path, "9.5", "pypy 9.5")  # another implementation
    assert bundling.interpreter_for("9.5") is None


def test_compiled_bytecode_is_used_without_checking_the_source(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "answer.py").write_text("VALUE = 'compiled'\n")
    bundling.compile_bytecode(tmp_path, sys.executable)

    cached = list((package / "__pycache__").glob("answer.*.pyc"))
    assert len(cached) == 1
    assert _pyc_flags(cached[0]) == UNCHECKED_HASH
    # The bytecode is what runs: an edit of the source (or a zip's new timestamps) is
    # not looked at.
    (package / "answer.py").write_text("VALUE = 'edited source'\n")
    result = subprocess.run(
        [sys.executable, "-c", "import pkg.answer; print(pkg.answer.VALUE)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "compiled"


def test_a_module_that_does_not_compile_stays_source_and_the_rest_compiles(
    tmp_path: Path,
) -> None:
    (tmp_path / "broken.py").write_text("def (:\n")
    (tmp_path / "fine.py").write_text("VALUE = 1\n")
    with pytest.warns(bundling.BytecodeWarning, match="broken.py"):
        bundling.compile_bytecode(tmp_path, sys.executable)
    assert [p.name.split(".")[0] for p in (tmp_path / "__pycache__").iterdir()] == ["fine"]


def test_synth_without_the_runtimes_python_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundling, "interpreter_for", lambda _version: None)
    with pytest.warns(bundling.BytecodeWarning, match="without bytecode"):
        bundling.lambda_code(runtime=RUNTIME)


def test_cached_dependencies_are_reused_without_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = tmp_path / bundling.deps_cache_key(["x"], python_version="3.13")
    cached.mkdir()

    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip ran although the cache was warm")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert bundling.install_dependencies(["x"], python_version="3.13", cache_dir=tmp_path) == cached


def test_a_failed_install_says_so_and_leaves_no_cache_entry(tmp_path: Path) -> None:
    with pytest.raises(bundling.BundlingError, match="pip"):
        bundling.install_dependencies(
            ["not a valid requirement!"], python_version="3.13", cache_dir=tmp_path
        )
    assert list(tmp_path.iterdir()) == []


def test_a_dependency_shadowing_an_app_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    with pytest.raises(bundling.BundlingError, match="api"):
        bundling.copy_app_packages(PROJECT_ROOT, tmp_path)


def test_python_version_follows_the_runtime() -> None:
    assert bundling.python_version_of(lambda_.Runtime.PYTHON_3_12) == "3.12"
    with pytest.raises(ValueError, match="not a Python runtime"):
        bundling.python_version_of(lambda_.Runtime.NODEJS_22_X)


@pytest.fixture
def fake_project(tmp_path: Path) -> Path:
    for relative in (
        "pyproject.toml",
        "README.md",
        "api/__init__.py",
        "storage/s3.py",
        "tests/test_x.py",
        "cdk/app.py",
        ".venv/lib/site.py",
        ".cache/lambda-deps/k/x.py",
    ):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(relative)
    return tmp_path


def _fingerprint(project: Path) -> str:
    return FileSystem.fingerprint(str(project), exclude=list(bundling.ASSET_EXCLUDES))


@pytest.mark.parametrize("changed", ["api/__init__.py", "storage/s3.py", "pyproject.toml"])
def test_asset_hash_changes_with_what_the_bundle_is_built_from(
    fake_project: Path, changed: str
) -> None:
    before = _fingerprint(fake_project)
    (fake_project / changed).write_text("changed")
    assert _fingerprint(fake_project) != before


@pytest.mark.parametrize(
    "changed",
    [
        "README.md",
        "tests/test_x.py",
        "cdk/app.py",
        ".venv/lib/site.py",
        ".cache/lambda-deps/k/x.py",
        "api/__pycache__/x.cpython-311.pyc",
    ],
)
def test_asset_hash_ignores_everything_else(fake_project: Path, changed: str) -> None:
    before = _fingerprint(fake_project)
    path = fake_project / changed
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("changed")
    assert _fingerprint(fake_project) == before


def test_asset_hash_tells_a_bundle_with_bytecode_from_one_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def s3_key(interpreter: str | None) -> str:
        monkeypatch.setattr(bundling, "interpreter_for", lambda _version: interpreter)
        # Bundling skipped: the asset hash is still computed from sources and options.
        stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "Hash")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bundling.BytecodeWarning)  # tested above
            code = bundling.lambda_code(runtime=RUNTIME)
        lambda_.Function(
            stack,
            "Function",
            runtime=RUNTIME,
            handler=names.HANDLER,
            code=code,
        )
        functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
        (function,) = functions.values()
        return str(function["Properties"]["Code"]["S3Key"])

    assert s3_key(None) != s3_key("/usr/bin/python3.13")
    assert s3_key(None) == s3_key(None)


# --- extras: a built web app and a starter deck -------------------------------------


def test_extras_are_bundled_beside_the_app_packages(
    tmp_path: Path, web_dist: Path, starter_deck: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole bundling step, with an empty stand-in for the installed dependencies."""
    deps = tmp_path / "deps"
    deps.mkdir()
    monkeypatch.setattr(bundling, "install_dependencies", lambda *_args, **_kwargs: deps)
    monkeypatch.setattr(bundling, "interpreter_for", lambda _version: None)
    bundler = bundling.LocalBundler(
        project_root=PROJECT_ROOT,
        python_version="3.13",
        cache_dir=tmp_path / "cache",
        web_dir=web_dist,
        starter_deck=starter_deck,
    )
    output = tmp_path / "asset"
    output.mkdir()
    assert bundler.try_bundle(str(output), image=DockerImage.from_registry("unused"))

    web = output / names.BUNDLE_WEB_DIR
    assert (web / "index.html").read_text() == (web_dist / "index.html").read_text()
    assert (web / "assets" / "app-1234.js").is_file()
    assert (output / "starter" / starter_deck.name).read_bytes() == starter_deck.read_bytes()
    for package in names.APP_PACKAGES:
        assert (output / package / "__init__.py").is_file(), package


def test_without_extras_nothing_is_added(tmp_path: Path) -> None:
    bundling.copy_extras(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert bundling.extras_fingerprints() == {}  # and the asset hash is as before


def test_an_extra_clashing_with_a_dependency_is_refused(tmp_path: Path, web_dist: Path) -> None:
    (tmp_path / "web").mkdir()
    with pytest.raises(bundling.BundlingError, match="web"):
        bundling.copy_extras(tmp_path, web_dir=web_dist)


def _stack_code_key(context: dict[str, object]) -> str:
    """The function's S3 key (its asset hash) for a stack built from context, unbundled."""
    stack = JavumboStack(App(context={**NO_BUNDLING, **context}), "Hash")
    _, function = helpers.function(Template.from_stack(stack))
    return str(function["Properties"]["Code"]["S3Key"])


@pytest.mark.filterwarnings("ignore::javumbo_infra.bundling.BytecodeWarning")
def test_asset_hash_follows_the_web_app_and_the_starter_deck(
    web_dist: Path, starter_deck: Path
) -> None:
    plain = _stack_code_key({})
    web = _stack_code_key({names.CTX_WEB_DIR: str(web_dist)})
    both = _stack_code_key(
        {names.CTX_WEB_DIR: str(web_dist), names.CTX_STARTER_DECK: str(starter_deck)}
    )
    assert len({plain, web, both}) == 3
    assert _stack_code_key({names.CTX_WEB_DIR: str(web_dist)}) == web  # stable

    (web_dist / "assets" / "app-1234.js").write_text("console.log('changed')\n")
    changed_web = _stack_code_key({names.CTX_WEB_DIR: str(web_dist)})
    assert changed_web not in {plain, web}

    starter_deck.write_bytes(b"another package")
    assert (
        _stack_code_key(
            {names.CTX_WEB_DIR: str(web_dist), names.CTX_STARTER_DECK: str(starter_deck)}
        )
        != both
    )
