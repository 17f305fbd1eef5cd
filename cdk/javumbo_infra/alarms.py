"""Alarms on what a learner feels, and the encrypted topic they notify.

- **5xx rate**: the HTTP API's own `5xx` over its `Count` (API Gateway sees the errors
  the app never logs: function timeouts, crashes at start-up, throttling);
- **p95 latency**: the app's `Latency` metric (embedded metric format, namespace
  `Javumbo`, no dimensions; see api/observability.py);
- **conflict rate**: the app's `ConflictsRetried` over its `Requests`: writes that lost a
  race to another instance and were re-applied.

Rates are percentages over 5-minute periods, and only count once a period has
`MIN_REQUESTS` requests; an alarm fires when 2 of 3 periods breach. No traffic is not a
breach. Alarm and recovery notifications go to an SNS topic encrypted with a key of
its own: CloudWatch cannot publish to a topic under the AWS managed key `alias/aws/sns`,
whose policy cannot grant it.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

# The namespace of the app's embedded metrics.
from api.observability import NAMESPACE
from javumbo_infra.settings import StackSettings

PERIOD = Duration.minutes(5)
EVALUATION_PERIODS = 3
DATAPOINTS_TO_ALARM = 2
MIN_REQUESTS = 20  # per period: below this a rate says little
CLOUDWATCH = "cloudwatch.amazonaws.com"


class Alarms(Construct):
    """Three alarms and the topic they notify (subscribe to `topic` to hear of them)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        http_api: apigwv2.HttpApi,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = self._topic_key()
        self.topic = self._topic(self.key)
        self.error_rate = self._error_rate_alarm(http_api, settings.alarm_5xx_percent)
        self.latency = self._latency_alarm(settings.alarm_latency_p95_ms)
        self.conflict_rate = self._conflict_rate_alarm(settings.alarm_conflict_percent)

    def _from_our_alarms(self) -> dict[str, Any]:
        """Only this stack's alarms, in this account, may use the key and the topic."""
        stack = Stack.of(self)
        return {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=f"{stack.stack_name}-*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            },
        }

    def _topic_key(self) -> kms.Key:
        key = kms.Key(
            self,
            "TopicKey",
            description="Javumbo: encrypts the alarm notification topic.",
            enable_key_rotation=True,
            # Nothing lasting is encrypted with it: notifications are delivered or dropped.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsEncrypt",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy: this key
                conditions=self._from_our_alarms(),
            )
        )
        return key

    def _topic(self, key: kms.IKey) -> sns.Topic:
        topic = sns.Topic(
            self,
            "Topic",
            display_name="Javumbo alarms",
            master_key=key,
            enforce_ssl=True,
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=self._from_our_alarms(),
            )
        )
        return topic

    def _error_rate_alarm(self, http_api: apigwv2.HttpApi, percent: float) -> cloudwatch.Alarm:
        errors = cloudwatch.MathExpression(
            expression=_rate("errors"),
            using_metrics={
                "errors": http_api.metric_server_error(period=PERIOD, statistic="Sum"),
                "requests": http_api.metric_count(period=PERIOD, statistic="Sum"),
            },
            label="5xx responses (% of requests)",
            period=PERIOD,
        )
        return self._alarm(
            "ErrorRate",
            errors,
            percent,
            f"More than {percent:g}% of API requests answered 5xx "
            "(API Gateway's count: function errors, timeouts and throttling included).",
        )

    def _latency_alarm(self, p95_ms: int) -> cloudwatch.Alarm:
        latency = cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name="Latency",
            statistic="p95",
            period=PERIOD,
            unit=cloudwatch.Unit.MILLISECONDS,
        )
        return self._alarm(
            "LatencyP95", latency, p95_ms, f"The app's p95 latency is above {p95_ms} ms."
        )

    def _conflict_rate_alarm(self, percent: float) -> cloudwatch.Alarm:
        conflicts = cloudwatch.MathExpression(
            expression=_rate("conflicts"),
            using_metrics={
                "conflicts": _app_sum("ConflictsRetried"),
                "requests": _app_sum("Requests"),
            },
            label="write conflicts retried (per 100 requests)",
            period=PERIOD,
        )
        return self._alarm(
            "ConflictRate",
            conflicts,
            percent,
            f"More than {percent:g} write conflicts retried per 100 "
            "requests: learners are writing one collection from several instances at once.",
        )

    def _alarm(
        self, name: str, metric: cloudwatch.IMetric, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_name=f"{Stack.of(self).stack_name}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=EVALUATION_PERIODS,
            datapoints_to_alarm=DATAPOINTS_TO_ALARM,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        return alarm


def _rate(numerator: str) -> str:
    """Percent of `requests`, once there are enough of them (0 otherwise)."""
    return f"IF(requests >= {MIN_REQUESTS}, 100 * FILL({numerator}, 0) / requests, 0)"


def _app_sum(name: str) -> cloudwatch.Metric:
    """One of the app's embedded metrics, summed over all routes (no dimensions)."""
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, statistic="Sum", period=PERIOD)
