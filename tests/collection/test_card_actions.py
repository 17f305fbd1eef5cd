"""Suspend, bury, forget and move, with the queues Anki would restore."""

from __future__ import annotations

import sqlite3

import pytest

from collection import card_actions
from collection.cards import add_card
from collection.decks import create_deck
from collection.errors import CardNotFound, DeckNotFound
from collection.review import answer
from tests.collection.conftest import NOW


def card_row(conn: sqlite3.Connection, card_id: int) -> tuple[int, ...]:
    return tuple(
        conn.execute(
            "select type, queue, due, ivl, factor, reps, lapses, did from cards where id = ?",
            (card_id,),
        ).fetchone()
    )


@pytest.fixture
def card(conn: sqlite3.Connection) -> int:
    return add_card(conn, "q", "a", None, now=NOW).card_id


@pytest.mark.parametrize(
    ("type_", "due", "restored"),
    [(0, 5, 0), (2, 100, 2), (1, 1_900_000_000, 1), (3, 120, 3), (1, 120, 3)],
    ids=["new", "review", "intraday-learning", "relearning-interday", "learning-interday"],
)
def test_suspend_and_unsuspend_restore_the_right_queue(
    conn: sqlite3.Connection, card: int, type_: int, due: int, restored: int
) -> None:
    conn.execute(
        "update cards set type = ?, due = ?, queue = ? where id = ?", (type_, due, restored, card)
    )
    card_actions.suspend(conn, card, now=NOW)
    assert card_row(conn, card)[1] == -1
    card_actions.unsuspend(conn, card, now=NOW)
    assert card_row(conn, card)[:3] == (type_, restored, due)
    card_actions.bury(conn, card, now=NOW)
    assert card_row(conn, card)[1] == -3
    card_actions.unbury(conn, card, now=NOW)
    assert card_row(conn, card)[1] == restored


def test_unsuspend_leaves_a_buried_card_buried(conn: sqlite3.Connection, card: int) -> None:
    card_actions.bury(conn, card, now=NOW)
    card_actions.unsuspend(conn, card, now=NOW)
    assert card_row(conn, card)[1] == -3


def test_forget_makes_the_card_new_at_the_end(conn: sqlite3.Connection, card: int) -> None:
    later = add_card(conn, "q2", "a", None, now=NOW).card_id
    conn.execute(
        "update cards set type = 2, queue = 2, due = 50, ivl = 30, factor = 2300, reps = 9,"
        " lapses = 2 where id = ?",
        (card,),
    )
    card_actions.forget(conn, card, now=NOW, reset_counts=False)
    type_, queue, due, ivl, factor, reps, lapses, _ = card_row(conn, card)
    assert (type_, queue, ivl, factor, reps, lapses) == (0, 0, 0, 0, 9, 2)
    assert due > card_row(conn, later)[2]  # behind every existing new card
    revlog = conn.execute("select ease, ivl, lastIvl, factor, type from revlog").fetchall()
    assert revlog == [(0, 0, 30, 2300, 4)]
    card_actions.forget(conn, card, now=NOW + 1, reset_counts=True)
    assert card_row(conn, card)[5:7] == (0, 0)


def test_move_to_another_deck(conn: sqlite3.Connection, card: int) -> None:
    deck = create_deck(conn, "Elsewhere", now=NOW)
    card_actions.move(conn, card, deck.id, now=NOW)
    assert card_row(conn, card)[7] == deck.id
    with pytest.raises(DeckNotFound):
        card_actions.move(conn, card, 999, now=NOW)


@pytest.mark.parametrize("action", ["suspend", "unsuspend", "bury", "unbury"])
def test_unknown_card(conn: sqlite3.Connection, action: str) -> None:
    with pytest.raises(CardNotFound):
        getattr(card_actions, action)(conn, 42, now=NOW)


def answer_learning(conn: sqlite3.Connection, card_id: int, *, now: float) -> None:
    """Answer a learning card: no deck's daily counter changes, so only the answer does."""
    conn.execute(
        "update cards set type = 1, queue = 1, due = ?, left = 2 where id = ?",
        (int(now) - 10, card_id),
    )
    answer(conn, card_id, 3, 1000, now=now)


def col_mod(conn: sqlite3.Connection) -> int:
    return int(conn.execute("select mod from col").fetchone()[0])


@pytest.mark.parametrize(
    "act",
    [
        lambda conn, cid, now: card_actions.suspend(conn, cid, now=now),
        lambda conn, cid, now: card_actions.bury(conn, cid, now=now),
        lambda conn, cid, now: card_actions.forget(conn, cid, now=now, reset_counts=False),
        lambda conn, cid, now: card_actions.move(
            conn, cid, create_deck(conn, "Elsewhere", now=now - 1).id, now=now
        ),
        lambda conn, cid, now: answer(conn, cid, 3, 1000, now=now),
        lambda conn, cid, now: answer_learning(conn, cid, now=now),
    ],
    ids=["suspend", "bury", "forget", "move", "answer-new", "answer-learning"],
)
def test_every_change_moves_the_collections_modification_time(
    conn: sqlite3.Connection, card: int, act
) -> None:
    # A device compares col.mod to decide whether to sync at all.
    before = col_mod(conn)
    act(conn, card, NOW + 60)
    assert col_mod(conn) > before


def test_unsuspending_moves_the_modification_time_too(conn: sqlite3.Connection, card: int):
    card_actions.suspend(conn, card, now=NOW + 10)
    before = col_mod(conn)
    card_actions.unsuspend(conn, card, now=NOW + 60)
    assert col_mod(conn) > before
