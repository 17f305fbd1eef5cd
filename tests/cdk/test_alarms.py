"""Alarms on the 5xx rate, p95 latency and conflict rate, notifying an encrypted topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from javumbo_infra import names
from tests.cdk import helpers

NAMESPACE = "Javumbo"  # what api/observability.py emits


@pytest.fixture(scope="module")
def topic_id(template: Template) -> str:
    topic_id, _ = helpers.only(template.find_resources("AWS::SNS::Topic"))
    return topic_id


@pytest.fixture(scope="module")
def key_id(template: Template) -> str:
    key_id, _ = helpers.only(template.find_resources("AWS::KMS::Key"))
    return key_id


def _alarm(template: Template, name_suffix: str) -> dict[str, Any]:
    _, alarm = helpers.only(
        template.find_resources(
            "AWS::CloudWatch::Alarm",
            {"Properties": {"AlarmName": Match.string_like_regexp(f"-{name_suffix}$")}},
        )
    )
    props: dict[str, Any] = alarm["Properties"]
    return props


def _by_id(metrics: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {metric["Id"]: metric for metric in metrics}


def _from_our_alarms() -> dict[str, Any]:
    return {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Join": [
                    "",
                    Match.array_with([Match.string_like_regexp(r":alarm:Test-\*$")]),
                ]
            }
        },
    }


def test_topic_is_encrypted_with_a_rotating_key_of_its_own(
    template: Template, topic_id: str, key_id: str
) -> None:
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    # Notifications are transient: the key goes with the stack (after a waiting period).
    template.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Delete"})


def test_cloudwatch_may_use_the_key_for_this_stacks_alarms_only(template: Template) -> None:
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Condition": _from_our_alarms(),
                            }
                        )
                    ]
                )
            }
        },
    )


def test_topic_refuses_plain_http_and_lets_this_stacks_alarms_publish(
    template: Template, topic_id: str
) -> None:
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ),
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": "sns:Publish",
                                "Resource": {"Ref": topic_id},
                                "Condition": _from_our_alarms(),
                            }
                        ),
                    ]
                )
            },
        },
    )


def test_three_alarms_notify_the_topic_when_they_fire_and_recover(
    template: Template, topic_id: str
) -> None:
    template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    alarms = template.find_resources(
        "AWS::CloudWatch::Alarm",
        {
            "Properties": {
                "AlarmActions": [{"Ref": topic_id}],
                "OKActions": [{"Ref": topic_id}],
                "TreatMissingData": "notBreaching",
                "ComparisonOperator": "GreaterThanThreshold",
                "EvaluationPeriods": 3,
                "DatapointsToAlarm": 2,
            }
        },
    )
    assert len(alarms) == 3


def test_error_rate_is_api_gateways_5xx_over_its_count(template: Template) -> None:
    api_id, _ = helpers.only(template.find_resources("AWS::ApiGatewayV2::Api"))
    alarm = _alarm(template, "ErrorRate")
    assert alarm["Threshold"] == 2
    metrics = _by_id(alarm["Metrics"])
    (expression,) = (m for m in metrics.values() if "Expression" in m)
    assert expression["Expression"] == "IF(requests >= 20, 100 * FILL(errors, 0) / requests, 0)"
    for metric_id, name in (("errors", "5xx"), ("requests", "Count")):
        stat = metrics[metric_id]["MetricStat"]
        assert stat["Metric"] == {
            "Namespace": "AWS/ApiGateway",
            "MetricName": name,
            "Dimensions": [{"Name": "ApiId", "Value": {"Ref": api_id}}],
        }
        assert stat["Stat"] == "Sum"
        assert stat["Period"] == 300


def test_latency_alarm_is_the_apps_p95_without_dimensions(template: Template) -> None:
    alarm = _alarm(template, "LatencyP95")
    assert alarm["Namespace"] == NAMESPACE
    assert alarm["MetricName"] == "Latency"
    assert alarm["ExtendedStatistic"] == "p95"
    assert alarm["Unit"] == "Milliseconds"
    assert alarm["Period"] == 300
    assert "Dimensions" not in alarm  # the app emits the [] dimension set for the total
    assert alarm["Threshold"] == 1000


def test_conflict_rate_is_the_apps_conflicts_over_its_requests(template: Template) -> None:
    alarm = _alarm(template, "ConflictRate")
    assert alarm["Threshold"] == 5
    metrics = _by_id(alarm["Metrics"])
    (expression,) = (m for m in metrics.values() if "Expression" in m)
    assert expression["Expression"] == (
        "IF(requests >= 20, 100 * FILL(conflicts, 0) / requests, 0)"
    )
    assert expression["ReturnData"] is True
    for metric_id, name in (("conflicts", "ConflictsRetried"), ("requests", "Requests")):
        stat = metrics[metric_id]["MetricStat"]
        assert stat["Metric"] == {"Namespace": NAMESPACE, "MetricName": name}
        assert stat["Stat"] == "Sum"


def test_thresholds_come_from_context(template_with: Callable[[dict[str, Any]], Template]) -> None:
    tuned = template_with(
        {
            names.CTX_ALARM_5XX_PERCENT: "0.5",
            names.CTX_ALARM_LATENCY_P95_MS: 2500,
            names.CTX_ALARM_CONFLICT_PERCENT: 12,
        }
    )
    assert _alarm(tuned, "ErrorRate")["Threshold"] == 0.5
    assert _alarm(tuned, "LatencyP95")["Threshold"] == 2500
    assert _alarm(tuned, "ConflictRate")["Threshold"] == 12


def test_topic_arn_is_an_output(template: Template, topic_id: str) -> None:
    template.has_output("AlarmTopicArn", {"Value": {"Ref": topic_id}})
