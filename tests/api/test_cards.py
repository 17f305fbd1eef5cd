"""The card routes, status code by status code."""

from __future__ import annotations

import pytest

from tests.support.api_rig import Rig


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    return rig.signed_up("alice")


def add(rig: Rig, headers: dict[str, str], **body: object) -> dict[str, int]:
    response = rig.client.post("/api/cards", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_add_get_update_delete(rig: Rig, alice: dict[str, str]) -> None:
    created = add(rig, alice, front="<b>naïve</b> &amp; 日本語 🦉", back="<i>x</i>\n<br>y")
    card = rig.client.get(f"/api/cards/{created['cardId']}", headers=alice).json()
    assert card["front"] == "<b>naïve</b> &amp; 日本語 🦉"  # byte for byte
    assert card["back"] == "<i>x</i>\n<br>y"
    assert (card["cardId"], card["noteId"], card["deckId"]) == (
        created["cardId"],
        created["noteId"],
        1,
    )
    assert card["queue"] == 0

    updated = rig.client.put(
        f"/api/cards/{created['cardId']}",
        json={"front": "new front", "back": "new back"},
        headers=alice,
    )
    assert updated.status_code == 200
    assert (updated.json()["front"], updated.json()["back"]) == ("new front", "new back")

    assert rig.client.delete(f"/api/cards/{created['cardId']}", headers=alice).status_code == 204
    assert rig.client.get(f"/api/cards/{created['cardId']}", headers=alice).status_code == 404


def test_cards_go_to_the_current_deck_unless_told(rig: Rig, alice: dict[str, str]) -> None:
    deck = rig.client.post("/api/decks", json={"name": "Focus"}, headers=alice).json()
    other = rig.client.post("/api/decks", json={"name": "Other"}, headers=alice).json()
    rig.client.put("/api/decks/current", json={"deckId": deck["id"]}, headers=alice)
    implicit = add(rig, alice, front="q", back="a")
    explicit = add(rig, alice, front="q2", back="a", deckId=other["id"])
    get = rig.client.get
    assert get(f"/api/cards/{implicit['cardId']}", headers=alice).json()["deckId"] == deck["id"]
    assert get(f"/api/cards/{explicit['cardId']}", headers=alice).json()["deckId"] == other["id"]


def test_unknown_deck_is_404_and_adds_nothing(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.post(
        "/api/cards", json={"front": "q", "back": "a", "deckId": 987654}, headers=alice
    )
    assert response.status_code == 404
    assert rig.client.get("/api/decks/1/cards", headers=alice).json()["pagination"]["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"front": "", "back": "a"},
        {"front": "   ", "back": "a"},
        {"front": "a\x1fb", "back": "a"},
        {"front": "q", "back": "a\x1fb"},
        {"front": "x" * 100_001, "back": "a"},
        {"front": "q", "back": "x" * 100_001},
        {"back": "a"},
        {"front": 5, "back": "a"},
    ],
    ids=["empty", "blank", "sep-front", "sep-back", "long-front", "long-back", "no-front", "type"],
)
def test_invalid_fields_are_422_and_change_nothing(
    rig: Rig, alice: dict[str, str], body: dict[str, object]
) -> None:
    existing = add(rig, alice, front="keep", back="me")
    assert rig.client.post("/api/cards", json=body, headers=alice).status_code == 422
    update = rig.client.put(f"/api/cards/{existing['cardId']}", json=body, headers=alice)
    assert update.status_code == 422
    card = rig.client.get(f"/api/cards/{existing['cardId']}", headers=alice).json()
    assert (card["front"], card["back"]) == ("keep", "me")
    assert rig.client.get("/api/decks/1/cards", headers=alice).json()["pagination"]["total"] == 1


def test_a_field_of_exactly_the_limit_is_fine(rig: Rig, alice: dict[str, str]) -> None:
    add(rig, alice, front="x" * 100_000, back="y" * 100_000)


def test_bodies_over_ten_mib_are_413(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.post(
        "/api/cards",
        content=b'{"front": "' + b"x" * (10 * 1024 * 1024) + b'", "back": ""}',
        headers={**alice, "content-type": "application/json"},
    )
    assert response.status_code == 413


def test_unknown_card_is_404(rig: Rig, alice: dict[str, str]) -> None:
    for method, body in (("GET", None), ("PUT", {"front": "a", "back": "b"}), ("DELETE", None)):
        assert (
            rig.client.request(method, "/api/cards/42", json=body, headers=alice).status_code == 404
        )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/cards", {"front": "q", "back": "a"}),
        ("GET", "/api/cards/1", None),
        ("PUT", "/api/cards/1", {"front": "q", "back": "a"}),
        ("DELETE", "/api/cards/1", None),
    ],
)
def test_card_routes_need_a_token(
    rig: Rig, method: str, path: str, body: dict[str, object] | None
) -> None:
    assert rig.client.request(method, path, json=body).status_code == 401


def test_another_learners_cards_are_404_and_untouched(rig: Rig) -> None:
    alice = rig.signed_up("alice")
    bob = rig.signed_up("bob")
    card = add(rig, alice, front="alice's secret", back="answer")
    path = f"/api/cards/{card['cardId']}"
    assert rig.client.get(path, headers=bob).status_code == 404
    edit = rig.client.put(path, json={"front": "pwned", "back": "x"}, headers=bob)
    assert edit.status_code == 404
    assert rig.client.delete(path, headers=bob).status_code == 404
    assert "alice's secret" not in rig.client.get(path, headers=bob).text
    assert rig.client.get(path, headers=alice).json()["front"] == "alice's secret"


def test_field_errors_name_the_field(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.post("/api/cards", json={"front": "  ", "back": "a"}, headers=alice)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "front"]
    assert "empty" in error["msg"]


def test_unsupported_method_lists_every_allowed_one(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.request("PATCH", "/api/cards/1", headers=alice)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "PUT", "DELETE"}
