"""Accounts are shared state: what one instance decides, the other honours."""

from __future__ import annotations

import httpx
import pytest

from tests.support.app_server import PASSWORD, AppServer

pytestmark = pytest.mark.integration


def login(server: AppServer, username: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/login", json={"username": username, "password": password}, timeout=30
    )


def test_register_on_one_login_and_revoke_on_the_other(
    two_instances: tuple[AppServer, AppServer],
) -> None:
    a, b = two_instances
    registered = httpx.post(
        f"{a.url}/api/register",
        json={"username": "alice", "name": "Alice", "password": PASSWORD},
        timeout=30,
    )
    assert registered.status_code == 201
    token = login(b, "alice").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{a.url}/api/me", headers=headers).json()["username"] == "alice"

    assert httpx.post(f"{a.url}/api/logout", headers=headers).status_code == 204
    assert httpx.get(f"{b.url}/api/me", headers=headers).status_code == 401


def test_throttling_holds_across_instances(two_instances: tuple[AppServer, AppServer]) -> None:
    a, b = two_instances
    httpx.post(
        f"{a.url}/api/register",
        json={"username": "bob", "name": "Bob", "password": PASSWORD},
        timeout=30,
    )
    for i in range(5):
        assert login(a if i % 2 else b, "bob", "wrong password").status_code == 401
    for server in (a, b):
        refused = login(server, "bob")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
