"""The Javumbo web client's calls, replayed as it sends them, against a running app.

The client is a React single-page app using axios with ``baseURL = <origin>/api``; a
request interceptor adds ``Authorization`` and, once it holds one, ``X-Session-ID``.
When it is served from another origin than the API, every call is preceded by a CORS
preflight. Each step below sends what the client sends and asserts every field the
client reads.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.core.cors import CORS_EXPOSE_HEADERS
from tests.support.app_server import PASSWORD, AppServer

pytestmark = pytest.mark.integration

WEB_ORIGIN = "http://localhost:5173"  # the client's Vite dev server


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    root = tmp_path_factory.mktemp("web-client")
    server = AppServer(
        {
            "JAVUMBO_BACKEND": "local",
            "JAVUMBO_DATA_DIR": str(root / "data"),
            "JAVUMBO_CACHE_DIR": str(root / "cache"),
            "JAVUMBO_CORS_ORIGINS": json.dumps([WEB_ORIGIN]),
            "JAVUMBO_BCRYPT_ROUNDS": "4",
        },
        cwd=root,
    ).start()
    yield server
    server.stop()


def header_set(listed: str) -> set[str]:
    return {name.strip().lower() for name in listed.split(",") if name.strip()}


class WebClient:
    """What the client's axios instance does: base URL, interceptor headers, preflights."""

    def __init__(self, server: AppServer) -> None:
        self.http = httpx.Client(base_url=f"{server.url}/api", timeout=30)
        self.token: str | None = None
        self.session_id: str | None = None

    def headers(self, has_body: bool) -> dict[str, str]:
        headers = {"Origin": WEB_ORIGIN, "Accept": "application/json, text/plain, */*"}
        if has_body:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.session_id:
            headers["X-Session-ID"] = self.session_id
        return headers

    def preflight(self, method: str, path: str, headers: dict[str, str]) -> None:
        # A browser preflights any request with Authorization, JSON or a custom header.
        asked = sorted(name.lower() for name in headers if name not in ("Origin", "Accept"))
        response = self.http.options(
            path,
            headers={
                "Origin": WEB_ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": ",".join(asked),
            },
        )
        assert response.status_code == 200, (method, path, response.text)
        assert response.headers["access-control-allow-origin"] == WEB_ORIGIN
        assert method in response.headers["access-control-allow-methods"]
        allowed = {
            h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
        }
        assert set(asked) <= allowed, (path, set(asked) - allowed)

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = self.headers(has_body=body is not None)
        self.preflight(method, path, headers)
        response = self.http.request(
            method, path, headers=headers, content=None if body is None else json.dumps(body)
        )
        assert response.headers.get("access-control-allow-origin") == WEB_ORIGIN, path
        exposed = header_set(response.headers.get("access-control-expose-headers", ""))
        assert {h.lower() for h in CORS_EXPOSE_HEADERS} <= exposed
        return response


def error_sentence(response: httpx.Response) -> str:
    """What the client shows: ``err.response.data.error``, a non-empty sentence."""
    sentence = response.json()["error"]
    assert isinstance(sentence, str) and len(sentence) > 10
    return sentence


