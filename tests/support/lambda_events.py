"""Realistic API Gateway events, as HTTP APIs (payload 2.0) and REST APIs (1.0) send them."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

HOST = "abc123.execute-api.eu-west-1.amazonaws.com"


def _body(body: Any, content_type: str | None) -> tuple[str | None, bool, dict[str, str]]:
    if body is None:
        return None, False, {}
    if isinstance(body, bytes):
        return (
            base64.b64encode(body).decode(),
            True,
            {"content-type": content_type or "application/octet-stream"},
        )
    return json.dumps(body), False, {"content-type": "application/json"}


def http_api_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    raw_body, encoded, extra = _body(body, content_type)
    all_headers = {
        "accept": "*/*",
        "host": HOST,
        "user-agent": "curl/8.5.0",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **extra,
        **{k.lower(): v for k, v in (headers or {}).items()},
    }
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": all_headers,
        **({"queryStringParameters": query} if query else {}),
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": HOST,
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        **({"body": raw_body} if raw_body is not None else {}),
        "isBase64Encoded": encoded,
    }


def rest_api_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    raw_body, encoded, extra = _body(body, content_type)
    all_headers = {
        "Accept": "*/*",
        "Host": HOST,
        "User-Agent": "curl/8.5.0",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
        **{k.title(): v for k, v in extra.items()},
        **(headers or {}),
    }
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": uuid.uuid4().hex,
            "requestTimeEpoch": int(time.time() * 1000),
            "resourceId": "abcdef",
            "resourcePath": "/{proxy+}",
            "stage": "prod",
        },
        "body": raw_body,
        "isBase64Encoded": encoded,
    }
