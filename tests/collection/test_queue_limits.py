"""The day's queue against Anki's own queue builder: new cards/day and reviews/day of a
deck and its subdecks (each with its own preset, one with a deck-level limit), the
collection's "new cards ignore the review limit" and "apply all parent limits", the
bury options keeping siblings out of the day's queue, the new-card gather and sort
orders, what was already studied today, the preset's review order with Anki's
tie-break among cards due the same day, and how new cards and interday learning are
mixed among the reviews.

Each scenario is made in Anki (new cards, reviews and interday learning cards due on
distinct or shared days, intraday learning cards due now, within the learn-ahead
window and later today; notes with two cards; a few cards studied in a subdeck first)
and copied, as the schema-11 file Javumbo keeps. For every deck of the tree, the cards
Anki queues for today (`get_queued_cards`) are the cards Javumbo gathers, its main
queue is Javumbo's in the same order, and the counts beside them are Anki's. Then a
whole session on the top deck, each side taking its own next card and answering Good
until nothing is left: the same cards are answered the same number of times and the
decks' day counters end equal. (Anki keeps its main queue for the session; Javumbo
builds it again for each card from what is left, so within a session the order may
differ.)
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection

from collection.col import Col
from collection.decks import DeckIndex
from collection.errors import CardNotStudyable
from collection.review import answer, next_card, timing
from collection.review.gathering import fnvhash, gather
from collection.scheduler import learn_ahead_cutoff, learn_ahead_secs
from tests.support.anki_presets import add_preset
from tests.sync.test_fsrs_sync import turn_fsrs_on

pytestmark = pytest.mark.interop

TOP, VERBS, NOUNS, RARE = "Lang", "Lang::Verbs", "Lang::Nouns", "Lang::Nouns::Rare"


def ordered(order: int, *, fsrs: bool = False, per_day: int = 8) -> dict[str, Any]:
    """A review order over many cards due on the same days, under a review limit that
    leaves room past the interday learning cards (more with FSRS memory states)."""
    limit = 22 if fsrs else per_day
    return {"ties": True, "fsrs": fsrs, "top": {"rev": {"perDay": limit}, "reviewOrder": order}}


SCENARIOS: dict[str, dict[str, Any]] = {
    "limits of a deck tree": {},
    "new cards ignore the review limit": {"conf": {"newCardsIgnoreReviewLimit": True}},
    "all parent limits apply": {
        "conf": {"applyAllParentLimits": True},
        "top": {"new": {"perDay": 5}, "rev": {"perDay": 12}},
        "verbs": {"new": {"perDay": 9}, "rev": {"perDay": 30}},
    },
    "bury everything": {
        "top": {"new": {"bury": True}, "rev": {"bury": True}, "buryInterdayLearning": True}
    },
    "bury new only, highest position first": {
        "top": {"new": {"bury": True}, "newGatherPriority": 2}
    },
    "tight review limits": {"top": {"rev": {"perDay": 6}}, "verbs": {"rev": {"perDay": 2}}},
    # Many cards due on the same days: Anki's tie-break picks which are shown.
    "ties within a tight review limit": {"ties": True, "top": {"rev": {"perDay": 8}}},
    "review order: deck, then day": ordered(2),
    "review order: day, then deck": ordered(1),
    "review order: intervals ascending": ordered(3),
    "review order: intervals descending": ordered(4),
    "review order: random": ordered(8),
    "review order: reverse order added": ordered(10),
    "review order: order added": ordered(9),
    "review order: ease ascending": ordered(5),
    "review order: ease descending, under FSRS (difficulty)": ordered(6, fsrs=True),
    "review order: retrievability ascending (FSRS)": ordered(7, fsrs=True),
    "review order: retrievability descending (FSRS)": ordered(11, fsrs=True),
    "review order: relative overdueness (FSRS)": ordered(12, fsrs=True),
    "review order: relative overdueness (SM-2)": ordered(12, per_day=22),
    "new cards shown in gather order, after the reviews": {
        "top": {"newSortOrder": 1, "newMix": 1, "interdayLearningMix": 2}
    },
    "new cards by template then random, before the reviews": {
        "top": {"newSortOrder": 2, "newMix": 2, "interdayLearningMix": 1}
    },
    "new cards by random note then template": {"top": {"newSortOrder": 3}},
    "new cards at random": {"top": {"newSortOrder": 4}},
    "new cards: random notes": {"top": {"newGatherPriority": 3}},
    "new cards: random cards": {"top": {"newGatherPriority": 4}},
    "new cards: deck by deck, random notes": {"top": {"newGatherPriority": 5}},
}


def build(col: Collection, scenario: dict[str, Any], rng: random.Random) -> dict[str, int]:
    for key, value in scenario.get("conf", {}).items():
        col.set_config(key, value)
    top_preset = add_preset(
        col, "Top", {"new": {"perDay": 9}, "rev": {"perDay": 30}} | scenario.get("top", {})
    )
    verbs_preset = add_preset(
        col, "Verbs", {"new": {"perDay": 3}, "rev": {"perDay": 7}} | scenario.get("verbs", {})
    )
    decks = {name: int(col.decks.id(name)) for name in (TOP, VERBS, NOUNS, RARE)}
    for name, preset in ((TOP, top_preset), (VERBS, verbs_preset), (NOUNS, top_preset)):
        deck = col.decks.get(decks[name])
        deck["conf"] = preset
        col.decks.save(deck)
    rare = col.decks.get(decks[RARE])  # the default preset, and a deck-level new limit
    rare["newLimit"] = 2
    col.decks.save(rare)

    today, now = col.sched.today, int(time.time())
    notetypes = [col.models.by_name("Basic"), col.models.by_name("Basic (and reversed card)")]
    if scenario.get("ties"):
        due_days = iter([rng.randint(-3, 0) for _ in range(200)])
    else:
        due_days = iter(rng.sample(range(-40, 1), 41))  # distinct: no ties to break
    for name, deck_id in decks.items():
        for number in range(14):
            note = col.new_note(rng.choice(notetypes))
            note["Front"], note["Back"] = f"{name} {number}", "back"
            col.add_note(note, deck_id)
            for card in note.cards():
                kind = rng.choices(
                    ("new", "review", "day learning", "learning"), weights=(5, 5, 2, 2)
                )[0]
                if kind == "review":
                    ivl, factor = rng.randint(1, 60), rng.randint(1300, 3000)
                    state = (2, 2, today + next(due_days, -41), ivl, factor, 0)
                elif kind == "day learning":
                    state = (1, 3, today + next(due_days, -41), 0, 0, 1)
                elif kind == "learning":
                    offset = rng.choice((-600, 300, 7200))  # due, within learn-ahead, later
                    state = (1, 1, now + offset, 0, 0, 1)
                else:
                    continue
                col.db.execute(
                    "update cards set type = ?, queue = ?, due = ?, ivl = ?, factor = ?,"
                    " left = ? where id = ?",
                    *state,
                    card.id,
                )
    if scenario.get("fsrs"):
        turn_fsrs_on(col)
        # Memory states as FSRS writes them, on most review cards (the rest have none).
        for (card_id,) in col.db.all("select id from cards where queue = 2"):
            if rng.random() < 0.7:
                memory = {"s": round(rng.uniform(1, 90), 3), "d": round(rng.uniform(1, 10), 3)}
                memory |= {"dr": rng.choice((0.8, 0.9)), "decay": 0.1542}
                if rng.random() < 0.5:  # the second of the last review, as Anki 25+ writes
                    memory["lrt"] = now - rng.randint(1, 60) * 86_400
                col.db.execute(
                    "update cards set data = ? where id = ?", json.dumps(memory), card_id
                )
    return decks


Today = tuple[set[int], tuple[int, int, int], list[int]]  # cards, counts, main queue


def anki_today(col: Collection, deck_id: int) -> Today:
    col.decks.select(deck_id)
    queued = col._backend.get_queued_cards(fetch_limit=10_000, intraday_learning_only=False)
    cards = {q.card.id for q in queued.cards}
    main = [q.card.id for q in queued.cards if q.card.queue != 1]  # intraday learning aside
    return cards, (queued.new_count, queued.learning_count, queued.review_count), main


def ours_today(conn: sqlite3.Connection, deck_id: int, now: float) -> Today:
    col = Col(conn)
    day = gather(conn, col, DeckIndex(col), deck_id, timing(col, conn, now))
    cutoff = learn_ahead_cutoff(now, learn_ahead_secs(col.conf))
    learning = {card_id for due, card_id in day.learning if due <= cutoff}
    cards = learning | set(day.main)
    counts = next_card(conn, deck_id, now=now).counts
    return cards, (counts.new, counts.learning, counts.review), day.main


def anki_session(col: Collection, deck_id: int) -> None:
    col.decks.select(deck_id)
    while (card := col.sched.getCard()) is not None:
        col.sched.answerCard(card, 3)


def ours_session(conn: sqlite3.Connection, deck_id: int) -> None:
    while (shown := next_card(conn, deck_id, now=time.time()).card) is not None:
        answer(conn, shown.card_id, 3, 3000, now=time.time())


def answered(query: Any, since_ms: int) -> Counter[int]:
    return Counter(cid for (cid,) in query("select cid from revlog where id >= ?", since_ms))


def day_counters(decks: dict[str, dict[str, Any]], today: int) -> dict[str, tuple[int, int]]:
    def count(deck: dict[str, Any], key: str) -> int:
        day, value = deck[key][:2]
        return int(value) if day == today else 0

    return {
        str(d["name"]): (count(d, "newToday"), count(d, "revToday"))
        for d in decks.values()
        if not d.get("dyn")
    }


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_days_queue_is_ankis(tmp_path: Path, name: str) -> None:
    path = tmp_path / "anki" / "collection.anki2"
    path.parent.mkdir()
    anki = Collection(str(path))
    decks = build(anki, SCENARIOS[name], random.Random(name))
    anki.set_config("collapseTime", 1200)
    # Studied today before the copy: a few cards of the verbs deck.
    anki.decks.select(decks[VERBS])
    for _ in range(3):
        card = anki.sched.getCard()
        assert card is not None
        anki.sched.answerCard(card, 3)
    started_ms = int(time.time() * 1000)
    theirs = {deck: anki_today(anki, deck_id) for deck, deck_id in decks.items()}
    anki.close(downgrade=True)
    shutil.copy(path, tmp_path / "javumbo.anki2")
    anki = Collection(str(path))

    with closing(sqlite3.connect(tmp_path / "javumbo.anki2")) as conn:
        now = time.time()
        ours = {deck: ours_today(conn, deck_id, now) for deck, deck_id in decks.items()}
        assert ours == theirs
        assert sum(len(cards) for cards, _, _ in ours.values()) > 20

        anki_session(anki, decks[TOP])
        ours_session(conn, decks[TOP])
        conn.commit()
        mine = answered(lambda sql, *a: conn.execute(sql, a).fetchall(), started_ms)
        assert mine == answered(anki.db.all, started_ms)
        today = anki.sched.today
        assert day_counters(Col(conn).decks, today) == day_counters(
            {str(d["id"]): d for d in anki.decks.all()}, today
        )
    anki.close()


def test_ties_are_broken_with_ankis_fnvhash(tmp_path: Path) -> None:
    anki = Collection(str(tmp_path / "collection.anki2"))
    rng = random.Random(5)
    values = [(rng.randint(-(2**63), 2**63 - 1), rng.randint(0, 2**40)) for _ in range(200)]
    values += [(0, 0), (1, 2), (-1, -1)]
    assert [fnvhash(a, b) for a, b in values] == [
        anki.db.scalar("select fnvhash(?, ?)", a, b) for a, b in values
    ]
    anki.close()


def test_cards_in_a_filtered_subdeck_are_left_to_anki(tmp_path: Path) -> None:
    """A filtered deck under the studied deck: its cards are studied in Anki (the web
    app shows the others and says where the rest are), and answering one here is
    refused without changing anything."""
    path = tmp_path / "collection.anki2"
    anki = Collection(str(path))
    parent = int(anki.decks.id(TOP))
    for number in range(5):
        note = anki.new_note(anki.models.by_name("Basic"))
        note["Front"], note["Back"] = f"word {number}", "back"
        anki.add_note(note, parent)
    cram = int(anki.decks.new_filtered(f"{TOP}::Cram"))
    filtered = anki.decks.get(cram)
    filtered["terms"] = [[f'deck:"{TOP}"', 3, 0]]
    anki.decks.save(filtered)
    anki.sched.rebuild_filtered_deck(cram)
    borrowed = set(anki.db.list("select id from cards where odid != 0"))
    anki.close(downgrade=True)
    assert len(borrowed) == 3

    with closing(sqlite3.connect(path)) as conn:
        seen = []
        while (shown := next_card(conn, parent, now=time.time())).card is not None:
            assert shown.card.card_id not in borrowed
            seen.append(shown.card.card_id)
            answer(conn, shown.card.card_id, 4, 1000, now=time.time())
        assert len(seen) == 2
        assert "filtered deck" in shown.message
        before = conn.execute("select * from cards order by id").fetchall()
        with pytest.raises(CardNotStudyable, match="filtered deck"):
            answer(conn, min(borrowed), 3, 1000, now=time.time())
        assert conn.execute("select * from cards order by id").fetchall() == before
        assert next_card(conn, cram, now=time.time()).card is None
