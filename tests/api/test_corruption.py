"""A collection that is not sound is reported, named, and never written over."""

from __future__ import annotations

import pytest

from api.user_collection import collection_key
from storage.objects import StoredObject
from tests.support.api_rig import Rig


def damaged(body: bytes) -> bytes:
    broken = bytearray(body)
    broken[4096 : 4096 + 64] = b"\xff" * 64  # scribble over a b-tree page header
    return bytes(broken)


@pytest.mark.parametrize("kind", ["not-sqlite", "fails-quick-check"])
def test_corrupt_collection_is_500_naming_the_problem(rig: Rig, kind: str) -> None:
    headers = rig.signed_up("alice")
    key = collection_key("alice")
    original = rig.store.get(key)
    assert isinstance(original, StoredObject)
    bad = (
        b"PK\x03\x04 this is a zip, not a database" * 50
        if kind == "not-sqlite"
        else (damaged(original.body))
    )
    rig.store.put(key, bad)
    rig.services.session.cache.clear()

    for method, path, body in [
        ("GET", "/api/decks", None),
        ("POST", "/api/cards", {"front": "q", "back": "a"}),
        ("POST", "/api/decks", {"name": "New"}),
        ("GET", "/api/review", None),
    ]:
        response = rig.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 500, (path, response.text)
        detail = response.json()["detail"]
        assert ("not a SQLite database" if kind == "not-sqlite" else "quick_check") in detail
        assert "restore" in detail
        assert "Traceback" not in response.text
    stored = rig.store.get(key)
    assert isinstance(stored, StoredObject)
    assert stored.body == bad  # never overwritten
    # The account itself still works.
    assert rig.client.get("/api/me", headers=headers).status_code == 200
