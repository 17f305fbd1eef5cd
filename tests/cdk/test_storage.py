"""The collections bucket, its access-log bucket and the two tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from api.core.cors import CORS_ALLOW_HEADERS
from javumbo_infra.storage import NONCURRENT_VERSION_RETENTION
from tests.cdk import helpers

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
SSE_S3 = {
    "ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
}


@pytest.fixture(scope="module")
def collections_bucket(template: Template) -> tuple[str, dict[str, Any]]:
    return helpers.collections_bucket(template)


@pytest.fixture(scope="module")
def log_bucket(template: Template, collections_bucket: tuple[str, dict[str, Any]]) -> str:
    """Logical id of the bucket the collections bucket logs to."""
    _, bucket = collections_bucket
    return bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"]


def test_there_are_two_buckets(template: Template) -> None:
    template.resource_count_is("AWS::S3::Bucket", 2)


def test_collections_bucket_is_versioned_encrypted_and_private(
    collections_bucket: tuple[str, dict[str, Any]],
) -> None:
    _, bucket = collections_bucket
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"] == SSE_S3
    assert props["PublicAccessBlockConfiguration"] == BLOCK_ALL
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_collections_bucket_logs_to_a_separate_bucket(
    template: Template, collections_bucket: tuple[str, dict[str, Any]], log_bucket: str
) -> None:
    collections_id, _ = collections_bucket
    assert log_bucket != collections_id
    assert log_bucket in template.find_resources("AWS::S3::Bucket")


def test_log_bucket_is_encrypted_private_and_expires_logs(
    template: Template, log_bucket: str
) -> None:
    bucket = template.find_resources("AWS::S3::Bucket")[log_bucket]
    props = bucket["Properties"]
    assert props["BucketEncryption"] == SSE_S3
    assert props["PublicAccessBlockConfiguration"] == BLOCK_ALL
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any(rule.get("ExpirationInDays") == 90 and "Prefix" not in rule for rule in rules)


def test_log_delivery_may_write_only_from_the_collections_bucket(
    template: Template, collections_bucket: tuple[str, dict[str, Any]], log_bucket: str
) -> None:
    collections_id, _ = collections_bucket
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": log_bucket},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Action": "s3:PutObject",
                                "Condition": Match.object_like(
                                    {
                                        "ArnLike": {
                                            "aws:SourceArn": {"Fn::GetAtt": [collections_id, "Arn"]}
                                        }
                                    }
                                ),
                            }
                        )
                    ]
                )
            },
        },
    )


@pytest.mark.parametrize("bucket_fixture", ["collections", "logs"])
def test_bucket_policy_refuses_plain_http(
    template: Template,
    collections_bucket: tuple[str, dict[str, Any]],
    log_bucket: str,
    bucket_fixture: str,
) -> None:
    bucket_id = collections_bucket[0] if bucket_fixture == "collections" else log_bucket
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_lifecycle_expires_old_versions_scratch_objects_and_stale_uploads(
    collections_bucket: tuple[str, dict[str, Any]],
) -> None:
    _, bucket = collections_bucket
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    whole_bucket = [rule for rule in rules if "Prefix" not in rule]
    assert any(
        rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") == 30
        for rule in whole_bucket
    )
    assert any(
        rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1
        for rule in whole_bucket
    )
    # Nothing outside the scratch prefixes ever expires: current collections are kept.
    assert not any("ExpirationInDays" in rule for rule in whole_bucket)
    by_prefix = {rule["Prefix"]: rule for rule in rules if "Prefix" in rule}
    assert set(by_prefix) == {"uploads/", "exports/", "sync_staging/", "sync_downloads/"}
    for rule in by_prefix.values():
        assert rule["ExpirationInDays"] == 1


# Page-log entries and snapshots, once deleted or replaced, are kept this long as
# noncurrent versions (docs/storage.md: restore works within this window).
RETENTION_DAYS = 30
# Current objects under these prefixes are live data: an entry not yet folded into the
# snapshot is the only copy of an acknowledged write, so no rule may ever expire one.
LIVE_PREFIXES = ("user_dbs/", "logs/")
CURRENT_EXPIRY = ("ExpirationInDays", "ExpirationDate")
NARROWING_FILTERS = ("TagFilters", "ObjectSizeGreaterThan", "ObjectSizeLessThan")


def _reaches(rule: dict[str, Any], prefix: str) -> bool:
    """Whether the rule may apply to some key under `prefix` (tags and sizes only narrow)."""
    rule_prefix: str = rule.get("Prefix", "")
    return prefix.startswith(rule_prefix) or rule_prefix.startswith(prefix)


def _covers(rule: dict[str, Any], prefix: str) -> bool:
    """Whether the enabled rule applies to every key under `prefix`."""
    return (
        rule["Status"] == "Enabled"
        and prefix.startswith(rule.get("Prefix", ""))
        and not any(key in rule for key in NARROWING_FILTERS)
    )


def _expiring_current_objects(rules: list[dict[str, Any]], prefix: str) -> list[str]:
    return [
        rule.get("Id", "?")
        for rule in rules
        if _reaches(rule, prefix) and any(key in rule for key in CURRENT_EXPIRY)
    ]


def _lifecycle_rules(bucket: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    return rules


def test_the_retention_window_is_the_stacks() -> None:
    assert NONCURRENT_VERSION_RETENTION.to_days() == RETENTION_DAYS


@pytest.mark.parametrize("prefix", LIVE_PREFIXES)
def test_deleted_entries_and_old_snapshots_expire_after_the_retention_window(
    collections_bucket: tuple[str, dict[str, Any]], prefix: str
) -> None:
    """Folded log entries the app deletes (and replaced snapshots) become noncurrent
    versions: they expire after the window, and so do their delete markers."""
    _, bucket = collections_bucket
    rules = _lifecycle_rules(bucket)
    covering = [
        rule
        for rule in rules
        if _covers(rule, prefix)
        and rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") == RETENTION_DAYS
        and rule.get("ExpiredObjectDeleteMarker") is True
    ]
    assert covering, rules
    # S3 applies the shortest of overlapping rules: none may cut the restore window short.
    noncurrent_days = [
        rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for rule in rules
        if _reaches(rule, prefix) and "NoncurrentVersionExpiration" in rule
    ]
    assert min(noncurrent_days) == RETENTION_DAYS, rules


@pytest.mark.parametrize("prefix", LIVE_PREFIXES)
def test_no_rule_expires_current_collections_or_log_entries(
    collections_bucket: tuple[str, dict[str, Any]], prefix: str
) -> None:
    _, bucket = collections_bucket
    assert _expiring_current_objects(_lifecycle_rules(bucket), prefix) == []


def test_the_current_object_check_sees_rules_that_reach_into_a_prefix() -> None:
    rules: list[dict[str, Any]] = [
        {"Id": "whole-bucket", "Status": "Enabled", "ExpirationInDays": 365},
        {
            "Id": "logs-subtree",
            "Status": "Disabled",
            "Prefix": "logs/user_dbs/",
            "ExpirationDate": "x",
        },
        {"Id": "scratch", "Status": "Enabled", "Prefix": "uploads/", "ExpirationInDays": 1},
        {
            "Id": "versions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
    ]
    assert _expiring_current_objects(rules, "logs/") == ["whole-bucket", "logs-subtree"]
    assert _expiring_current_objects(rules, "user_dbs/") == ["whole-bucket"]
    assert not _covers({"Status": "Enabled", "Prefix": "logs/x/"}, "logs/")
    assert not _covers({"Status": "Enabled", "TagFilters": [{"Key": "k", "Value": "v"}]}, "logs/")
    assert _covers({"Status": "Enabled"}, "logs/")


DOWNLOAD_EXPOSED = {"content-disposition", "content-length", "content-type", "etag"}


def _cors_rules(template: Template) -> dict[str, dict[str, Any]]:
    _, bucket = helpers.collections_bucket(template)
    rules = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    return {rule["Id"]: rule for rule in rules}


def _lower(names: list[str]) -> set[str]:
    return {name.lower() for name in names}


def test_presigned_downloads_may_be_fetched_from_any_origin(template: Template) -> None:
    """A redirect to another origin sends `Origin: null`; the signature is the authorization."""
    rules = _cors_rules(template)
    assert set(rules) == {"presigned-downloads"}  # no origins configured: no uploads
    rule = rules["presigned-downloads"]
    assert rule["AllowedOrigins"] == ["*"]
    assert sorted(rule["AllowedMethods"]) == ["GET", "HEAD"]
    assert _lower(rule["ExposedHeaders"]) == DOWNLOAD_EXPOSED
    assert _lower(rule["AllowedHeaders"]) == _lower(list(CORS_ALLOW_HEADERS))
    assert rule["MaxAge"] == 3000


def test_presigned_uploads_only_from_the_configured_origins(
    template_with: Callable[[dict[str, Any]], Template],
) -> None:
    origins = ["https://app.example.com", "http://localhost:5173"]
    rules = _cors_rules(template_with({"javumbo:corsOrigins": origins}))
    assert set(rules) == {"presigned-downloads", "presigned-uploads"}
    upload = rules["presigned-uploads"]
    assert upload["AllowedMethods"] == ["PUT"]
    assert upload["AllowedOrigins"] == origins
    assert "content-type" in _lower(upload["AllowedHeaders"])  # the signed Content-Type
    assert upload["MaxAge"] == 3000
    # Writing stays with the configured origins; "*" only ever reads.
    download = rules["presigned-downloads"]
    assert sorted(download["AllowedMethods"]) == ["GET", "HEAD"]
    assert download["AllowedOrigins"] == ["*"]


def test_the_log_bucket_has_no_cors(template: Template, log_bucket: str) -> None:
    bucket = template.find_resources("AWS::S3::Bucket")[log_bucket]
    assert "CorsConfiguration" not in bucket["Properties"]


TABLES = {
    "users": {"key": "username", "ttl": None},
    "auth": {"key": "pk", "ttl": "expires_at"},
}


def test_there_are_two_tables(template: Template) -> None:
    template.resource_count_is("AWS::DynamoDB::Table", 2)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_key_billing_recovery_and_protection(template: Template, name: str) -> None:
    key = TABLES[name]["key"]
    _, table = helpers.table(template, key)
    props = table["Properties"]
    assert props["AttributeDefinitions"] == [{"AttributeName": key, "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    ttl = TABLES[name]["ttl"]
    if ttl is None:
        assert "TimeToLiveSpecification" not in props
    else:
        assert props["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}
