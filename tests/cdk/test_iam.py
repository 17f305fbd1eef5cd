"""The function's role grants what the app calls, on this stack's resources, nothing more."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.cdk import helpers

PREFIXES = (
    "user_dbs/",
    "logs/",
    "user_media/",
    "uploads/",
    "exports/",
    "sync_staging/",
    "sync_downloads/",
)
OBJECT_ACTIONS = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
}


@pytest.fixture(scope="module")
def statements(template: Template) -> list[dict[str, Any]]:
    found = helpers.role_statements(template, helpers.function_role_id(template))
    assert found
    return found


def _with_service(statements: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    return [
        s
        for s in statements
        if any(action.startswith(f"{service}:") for action in helpers.as_list(s["Action"]))
    ]


def test_only_allow_statements_without_wildcard_actions(
    statements: list[dict[str, Any]],
) -> None:
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in helpers.as_list(statement["Action"]):
            assert "*" not in action, statement


@pytest.mark.parametrize("service", ["s3", "dynamodb"])
def test_no_resource_wildcard_for_data_services(
    statements: list[dict[str, Any]], service: str
) -> None:
    for statement in _with_service(statements, service):
        assert "*" not in helpers.as_list(statement["Resource"]), statement


def test_object_actions_only_on_the_apps_prefixes(
    template: Template, statements: list[dict[str, Any]]
) -> None:
    bucket_id, _ = helpers.collections_bucket(template)
    expected = [helpers.object_arn(bucket_id, f"{prefix}*") for prefix in PREFIXES]
    object_statements = [
        s for s in statements if set(helpers.as_list(s["Action"])) & OBJECT_ACTIONS
    ]
    granted = {a for s in object_statements for a in helpers.as_list(s["Action"])}
    assert granted == OBJECT_ACTIONS
    for statement in object_statements:
        resources = helpers.as_list(statement["Resource"])
        assert sorted(map(str, resources)) == sorted(map(str, expected))


def test_page_log_entries_may_be_read_written_and_deleted(
    template: Template, statements: list[dict[str, Any]]
) -> None:
    bucket_id, _ = helpers.collections_bucket(template)
    logs = helpers.object_arn(bucket_id, "logs/*")
    granted = {
        action
        for s in statements
        if logs in helpers.as_list(s["Resource"])
        for action in helpers.as_list(s["Action"])
    }
    assert granted == OBJECT_ACTIONS


def test_bucket_level_access_is_list_only(
    template: Template, statements: list[dict[str, Any]]
) -> None:
    bucket_id, _ = helpers.collections_bucket(template)
    s3_actions = {a for s in _with_service(statements, "s3") for a in helpers.as_list(s["Action"])}
    assert s3_actions == OBJECT_ACTIONS | {"s3:ListBucket"}
    for statement in _with_service(statements, "s3"):
        if "s3:ListBucket" in helpers.as_list(statement["Action"]):
            assert helpers.as_list(statement["Action"]) == ["s3:ListBucket"]
            assert helpers.as_list(statement["Resource"]) == [{"Fn::GetAtt": [bucket_id, "Arn"]}]


def _list_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if "s3:ListBucket" in helpers.as_list(s["Action"])]


def test_listing_is_the_collections_bucket_alone(
    template: Template, statements: list[dict[str, Any]]
) -> None:
    """ListBucket makes a missing key a 404 (the end of a page log), not a 403. A GET
    carries no s3:prefix, so the grant has no prefix condition; it is on the collections
    bucket and nothing else."""
    listing = _list_statements(statements)
    assert len(listing) == 1, listing
    (statement,) = listing
    assert helpers.as_list(statement["Action"]) == ["s3:ListBucket"]
    assert "Condition" not in statement
    (resource,) = helpers.as_list(statement["Resource"])
    bucket_id, _ = helpers.collections_bucket(template)
    assert resource == {"Fn::GetAtt": [bucket_id, "Arn"]}, resource


def test_item_actions_only_on_the_two_tables(
    template: Template, statements: list[dict[str, Any]]
) -> None:
    tables = [
        {"Fn::GetAtt": [helpers.table(template, key)[0], "Arn"]} for key in ("username", "pk")
    ]
    dynamo = _with_service(statements, "dynamodb")
    assert dynamo
    actions = {a for s in dynamo for a in helpers.as_list(s["Action"])}
    assert actions <= ITEM_ACTIONS
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= actions
    for statement in dynamo:
        resources = helpers.as_list(statement["Resource"])
        assert all(resource in tables for resource in resources), resources


def test_logs_only_to_the_functions_own_group(
    template: Template, statements: list[dict[str, Any]]
) -> None:
    _, fn = helpers.function(template)
    group_id = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    for statement in _with_service(statements, "logs"):
        assert helpers.as_list(statement["Resource"]) == [{"Fn::GetAtt": [group_id, "Arn"]}]


def test_no_managed_policies_and_only_known_services(
    template: Template, statements: list[dict[str, Any]]
) -> None:
    role = template.find_resources("AWS::IAM::Role")[helpers.function_role_id(template)]
    assert "ManagedPolicyArns" not in role["Properties"]
    services = {a.split(":")[0] for s in statements for a in helpers.as_list(s["Action"])}
    assert services == {"logs", "s3", "dynamodb", "secretsmanager"}
