"""The study queue and answering, on a collection as the storage session hands it over."""

from __future__ import annotations

import sqlite3

import pytest

from collection.cards import add_card
from collection.col import Col, server_usn
from collection.decks import create_deck
from collection.errors import CardChanged, CardNotFound, CardNotStudyable, DeckNotFound
from collection.review import (
    IDEMPOTENCY_CONF_KEY,
    answer,
    needs_unbury,
    next_card,
    timing,
    unbury_on_new_day,
)
from tests.collection.conftest import NOW


def today(conn: sqlite3.Connection, now: float = NOW) -> int:
    return timing(Col(conn), conn, now).days_elapsed


def add(conn: sqlite3.Connection, front: str, deck_id: int | None = None) -> int:
    return add_card(conn, front, "back", deck_id, now=NOW).card_id


def set_card(conn: sqlite3.Connection, card_id: int, **columns: int) -> None:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    conn.execute(f"update cards set {assignments} where id = ?", (*columns.values(), card_id))


def study(conn: sqlite3.Connection, deck_id: int | None = None, now: float = NOW) -> int | None:
    shown = next_card(conn, deck_id, now=now).card
    return None if shown is None else shown.card_id


@pytest.mark.parametrize(
    ("new_mix", "order"),
    [
        (None, ("learning", "review_older", "new_1", "review_late", "new_2")),  # mixed
        (1, ("learning", "review_older", "review_late", "new_1", "new_2")),  # after
        (2, ("learning", "new_1", "new_2", "review_older", "review_late")),  # before
    ],
)
def test_order_is_due_learning_then_reviews_and_new_as_mixed(
    conn: sqlite3.Connection, new_mix: int | None, order: tuple[str, ...]
) -> None:
    if new_mix is not None:
        col = Col(conn)
        col.dconf["1"]["newMix"] = new_mix
        col.mark_changed("dconf")
        col.save(now=NOW)
    names = ("new_1", "new_2", "review_late", "review_older", "learning")
    cards = {name: add(conn, name) for name in names}
    day = today(conn)
    set_card(conn, cards["review_late"], type=2, queue=2, due=day, ivl=3, factor=2500)
    set_card(conn, cards["review_older"], type=2, queue=2, due=day - 2, ivl=3, factor=2500)
    set_card(conn, cards["learning"], type=1, queue=1, due=int(NOW) - 5, left=1)

    for name in order:
        assert study(conn) == cards[name], name
        set_card(conn, cards[name], queue=-1)  # out of the way, to see what comes next
    assert study(conn) is None


def test_new_cards_come_in_position_order(conn: sqlite3.Connection) -> None:
    first, second, third = add(conn, "a"), add(conn, "b"), add(conn, "c")
    set_card(conn, first, due=30)
    set_card(conn, third, due=1)
    assert study(conn) == third
    set_card(conn, third, queue=-1)
    assert study(conn) == second


def test_learning_cards_wait_unless_nothing_else_is_left(conn: sqlite3.Connection) -> None:
    new = add(conn, "new")
    soon = add(conn, "soon")
    set_card(conn, soon, type=1, queue=1, due=int(NOW) + 600, left=1)  # in 10 minutes
    assert study(conn) == new  # not due yet: the new card first
    set_card(conn, new, queue=-1)
    assert study(conn) == soon  # learn-ahead: within collapseTime (20 minutes)
    set_card(conn, soon, due=int(NOW) + 1800)  # half an hour away: not even ahead
    shown = next_card(conn, None, now=NOW)
    assert shown.card is None
    assert "later today" in shown.message


def test_reviews_due_tomorrow_wait_for_the_rollover(conn: sqlite3.Connection) -> None:
    card = add(conn, "r")
    set_card(conn, card, queue=-1)
    review = add(conn, "review")
    day = today(conn)
    set_card(conn, review, type=2, queue=2, due=day + 1, ivl=5, factor=2500)
    assert study(conn) is None
    # NOW is 15:30 UTC; the next day starts at 04:00 UTC (rollover hour 4).
    next_day_at = timing(Col(conn), conn, NOW).next_day_at
    assert study(conn, now=next_day_at - 1) is None
    assert study(conn, now=next_day_at + 1) == review


def test_rollover_hour_is_read_from_the_collection(conn: sqlite3.Connection) -> None:
    col = Col(conn)
    at_four = timing(col, conn, NOW).next_day_at
    col.conf["rollover"] = 6
    col.mark_changed("conf")
    col.save(now=NOW)
    assert timing(Col(conn), conn, NOW).next_day_at == at_four + 2 * 3600


