"""Fixtures for the CDK tests: synthesized stacks (placeholder code) and one real bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CDK_DIR = Path(__file__).resolve().parents[2] / "cdk"
if str(CDK_DIR) not in sys.path:
    sys.path.insert(0, str(CDK_DIR))
# jsii's Node-version banner says nothing about this project.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App  # noqa: E402
from aws_cdk import aws_lambda as lambda_  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from javumbo_infra.names import STACK_NAME  # noqa: E402
from javumbo_infra.stack import JavumboStack  # noqa: E402

# Template tests do not need the real bundle: inline code keeps them fast.
PLACEHOLDER_CODE = "def handler(event, context):\n    raise NotImplementedError\n"


def build_stack(context: dict[str, Any] | None = None) -> JavumboStack:
    app = App(context=context or {})
    return JavumboStack(app, "Test", code=lambda_.Code.from_inline(PLACEHOLDER_CODE))


@pytest.fixture(scope="session")
def stack() -> JavumboStack:
    """The stack with default settings, shared by every template test."""
    return build_stack()


@pytest.fixture(scope="session")
def template(stack: JavumboStack) -> Template:
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def template_with() -> Callable[[dict[str, Any]], Template]:
    """A template synthesized with the given CDK context."""

    def synth(context: dict[str, Any]) -> Template:
        return Template.from_stack(build_stack(context))

    return synth


# Context that makes the CDK skip bundling (the asset hash is still computed): for
# synths whose bundle is not looked at.
NO_BUNDLING = {"aws:cdk:bundling-stacks": []}


def run_app(outdir: Path, context: dict[str, Any] | None = None) -> Path:
    """Run `python app.py` as the CDK CLI would (with `-c` context), writing to `outdir`."""
    env = {**os.environ, "CDK_OUTDIR": str(outdir)}
    env.pop("CDK_CONTEXT_JSON", None)
    if context:
        env["CDK_CONTEXT_JSON"] = json.dumps(context)  # what the CLI passes for `-c`
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=CDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,  # under pytest-timeout, so the failure says why
        check=False,
    )
    assert result.returncode == 0, f"app.py failed:\n{result.stdout}\n{result.stderr}"
    return outdir


@pytest.fixture(scope="session")
def synthesized_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cloud assembly of `python app.py`: real bundling, cdk-nag on, as a deploy would."""
    return run_app(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture
def web_dist(tmp_path: Path) -> Path:
    """A built single-page web app, as `npm run build` leaves it."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text('<!doctype html><script src="/assets/app-1234.js"></script>')
    (dist / "assets" / "app-1234.js").write_text("console.log('javumbo')\n")
    return dist


@pytest.fixture
def starter_deck(tmp_path: Path) -> Path:
    """A package to start every collection with (its content is the app's business)."""
    deck = tmp_path / "Spanish Basics.apkg"
    deck.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    return deck


@pytest.fixture(scope="session")
def synthesized_template(synthesized_app: Path) -> dict[str, Any]:
    return json.loads((synthesized_app / f"{STACK_NAME}.template.json").read_text())


@pytest.fixture(scope="session")
def bundle_dir(synthesized_app: Path) -> Path:
    """The function's asset directory, as `cdk deploy` would zip it."""
    manifest = json.loads((synthesized_app / f"{STACK_NAME}.assets.json").read_text())
    directories = [
        synthesized_app / asset["source"]["path"]
        for asset in manifest["files"].values()
        if asset["source"].get("packaging") == "zip"
    ]
    assert len(directories) == 1, directories
    return directories[0]
