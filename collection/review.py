"""Studying: the next card of a deck (Anki v3's queues) and answering it.

Reads are plain functions of a read-only connection; `answer` and `unbury_on_new_day`
write and must be re-runnable on a fresher copy (the caller may retry after a
storage conflict), so everything time-dependent comes from the `now` argument.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from collection.cards import CardView, card_state, card_view, write_card_state
from collection.col import Col
from collection.decks import DeckIndex, current_deck_id, deck_options
from collection.enums import (
    BURIED_QUEUES,
    LOCAL_USN,
    CardQueue,
    RevlogKind,
)
from collection.errors import CardChanged, CardNotStudyable
from collection.ids import free_row_id
from collection.scheduler import (
    LEECH_TAG,
    CardState,
    SchedTiming,
    apply_state,
    describe_next_states,
    learn_ahead_secs,
    next_states,
    restored_queue,
    sched_timing_for_collection,
)

# Remembered answers, for requests retried with the same Idempotency-Key.
IDEMPOTENCY_CONF_KEY: Final = "javumbo.answeredKeys"
IDEMPOTENCY_MEMORY: Final = 64


@dataclass(frozen=True, slots=True)
class QueueCounts:
    new: int
    learning: int
    review: int


@dataclass(frozen=True, slots=True)
class NextCard:
    card: CardView | None
    buttons: tuple[str, str, str, str] | None
    counts: QueueCounts
    message: str
    deck_id: int


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    card: CardState
    revlog_id: int
    leech: bool
    suspended: bool
    repeated: bool  # a retried request: the answer was applied before, not again


# --- timing and limits ---------------------------------------------------------------


def timing(col: Col, conn: sqlite3.Connection, now: float) -> SchedTiming:
    """Day boundaries for `now` (`conn` is kept for callers; `col` reads `crt` once)."""
    return sched_timing_for_collection(col.crt, col.conf, now)


def _day_start_ms(when: SchedTiming) -> int:
    return (when.next_day_at - 86_400) * 1000


def _marks(ids: Sequence[int]) -> str:
    return ",".join("?" * len(ids))


def _done_today(conn: sqlite3.Connection, ids: Sequence[int], when: SchedTiming) -> tuple[int, int]:
    """(new cards introduced, reviews done) today in these decks, from the revlog.

    `cross join` makes SQLite walk today's revlog entries (a range of its primary key,
    revlog ids being epoch milliseconds) and look each card up, instead of walking every
    card of the decks and probing the revlog for each: a day's reviews, not the
    collection's size.
    """
    new, reviews = conn.execute(
        "select count(distinct case when r.type = ? and r.lastIvl = 0 then r.cid end),"
        " coalesce(sum(r.type = ?), 0)"
        f" from revlog r cross join cards c on c.id = r.cid"
        f" where r.id >= ? and c.did in ({_marks(ids)})",
        (RevlogKind.LEARNING, RevlogKind.REVIEW, _day_start_ms(when), *ids),
    ).fetchone()
    return int(new), int(reviews)


def _first(
    conn: sqlite3.Connection, ids: Sequence[int], queues: str, due_max: int | None
) -> int | None:
    """The first card by (due, id) among `queues` in these decks, one indexed probe per deck.

    Probing deck by deck lets SQLite walk `ix_cards_sched` (did, queue, due) in order
    instead of sorting every candidate, whatever the size of the collection.
    """
    best: tuple[int, int] | None = None
    bound = "" if due_max is None else " and due <= ?"
    for did in ids:
        for queue in queues.split(","):
            row = conn.execute(
                f"select due, id from cards where did = ? and queue = ?{bound}"
                " order by due, id limit 1",
                (did, int(queue)) if due_max is None else (did, int(queue), due_max),
            ).fetchone()
            if row is not None and (best is None or (row[0], row[1]) < best):
                best = (int(row[0]), int(row[1]))
    return None if best is None else best[1]


def _count(conn: sqlite3.Connection, ids: Sequence[int], where: str, *args: int, cap: int) -> int:
    if cap <= 0:
        return 0
    (n,) = conn.execute(
        f"select count() from (select 1 from cards where did in ({_marks(ids)}) and {where}"
        " limit ?)",
        (*ids, *args, cap),
    ).fetchone()
    return int(n)


# --- the next card -------------------------------------------------------------------


# Is any card buried? `ix_cards_sched` starts with `did`, not `queue`, so this finds
# each deck id present in `cards` by a loose index scan (one probe per deck, whatever
# the collection's size) and probes (did, queue) for each, instead of scanning every
# card. Cards in decks missing from `col.decks` count too.
_ANY_BURIED = """
with recursive present(did) as (
    select (select min(did) from cards)
    union all
    select (select min(did) from cards where did > present.did) from present
    where present.did is not null
)
select 1 from present
where present.did is not null
  and exists (select 1 from cards where did = present.did and queue in (?, ?))
