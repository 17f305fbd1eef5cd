"""Anki's load balancer and easy days, against real Anki's reviewer.

A collection is made in Anki with a workload spread over the next hundred days (in the
card's preset, in a subdeck sharing it, and in another preset that must not count),
review and relearning cards due today, some with a sibling due on one of those days,
and new cards whose positions fall in the range (Anki counts them). Anki builds its
study queues (which builds its load balancer) and gives each card's four next states;
Javumbo, on the schema-11 copy, must give the same ones, SM-2 and FSRS, with the
preset burying review siblings or not, and with easy days.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from anki.cards_pb2 import FsrsMemoryState
from anki.collection import Collection
from anki.decks import DeckId

from collection.cards import card_state
from collection.col import Col
from collection.decks import DeckIndex
from collection.review.balance import ENABLED_CONF_KEY
from collection.review.queue import scheduling_states, timing
from collection.scheduler import (
    LearnState,
    RelearnState,
    ReviewState,
    SchedTiming,
    SchedulingState,
)

pytestmark = pytest.mark.interop

DAY = 86_400
TARGETS = 45
BUTTONS = ("again", "hard", "good", "easy")
EASY_DAYS = [1.0, 0.5, 1.0, 0.0, 1.0, 0.5, 1.0]  # Monday first


def anki_outcome(state: Any) -> tuple[str, int]:
    """A state from Anki's backend as (kind, days or seconds)."""
    normal = state.normal if state.WhichOneof("kind") == "normal" else state.filtered
    kind = normal.WhichOneof("kind")
    if kind == "review":
        return "review", normal.review.scheduled_days
    if kind == "learning":
        return "learning", normal.learning.scheduled_secs
    if kind == "relearning":
        if normal.relearning.learning.scheduled_secs:
            return "relearning", normal.relearning.learning.scheduled_secs
        return "review", normal.relearning.review.scheduled_days
    raise AssertionError(kind)


def our_outcome(state: SchedulingState) -> tuple[str, int]:
    if isinstance(state, ReviewState):
        return "review", state.scheduled_days
    if isinstance(state, LearnState):
        return "learning", state.scheduled_secs
    if isinstance(state, RelearnState):
        if state.learning.scheduled_secs:
            return "relearning", state.learning.scheduled_secs
        return "review", state.review.scheduled_days
    raise AssertionError(state)


def build(col: Collection, rng: random.Random, *, fsrs: bool, bury: bool, easy: bool) -> list[int]:
    """The workload and the cards to look at (their ids)."""
    col.set_config("fsrs", fsrs)
    conf = col.decks.config_dict_for_deck_id(DeckId(1))
    conf["rev"]["bury"] = bury
    if easy:
        conf["easyDaysPercentages"] = EASY_DAYS
    col.decks.update_config(conf)
    sub = col.decks.id("Default::Sub")
    other = col.decks.id("Other")
    assert sub is not None and other is not None
    other_conf = col.decks.add_config_returning_id("Other")
    other_deck = col.decks.get(other)
    assert other_deck is not None
    other_deck["conf"] = other_conf
    col.decks.save(other_deck)
    basic = col.models.by_name("Basic")
    reversed_ = col.models.by_name("Basic (and reversed card)")
    assert basic is not None and reversed_ is not None
    today = col.sched.today
    now = int(time.time())
    db = col.db
    assert db is not None

    def add(notetype: Any, deck: int, front: str) -> list[int]:
        note = col.new_note(notetype)
        note["Front"], note["Back"] = front, "back"
        col.add_note(note, DeckId(deck))
        return [card.id for card in note.cards()]

    def review(card_id: int, ivl: int, due: int, reps: int) -> None:
        db.execute(
            "update cards set type = 2, queue = 2, ivl = ?, due = ?, factor = ?, reps = ?"
            " where id = ?",
            ivl,
            due,
            rng.choice((1300, 2000, 2500, 2900)),
            reps,
            card_id,
        )

    for day in range(1, 99):
        for number in range(rng.choice((0, 0, 1, 2, 3, 5, 8))):
            (cid,) = add(basic, rng.choice((1, 1, sub)), f"load {day} {number}")
            review(cid, rng.randint(1, 30), today + day, 3)
        for number in range(rng.choice((0, 6))):
            (cid,) = add(basic, other, f"other {day} {number}")
            review(cid, 10, today + day, 3)
    for number in range(12):  # new cards: positions 1.. fall in the range counted
        add(basic, 1, f"new {number}")

    targets = []
    for number in range(TARGETS):
        card_id, sibling = add(reversed_, 1, f"target {number}")
        reps = rng.randint(1, 9)
        ivl = rng.choice((1, 2, 3, 5, 8, 12, 20, 30, 45, 120, 300))
        review(card_id, ivl, today, reps)
        review(sibling, 20, today + rng.randint(3, 70), 2)
        if number % 5 == 4:  # relearning: Good graduates it
            db.execute(
                "update cards set type = 3, queue = 1, due = ?, left = 1, lapses = 1 where id = ?",
                now - 60,
                card_id,
            )
        if fsrs:
            card = col.get_card(card_id)  # type: ignore[arg-type]  # a CardId at runtime
            card.memory_state = FsrsMemoryState(
                stability=round(rng.uniform(1.0, 80.0), 4), difficulty=round(rng.uniform(1, 10), 3)
            )
            card.last_review_time = now - ivl * DAY
            col.update_card(card)
        targets.append(card_id)
    return targets


