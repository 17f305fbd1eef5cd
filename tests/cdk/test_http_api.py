"""The HTTP API: one proxy route, an access-logged and throttled stage, CORS on request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.cdk import helpers


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
