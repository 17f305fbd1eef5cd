"""GET/PUT /api/collection/scheduler: FSRS on and off, as Anki's switch does it, and
the review routes scheduling with FSRS once it is on."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from api.user_collection import collection_key
from collection.cards import review_history
from collection.col import Col
from collection.scheduler._rust import f32
from collection.scheduler.fsrs import Fsrs, memory_state_from_history, revlog_factor, round_places
from collection.scheduler.timing import sched_timing_for_collection
from tests.support.api_rig import Rig
from tests.support.stored import open_bytes, stored_collection


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    return rig.signed_up("alice")


def add(rig: Rig, headers: dict[str, str], front: str) -> int:
    response = rig.client.post("/api/cards", json={"front": front, "back": "a"}, headers=headers)
    assert response.status_code == 201
    return int(response.json()["cardId"])


def answer(rig: Rig, headers: dict[str, str], card_id: int, ease: int) -> dict[str, Any]:
    response = rig.client.post(
        "/api/review", json={"cardId": card_id, "ease": ease}, headers=headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def switch(rig: Rig, headers: dict[str, str], fsrs: bool) -> None:
    response = rig.client.put("/api/collection/scheduler", json={"fsrs": fsrs}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"fsrs": fsrs}


def card_data(rig: Rig, card_id: int) -> dict[str, Any]:
    conn = open_bytes(stored_collection(rig.store, collection_key("alice")))
    (data,) = conn.execute("select data from cards where id = ?", (card_id,)).fetchone()
    return dict(json.loads(data or "{}"))


def test_sm2_by_default_and_the_switch_reads_back(rig: Rig, alice: dict[str, str]) -> None:
    assert rig.client.get("/api/collection/scheduler", headers=alice).json() == {"fsrs": False}
    switch(rig, alice, True)
    assert rig.client.get("/api/collection/scheduler", headers=alice).json() == {"fsrs": True}
    switch(rig, alice, True)  # again: nothing changes
    switch(rig, alice, False)
    assert rig.client.get("/api/collection/scheduler", headers=alice).json() == {"fsrs": False}


def test_bad_bodies_and_strangers_are_refused(rig: Rig, alice: dict[str, str]) -> None:
    for body in ({"fsrs": "maybe"}, {}, {"fsrs": None}):
        response = rig.client.put("/api/collection/scheduler", json=body, headers=alice)
        assert response.status_code == 422, body
    assert rig.client.get("/api/collection/scheduler").status_code == 401
    assert rig.client.get("/api/collection/scheduler", headers=alice).json() == {"fsrs": False}


def test_turning_fsrs_on_computes_memory_states_from_the_history(
    rig: Rig, alice: dict[str, str]
) -> None:
    studied, fresh = add(rig, alice, "studied"), add(rig, alice, "fresh")
    for ease in (1, 3, 3, 3):  # learning, then graduated by SM-2
        answer(rig, alice, studied, ease)
    assert "s" not in card_data(rig, studied)

    switch(rig, alice, True)

    conn = open_bytes(stored_collection(rig.store, collection_key("alice")))
    col = Col(conn)
    next_day_at = sched_timing_for_collection(col.crt, col.conf, time.time()).next_day_at
    (ctype, ivl, reps, factor) = conn.execute(
        "select type, ivl, reps, factor from cards where id = ?", (studied,)
    ).fetchone()
    expected = memory_state_from_history(
        Fsrs(), review_history(conn, studied), card_type=ctype, card_ivl=ivl, card_reps=reps,
        card_factor=factor, next_day_at=next_day_at,
    )  # fmt: skip
    assert expected is not None
    data = card_data(rig, studied)
    # Stored as Anki stores an f32: the shortest decimal that reads back as the same f32.
    assert (f32(data["s"]), f32(data["d"])) == (
        round_places(expected.stability, 4),
        round_places(expected.difficulty, 3),
    )
    assert (data["dr"], data["decay"]) == (0.9, 0.154)
    assert "s" not in card_data(rig, fresh)  # new cards get theirs when first answered

    switch(rig, alice, False)
    data = card_data(rig, studied)
    assert not {"s", "d", "dr", "decay"} & set(data)
    assert "lrt" in data


def test_answers_under_fsrs_are_fsrs_scheduled(rig: Rig, alice: dict[str, str]) -> None:
    switch(rig, alice, True)
    card = add(rig, alice, "new under FSRS")
    shown = rig.client.get("/api/review", headers=alice).json()["card"]
    assert shown["retrievability"] is None  # a new card has no memory yet
    # FSRS's Easy for a new card is 8 days fuzzed (6-10) at 90% retention; SM-2's is 4 (3-5).
    assert shown["buttons"]["easy"].endswith("d") and int(shown["buttons"]["easy"][:-1]) >= 6

    answer(rig, alice, card, 3)
    data = card_data(rig, card)
    assert (data["s"], data["d"], data["dr"], data["decay"]) == (2.3065, 2.118, 0.9, 0.154)
    conn = open_bytes(stored_collection(rig.store, collection_key("alice")))
    (factor,) = conn.execute("select factor from revlog where cid = ?", (card,)).fetchone()
    assert factor == revlog_factor(data["d"])  # the difficulty, not an ease

    again = rig.client.get("/api/review", headers=alice).json()["card"]
    assert again["cardId"] == card
    assert again["retrievability"] == pytest.approx(1.0)  # answered moments ago
