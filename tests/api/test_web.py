"""The built web app at `/` and the self-served docs, without a network."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.core.config import Settings
from api.main import create_app
from api.middleware import PAGE_POLICY
from tests.support.web_app import INDEX, build_web_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", web_dir=build_web_app(tmp_path)
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/decks", "/decks/1/cards", "/study?deck=2"])
def test_app_routes_answer_the_index(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.text.startswith(INDEX)
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == PAGE_POLICY


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/assets/app-4f2a9c.js", "text/javascript"),
        ("/assets/index-77aa.css", "text/css"),
        ("/assets/inter-1b2c.woff2", "font/woff2"),
    ],
)
def test_hashed_assets_are_cached_for_long(client: TestClient, path: str, kind: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(kind)
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_other_files_are_revalidated(client: TestClient) -> None:
    response = client.get("/favicon.svg")
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"] == "no-cache"
    assert client.head("/favicon.svg").status_code == 200


@pytest.mark.parametrize("path", ["/assets/missing-123.js", "/api/nope", "/api", "/health/x"])
def test_missing_assets_and_reserved_paths_stay_json_404s(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "<html" not in response.text


@pytest.mark.parametrize("path", ["/sync/meta", "/msync/begin", "/sync/nope"])
def test_the_sync_paths_are_never_the_web_app(client: TestClient, path: str) -> None:
    # Anki's sync protocol POSTs there; a GET is answered by the sync routes, in plain
    # text as Anki's client expects, never by the web app's index.html.
    response = client.get(path)
    assert response.status_code in (404, 405)
    assert "<html" not in response.text


@pytest.mark.parametrize("path", ["/.env", "/assets/../.env", "/%2e%2e/%2e%2e/etc/passwd"])
def test_nothing_outside_the_app_or_hidden_is_served(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert "SECRET" not in response.text
    assert "root:" not in response.text


def test_the_api_is_never_shadowed(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/openapi.json").json()["info"]["title"] == "Javumbo"
    assert client.get("/api/decks").status_code == 401
    assert (
        client.get("/api/decks").headers["content-security-policy"].startswith("default-src 'none'")
    )
    # Other methods on unknown paths are not the web app's: 404 as without it.
    assert client.post("/anything").status_code == 404
    assert client.post("/api/nope").status_code == 404


def test_without_a_web_dir_the_root_is_a_json_404(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    with TestClient(create_app(settings)) as client:
        response = client.get("/")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_a_web_dir_without_an_index_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="JAVUMBO_WEB_DIR"):
        Settings(web_dir=tmp_path)


def test_docs_load_only_files_the_app_serves(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources, page
        assert "<script>" not in html  # nothing inline: the page policy forbids it
        for source in sources:
            assert source.startswith("/"), (page, source)  # no CDN
            response = client.get(source)
            assert response.status_code == 200, source
            assert len(response.content) > 1000 or source.endswith(".js"), source
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.content
    init = client.get("/docs/swagger-init.js").text
    assert '"url": "/openapi.json"' in init
    # The script must at least be balanced to run (a browser shows a blank page if not).
    for opening, closing in ("{}", "()", "[]"):
        assert init.count(opening) == init.count(closing), (opening, init)
