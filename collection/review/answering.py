"""Answering a card (Anki's `scheduler/answering`): the card's new state, its review
log entry, leeches, the decks' daily counters, and the answers remembered for requests
retried with the same Idempotency-Key.

`answer` writes and must be re-runnable on a fresher copy (the caller may retry after a
storage conflict), so everything time-dependent comes from the `now` argument.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Final

from collection.cards import card_state, review_history, write_card_state
from collection.col import Col, mark_modified
from collection.decks import DeckIndex, deck_fsrs, deck_options
from collection.enums import BURIED_QUEUES, CardQueue
from collection.errors import CardChanged, CardNotStudyable
from collection.ids import free_row_id
from collection.review.balance import load_balancer
from collection.review.gathering import FILTERED_MESSAGE, day_count
from collection.review.queue import timing
from collection.scheduler import (
    LEECH_TAG,
    AnswerResult,
    CardState,
    DeckOptions,
    SchedTiming,
    answer_card,
)
from collection.schema import DEFAULT_DECK_ID

# Remembered answers, for requests retried with the same Idempotency-Key.
IDEMPOTENCY_CONF_KEY: Final = "javumbo.answeredKeys"
IDEMPOTENCY_MEMORY: Final = 64


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    card: CardState
    revlog_id: int
    leech: bool
    suspended: bool
    repeated: bool  # a retried request: the answer was applied before, not again


def answer(
    conn: sqlite3.Connection,
    card_id: int,
    ease: int,
    time_taken_ms: int,
    *,
    now: float,
    idempotency_key: str | None = None,
    expected_reps: int | None = None,
) -> AnswerOutcome:
    """Answer a card with button `ease` (1-4), as Anki's v3 scheduler does.

    With `idempotency_key`, an answer already applied under that key is not applied
    again: its result is returned (`repeated`). With `expected_reps`, a card answered
    since the client saw it (its `reps` moved on) raises `CardChanged`.
    """
    if ease not in (1, 2, 3, 4):
        raise ValueError("ease must be 1, 2, 3 or 4")
    col = Col(conn)
    repeated = _repeated_answer(conn, col, card_id, idempotency_key)
    if repeated is not None:
        return repeated
    card = card_state(conn, card_id)
    _check_answerable(card, expected_reps)
    decks = DeckIndex(col)
    deck = decks.by_id.get(card.did) or decks.get(DEFAULT_DECK_ID)
    options = deck_options(col, deck)
    fsrs = deck_fsrs(col, deck)
    when = timing(col, conn, now)
    result = answer_card(
        card,
        options,
        ease,
        now,
        when.days_elapsed,
        time_taken_ms,
        next_day_at=when.next_day_at,
        usn=col.usn,
        fsrs=fsrs,
        history=review_history(conn, card_id) if fsrs is not None else (),
        balancer=load_balancer(conn, col, decks, card, when),
    )
    revlog_id = _write_answer(conn, col, result, now=now)
    _bury_siblings(conn, col, card, options, now=now)
    _count_today(col, decks, card, when, now=now)
    if idempotency_key is not None:
        _remember(col, idempotency_key, card_id, revlog_id)
    col.save(now=now)
    # Every answer moves col.mod, as in Anki: a device decides by it whether to sync.
    mark_modified(conn, now=now)
    return AnswerOutcome(result.card, revlog_id, result.leech, result.suspend, repeated=False)


def _repeated_answer(
    conn: sqlite3.Connection, col: Col, card_id: int, key: str | None
) -> AnswerOutcome | None:
    """The outcome of an answer already applied under `key`, if there is one;
    CardChanged if `key` was used to answer another card."""
    remembered = _remembered(col, key)
    if remembered is None:
        return None
    if remembered.get("cardId") != card_id:
        raise CardChanged("This Idempotency-Key was already used for another card.")
    card = card_state(conn, card_id)
    return AnswerOutcome(card, int(remembered["revlogId"]), False, False, repeated=True)


def _check_answerable(card: CardState, expected_reps: int | None) -> None:
    """CardNotStudyable for a suspended or buried card or one in a filtered deck;
    CardChanged for one answered since the client saw it."""
    if card.queue in (CardQueue.SUSPENDED, *BURIED_QUEUES):
        state = "suspended" if card.queue == CardQueue.SUSPENDED else "buried"
        raise CardNotStudyable(f"This card is {state}; unsuspend or unbury it to study it.")
    if card.odid:
        raise CardNotStudyable(FILTERED_MESSAGE)
    if expected_reps is not None and card.reps != expected_reps:
        raise CardChanged(
            f"This card was answered elsewhere meanwhile (reviews: {card.reps}, "
            f"expected {expected_reps}); fetch the next card again."
        )


def _write_answer(conn: sqlite3.Connection, col: Col, result: AnswerResult, *, now: float) -> int:
    """Write the answered card, its review log entry under a free id, and the leech tag
    if it just became one, all at `col.usn`; the review log entry's id."""
    write_card_state(conn, result.card)
    revlog = result.revlog.as_row()
    revlog["id"] = free_row_id(conn, "revlog", revlog["id"])
    conn.execute(
        "insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
        " values (:id, :cid, :usn, :ease, :ivl, :lastIvl, :factor, :time, :type)",
        revlog,
    )
    if result.leech:
        _tag_leech(conn, col, result.card.nid, now=now)
    return int(revlog["id"])


