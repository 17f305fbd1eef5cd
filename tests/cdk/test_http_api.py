"""The HTTP API: one proxy route, an access-logged and throttled stage, CORS on request."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from starlette.middleware.cors import SAFELISTED_HEADERS
from starlette.testclient import TestClient

from api.core.config import Settings
from api.core.cors import CORS_ALLOW_HEADERS
from api.main import create_app
from tests.cdk import helpers

APP_ORIGIN = "https://app.example"


@pytest.fixture(scope="module")
def stage(template: Template) -> dict[str, Any]:
    _, found = helpers.only(template.find_resources("AWS::ApiGatewayV2::Stage"))
    return found["Properties"]


def test_one_http_api_with_one_proxy_route_to_the_function(template: Template) -> None:
    api_id, _ = helpers.only(
        template.find_resources("AWS::ApiGatewayV2::Api", {"Properties": {"ProtocolType": "HTTP"}})
    )
    function_id, _ = helpers.function(template)
    integration_id, _ = helpers.only(
        template.find_resources(
            "AWS::ApiGatewayV2::Integration",
            {
                "Properties": {
                    "ApiId": {"Ref": api_id},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": {"Fn::GetAtt": [function_id, "Arn"]},
                    "PayloadFormatVersion": "2.0",
                }
            },
        )
    )
    template.resource_count_is("AWS::ApiGatewayV2::Route", 1)
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Route",
        {
            "ApiId": {"Ref": api_id},
            "RouteKey": "$default",
            "Target": {"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]},
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
        },
    )


def test_default_stage_deploys_automatically(stage: dict[str, Any]) -> None:
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True


def test_access_logs_are_json_in_a_log_group_with_retention(
    template: Template, stage: dict[str, Any]
) -> None:
    settings = stage["AccessLogSettings"]
    group_id = settings["DestinationArn"]["Fn::GetAtt"][0]
    group = template.find_resources("AWS::Logs::LogGroup")[group_id]
    assert group["Properties"]["RetentionInDays"] >= 1
    fields = json.loads(settings["Format"])
    assert {"requestId", "status", "routeKey", "ip"} <= set(fields)
    assert fields["requestId"] == "$context.requestId"


def test_throttling_defaults(stage: dict[str, Any]) -> None:
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100


def test_throttling_from_context(template_with: Callable[[dict[str, Any]], Template]) -> None:
    template = template_with({"javumbo:throttleRateLimit": 7, "javumbo:throttleBurstLimit": 9})
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {"DefaultRouteSettings": {"ThrottlingRateLimit": 7, "ThrottlingBurstLimit": 9}},
    )


def test_no_cors_without_origins(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Api", {"CorsConfiguration": Match.absent()}
    )


def test_cors_allows_exactly_the_configured_origins(
    template_with: Callable[[dict[str, Any]], Template],
) -> None:
    origins = ["https://app.example.com", "http://localhost:5173"]
    template = template_with({"javumbo:corsOrigins": origins})
    _, api = helpers.only(template.find_resources("AWS::ApiGatewayV2::Api"))
    cors = api["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == origins
    assert set(cors["AllowMethods"]) == {"GET", "POST", "PUT", "DELETE"}
    assert {"Authorization", "Content-Type"} <= set(cors["AllowHeaders"])
    assert cors.get("AllowCredentials") is not True  # bearer tokens, never cookies


def _names(value: str | list[str]) -> set[str]:
    """Header or method names, case-insensitively: a header's value or a template list."""
    items = value.split(",") if isinstance(value, str) else value
    return {item.strip().lower() for item in items if item.strip()}


def test_cors_in_the_template_is_what_the_app_answers(
    template_with: Callable[[dict[str, Any]], Template], tmp_path: Path
) -> None:
    """API Gateway answers preflights itself: it must allow what the app would allow."""
    template = template_with({"javumbo:corsOrigins": [APP_ORIGIN]})
    _, api = helpers.only(template.find_resources("AWS::ApiGatewayV2::Api"))
    cors = api["Properties"]["CorsConfiguration"]

    app = create_app(
        Settings(
            backend="local",
            data_dir=tmp_path,
            cache_dir=tmp_path / "c",
            cors_origins=[APP_ORIGIN],
        )
    )
    with TestClient(app) as client:
        preflight = client.options(
            "/api/login",
            headers={
                "Origin": APP_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": ", ".join(CORS_ALLOW_HEADERS),
            },
        )
        # Exposed headers are sent on actual responses, not on preflights.
        actual = client.get("/health", headers={"Origin": APP_ORIGIN})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert actual.headers["access-control-allow-origin"] == APP_ORIGIN

    assert _names(preflight.headers["access-control-allow-methods"]) == _names(cors["AllowMethods"])
    # Starlette also lists the fetch standard's CORS-safelisted request headers, which a
    # browser sends without asking; beyond those the two lists are the same.
    assert _names(preflight.headers["access-control-allow-headers"]) == _names(
        cors["AllowHeaders"]
    ) | _names(list(SAFELISTED_HEADERS))
    assert _names(actual.headers["access-control-expose-headers"]) == _names(cors["ExposeHeaders"])
    assert int(preflight.headers["access-control-max-age"]) == cors["MaxAge"]
    assert cors["AllowOrigins"] == [APP_ORIGIN]


def test_api_url_is_an_output(template: Template) -> None:
    api_id, _ = helpers.only(template.find_resources("AWS::ApiGatewayV2::Api"))
    template.has_output(
        "ApiUrl",
        {
            "Value": {
                "Fn::Join": [
                    "",
                    Match.array_with(["https://", {"Ref": api_id}, ".execute-api."]),
                ]
            }
        },
    )
