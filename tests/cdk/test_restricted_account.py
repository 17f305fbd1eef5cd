"""Restricted (lab) accounts: an existing role instead of IAM, assets without bootstrap roles."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.cdk import helpers
from tests.cdk.conftest import NO_BUNDLING, run_app

ROLE_ARN = "arn:aws:iam::123456789012:role/LabRole"
ASSETS_BUCKET = "javumbo-lab-assets-123456789012"
LAB_CONTEXT = {"javumbo:existingRoleArn": ROLE_ARN}
# The default synthesizer's bootstrap roles and bucket are all named after this qualifier.
BOOTSTRAP_QUALIFIER = "hnb659fds"


@pytest.fixture(scope="module")
def lab_template(template_with: Callable[[dict[str, Any]], Template]) -> Template:
    return template_with(LAB_CONTEXT)


def _types(template: Template | dict[str, Any]) -> list[str]:
    resources = template if isinstance(template, dict) else template.to_json()
    return [resource["Type"] for resource in resources["Resources"].values()]


def test_no_iam_resource_at_all(lab_template: Template) -> None:
    assert [kind for kind in _types(lab_template) if kind.startswith("AWS::IAM::")] == []


def test_the_function_runs_as_the_given_role(lab_template: Template) -> None:
    _, fn = helpers.function(lab_template)
    assert fn["Properties"]["Role"] == ROLE_ARN


def test_nothing_brings_a_role_of_its_own(lab_template: Template) -> None:
    """Custom resources (log retention, bucket auto-delete, deployments) run as a role."""
    kinds = _types(lab_template)
    assert [k for k in kinds if k.startswith("Custom::")] == []
    assert "AWS::CloudFormation::CustomResource" not in kinds
    assert kinds.count("AWS::Lambda::Function") == 1


def test_no_resource_policies_stand_in_for_grants(lab_template: Template) -> None:
    # Grants to a role of unknown account would turn into resource policies instead.
    kinds = set(_types(lab_template))
    assert "AWS::SecretsManager::ResourcePolicy" not in kinds
    assert "AWS::Logs::ResourcePolicy" not in kinds


def test_the_rest_of_the_stack_is_unchanged(template: Template, lab_template: Template) -> None:
    """Only the role goes: same data stores, endpoint, alarms and bucket policies."""
    default = [kind for kind in _types(template) if not kind.startswith("AWS::IAM::")]
    assert sorted(_types(lab_template)) == sorted(default)


def test_the_default_stack_creates_its_own_role(template: Template) -> None:
    assert helpers.function_role_id(template) in template.find_resources("AWS::IAM::Role")


@pytest.fixture(scope="module")
def lab_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python app.py` with both lab settings (bundling skipped: the bundle is not looked at)."""
    return run_app(
        tmp_path_factory.mktemp("lab.cdk.out"),
        {**NO_BUNDLING, **LAB_CONTEXT, "javumbo:assetsBucket": ASSETS_BUCKET},
    )


def test_app_publishes_assets_with_the_cli_credentials(lab_app: Path) -> None:
    texts = {path.name: path.read_text() for path in lab_app.glob("*.json")}
    for name, text in texts.items():
        assert BOOTSTRAP_QUALIFIER not in text, name
    assets = json.loads(texts["Javumbo.assets.json"])
    destinations = [
        destination
        for asset in assets["files"].values()
        for destination in asset["destinations"].values()
    ]
    assert destinations
    for destination in destinations:
        assert destination["bucketName"] == ASSETS_BUCKET
        assert destination["objectKey"].startswith("javumbo-assets/")
        assert "assumeRoleArn" not in destination
    stack = json.loads(texts["manifest.json"])["artifacts"]["Javumbo"]["properties"]
    assert "assumeRoleArn" not in stack
    assert "cloudFormationExecutionRoleArn" not in stack
    assert "requiresBootstrapStackVersion" not in stack


def test_app_in_lab_mode_creates_no_iam_and_passes_the_checks(lab_app: Path) -> None:
    template = json.loads((lab_app / "Javumbo.template.json").read_text())
    assert [kind for kind in _types(template) if kind.startswith("AWS::IAM::")] == []
    assert "BootstrapVersion" not in template.get("Parameters", {})
    _, fn = helpers.only(
        {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    )
    assert fn["Properties"]["Role"] == ROLE_ARN
    report = json.loads((lab_app / "validation-report.json").read_text())
    assert report.get("pluginReports", []) == []


def test_app_without_an_assets_bucket_uses_the_bootstrap_stack(synthesized_app: Path) -> None:
    assets = (synthesized_app / "Javumbo.assets.json").read_text()
    assert f"cdk-{BOOTSTRAP_QUALIFIER}-file-publishing-role" in assets