def test_daily_new_limit_counts_todays_answers(conn: sqlite3.Connection) -> None:
    col = Col(conn)
    col.dconf["1"]["new"]["perDay"] = 2
    col.mark_changed("dconf")
    col.save(now=NOW)
    cards = [add(conn, f"n{i}") for i in range(4)]
    assert next_card(conn, None, now=NOW).counts.new == 2
    for card in cards[:2]:
        answer(conn, card, 4, 1000, now=NOW)  # Easy: graduates, leaves the new queue
    shown = next_card(conn, None, now=NOW)
    assert shown.card is None
    assert shown.counts.new == 0
    assert "limit" in shown.message.lower()
    # Tomorrow the limit starts again.
    tomorrow = timing(Col(conn), conn, NOW).next_day_at + 60
    assert next_card(conn, None, now=tomorrow).counts.new == 2


def test_malformed_day_counters_and_deck_limits_are_ignored(conn: sqlite3.Connection) -> None:
    """A deck written by some other client with odd counters or limits: the preset's
    limits apply, and the next answer writes the counter as Anki does."""
    day = today(conn)
    col = Col(conn)
    col.decks["1"].update(
        newToday=[day, "x"],
        revToday=[day],
        reviewLimit="many",
        newLimit=True,
        newLimitToday={"today": day, "limit": None},
    )
    col.mark_changed("decks")
    col.save(now=NOW)
    cards = [add(conn, f"n{i}") for i in range(25)]
    assert next_card(conn, None, now=NOW).counts.new == 20
    answer(conn, cards[0], 4, 1000, now=NOW)
    assert Col(conn).decks["1"]["newToday"] == [day, 1]
    assert next_card(conn, None, now=NOW).counts.new == 19


def test_daily_review_limit(conn: sqlite3.Connection) -> None:
    col = Col(conn)
    col.dconf["1"]["rev"]["perDay"] = 1
    col.mark_changed("dconf")
    col.save(now=NOW)
    day = today(conn)
    reviews = [add(conn, f"r{i}") for i in range(3)]
    for card in reviews:
        set_card(conn, card, type=2, queue=2, due=day, ivl=10, factor=2500)
    assert next_card(conn, None, now=NOW).counts.review == 1
    answer(conn, study(conn) or 0, 3, 1000, now=NOW)
    shown = next_card(conn, None, now=NOW)
    assert shown.card is None
    assert "no more reviews" in shown.message


def test_suspended_and_buried_cards_are_never_served(conn: sqlite3.Connection) -> None:
    suspended, sibling_buried, buried = add(conn, "s"), add(conn, "sb"), add(conn, "b")
    set_card(conn, suspended, queue=-1)
    set_card(conn, sibling_buried, queue=-2)
    set_card(conn, buried, queue=-3)
    shown = next_card(conn, None, now=NOW)
    assert shown.card is None
    assert shown.counts.new == 0
    assert "suspended or buried" in shown.message


def test_buried_cards_come_back_the_next_day(conn: sqlite3.Connection) -> None:
    card = add(conn, "b")
    set_card(conn, card, queue=-3)
    col = Col(conn)
    col.conf["lastUnburied"] = today(conn)
    col.mark_changed("conf")
    col.save(now=NOW)
    assert not needs_unbury(conn, now=NOW)
    tomorrow = timing(Col(conn), conn, NOW).next_day_at + 1
    assert needs_unbury(conn, now=tomorrow)
    unbury_on_new_day(conn, now=tomorrow)
    assert conn.execute("select queue from cards where id = ?", (card,)).fetchone()[0] == 0
    assert not needs_unbury(conn, now=tomorrow)


def test_subdecks_are_included_and_other_decks_not(conn: sqlite3.Connection) -> None:
    parent = create_deck(conn, "Lang", now=NOW)
    child = create_deck(conn, "Lang::Spanish", now=NOW)
    other = create_deck(conn, "Other", now=NOW)
    in_child = add(conn, "hola", child.id)
    add(conn, "elsewhere", other.id)
    assert study(conn, parent.id) == in_child
    assert next_card(conn, parent.id, now=NOW).counts.new == 1
    with pytest.raises(DeckNotFound):
        next_card(conn, 987654, now=NOW)


