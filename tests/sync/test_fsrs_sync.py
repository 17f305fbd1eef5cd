"""A collection with FSRS on, synced from Anki, studied in the web app and synced back:
the device holds what it would have written itself, and its next intervals are the
ones it would have computed. Device B, a copy of the same collection, answers the
same cards with the same buttons through Anki's own scheduler as the reference."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from anki.collection import Collection
from anki.scheduler_pb2 import CardAnswer

from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.support.waiting import wait_for_clock_past
from tests.sync.test_full_sync import device, full_sync

pytestmark = [pytest.mark.interop, pytest.mark.integration]

DAY = 86_400


def turn_fsrs_on(col: Collection) -> None:
    """As the deck options screen does: the switch, with memory states computed."""
    from anki import deck_config_pb2

    current = col.decks.get_deck_configs_for_update(1)
    col.decks.update_deck_configs(
        deck_config_pb2.UpdateDeckConfigsRequest(
            target_deck_id=1,
            configs=[c.config for c in current.all_config],
            mode=deck_config_pb2.UpdateDeckConfigsMode.UPDATE_DECK_CONFIGS_MODE_NORMAL,
            card_state_customizer=current.card_state_customizer,
            limits=current.current_deck.limits,
            new_cards_ignore_review_limit=current.new_cards_ignore_review_limit,
            apply_all_parent_limits=current.apply_all_parent_limits,
            fsrs=True,
        )
    )


def answer_in_anki(col: Collection, card_id: int, ease: int, at_millis: int | None = None) -> None:
    """Answer as Anki's reviewer does: with the study queues built, so that intervals are
    load-balanced against the days ahead (without queues Anki does not balance)."""
    col._backend.get_queued_cards(fetch_limit=1, intraday_learning_only=False)
    states = col._backend.get_scheduling_states(card_id)
    col.db.execute("update col set mod = mod")  # drops the queues: any card may be answered
    col.sched.answer_card(
        CardAnswer(
            card_id=card_id,
            current_state=states.current,
            new_state=(states.again, states.hard, states.good, states.easy)[ease - 1],
            rating=ease - 1,
            answered_at_millis=int(time.time() * 1000) if at_millis is None else at_millis,
            milliseconds_taken=3000,
        )
    )


def card_row(col: Collection, card_id: int) -> dict[str, Any]:
    ctype, queue, ivl, factor, reps, lapses, left, data = col.db.first(
        "select type, queue, ivl, factor, reps, lapses, left, data from cards where id = ?",
        card_id,
    )
    fields = json.loads(data)
    fields.pop("lrt")  # the answer's second, a moment apart on the two sides
    return {
        "type": ctype, "queue": queue, "ivl": ivl, "factor": factor, "reps": reps,
        "lapses": lapses, "left": left, "data": fields,
    }  # fmt: skip


def revlog_rows(col: Collection, card_id: int) -> list[list[int]]:
    return [
        list(row)
        for row in col.db.all(
            "select ease, ivl, lastIvl, factor, type from revlog where cid = ? order by id",
            card_id,
        )
    ]


def next_intervals(col: Collection, card_id: int) -> list[str]:
    """Each button's next state as the device computes it: memory state and interval."""
    states = col._backend.get_scheduling_states(card_id)
    out = []
    for state in (states.again, states.hard, states.good, states.easy):
        kind = state.normal.WhichOneof("kind")
        inner = getattr(state.normal, kind)
        out.append(f"{kind}: {str(inner).strip()}".replace("\n", " "))
    return out


def test_a_device_with_fsrs_studies_on_in_the_web_app(server: AppServer, tmp_path: Path) -> None:
    headers = signed_up(server, "fsrs-learner")
    a = device(tmp_path, "a")
    basic = a.models.by_name("Basic")
    ids = []
    for front in ("new", "review", "learning"):
        note = a.new_note(basic)
        note["Front"], note["Back"] = front, "back"
        a.add_note(note, 1)
        ids.append(note.card_ids()[0])
    new_card, review_card, learning_card = ids
    turn_fsrs_on(a)
    # A review card with a memory state, last reviewed ten days ago, due today.
    a.db.execute(
        "update cards set type = 2, queue = 2, ivl = 10, due = ?, factor = 2500, reps = 4,"
        " data = ? where id = ?",
        a.sched.today,
        json.dumps(
            {"s": 10.0, "d": 5.0, "dr": 0.9, "decay": 0.154, "lrt": int(time.time()) - 10 * DAY}
        ),
        review_card,
    )
    answer_in_anki(a, learning_card, 1)  # into learning, with a memory state
    full_sync(a, server, upload=True, user="fsrs-learner")
    b = device(tmp_path, "b")
    full_sync(b, server, upload=False, user="fsrs-learner")

    web = httpx.get(f"{server.url}/api/collection/scheduler", headers=headers, timeout=30)
    assert web.json() == {"fsrs": True}  # the device's switch came with the collection
    plan = [(review_card, 3), (new_card, 2), (learning_card, 3), (review_card, 1)]
    for card_id, ease in plan:
        # Both sides answer within one second (a learning state's elapsed seconds count
        # from the card's modification second) and at one millisecond (the review log's).
        if time.time() % 1 > 0.5:
            wait_for_clock_past(int(time.time()) * 1000 + 999)
        answered = httpx.post(
            f"{server.url}/api/review",
            json={"cardId": card_id, "ease": ease},
            headers=headers,
            timeout=30,
        )
        assert answered.status_code == 200, answered.text
        answer_in_anki(b, card_id, ease, at_millis=answered.json()["revlogId"])

    auth = a.sync_login("fsrs-learner", PASSWORD, server.url + "/")
    a.sync_collection(auth, sync_media=False)

    for card_id in (new_card, review_card, learning_card):
        assert card_row(a, card_id) == card_row(b, card_id)
        assert revlog_rows(a, card_id) == revlog_rows(b, card_id)
        assert next_intervals(a, card_id) == next_intervals(b, card_id)
    assert "s" in card_row(a, new_card)["data"]  # the web app's answer wrote FSRS's state
    a.close()
    b.close()
