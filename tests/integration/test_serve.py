"""`make run`'s server: uvicorn on the local backend answers /health and shows /docs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.app_server import AppServer

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
