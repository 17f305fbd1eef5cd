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
from collection.enums import BURIED_QUEUES, CardQueue, RevlogKind
from collection.review.balance import load_balancer
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
    cutoff = learn_ahead_cutoff(now, learn_ahead_secs(col.conf))
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
