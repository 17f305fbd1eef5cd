"""One learner, two app instances, one bucket: each sees what the other wrote."""

from __future__ import annotations

import httpx
import pytest

from tests.support.app_server import AppServer, signed_up

pytestmark = pytest.mark.integration


def test_card_added_on_one_is_read_edited_and_deleted_on_the_other(
    two_instances: tuple[AppServer, AppServer],
) -> None:
    a, b = two_instances
    headers = signed_up(a, "alice")
    with httpx.Client(headers=headers, timeout=30) as client:
        deck = client.post(f"{a.url}/api/decks", json={"name": "Shared"}).json()
        # b reads first, so its cache holds the version before the card exists.
        assert client.get(f"{b.url}/api/decks/{deck['id']}/cards").json()["cards"] == []

        added = client.post(
            f"{a.url}/api/cards", json={"front": "¿qué?", "back": "what?", "deckId": deck["id"]}
        )
        assert added.status_code == 201
        card_id = added.json()["cardId"]

        seen = client.get(f"{b.url}/api/cards/{card_id}")
        assert seen.status_code == 200
        assert (seen.json()["front"], seen.json()["deckId"]) == ("¿qué?", deck["id"])

        edited = client.put(f"{b.url}/api/cards/{card_id}", json={"front": "¿qué?", "back": "what"})
        assert edited.status_code == 200
        assert client.get(f"{a.url}/api/cards/{card_id}").json()["back"] == "what"

        assert client.delete(f"{b.url}/api/cards/{card_id}").status_code == 204
        assert client.get(f"{a.url}/api/cards/{card_id}").status_code == 404
        stats = client.get(f"{a.url}/api/decks/{deck['id']}/stats").json()
        assert stats["total"] == 0
