"""Accounts over HTTP: every refusal in its own test, on both user repositories."""

from __future__ import annotations

import logging

import pytest

from api.user_collection import collection_key
from storage.objects import ObjectNotFound, StoredObject
from tests.support.api_rig import PASSWORD, USER_STORES, Rig

# Accounts and tokens are what the user stores hold: every test here runs on each.
pytestmark = pytest.mark.parametrize("rig", USER_STORES, indirect=True)


def test_register_creates_user_and_collection(rig: Rig) -> None:
    response = rig.client.post(
        "/api/register", json={"username": "Alice", "name": "Alice Liddell", "password": PASSWORD}
    )
    assert response.status_code == 201
    assert response.json() == {"username": "alice", "name": "Alice Liddell"}
    stored = rig.store.get(collection_key("alice"))
    assert isinstance(stored, StoredObject)
    assert stored.body.startswith(b"SQLite format 3\x00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab", "name": "A", "password": PASSWORD}, "username"),
        ({"username": "a" * 33, "name": "A", "password": PASSWORD}, "username"),
        ({"username": "al ice", "name": "A", "password": PASSWORD}, "username"),
        ({"username": "al/ice", "name": "A", "password": PASSWORD}, "username"),
        ({"username": "alice", "name": "", "password": PASSWORD}, "name"),
        ({"username": "alice", "name": "n" * 51, "password": PASSWORD}, "name"),
        ({"username": "alice", "name": "A", "password": "short-pw1"}, "password"),
        ({"username": "alice", "name": "A", "password": "p" * 129}, "password"),
        ({"username": "alice", "password": PASSWORD}, "name"),
    ],
)
def test_invalid_registration_is_422_naming_the_field(
    rig: Rig, body: dict[str, str], field: str
) -> None:
    response = rig.client.post("/api/register", json=body)
    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]
    # The sentence the web client shows names the field and what is wrong with it.
    assert response.json()["error"].startswith(f"{field}: ")
    assert "password" not in body or body["password"] not in response.text
    with pytest.raises(ObjectNotFound):
        rig.store.get(collection_key("alice"))


def test_unicode_names_are_welcome(rig: Rig) -> None:
    response = rig.client.post(
        "/api/register", json={"username": "zoe.k-9_", "name": "Zoë 日本 🦉", "password": PASSWORD}
    )
    assert response.status_code == 201
    assert response.json()["name"] == "Zoë 日本 🦉"


@pytest.mark.parametrize("second", ["alice", "ALICE", "Alice"])
def test_duplicate_username_is_409_whatever_the_case(rig: Rig, second: str) -> None:
    rig.register("alice")
    before = rig.store.get(collection_key("alice"))
    response = rig.client.post(
        "/api/register", json={"username": second, "name": "Other", "password": "another password"}
    )
    assert response.status_code == 409
    assert rig.store.get(collection_key("alice")) == before


