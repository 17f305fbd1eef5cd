"""The deck routes, status code by status code."""

from __future__ import annotations

import pytest

from tests.support.api_rig import Rig


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    return rig.signed_up("alice")


def create(rig: Rig, headers: dict[str, str], name: str) -> dict[str, object]:
    response = rig.client.post("/api/decks", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def names(rig: Rig, headers: dict[str, str]) -> set[str]:
    return {d["name"] for d in rig.client.get("/api/decks", headers=headers).json()["decks"]}


def test_a_new_collection_has_the_default_deck(rig: Rig, alice: dict[str, str]) -> None:
    decks = rig.client.get("/api/decks", headers=alice).json()["decks"]
    assert [(d["id"], d["name"]) for d in decks] == [(1, "Default")]
    assert rig.client.get("/api/decks/current", headers=alice).json()["id"] == 1


def test_create_makes_parents_and_lists_them(rig: Rig, alice: dict[str, str]) -> None:
    deck = create(rig, alice, "Languages::Spanish::Verbs")
    assert deck["name"] == "Languages::Spanish::Verbs"
    assert isinstance(deck["id"], int)
    assert names(rig, alice) == {
        "Default",
        "Languages",
        "Languages::Spanish",
        "Languages::Spanish::Verbs",
    }


@pytest.mark.parametrize("name", ["default", "DEFAULT", " Default "])
def test_duplicate_deck_is_409(rig: Rig, alice: dict[str, str], name: str) -> None:
    response = rig.client.post("/api/decks", json={"name": name}, headers=alice)
    assert response.status_code == 409
    assert names(rig, alice) == {"Default"}


@pytest.mark.parametrize("name", ["", "   ", "::", "a::::b", "x" * 501])
def test_invalid_deck_name_is_422(rig: Rig, alice: dict[str, str], name: str) -> None:
    response = rig.client.post("/api/decks", json={"name": name}, headers=alice)
    assert response.status_code == 422
    assert names(rig, alice) == {"Default"}


def test_rename_moves_children_and_refuses_existing_names(rig: Rig, alice: dict[str, str]) -> None:
    parent = create(rig, alice, "Spanish")
    create(rig, alice, "Spanish::Verbs")
    create(rig, alice, "French")
    refused = rig.client.put(
        f"/api/decks/{parent['id']}/rename", json={"name": "french"}, headers=alice
    )
    assert refused.status_code == 409
    renamed = rig.client.put(
        f"/api/decks/{parent['id']}/rename", json={"name": "Español"}, headers=alice
    )
    assert renamed.status_code == 200
    assert renamed.json() == {"id": parent["id"], "name": "Español", "cardCount": 0}
    assert names(rig, alice) == {"Default", "Español", "Español::Verbs", "French"}


def test_delete_removes_deck_subdecks_and_cards(rig: Rig, alice: dict[str, str]) -> None:
    deck = create(rig, alice, "Temp")
    child = create(rig, alice, "Temp::Child")
    card = rig.client.post(
        "/api/cards", json={"front": "q", "back": "a", "deckId": child["id"]}, headers=alice
    ).json()
    assert rig.client.delete(f"/api/decks/{deck['id']}", headers=alice).status_code == 204
    assert names(rig, alice) == {"Default"}
    assert rig.client.get(f"/api/cards/{card['cardId']}", headers=alice).status_code == 404
    assert rig.client.delete(f"/api/decks/{deck['id']}", headers=alice).status_code == 404


def test_default_deck_cannot_be_deleted(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.delete("/api/decks/1", headers=alice)
    assert response.status_code == 400
    assert "default deck" in response.json()["detail"].lower()


def test_current_deck_can_be_set(rig: Rig, alice: dict[str, str]) -> None:
    deck = create(rig, alice, "Focus")
    assert (
        rig.client.put("/api/decks/current", json={"deckId": deck["id"]}, headers=alice).status_code
        == 200
    )
    assert rig.client.get("/api/decks/current", headers=alice).json()["id"] == deck["id"]
    missing = rig.client.put("/api/decks/current", json={"deckId": 424242}, headers=alice)
    assert missing.status_code == 404
    assert rig.client.get("/api/decks/current", headers=alice).json()["id"] == deck["id"]


def test_stats_count_cards_by_state(rig: Rig, alice: dict[str, str]) -> None:
    deck = create(rig, alice, "Counted")
    for i in range(3):
        rig.client.post(
            "/api/cards", json={"front": f"q{i}", "back": "a", "deckId": deck["id"]}, headers=alice
        )
    response = rig.client.get(f"/api/decks/{deck['id']}/stats", headers=alice)
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert body["counts"] == {
        "New": 3,
        "Learning": 0,
        "Relearning": 0,
        "Young": 0,
        "Mature": 0,
        "Suspended": 0,
        "Buried": 0,
    }
    assert rig.client.get("/api/decks/999/stats", headers=alice).status_code == 404


def test_deck_cards_are_paginated_in_creation_order(rig: Rig, alice: dict[str, str]) -> None:
    deck = create(rig, alice, "Paged")
    for i in range(7):
        rig.client.post(
            "/api/cards", json={"front": f"q{i}", "back": "a", "deckId": deck["id"]}, headers=alice
        )
    first = rig.client.get(f"/api/decks/{deck['id']}/cards?page=1&perPage=3", headers=alice)
    assert first.status_code == 200
    body = first.json()
    assert [c["front"] for c in body["cards"]] == ["q0", "q1", "q2"]
    assert body["pagination"] == {"total": 7, "page": 1, "perPage": 3, "totalPages": 3}
    last = rig.client.get(f"/api/decks/{deck['id']}/cards?page=3&perPage=3", headers=alice).json()
    assert [c["front"] for c in last["cards"]] == ["q6"]
    beyond = rig.client.get(f"/api/decks/{deck['id']}/cards?page=9&perPage=3", headers=alice)
    assert beyond.json()["cards"] == []


@pytest.mark.parametrize("query", ["page=0", "perPage=0", "perPage=501", "page=x"])
def test_bad_pagination_is_422(rig: Rig, alice: dict[str, str], query: str) -> None:
    assert rig.client.get(f"/api/decks/1/cards?{query}", headers=alice).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/decks", None),
        ("POST", "/api/decks", {"name": "x"}),
        ("GET", "/api/decks/current", None),
        ("PUT", "/api/decks/current", {"deckId": 1}),
        ("PUT", "/api/decks/1/rename", {"name": "x"}),
        ("DELETE", "/api/decks/2", None),
        ("GET", "/api/decks/1/stats", None),
        ("GET", "/api/decks/1/cards", None),
    ],
)
def test_deck_routes_need_a_token(
    rig: Rig, method: str, path: str, body: dict[str, object] | None
) -> None:
    response = rig.client.request(method, path, json=body)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_another_learners_decks_are_404(rig: Rig) -> None:
    alice = rig.signed_up("alice")
    bob = rig.signed_up("bob")
    secret = create(rig, alice, "Alice only")
    deck_id = secret["id"]
    for method, path, body in [
        ("PUT", f"/api/decks/{deck_id}/rename", {"name": "mine"}),
        ("DELETE", f"/api/decks/{deck_id}", None),
        ("GET", f"/api/decks/{deck_id}/stats", None),
        ("GET", f"/api/decks/{deck_id}/cards", None),
        ("PUT", "/api/decks/current", {"deckId": deck_id}),
    ]:
        response = rig.client.request(method, path, json=body, headers=bob)
        assert response.status_code == 404, (method, path)
        assert "Alice only" not in response.text
    assert "Alice only" in names(rig, alice)
    assert "Alice only" not in names(rig, bob)
