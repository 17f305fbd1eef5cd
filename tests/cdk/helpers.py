"""Finding resources in a synthesized template without relying on hashed logical ids."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

Resource = dict[str, Any]


def only(resources: dict[str, Resource]) -> tuple[str, Resource]:
    """The single (logical id, resource) of a find_resources result."""
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.items()))


def collections_bucket(template: Template) -> tuple[str, Resource]:
    """The versioned bucket (the access-log bucket is not versioned)."""
    return only(
        template.find_resources(
            "AWS::S3::Bucket", {"Properties": {"VersioningConfiguration": {"Status": "Enabled"}}}
        )
    )


def table(template: Template, partition_key: str) -> tuple[str, Resource]:
    return only(
        template.find_resources(
            "AWS::DynamoDB::Table",
            {"Properties": {"KeySchema": [{"AttributeName": partition_key, "KeyType": "HASH"}]}},
        )
    )


def function(template: Template) -> tuple[str, Resource]:
    return only(template.find_resources("AWS::Lambda::Function"))


def secret(template: Template) -> tuple[str, Resource]:
    return only(template.find_resources("AWS::SecretsManager::Secret"))


def function_role_id(template: Template) -> str:
    _, fn = function(template)
    return fn["Properties"]["Role"]["Fn::GetAtt"][0]


def role_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    """Every statement granted to the role: inline policies and attached AWS::IAM::Policy."""
    role = template.find_resources("AWS::IAM::Role")[role_id]
    statements = [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def object_arn(bucket_id: str, pattern: str) -> dict[str, Any]:
    """How the CDK renders `bucket.arn_for_objects(pattern)`."""
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, f"/{pattern}"]]}