def test_empty_deck_says_so(conn: sqlite3.Connection) -> None:
    shown = next_card(conn, None, now=NOW)
    assert shown.card is None
    assert "empty" in shown.message


def test_buttons_are_labelled_like_anki(conn: sqlite3.Connection) -> None:
    add(conn, "new")
    shown = next_card(conn, None, now=NOW)
    assert shown.buttons is not None
    again, hard, good, _ = shown.buttons
    assert (again, hard, good) == ("1m", "6m", "10m")


def test_answer_writes_card_and_revlog(conn: sqlite3.Connection) -> None:
    card = add(conn, "q")
    outcome = answer(conn, card, 3, 7_000, now=NOW)
    row = conn.execute(
        "select type, queue, reps, left, usn from cards where id = ?", (card,)
    ).fetchone()
    assert row == (1, 1, 1, 1, server_usn(conn))
    revlog = conn.execute(
        "select id, cid, ease, ivl, lastIvl, factor, time, type from revlog"
    ).fetchall()
    assert revlog == [(outcome.revlog_id, card, 3, -600, 0, 0, 7_000, 0)]
    assert not outcome.repeated


def test_time_taken_is_capped_like_anki(conn: sqlite3.Connection) -> None:
    card = add(conn, "q")
    answer(conn, card, 3, 10 * 60_000, now=NOW)
    assert conn.execute("select time from revlog").fetchone()[0] == 60_000


def test_two_answers_in_one_millisecond_get_distinct_revlog_ids(conn: sqlite3.Connection) -> None:
    a, b = add(conn, "a"), add(conn, "b")
    first = answer(conn, a, 3, 1000, now=NOW).revlog_id
    second = answer(conn, b, 3, 1000, now=NOW).revlog_id
    assert second == first + 1


def test_same_idempotency_key_applies_once(conn: sqlite3.Connection) -> None:
    card = add(conn, "q")
    first = answer(conn, card, 3, 1000, now=NOW, idempotency_key="retry-me")
    again = answer(conn, card, 3, 1000, now=NOW + 5, idempotency_key="retry-me")
    assert again.repeated
    assert again.revlog_id == first.revlog_id
    assert conn.execute("select count() from revlog").fetchone()[0] == 1
    assert conn.execute("select reps from cards where id = ?", (card,)).fetchone()[0] == 1
    with pytest.raises(CardChanged):
        answer(conn, add(conn, "other"), 3, 1000, now=NOW, idempotency_key="retry-me")


def test_idempotency_memory_is_bounded(conn: sqlite3.Connection) -> None:
    card = add(conn, "q")
    for i in range(100):
        answer(conn, card, 3, 1000, now=NOW + i, idempotency_key=f"k{i}")
    assert len(Col(conn).conf[IDEMPOTENCY_CONF_KEY]) == 64


def test_expected_reviews_guard_refuses_a_stale_answer(conn: sqlite3.Connection) -> None:
    card = add(conn, "q")
    answer(conn, card, 3, 1000, now=NOW, expected_reps=0)
    with pytest.raises(CardChanged):
        answer(conn, card, 3, 1000, now=NOW + 1, expected_reps=0)
    assert conn.execute("select count() from revlog").fetchone()[0] == 1


def test_suspended_card_cannot_be_answered(conn: sqlite3.Connection) -> None:
    card = add(conn, "q")
    set_card(conn, card, queue=-1)
    with pytest.raises(CardNotStudyable):
        answer(conn, card, 3, 1000, now=NOW)
    with pytest.raises(CardNotFound):
        answer(conn, 123, 3, 1000, now=NOW)


def test_leech_is_tagged_on_the_note_and_suspended_by_option(conn: sqlite3.Connection) -> None:
    col = Col(conn)
    col.dconf["1"]["lapse"]["leechFails"] = 2
    col.dconf["1"]["lapse"]["leechAction"] = 0  # suspend
    col.mark_changed("dconf")
    col.save(now=NOW)
    card = add(conn, "hard one")
    day = today(conn)
    set_card(conn, card, type=2, queue=2, due=day, ivl=10, factor=2500, lapses=1, reps=5)
    outcome = answer(conn, card, 1, 1000, now=NOW)
    assert outcome.leech
    assert outcome.suspended
    (tags,) = conn.execute(
        "select n.tags from notes n join cards c on c.nid = n.id where c.id = ?", (card,)
    ).fetchone()
    assert tags.split() == ["leech"]
    assert conn.execute("select queue from cards where id = ?", (card,)).fetchone()[0] == -1