limit 1
"""


def needs_unbury(conn: sqlite3.Connection, *, now: float) -> bool:
    """Buried cards come back at the first rollover after they were buried."""
    return _needs_unbury(Col(conn), conn, now)


def _needs_unbury(col: Col, conn: sqlite3.Connection, now: float) -> bool:
    today = timing(col, conn, now).days_elapsed
    if int(col.conf.get("lastUnburied", 0)) >= today:
        return False
    row = conn.execute(_ANY_BURIED, BURIED_QUEUES).fetchone()
    return row is not None


def unbury_on_new_day(conn: sqlite3.Connection, *, now: float) -> None:
    col = Col(conn)
    today = timing(col, conn, now).days_elapsed
    if int(col.conf.get("lastUnburied", 0)) >= today:
        return
    restore_queues(conn, "queue in (?, ?)", BURIED_QUEUES, now=now)
    col.conf["lastUnburied"] = today
    col.mark_changed("conf")
    col.save(now=now)


def restore_queues(
    conn: sqlite3.Connection, where: str, args: Sequence[int], *, now: float
) -> None:
    """Put suspended or buried cards back in the queue their type and due imply (Anki)."""
    rows = conn.execute(f"select id, type, due from cards where {where}", args).fetchall()
    conn.executemany(
        "update cards set queue = ?, mod = ?, usn = ? where id = ?",
        [(restored_queue(ctype, due), int(now), LOCAL_USN, cid) for cid, ctype, due in rows],
    )


def next_card(conn: sqlite3.Connection, deck_id: int | None, *, now: float) -> NextCard:
    """What to study now in a deck and its subdecks (default: the current deck).

    Order, as Anki's v3 scheduler with default options: intraday learning cards that
    are due, then reviews and interday learning due today (oldest first, up to the
    deck's reviews/day), then new cards by position (up to new/day), then learning
    cards due within the learn-ahead window (`collapseTime`).
    """
    return _next_card(Col(conn), conn, deck_id, now)


def try_next_card(conn: sqlite3.Connection, deck_id: int | None, *, now: float) -> NextCard | None:
    """`next_card`, or None when buried cards must come back first (`needs_unbury`).

    Both checks in one read, parsing the `col` row once: a caller that gets None runs
    `unbury_on_new_day` (a write) and then `next_card`.
    """
    col = Col(conn)
    if _needs_unbury(col, conn, now):
        return None
    return _next_card(col, conn, deck_id, now)


def _next_card(col: Col, conn: sqlite3.Connection, deck_id: int | None, now: float) -> NextCard:
    decks = DeckIndex(col)
    if deck_id is None:
        deck_id = current_deck_id(col, decks)
    ids = decks.subtree(deck_id)  # DeckNotFound for an unknown deck
    options = deck_options(col, decks.get(deck_id))
    when = timing(col, conn, now)
    today, now_s = when.days_elapsed, int(now)
    cutoff = now_s + learn_ahead_secs(col.conf)
    new_done, reviews_done = _done_today(conn, ids, when)
    new_left = max(options.new_per_day - new_done, 0)
    reviews_left = max(options.rev_per_day - reviews_done, 0)

    counts = QueueCounts(
        new=_count(conn, ids, "queue = ?", CardQueue.NEW, cap=new_left),
        learning=_count(conn, ids, "queue = ? and due <= ?", CardQueue.LEARN, cutoff, cap=10_000)
        + _count(conn, ids, "queue = ? and due <= ?", CardQueue.DAY_LEARN, today, cap=10_000),
        review=_count(
            conn, ids, "queue = ? and due <= ?", CardQueue.REVIEW, today, cap=reviews_left
        ),
    )
    card_id = (
        _first(conn, ids, f"{CardQueue.LEARN}", now_s)
        or (reviews_left and _first(conn, ids, f"{CardQueue.REVIEW},{CardQueue.DAY_LEARN}", today))
        or (new_left and _first(conn, ids, f"{CardQueue.NEW}", None))
        or _first(conn, ids, f"{CardQueue.LEARN}", cutoff)
    )
    if not card_id:
        message = _why_nothing(conn, ids, new_left, reviews_left, today, cutoff)
        return NextCard(None, None, counts, message, deck_id)

    view = card_view(conn, decks, card_id)
    state = card_state(conn, card_id)
    card_options = deck_options(col, decks.by_id.get(state.did) or decks.get(deck_id))
    buttons = describe_next_states(next_states(state, card_options, today), now, when.next_day_at)
    return NextCard(view, buttons, counts, "", deck_id)


def _why_nothing(
    conn: sqlite3.Connection,
    ids: Sequence[int],
    new_left: int,
    reviews_left: int,
    today: int,
    cutoff: int,
) -> str:
    if _count(conn, ids, "1", cap=1) == 0:
        return "This deck is empty. Add cards to start studying."
    if _count(
        conn, ids, "queue in (?, ?)", CardQueue.SUSPENDED, CardQueue.USER_BURIED, cap=1
    ) and not (_count(conn, ids, "queue >= 0", cap=1)):
        return "Every card in this deck is suspended or buried."
    if new_left == 0 and _count(conn, ids, "queue = ?", CardQueue.NEW, cap=1):
        return "Daily limit reached: no more new cards today. Come back tomorrow."
    if reviews_left == 0 and _count(
        conn, ids, "queue = ? and due <= ?", CardQueue.REVIEW, today, cap=1
    ):
        return "Daily limit reached: no more reviews today. Come back tomorrow."
    if _count(conn, ids, "queue = ? and due > ?", CardQueue.LEARN, cutoff, cap=1):
        return "Congratulations! Some learning cards are due later today."
    return "Congratulations! You have finished this deck for now."


# --- answering -----------------------------------------------------------------------


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
    remembered = _remembered(col, idempotency_key)
    if remembered is not None:
        if remembered.get("cardId") != card_id:
            raise CardChanged("This Idempotency-Key was already used for another card.")
        card = card_state(conn, card_id)
        return AnswerOutcome(card, int(remembered["revlogId"]), False, False, repeated=True)

    card = card_state(conn, card_id)
    if card.queue in (CardQueue.SUSPENDED, *BURIED_QUEUES):
        state = "suspended" if card.queue == CardQueue.SUSPENDED else "buried"
        raise CardNotStudyable(f"This card is {state}; unsuspend or unbury it to study it.")
    if expected_reps is not None and card.reps != expected_reps:
        raise CardChanged(
            f"This card was answered elsewhere meanwhile (reviews: {card.reps}, "
            f"expected {expected_reps}); fetch the next card again."
        )
    decks = DeckIndex(col)
    deck = decks.by_id.get(card.did) or decks.get(1)
    options = deck_options(col, deck)
    when = timing(col, conn, now)
    result = apply_state(
        card,
        options,
        next_states(card, options, when.days_elapsed),
        ease,
        now,
        when.days_elapsed,
        time_taken_ms,
        next_day_at=when.next_day_at,
    )
    new = result.card
    write_card_state(conn, new)
    revlog = result.revlog.as_row()
    revlog["id"] = free_row_id(conn, "revlog", revlog["id"])
    conn.execute(
        "insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
        " values (:id, :cid, :usn, :ease, :ivl, :lastIvl, :factor, :time, :type)",
        revlog,
    )
    if result.leech:
        _tag_leech(conn, card.nid, now=now)
    _count_today(col, decks, card, when, now=now)
    if idempotency_key is not None:
        _remember(col, idempotency_key, card_id, revlog["id"])
    col.save(now=now)
    return AnswerOutcome(new, revlog["id"], result.leech, result.suspend, repeated=False)


def _tag_leech(conn: sqlite3.Connection, note_id: int, *, now: float) -> None:
    (tags,) = conn.execute("select tags from notes where id = ?", (note_id,)).fetchone()
    words = str(tags).split()
    if LEECH_TAG.casefold() in (w.casefold() for w in words):
        return
    conn.execute(
        "update notes set tags = ?, mod = ?, usn = ? where id = ?",
        (f" {' '.join([*words, LEECH_TAG])} ", int(now), LOCAL_USN, note_id),
    )


def _count_today(
    col: Col, decks: DeckIndex, card: CardState, when: SchedTiming, *, now: float
) -> None:
    """Keep the decks' `newToday`/`revToday` counters as Anki does, for Anki's sake."""
    key = (
        "newToday"
        if card.queue == CardQueue.NEW
        else "revToday"
        if card.queue == CardQueue.REVIEW
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
        day, count = (deck.get(key) or [0, 0])[:2]
        deck[key] = [when.days_elapsed, (int(count) if day == when.days_elapsed else 0) + 1]
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