def test_login_returns_a_bearer_token(rig: Rig) -> None:
    rig.register("alice", "Alice")
    response = rig.client.post("/api/login", json={"username": "ALICE", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert (body["username"], body["name"]) == ("alice", "Alice")
    me = rig.client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"username": "alice", "name": "Alice"}


def test_token_endpoint_takes_the_oauth2_form(rig: Rig) -> None:
    rig.register("alice")
    response = rig.client.post("/api/token", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert (
        rig.client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )


def test_wrong_password_and_unknown_user_get_the_same_401(rig: Rig) -> None:
    rig.register("alice")
    wrong = rig.client.post("/api/login", json={"username": "alice", "password": "wrong password"})
    unknown = rig.client.post("/api/login", json={"username": "bob", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_password_longer_than_72_bytes_counts_every_byte(rig: Rig) -> None:
    password = "p" * 80 + "A" * 20
    rig.register("alice", password=password)
    almost = "p" * 80 + "B" * 20
    response = rig.client.post("/api/login", json={"username": "alice", "password": almost})
    assert response.status_code == 401
    assert rig.login("alice", password)


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Bearer not-a-jwt", "Basic YWxpY2U6cGFzc3dvcmQ=", "bearer x.y.z"],
)
def test_missing_or_malformed_token_is_401_with_challenge(rig: Rig, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = rig.client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_logout_revokes_only_that_token(rig: Rig) -> None:
    rig.register("alice")
    first = rig.login("alice")
    second = rig.login("alice")
    assert rig.client.post("/api/logout", headers=first).status_code == 204
    assert rig.client.get("/api/me", headers=first).status_code == 401
    assert rig.client.post("/api/logout", headers=first).status_code == 401
    assert rig.client.get("/api/me", headers=second).status_code == 200


def test_password_change_refuses_earlier_tokens(rig: Rig) -> None:
    headers = rig.signed_up("alice")
    response = rig.client.put(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new password"},
        headers=headers,
    )
    assert response.status_code == 200
    fresh = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert rig.client.get("/api/me", headers=headers).status_code == 401
    assert rig.client.get("/api/me", headers=fresh).status_code == 200
    old = rig.client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    assert rig.login("alice", "a brand new password")


def test_password_change_needs_the_current_password(rig: Rig) -> None:
    headers = rig.signed_up("alice")
    response = rig.client.put(
        "/api/me/password",
        json={"currentPassword": "not my password", "newPassword": "a brand new password"},
        headers=headers,
    )
    assert response.status_code == 401
    assert rig.client.get("/api/me", headers=headers).status_code == 200
    assert rig.login("alice")


def test_password_change_validates_the_new_password(rig: Rig) -> None:
    headers = rig.signed_up("alice")
    response = rig.client.put(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=headers,
    )
    assert response.status_code == 422
    assert rig.client.get("/api/me", headers=headers).status_code == 200


def test_account_deletion_removes_user_and_collection(rig: Rig) -> None:
    headers = rig.signed_up("alice")
    key = collection_key("alice")
    assert isinstance(rig.store.get(key), StoredObject)

    refused = rig.client.request(
        "DELETE", "/api/me", json={"password": "wrong one!"}, headers=headers
    )
    assert refused.status_code == 401
    assert isinstance(rig.store.get(key), StoredObject)

    response = rig.client.request("DELETE", "/api/me", json={"password": PASSWORD}, headers=headers)
    assert response.status_code == 204
    with pytest.raises(ObjectNotFound):
        rig.store.get(key)
    assert rig.services.accounts.users.get("alice") is None
    assert rig.client.get("/api/me", headers=headers).status_code == 401
    # The name is free again, with a new, empty collection.
    rig.register("alice")
    assert isinstance(rig.store.get(key), StoredObject)


def test_throttling_after_five_failures_then_backoff(rig: Rig) -> None:
    rig.register("alice")
    for _ in range(5):
        wrong = rig.client.post("/api/login", json={"username": "alice", "password": "bad pass"})
        assert wrong.status_code == 401
    # Locked: even the right password waits.
    locked = rig.client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    first_pause = int(locked.headers["Retry-After"])
    assert 0 < first_pause <= 30

    rig.clock.advance(first_pause + 1)
    wrong = rig.client.post("/api/login", json={"username": "alice", "password": "bad pass"})
    assert wrong.status_code == 401
    locked = rig.client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > first_pause  # exponential

    rig.clock.advance(int(locked.headers["Retry-After"]) + 1)
    assert rig.login("alice")  # success resets the counter
    for _ in range(4):
        rig.client.post("/api/login", json={"username": "alice", "password": "bad pass"})
    assert rig.login("alice")


def test_throttle_pause_is_capped_at_fifteen_minutes(rig: Rig) -> None:
    rig.register("alice")
    retry_after = 0
    for _ in range(12):
        response = rig.client.post("/api/login", json={"username": "alice", "password": "bad pass"})
        if response.status_code == 429:
            retry_after = int(response.headers["Retry-After"])
            rig.clock.advance(retry_after + 1)
    assert 0 < retry_after <= 900
    assert rig.services.accounts.throttle.pause_after(40) == 900


def test_unknown_usernames_are_throttled_too(rig: Rig) -> None:
    for _ in range(5):
        rig.client.post("/api/login", json={"username": "ghost", "password": "bad pass"})
    response = rig.client.post("/api/login", json={"username": "ghost", "password": "bad pass"})
    assert response.status_code == 429


def test_password_never_stored_logged_or_echoed(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    secret_password = "Sup3r-Secret-Passphrase-XYZ"
    caplog.set_level(logging.DEBUG)
    responses = [
        rig.client.post(
            "/api/register",
            json={"username": "alice", "name": "Alice", "password": secret_password},
        ),
        rig.client.post("/api/login", json={"username": "alice", "password": secret_password}),
        rig.client.post(
            "/api/login", json={"username": "alice", "password": secret_password + "!"}
        ),
        rig.client.post(
            "/api/register", json={"username": "b", "name": "B", "password": secret_password}
        ),
    ]
    for response in responses:
        assert secret_password not in response.text
    assert secret_password not in caplog.text
    user = rig.services.accounts.users.get("alice")
    assert user is not None
    assert secret_password not in repr(user)
    for path in rig.data_dir.rglob("*"):
        if path.is_file():
            assert secret_password.encode() not in path.read_bytes(), path