def test_a_student_session_as_the_web_client_sends_it(app_server: AppServer) -> None:
    client = WebClient(app_server)

    # Sign-up and sign-in pages.
    registered = client.call(
        "POST", "/register", {"username": "student1", "name": "Student One", "password": PASSWORD}
    )
    assert 200 <= registered.status_code < 300
    taken = client.call(
        "POST", "/register", {"username": "student1", "name": "Again", "password": PASSWORD}
    )
    assert taken.status_code == 409
    assert "taken" in error_sentence(taken)
    wrong = client.call("POST", "/login", {"username": "student1", "password": "not it at all"})
    assert wrong.status_code == 401
    error_sentence(wrong)
    login = client.call("POST", "/login", {"username": "student1", "password": PASSWORD})
    assert login.status_code == 200
    client.token = login.json()["access_token"]
    assert login.json()["name"] == "Student One"

    # Deploy scripts and the client's start-up probe.
    health = client.call("GET", "/health")
    assert health.json() == {"status": "ok", "username": "student1"}

    # A study session: the id is sent on every later request.
    started = client.call("POST", "/session/start")
    client.session_id = started.json()["session_id"]
    assert client.session_id
    status = client.call("GET", "/session/status").json()
    assert status["has_session"] is False and "session_id" in status

    # The deck list reads data.decks[].id and .name.
    decks = client.call("GET", "/decks").json()["decks"]
    assert [(d["id"], d["name"]) for d in decks] == [(1, "Default")]
    created = client.call("POST", "/decks", {"name": "Biology"})
    assert 200 <= created.status_code < 300
    biology = created.json()["id"]
    names = {d["name"]: d["id"] for d in client.call("GET", "/decks").json()["decks"]}
    assert names["Biology"] == biology
    assert client.call("PUT", "/decks/current", {"deckId": biology}).status_code == 200

    # Adding cards.
    for front, back in [("cell", "unit of life"), ("DNA", "deoxyribonucleic acid")]:
        added = client.call("POST", "/cards", {"front": front, "back": back, "deckId": biology})
        assert 200 <= added.status_code < 300
        assert added.json()["cardId"]
    empty = client.call("POST", "/cards", {"front": "", "back": "x", "deckId": biology})
    assert empty.status_code == 422
    assert error_sentence(empty).startswith("front")

    # The deck's page: stats and the paginated card list.
    stats = client.call("GET", f"/decks/{biology}/stats").json()
    assert stats["counts"]["New"] == 2 and stats["total"] == 2
    listed = client.call("GET", f"/decks/{biology}/cards?page=1&perPage=10").json()
    assert [c["front"] for c in listed["cards"]] == ["cell", "DNA"]
    assert listed["pagination"] == {"total": 2, "page": 1, "perPage": 10, "totalPages": 1}
    card_id = listed["cards"][0]["cardId"]
    edited = client.call("PUT", f"/cards/{card_id}", {"front": "cell", "back": "basic unit"})
    assert edited.status_code == 200
    missing = client.call("GET", "/cards/999999")
    assert missing.status_code == 404
    error_sentence(missing)

    # Studying: a truthy top-level cardId, then front, back and noteId.
    shown: list[str] = []
    for _ in range(2):
        review = client.call("GET", "/review").json()
        assert review["cardId"]
        assert review["front"] and review["back"] and review["noteId"]
        shown.append(review["front"])
        answered = client.call(
            "POST",
            "/review",
            {"cardId": review["cardId"], "noteId": review["noteId"], "ease": 4, "timeTaken": 3100},
        )
        assert 200 <= answered.status_code < 300
    assert shown == ["cell", "DNA"]
    done = client.call("GET", "/review").json()
    assert not done["cardId"]
    assert done["message"]

    # Export: a file the browser saves under the name in Content-Disposition.
    exported = client.call("GET", "/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    assert zipfile.is_zipfile(io.BytesIO(exported.content))

    # Deleting, flushing on the way out, and a stale token after logout.
    assert 200 <= client.call("DELETE", f"/cards/{card_id}").status_code < 300
    flushed = client.call("POST", "/session/flush", {"session_id": client.session_id})
    assert flushed.json() == {"success": True}
    assert client.call("POST", "/logout").status_code in (200, 204)
    after = client.call("GET", "/decks")
    assert after.status_code == 401
    assert "Sign in" in error_sentence(after)


def test_preflight_from_an_unknown_origin_is_refused(app_server: AppServer) -> None:
    response = httpx.options(
        f"{app_server.url}/api/decks",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,x-session-id",
        },
    )
    assert "access-control-allow-origin" not in response.headers


def test_without_a_token_health_is_401(app_server: AppServer) -> None:
    assert httpx.get(f"{app_server.url}/api/health").status_code == 401
    assert httpx.get(f"{app_server.url}/health").json() == {"status": "ok"}
