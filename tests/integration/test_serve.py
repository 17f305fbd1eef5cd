"""`make run`'s server: uvicorn on the local backend answers /health and shows /docs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.middleware import PAGE_POLICY
from tests.support.app_server import AppServer
from tests.support.web_app import INDEX, build_web_app

pytestmark = pytest.mark.integration


@pytest.fixture
def local_app(tmp_path: Path) -> Iterator[AppServer]:
    server = AppServer(
        {"JAVUMBO_BACKEND": "local", "JAVUMBO_CACHE_DIR": str(tmp_path / "cache")},
        cwd=tmp_path,
    ).start()
    yield server
    server.stop()


def test_health_and_docs_are_served(local_app: AppServer, tmp_path: Path) -> None:
    assert httpx.get(f"{local_app.url}/health").json() == {"status": "ok"}
    docs = httpx.get(f"{local_app.url}/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text.lower()
    spec = httpx.get(f"{local_app.url}/openapi.json").json()
    assert spec["info"]["title"] == "Javumbo"
    assert "/health" in spec["paths"]


def test_web_app_and_offline_docs_over_http(tmp_path: Path) -> None:
    """`JAVUMBO_WEB_DIR=dist make run`: the app at `/`, the API and docs beside it."""
    dist = build_web_app(tmp_path)
    server = AppServer(
        {
            "JAVUMBO_BACKEND": "local",
            "JAVUMBO_CACHE_DIR": str(tmp_path / "cache"),
            "JAVUMBO_WEB_DIR": str(dist),
        },
        cwd=tmp_path,
    ).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            for path in ("/", "/decks/7"):
                page = client.get(path)
                assert page.text.startswith(INDEX)
                assert page.headers["content-security-policy"] == PAGE_POLICY
            script = client.get("/assets/app-4f2a9c.js")
            assert script.headers["content-type"].startswith("text/javascript")
            assert "immutable" in script.headers["cache-control"]
            assert client.get("/api/unknown").json()["code"] == "not_found"
            assert client.get("/health").json() == {"status": "ok"}

            docs = client.get("/docs").text
            for source in re.findall(r'(?:src|href)="([^"]+)"', docs):
                assert source.startswith("/")  # nothing from a CDN
                assert client.get(source).status_code == 200
    finally:
        server.stop()


def test_a_missing_web_dir_stops_start_up_naming_it(tmp_path: Path) -> None:
    server = AppServer(
        {"JAVUMBO_BACKEND": "local", "JAVUMBO_WEB_DIR": str(tmp_path / "no-such-dist")},
        cwd=tmp_path,
    )
    with pytest.raises(RuntimeError, match="JAVUMBO_WEB_DIR"):
        server.start()
