"""The API function: runtime, sizing, environment, logs, concurrency and the secret."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.cdk import helpers

MIB = 1024 * 1024
ENV_NAMES = {
    "JAVUMBO_BACKEND",
    "JAVUMBO_BUCKET",
    "JAVUMBO_USERS_TABLE",
    "JAVUMBO_AUTH_TABLE",
    "JAVUMBO_JWT_SECRET_ARN",
    "JAVUMBO_CACHE_DIR",
    "JAVUMBO_CACHE_MAX_BYTES",
    "JAVUMBO_SYNC_DOWNLOAD_URL",
}


@pytest.fixture(scope="module")
def props(template: Template) -> dict[str, Any]:
    _, fn = helpers.function(template)
    return fn["Properties"]


@pytest.fixture(scope="module")
def env(props: dict[str, Any]) -> dict[str, Any]:
    return props["Environment"]["Variables"]


def test_one_function(template: Template) -> None:
    template.resource_count_is("AWS::Lambda::Function", 1)


def test_runtime_architecture_and_handler(props: dict[str, Any]) -> None:
    runtime = props["Runtime"]
    assert runtime.startswith("python3.")
    assert int(runtime.removeprefix("python3.")) >= 12
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "api.lambda_handler.handler"


def test_sizing_and_timeout(props: dict[str, Any]) -> None:
    assert props["MemorySize"] == 1024
    assert props["EphemeralStorage"]["Size"] >= 1024
    # The HTTP API integration gives up at 30 s.
    assert 10 <= props["Timeout"] < 30


def test_environment_names_are_exactly_the_documented_ones(env: dict[str, Any]) -> None:
    assert set(env) == ENV_NAMES
    assert env["JAVUMBO_BACKEND"] == "aws"
    assert env["JAVUMBO_CACHE_DIR"].startswith("/tmp/")


def test_environment_points_at_this_stacks_resources(
    template: Template, env: dict[str, Any]
) -> None:
    bucket_id, _ = helpers.collections_bucket(template)
    users_id, _ = helpers.table(template, "username")
    auth_id, _ = helpers.table(template, "pk")
    secret_id, _ = helpers.secret(template)
    assert env["JAVUMBO_BUCKET"] == {"Ref": bucket_id}
    assert env["JAVUMBO_USERS_TABLE"] == {"Ref": users_id}
    assert env["JAVUMBO_AUTH_TABLE"] == {"Ref": auth_id}
    assert env["JAVUMBO_JWT_SECRET_ARN"] == {"Ref": secret_id}


def test_cache_fits_in_ephemeral_storage_with_room_to_spare(
    props: dict[str, Any], env: dict[str, Any]
) -> None:
    cache = int(env["JAVUMBO_CACHE_MAX_BYTES"])
    ephemeral = props["EphemeralStorage"]["Size"] * MIB
    assert 256 * MIB <= cache < ephemeral
    assert ephemeral - cache >= 256 * MIB  # room for the copy being written


def test_logs_go_to_an_explicit_group_with_retention(
    template: Template, props: dict[str, Any]
) -> None:
    group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    group = template.find_resources("AWS::Logs::LogGroup")[group_id]
    assert 1 <= group["Properties"]["RetentionInDays"] <= 90


def test_no_reserved_concurrency_by_default(props: dict[str, Any]) -> None:
    assert "ReservedConcurrentExecutions" not in props


@pytest.mark.parametrize("value", [5, "5"], ids=["cdk.json", "cli"])
def test_reserved_concurrency_from_context(
    template_with: Callable[[dict[str, Any]], Template], value: int | str
) -> None:
    template = template_with({"javumbo:reservedConcurrency": value})
    _, fn = helpers.function(template)
    assert fn["Properties"]["ReservedConcurrentExecutions"] == 5


def test_sizing_from_context(template_with: Callable[[dict[str, Any]], Template]) -> None:
    template = template_with({"javumbo:memoryMiB": 2048, "javumbo:ephemeralStorageMiB": 4096})
    _, fn = helpers.function(template)
    props = fn["Properties"]
    assert props["MemorySize"] == 2048
    assert props["EphemeralStorage"]["Size"] == 4096
    cache = int(props["Environment"]["Variables"]["JAVUMBO_CACHE_MAX_BYTES"])
    assert 2048 * MIB < cache < 4096 * MIB


def test_signing_secret_is_generated_long_enough(template: Template) -> None:
    _, secret = helpers.secret(template)
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 64
    assert "SecretString" not in secret["Properties"]  # never a value in the template
    assert "GenerateStringKey" not in generated  # a plain string, not JSON


def test_function_may_only_read_the_signing_secret(template: Template) -> None:
    secret_id, _ = helpers.secret(template)
    statements = helpers.role_statements(template, helpers.function_role_id(template))
    secret_statements = [
        s
        for s in statements
        if any(a.startswith("secretsmanager:") for a in helpers.as_list(s["Action"]))
    ]
    assert secret_statements
    for statement in secret_statements:
        assert statement["Effect"] == "Allow"
        assert set(helpers.as_list(statement["Action"])) <= {
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
        }
        assert helpers.as_list(statement["Resource"]) == [{"Ref": secret_id}]
    actions = {a for s in secret_statements for a in helpers.as_list(s["Action"])}
    assert "secretsmanager:GetSecretValue" in actions


def test_bundled_web_app_and_starter_deck_are_announced_to_the_app(
    template_with: Callable[[dict[str, Any]], Template], web_dist: Path, starter_deck: Path
) -> None:
    template = template_with(
        {"javumbo:webDir": str(web_dist), "javumbo:starterDeck": str(starter_deck)}
    )
    _, fn = helpers.function(template)
    env = fn["Properties"]["Environment"]["Variables"]
    assert set(env) == ENV_NAMES | {"JAVUMBO_WEB_DIR", "JAVUMBO_STARTER_DECK"}
    # /var/task is where Lambda puts the bundle.
    assert env["JAVUMBO_WEB_DIR"] == "/var/task/web"
    assert env["JAVUMBO_STARTER_DECK"] == "/var/task/starter/Spanish Basics.apkg"


def test_web_app_alone(template_with: Callable[[dict[str, Any]], Template], web_dist: Path) -> None:
    _, fn = helpers.function(template_with({"javumbo:webDir": str(web_dist)}))
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["JAVUMBO_WEB_DIR"] == "/var/task/web"
    assert "JAVUMBO_STARTER_DECK" not in env
