"""The public HTTP endpoint: an HTTP API proxying every request to the function."""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

# The app's own CORS definition: API Gateway answers preflights (and sets the CORS
# headers of every response) exactly as the app does when it runs without it.
from api.core.cors import (
    CORS_ALLOW_HEADERS,
    CORS_ALLOW_METHODS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
)
from javumbo_infra import nag, names
from javumbo_infra.settings import StackSettings

LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# One JSON object per request, with the variables HTTP APIs support.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "routeKey": "$context.routeKey",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
}


class HttpEndpoint(Construct):
    """One `$default` route to the function, on a throttled, access-logged stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        settings: StackSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=Stack.of(self).stack_name,
            description="Javumbo API",
            default_integration=HttpLambdaIntegration("Function", function),
            cors_preflight=_cors(settings.cors_origins),
            # The L2 default stage has no access logging; ours below does.
            create_default_stage=False,
        )
        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=settings.throttle_rate_limit,
                burst_limit=settings.throttle_burst_limit,
            ),
            access_log_settings=_AccessLogs(self.access_log_group),
        )
        nag.acknowledge(
            self.http_api,
            "AwsSolutions-APIG4",
            "Authorization is the application's: every protected route requires a JWT "
            "bearer token that the app verifies (signature, expiry, revocation). "
            f"{', '.join(names.PUBLIC_ROUTES)} must stay public to sign up and sign in, so "
            "an API Gateway authorizer on the single proxy route cannot be used.",
        )

    @property
    def url(self) -> str:
        return self.stage.url


def _cors(origins: tuple[str, ...]) -> apigwv2.CorsPreflightOptions | None:
    if not origins:
        return None  # same-origin or non-browser clients only: no CORS headers at all
    return apigwv2.CorsPreflightOptions(
        allow_origins=list(origins),
        allow_methods=[apigwv2.CorsHttpMethod(method) for method in CORS_ALLOW_METHODS],
        allow_headers=list(CORS_ALLOW_HEADERS),
        expose_headers=list(CORS_EXPOSE_HEADERS),
        max_age=Duration.seconds(CORS_MAX_AGE_SECONDS),
    )


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """JSON access logs into `log_group` (the interface has no ready-made implementation)."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)
        self._format = apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format
