"""What to study next (Anki's `scheduler/queue`): the next card of a deck and the
counts shown beside it, within the deck's daily limits and the learn-ahead window, and
buried cards coming back on a new day.

Reads are plain functions of a read-only connection; `unbury_on_new_day` writes and
must be re-runnable on a fresher copy (the caller may retry after a storage conflict),
so everything time-dependent comes from the `now` argument.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from collection.card_actions import restore_queues
from collection.card_faces import CardFace, card_face
from collection.cards import CardView, card_state, card_view, review_history
from collection.col import Col
from collection.decks import DeckIndex, current_deck_id, deck_fsrs, deck_options
from collection.enums import BURIED_QUEUES, CardQueue
from collection.review.balance import load_balancer
from collection.review.gathering import DayQueue, gather
from collection.scheduler import (
    CardState,
    SchedTiming,
    SchedulingStates,
    describe_next_states,
    learn_ahead_cutoff,
    learn_ahead_secs,
    next_states,
    sched_timing_for_collection,
)
from collection.scheduler.fsrs_states import current_retrievability, fsrs_next_states
from collection.schema import DEFAULT_DECK_ID


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
    face: CardFace | None = None  # the card rendered from its note type
    # Under FSRS: the probability of recalling the card now (None with SM-2, new cards).
    retrievability: float | None = None


# --- timing and limits ---------------------------------------------------------------


def timing(col: Col, conn: sqlite3.Connection, now: float) -> SchedTiming:
    """Day boundaries for `now` (`conn` is kept for callers; `col` reads `crt` once)."""
    return sched_timing_for_collection(col.crt, col.conf, now)


def _marks(ids: Sequence[int]) -> str:
    return ",".join("?" * len(ids))


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


def next_card(conn: sqlite3.Connection, deck_id: int | None, *, now: float) -> NextCard:
    """What to study now in a deck and its subdecks (default: the current deck).

    Today's cards are gathered as Anki's v3 scheduler gathers them (`gathering`: the
    daily limits of the deck and its subdecks, siblings kept out as the presets ask).
    Order: intraday learning cards that are due, then the day's main queue (reviews,
    interday learning and new cards, sorted and mixed as the preset says), then
    learning cards due within the learn-ahead window (`collapseTime`). Anki builds its
    main queue once per session; here it is built again for each card from what is
    left, so within a session the mix may come out in another order.
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
    when = timing(col, conn, now)
    cutoff = learn_ahead_cutoff(now, learn_ahead_secs(col.conf))
    day = gather(conn, col, decks, deck_id, when)
    learning = [card_id for due, card_id in day.learning if due <= cutoff]
    counts = QueueCounts(
        new=len(day.new),
        learning=len(learning) + len(day.day_learning),
        review=len(day.reviews),
    )
    due_now = [card_id for due, card_id in day.learning if due <= now]
    card_id = next(iter([*due_now, *day.main, *learning]), None)
    if card_id is None:
        message = _why_nothing(conn, decks, ids, day, when.days_elapsed, cutoff)
        return NextCard(None, None, counts, message, deck_id)

    view = card_view(conn, decks, card_id)
    state = card_state(conn, card_id)
    states, retrievability = scheduling_states(conn, col, decks, state, when, deck_id=deck_id)
    buttons = describe_next_states(states, now, when.next_day_at)
    face = card_face(conn, col, decks, card_id)
    return NextCard(view, buttons, counts, "", deck_id, face, retrievability)


def scheduling_states(
    conn: sqlite3.Connection,
    col: Col,
    decks: DeckIndex,
    state: CardState,
    when: SchedTiming,
    *,
    deck_id: int = DEFAULT_DECK_ID,
) -> tuple[SchedulingStates, float | None]:
    """Where each button takes the card, as Anki's reviewer shows it (SM-2 or FSRS, as
    its preset says; load balanced), and under FSRS its retrievability now.

    `deck_id` is the deck whose options apply if the card's own deck is missing.
    """
    home = decks.by_id.get(state.did) or decks.get(deck_id)
    options = deck_options(col, home)
    fsrs = deck_fsrs(col, home)
    balancer = load_balancer(conn, col, decks, state, when)
    if fsrs is None:
        return next_states(state, options, when.days_elapsed, balancer=balancer), None
    history = review_history(conn, state.id)
    states = fsrs_next_states(
        state,
        options,
        when.days_elapsed,
        config=fsrs,
        next_day_at=when.next_day_at,
        history=history,
        balancer=balancer,
    )
    return states, current_retrievability(state, fsrs, states, history, when.next_day_at)


def _why_nothing(
    conn: sqlite3.Connection,
    decks: DeckIndex,
    ids: Sequence[int],
    day: DayQueue,
    today: int,
    cutoff: int,
) -> str:
    if _count(conn, ids, "1", cap=1) == 0:
        return "This deck is empty. Add cards to start studying."
    if _count(
        conn, ids, "queue in (?, ?)", CardQueue.SUSPENDED, CardQueue.USER_BURIED, cap=1
    ) and not (_count(conn, ids, "queue >= 0", cap=1)):
        return "Every card in this deck is suspended or buried."
    if day.new_limit == 0 and _count(conn, ids, "queue = ?", CardQueue.NEW, cap=1):
        return "Daily limit reached: no more new cards today. Come back tomorrow."
    if day.review_limit == 0 and _count(
        conn, ids, "queue = ? and due <= ?", CardQueue.REVIEW, today, cap=1
    ):
        return "Daily limit reached: no more reviews today. Come back tomorrow."
    filtered = [deck_id for deck_id in ids if decks.get(deck_id).get("dyn")]
    if filtered and _count(conn, filtered, "queue >= 0", cap=1):
        return (
            "Nothing more to study here for now. Some cards are in a filtered deck, which"
            " is studied in Anki: empty or delete it there, and its cards come back here."
        )
    if _count(conn, ids, "queue = ? and due > ?", CardQueue.LEARN, cutoff, cap=1):
        return "Congratulations! Some learning cards are due later today."
    return "Congratulations! You have finished this deck for now."
