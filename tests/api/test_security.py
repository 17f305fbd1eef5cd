"""Security headers on every answer, and CORS only for configured origins."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.main import create_app
from tests.support.api_rig import Rig


def test_api_answers_carry_security_headers(rig: Rig) -> None:
    for response in (
        rig.client.get("/health"),
        rig.client.get("/api/me"),  # an error too
        rig.client.post("/api/login", json={"username": "x", "password": "y"}),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["cache-control"] == "no-store"
        assert "max-age" in response.headers["strict-transport-security"]


def test_docs_get_the_page_policy_not_the_api_one(rig: Rig) -> None:
    docs = rig.client.get("/docs")
    assert docs.status_code == 200
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert docs.headers["x-content-type-options"] == "nosniff"


def make_client(tmp_path: Path, origins: list[str]) -> TestClient:
    settings = Settings(data_dir=tmp_path, cache_dir=tmp_path / "cache", cors_origins=origins)
    return TestClient(create_app(settings))


def preflight(client: TestClient, origin: str) -> dict[str, str]:
    response = client.options(
        "/api/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    return dict(response.headers)


def test_no_cors_unless_configured(tmp_path: Path) -> None:
    client = make_client(tmp_path, [])
    assert "access-control-allow-origin" not in preflight(client, "https://evil.example")
    response = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("https://app.example", True), ("https://evil.example", False), ("null", False)],
)
def test_cors_only_for_configured_origins(tmp_path: Path, origin: str, allowed: bool) -> None:
    client = make_client(tmp_path, ["https://app.example"])
    headers = preflight(client, origin)
    assert (headers.get("access-control-allow-origin") == origin) is allowed
    response = client.get("/health", headers={"Origin": origin})
    assert (response.headers.get("access-control-allow-origin") == origin) is allowed
