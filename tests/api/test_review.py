"""The review routes and the card actions, status code by status code."""

from __future__ import annotations

import pytest

from tests.support.api_rig import Rig


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    return rig.signed_up("alice")


def add(rig: Rig, headers: dict[str, str], front: str, deck_id: int | None = None) -> int:
    body = {"front": front, "back": "a", **({"deckId": deck_id} if deck_id else {})}
    response = rig.client.post("/api/cards", json=body, headers=headers)
    assert response.status_code == 201
    return int(response.json()["cardId"])


def test_next_card_then_answer(rig: Rig, alice: dict[str, str]) -> None:
    first = add(rig, alice, "uno")
    add(rig, alice, "dos")
    shown = rig.client.get("/api/review", headers=alice).json()
    assert shown["card"]["cardId"] == first
    assert shown["card"]["front"] == "uno"
    assert shown["counts"] == {"new": 2, "learning": 0, "review": 0}
    assert shown["card"]["buttons"]["again"] == "1m"

    answered = rig.client.post(
        "/api/review", json={"cardId": first, "ease": 3, "timeTaken": 4200}, headers=alice
    )
    assert answered.status_code == 200
    state = answered.json()
    assert (state["cardId"], state["type"], state["queue"], state["reviews"]) == (first, 1, 1, 1)
    assert state["repeated"] is False

    after = rig.client.get("/api/review", headers=alice).json()
    assert after["counts"] == {"new": 1, "learning": 1, "review": 0}
    assert after["card"]["front"] == "dos"


def test_the_card_is_also_at_the_top_level(rig: Rig, alice: dict[str, str]) -> None:
    """The Javumbo web client reads cardId, noteId, front, back and queue at the top."""
    card = add(rig, alice, "uno")
    shown = rig.client.get("/api/review", headers=alice).json()
    nested = shown["card"]
    assert shown["cardId"] == nested["cardId"] == card
    assert shown["noteId"] == nested["noteId"]
    assert (shown["front"], shown["back"], shown["queue"]) == ("uno", "a", 0)


def test_empty_deck_gives_null_card_and_a_reason(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.get("/api/review", headers=alice)
    assert response.status_code == 200
    body = response.json()
    assert body["card"] is None
    assert "empty" in body["message"]
    # A falsy top-level cardId is how the web client knows there is nothing to study.
    assert all(body[key] is None for key in ("cardId", "noteId", "front", "back", "queue"))


def test_deck_parameter_selects_the_deck(rig: Rig, alice: dict[str, str]) -> None:
    deck = rig.client.post("/api/decks", json={"name": "Other"}, headers=alice).json()
    add(rig, alice, "in default")
    other = add(rig, alice, "in other", deck["id"])
    shown = rig.client.get(f"/api/review?deckId={deck['id']}", headers=alice).json()
    assert shown["card"]["cardId"] == other
    assert rig.client.get("/api/review?deckId=424242", headers=alice).status_code == 404


def test_retried_answer_with_idempotency_key_is_applied_once(
    rig: Rig, alice: dict[str, str]
) -> None:
    card = add(rig, alice, "q")
    headers = {**alice, "Idempotency-Key": "a1b2c3"}
    body = {"cardId": card, "ease": 3, "timeTaken": 1000}
    first = rig.client.post("/api/review", json=body, headers=headers).json()
    second = rig.client.post("/api/review", json=body, headers=headers).json()
    assert second["repeated"] is True
    assert second["revlogId"] == first["revlogId"]
    assert rig.client.get(f"/api/cards/{card}", headers=alice).json()["reviews"] == 1


def test_expected_reviews_refuses_a_duplicate_answer(rig: Rig, alice: dict[str, str]) -> None:
    card = add(rig, alice, "q")
    body = {"cardId": card, "ease": 3, "timeTaken": 1000, "expectedReviews": 0}
    assert rig.client.post("/api/review", json=body, headers=alice).status_code == 200
    again = rig.client.post("/api/review", json=body, headers=alice)
    assert again.status_code == 409
    assert again.json()["code"] == "card_changed"


@pytest.mark.parametrize(
    "body",
    [
        {"cardId": 1, "ease": 0, "timeTaken": 1},
        {"cardId": 1, "ease": 5, "timeTaken": 1},
        {"cardId": 1, "ease": "good", "timeTaken": 1},
        {"cardId": 1, "ease": 3, "timeTaken": -1},
        {"ease": 3},
    ],
)
def test_invalid_answer_is_422(rig: Rig, alice: dict[str, str], body: dict[str, object]) -> None:
    card = add(rig, alice, "q")
    body = {**body, "cardId": card} if "cardId" in body else body
    assert rig.client.post("/api/review", json=body, headers=alice).status_code == 422
    assert rig.client.get(f"/api/cards/{card}", headers=alice).json()["reviews"] == 0


def test_unknown_card_is_404(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.post(
        "/api/review", json={"cardId": 777, "ease": 3, "timeTaken": 1}, headers=alice
    )
    assert response.status_code == 404


def test_another_learners_card_cannot_be_answered(rig: Rig) -> None:
    alice = rig.signed_up("alice")
    bob = rig.signed_up("bob")
    card = add(rig, alice, "alice's")
    response = rig.client.post(
        "/api/review", json={"cardId": card, "ease": 3, "timeTaken": 1}, headers=bob
    )
    assert response.status_code == 404
    for action in ("suspend", "bury", "forget", "unsuspend", "unbury"):
        assert rig.client.post(f"/api/cards/{card}/{action}", headers=bob).status_code == 404
    assert rig.client.get(f"/api/cards/{card}", headers=alice).json()["queue"] == 0


def test_suspend_bury_forget_move_over_http(rig: Rig, alice: dict[str, str]) -> None:
    card = add(rig, alice, "q")
    post = rig.client.post
    assert post(f"/api/cards/{card}/suspend", headers=alice).json()["queue"] == -1
    assert rig.client.get("/api/review", headers=alice).json()["card"] is None
    refused = post("/api/review", json={"cardId": card, "ease": 3, "timeTaken": 1}, headers=alice)
    assert refused.status_code == 409
    assert post(f"/api/cards/{card}/unsuspend", headers=alice).json()["queue"] == 0
    assert post(f"/api/cards/{card}/bury", headers=alice).json()["queue"] == -3
    assert post(f"/api/cards/{card}/unbury", headers=alice).json()["queue"] == 0

    post("/api/review", json={"cardId": card, "ease": 4, "timeTaken": 1}, headers=alice)
    reset = post(f"/api/cards/{card}/forget", json={"resetCounts": True}, headers=alice).json()
    assert (reset["type"], reset["queue"], reset["reviews"]) == (0, 0, 0)

    deck = post("/api/decks", json={"name": "Moved"}, headers=alice).json()
    moved = post(f"/api/cards/{card}/move", json={"deckId": deck["id"]}, headers=alice)
    assert moved.json()["deckId"] == deck["id"]
    missing = post(f"/api/cards/{card}/move", json={"deckId": 31337}, headers=alice)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/review"), ("POST", "/api/review"), ("POST", "/api/cards/1/suspend")],
)
def test_review_routes_need_a_token(rig: Rig, method: str, path: str) -> None:
    body = {"cardId": 1, "ease": 3, "timeTaken": 1} if method == "POST" else None
    assert rig.client.request(method, path, json=body).status_code == 401


def test_card_actions_are_documented(rig: Rig) -> None:
    paths = rig.client.get("/openapi.json").json()["paths"]
    for action in ("suspend", "unsuspend", "bury", "unbury", "forget", "move"):
        assert f"/api/cards/{{card_id}}/{action}" in paths
