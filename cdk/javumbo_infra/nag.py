"""Acknowledging cdk-nag findings (cdk-nag 3 uses the CDK's own Validations API)."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one finding on `scope` and everything below it, and say why."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def object_wildcard_finding(bucket: s3.Bucket, prefix: str) -> str:
    """The IAM5 finding id for `<bucket arn>/<prefix>*`, as cdk-nag spells it."""
    stack = Stack.of(bucket)
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, s3.CfnBucket)
    logical_id = stack.resolve(stack.get_logical_id(cfn_bucket))
    return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{prefix}*]"
