"""Deck statistics: counts by card state over a deck and its subdecks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from collection.cards import add_card
from collection.decks import create_deck
from collection.errors import DeckNotFound
from collection.stats import DeckStats, deck_stats, stats_query
from tests.collection.conftest import NOW, dump, readonly

# (type, queue, ivl) -> the state it must be counted as
STATES = [
    ((0, 0, 0), "new"),
    ((1, 1, 0), "learning"),  # intraday learning
    ((1, 3, 0), "learning"),  # interday learning
    ((3, 1, 5), "relearning"),
    ((3, 3, 5), "relearning"),
    ((2, 2, 1), "young"),
    ((2, 2, 20), "young"),
    ((2, 2, 21), "mature"),
    ((2, 2, 400), "mature"),
    ((2, -1, 30), "suspended"),
    ((0, -1, 0), "suspended"),
    ((2, -2, 3), "buried"),  # buried by the scheduler
    ((0, -3, 0), "buried"),  # buried by the user
    ((2, 4, 0), None),  # preview in a filtered deck: only in the total
]


def craft(conn: sqlite3.Connection, deck_id: int, type_: int, queue: int, ivl: int) -> int:
    card_id = add_card(conn, "q", "a", deck_id, now=NOW).card_id
    conn.execute(
        "update cards set type = ?, queue = ?, ivl = ? where id = ?",
        (type_, queue, ivl, card_id),
    )
    return card_id


def test_a_fresh_deck_counts_nothing(conn: sqlite3.Connection):
    stats = deck_stats(conn, 1)
    assert stats == DeckStats(0, 0, 0, 0, 0, 0, 0, 0)
    assert stats.counts() == {
        "New": 0,
        "Learning": 0,
        "Relearning": 0,
        "Young": 0,
        "Mature": 0,
        "Suspended": 0,
        "Buried": 0,
    }


@pytest.mark.parametrize(("state", "expected"), STATES)
def test_each_state_is_counted_once(
    conn: sqlite3.Connection, state: tuple[int, int, int], expected: str | None
):
    craft(conn, 1, *state)
    counts = {k.lower(): v for k, v in deck_stats(conn, 1).counts().items()}
    assert counts == {k: int(k == expected) for k in counts}
    assert deck_stats(conn, 1).total == 1


def test_counts_cover_the_deck_and_its_subdecks_only(conn: sqlite3.Connection):
    parent = create_deck(conn, "P", now=NOW)
    child = create_deck(conn, "P::C::D", now=NOW)
    other = create_deck(conn, "Other", now=NOW)
    for i, (state, _) in enumerate(STATES):
        craft(conn, child.id if i % 2 else parent.id, *state)
        craft(conn, other.id, *state)
    stats = deck_stats(conn, parent.id)
    assert stats == DeckStats(
        new=1, learning=2, relearning=2, young=2, mature=2, suspended=2, buried=2, total=14
    )
    assert deck_stats(conn, child.id).total == 7
    assert deck_stats(conn, 1).total == 0


def test_unknown_decks_are_not_found(conn: sqlite3.Connection):
    with pytest.raises(DeckNotFound):
        deck_stats(conn, 404)


def test_stats_read_a_read_only_connection_without_writing(
    conn: sqlite3.Connection, col_path: Path
):
    craft(conn, 1, 2, 2, 30)
    conn.commit()
    before = dump(conn)
    with readonly(col_path) as ro:
        assert deck_stats(ro, 1).mature == 1
    assert dump(conn) == before


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh", "analyzed"])
@pytest.mark.parametrize("deck_count", [1, 3, 12])
def test_the_query_searches_the_sched_index(
    conn: sqlite3.Connection, deck_count: int, analyzed: bool
):
    decks = [create_deck(conn, f"D{i}", now=NOW).id for i in range(60)]
    for i in range(600):
        add_card(conn, f"q{i}", "", decks[i % 60], now=NOW)
    if analyzed:
        # With statistics (Anki's Check Database runs ANALYZE) the planner still picks
        # the index when the decks asked for hold a fraction of the cards.
        conn.execute("analyze")
    plan = conn.execute(
        "explain query plan " + stats_query(deck_count), decks[:deck_count]
    ).fetchall()
    details = [row[-1] for row in plan]
    assert any("USING INDEX ix_cards_sched (did=?)" in d for d in details), details
    assert not any(d.startswith("SCAN cards") for d in details), details


def test_it_is_one_query(conn: sqlite3.Connection):
    create_deck(conn, "A::B", now=NOW)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    deck_stats(conn, 1)
    conn.set_trace_callback(None)
    on_cards = [s for s in statements if "from cards" in s]
    assert len(on_cards) == 1
    assert "sum(case" in on_cards[0]
