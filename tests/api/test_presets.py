"""Deck options and presets over the API: Anki's defaults, partial updates, Anki's
bounds (422 naming each field, nothing changed), shared presets, assignment with
subdecks, deletion falling back to the default preset, and options that change what
the review queue and the scheduler do."""

from __future__ import annotations

from typing import Any

import pytest

from api.user_collection import collection_key
from tests.support.api_rig import Rig
from tests.support.stored import open_bytes, stored_collection

DEFAULTS = {
    "presetId": 1,
    "name": "Default",
    "newPerDay": 20,
    "reviewsPerDay": 200,
    "learningSteps": [1.0, 10.0],
    "relearningSteps": [10.0],
    "graduatingInterval": 1,
    "easyInterval": 4,
    "newCardOrder": "sequential",
    "leechThreshold": 8,
    "leechAction": "tag",
    "buryNew": False,
    "buryReviews": False,
    "buryInterdayLearning": False,
    "maximumInterval": 36500,
    "startingEase": 2.5,
    "easyBonus": 1.3,
    "intervalModifier": 1.0,
    "hardInterval": 1.2,
    "newInterval": 0.0,
    "desiredRetention": 0.9,
    "fsrsParams": [],
    "easyDays": [1.0] * 7,
    "deckIds": [1],
}


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    return rig.signed_up("alice")


def options(rig: Rig, headers: dict[str, str], deck_id: int = 1) -> dict[str, Any]:
    response = rig.client.get(f"/api/decks/{deck_id}/options", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def deck(rig: Rig, headers: dict[str, str], name: str) -> int:
    response = rig.client.post("/api/decks", json={"name": name}, headers=headers)
    assert response.status_code == 201
    return int(response.json()["id"])


def test_a_new_collection_has_anki_s_default_options(rig: Rig, alice: dict[str, str]) -> None:
    assert options(rig, alice) == DEFAULTS


def test_partial_updates_change_only_what_is_given(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.put(
        "/api/decks/1/options",
        json={"newPerDay": 5, "learningSteps": [2, 20, 1440], "desiredRetention": 0.85},
        headers=alice,
    )
    assert response.status_code == 200, response.text
    expected = DEFAULTS | {
        "newPerDay": 5,
        "learningSteps": [2.0, 20.0, 1440.0],
        "desiredRetention": 0.85,
    }
    assert response.json() == expected
    assert options(rig, alice) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("newPerDay", -1),
        ("reviewsPerDay", 10_000),
        ("learningSteps", [0]),
        ("relearningSteps", [-10]),
        ("graduatingInterval", 0),
        ("maximumInterval", 36_501),
        ("startingEase", 1.0),
        ("easyBonus", 0.9),
        ("intervalModifier", 3),
        ("hardInterval", 2),
        ("newInterval", 1.5),
        ("desiredRetention", 0.5),
        ("fsrsParams", [1.0, 2.0, 3.0]),
        ("easyDays", [1.0, 1.0]),
        ("easyDays", [2.0] * 7),
        ("leechAction", "delete"),
        ("newCardOrder", "shuffled"),
        ("leechThreshold", 0),
        ("buryNew", "yes"),
        ("leechAction", None),
        ("name", None),
    ],
)
def test_values_anki_would_not_take_are_refused_field_by_field(
    rig: Rig, alice: dict[str, str], field: str, value: Any
) -> None:
    response = rig.client.put(
        "/api/decks/1/options", json={field: value, "buryReviews": True}, headers=alice
    )
    assert response.status_code == 422
    body = response.json()
    assert any(field in error["loc"] for error in body["detail"]), body
    assert options(rig, alice) == DEFAULTS  # nothing changed, not even the valid field


def test_presets_are_shared_assigned_renamed_and_deleted(rig: Rig, alice: dict[str, str]) -> None:
    parent, child, other = (
        deck(rig, alice, "Lang"),
        deck(rig, alice, "Lang::Verbs"),
        deck(rig, alice, "Maths"),
    )
    created = rig.client.post(
        "/api/presets", json={"name": "Intense", "newPerDay": 50}, headers=alice
    )
    assert created.status_code == 201, created.text
    intense = created.json()["presetId"]
    assert created.json() == DEFAULTS | {
        "presetId": intense,
        "name": "Intense",
        "newPerDay": 50,
        "deckIds": [],
    }

    assigned = rig.client.put(
        f"/api/decks/{parent}/preset",
        json={"presetId": intense, "includeSubdecks": True},
        headers=alice,
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["deckIds"] == sorted([parent, child])
    assert options(rig, alice, child)["name"] == "Intense"
    assert options(rig, alice, other)["name"] == "Default"

    # Changing a deck's options changes its preset, for every deck using it.
    rig.client.put(f"/api/decks/{child}/options", json={"maximumInterval": 365}, headers=alice)
    assert options(rig, alice, parent)["maximumInterval"] == 365
    renamed = rig.client.put(f"/api/presets/{intense}", json={"name": "Exam"}, headers=alice)
    assert renamed.json()["name"] == "Exam" and renamed.json()["maximumInterval"] == 365
    listed = rig.client.get("/api/presets", headers=alice).json()
    assert [(p["presetId"], p["name"]) for p in listed] == [(1, "Default"), (intense, "Exam")]

    scm_before = _scm(rig)
    assert rig.client.delete(f"/api/presets/{intense}", headers=alice).status_code == 204
    assert options(rig, alice, child)["name"] == "Default"
    assert _scm(rig) > scm_before  # as in Anki: deleting a preset asks devices for a full sync
    assert rig.client.get(f"/api/presets/{intense}", headers=alice).status_code == 404
    assert rig.client.delete("/api/presets/1", headers=alice).status_code == 400
    missing = rig.client.put("/api/decks/1/preset", json={"presetId": 42}, headers=alice)
    assert missing.status_code == 404
    assert rig.client.get("/api/decks/999/options", headers=alice).status_code == 404


def _scm(rig: Rig) -> int:
    conn = open_bytes(stored_collection(rig.store, collection_key("alice")))
    return int(conn.execute("select scm from col").fetchone()[0])


def add(rig: Rig, headers: dict[str, str], front: str) -> int:
    response = rig.client.post("/api/cards", json={"front": front, "back": "a"}, headers=headers)
    assert response.status_code == 201
    return int(response.json()["cardId"])


def test_options_change_what_the_queue_and_the_scheduler_do(
    rig: Rig, alice: dict[str, str]
) -> None:
    for n in range(5):
        add(rig, alice, f"card {n}")
    rig.client.put(
        "/api/decks/1/options",
        json={"newPerDay": 2, "learningSteps": [3, 30], "graduatingInterval": 3, "easyInterval": 9},
        headers=alice,
    )
    shown = rig.client.get("/api/review", headers=alice).json()
    assert shown["counts"]["new"] == 2  # newPerDay
    buttons = shown["card"]["buttons"]
    assert (buttons["again"], buttons["good"]) == ("3m", "30m")  # learning steps
    easy = int(buttons["easy"][:-1])
    assert 7 <= easy <= 11  # easy interval 9 days, fuzzed (SM-2's default would be 3-5)
