"""The study-session routes and the signed-in health check the web client calls."""

from __future__ import annotations

import pytest

from tests.support.api_rig import USER_STORES, Rig


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    return rig.signed_up("alice")


def test_start_flush_status_are_honest_no_ops(rig: Rig, alice: dict[str, str]) -> None:
    started = rig.client.post("/api/session/start", headers=alice)
    assert started.status_code == 200
    session_id = started.json()["session_id"]
    assert isinstance(session_id, str) and len(session_id) >= 16
    assert rig.client.post("/api/session/start", headers=alice).json()["session_id"] != session_id

    with_id = {**alice, "X-Session-ID": session_id}
    flushed = rig.client.post(
        "/api/session/flush", json={"session_id": session_id}, headers=with_id
    )
    assert flushed.status_code == 200 and flushed.json() == {"success": True}
    assert rig.client.post("/api/session/flush", headers=alice).json() == {"success": True}

    status = rig.client.get("/api/session/status", headers=with_id)
    assert status.status_code == 200
    assert status.json() == {"has_session": False, "session_id": None}


def test_a_write_is_durable_without_a_flush(rig: Rig, alice: dict[str, str]) -> None:
    rig.client.post("/api/session/start", headers=alice)
    rig.client.post("/api/cards", json={"front": "q", "back": "a"}, headers=alice)
    # Another process sees it at once: the stored object already holds the card.
    from storage.session import S3SQLiteSession

    assert isinstance(rig.services.session, S3SQLiteSession)
    count = rig.services.session.read(
        "user_dbs/alice.anki2", lambda conn: conn.execute("select count() from cards").fetchone()[0]
    )
    assert count == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/session/start"),
        ("POST", "/api/session/flush"),
        ("GET", "/api/session/status"),
        ("GET", "/api/health"),
    ],
)
def test_session_routes_and_health_need_a_token(rig: Rig, method: str, path: str) -> None:
    response = rig.client.request(method, path)
    assert response.status_code == 401
    assert response.json()["error"]


@pytest.mark.parametrize("rig", USER_STORES, indirect=True)
def test_signed_in_health_names_the_learner(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.get("/api/health", headers=alice)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "username": "alice"}
    assert rig.client.get("/health").json() == {"status": "ok"}


def test_flush_refuses_a_malformed_body(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.post("/api/session/flush", json={"session_id": 5}, headers=alice)
    assert response.status_code == 422