def _bury_siblings(
    conn: sqlite3.Connection, col: Col, card: CardState, options: DeckOptions, *, now: float
) -> None:
    """Bury the answered card's siblings until tomorrow, as the preset asks, whatever
    their due date, as Anki does: new siblings after any answer, review siblings unless
    a new card was answered, interday learning siblings only after a (re)learning card
    (Anki gathers learning cards first, then reviews, then new ones)."""
    answered = card.queue
    queues = [
        queue
        for queue, bury in (
            (CardQueue.NEW, options.bury_new),
            (CardQueue.REVIEW, options.bury_reviews and answered != CardQueue.NEW),
            (
                CardQueue.DAY_LEARN,
                options.bury_interday_learning
                and answered not in (CardQueue.NEW, CardQueue.REVIEW),
            ),
        )
        if bury
    ]
    if not queues:
        return
    marks = ", ".join("?" * len(queues))
    conn.execute(
        f"update cards set queue = ?, mod = ?, usn = ? where nid = ? and id != ?"
        f" and queue in ({marks})",
        (CardQueue.SCHED_BURIED, int(now), col.usn, card.nid, card.id, *queues),
    )


def _tag_leech(conn: sqlite3.Connection, col: Col, note_id: int, *, now: float) -> None:
    """Add the leech tag to the note, and to the tag registry if it is not there yet
    (in any case), as Anki does."""
    (tags,) = conn.execute("select tags from notes where id = ?", (note_id,)).fetchone()
    words = str(tags).split()
    if LEECH_TAG.casefold() in (w.casefold() for w in words):
        return
    conn.execute(
        "update notes set tags = ?, mod = ?, usn = ? where id = ?",
        (f" {' '.join([*words, LEECH_TAG])} ", int(now), col.usn, note_id),
    )
    registry = col.tags
    if LEECH_TAG.casefold() not in (t.casefold() for t in registry):
        registry[LEECH_TAG] = col.usn
        col.mark_changed("tags")


def _count_today(
    col: Col, decks: DeckIndex, card: CardState, when: SchedTiming, *, now: float
) -> None:
    """Keep the decks' `newToday`/`revToday` counters as Anki does (the daily limits read them);
    each deck counted is stamped (`mod`, `usn`) as Anki's `update_deck_stats` does."""
    key = (
        "newToday"
        if card.queue == CardQueue.NEW
        else "revToday"
        if card.queue in (CardQueue.REVIEW, CardQueue.DAY_LEARN)
        else None
    )
    if key is None or card.did not in decks.by_id:
        return
    name = str(decks.by_id[card.did]["name"])
    parts = name.split("::")
    for depth in range(len(parts), 0, -1):
        deck_id = decks.find("::".join(parts[:depth]))
        if deck_id is None:
            continue
        deck = decks.by_id[deck_id]
        deck[key] = [when.days_elapsed, day_count(deck, key, when.days_elapsed) + 1]
        deck.update(mod=int(now), usn=col.usn)
    col.mark_changed("decks")


def _remembered(col: Col, key: str | None) -> dict[str, Any] | None:
    if key is None:
        return None
    memory = col.conf.get(IDEMPOTENCY_CONF_KEY)
    if not isinstance(memory, list):
        return None
    return next((m for m in memory if isinstance(m, dict) and m.get("key") == key), None)


def _remember(col: Col, key: str, card_id: int, revlog_id: int) -> None:
    memory = col.conf.get(IDEMPOTENCY_CONF_KEY)
    entries = [m for m in memory if isinstance(m, dict)] if isinstance(memory, list) else []
    entries.append({"key": key, "cardId": card_id, "revlogId": revlog_id})
    col.conf[IDEMPOTENCY_CONF_KEY] = entries[-IDEMPOTENCY_MEMORY:]
    col.mark_changed("conf")