@pytest.mark.parametrize(
    ("fsrs", "bury", "easy", "seed", "enabled"),
    [
        (False, False, False, 1, True),
        (False, True, True, 2, True),
        (True, False, False, 3, True),
        (True, True, False, 4, True),
        (True, False, True, 5, True),
        (True, True, True, 6, True),
        (True, True, True, 7, False),  # the learner turned the balancer off in Anki
    ],
)
def test_intervals_are_balanced_as_in_ankis_reviewer(
    tmp_path: Path, fsrs: bool, bury: bool, easy: bool, seed: int, enabled: bool
) -> None:
    path = tmp_path / "anki" / "collection.anki2"
    path.parent.mkdir()
    anki = Collection(str(path))
    targets = build(anki, random.Random(seed), fsrs=fsrs, bury=bury, easy=easy)
    offset = -time.localtime().tm_gmtoff // 60  # Anki weighs easy days in local time
    anki.load_balancer_enabled = enabled
    anki._backend.get_queued_cards(fetch_limit=1, intraday_learning_only=False)  # + balancer
    theirs = {}
    for card_id in targets:
        states = anki._backend.get_scheduling_states(card_id)
        theirs[card_id] = [
            anki_outcome(getattr(states, b)) for b in ("again", "hard", "good", "easy")
        ]
    anki.close(downgrade=True)
    shutil.copy(path, tmp_path / "javumbo.anki2")

    with closing(sqlite3.connect(tmp_path / "javumbo.anki2")) as conn:
        col = Col(conn)
        col.conf["localOffset"] = offset
        decks = DeckIndex(col)
        when = timing(col, conn, time.time())
        ours = outcomes(conn, col, decks, targets, when)
        col.conf[ENABLED_CONF_KEY] = False
        plain = outcomes(conn, col, decks, targets, when)

    assert ours == theirs
    changed = sum(plain[c] != ours[c] for c in targets)
    if enabled:  # the balancer moved intervals: this is not plain fuzz
        assert changed >= 5
    else:  # as stored by Anki: the learner's choice reaches this server
        assert changed == 0


def outcomes(
    conn: sqlite3.Connection, col: Col, decks: DeckIndex, targets: list[int], when: SchedTiming
) -> dict[int, list[tuple[str, int]]]:
    result = {}
    for card_id in targets:
        states, _ = scheduling_states(conn, col, decks, card_state(conn, card_id), when)
        result[card_id] = [our_outcome(getattr(states, b)) for b in BUTTONS]
    return result
