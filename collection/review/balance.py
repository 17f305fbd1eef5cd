"""The load balancer's view of a collection: for the card being studied, how many
cards of its preset are due on each of the next days (`scheduler.load_balancer`).

Anki counts every card of the preset's decks whose `due` falls in the next 99 days,
whatever its queue (so new cards whose position number lands there count too, as in
Anki). Anki takes that count when it builds its study queues and adds each card it
then answers; here it is taken from the collection as it is when the card is shown
or answered, which is the same except for cards that left one of those days during
the session (a new card studied, a card rescheduled).

The balancer is on unless the collection says otherwise (`loadBalancerEnabled`, a
preference Anki syncs); its weekdays are the learner's, from `localOffset`.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from collection.col import Col
from collection.decks import DeckIndex
from collection.enums import CardQueue
from collection.scheduler import CardState, SchedTiming
from collection.scheduler.load_balancer import BALANCED_DAYS, LoadBalancer
from collection.scheduler.rng import fuzz_seed
from collection.scheduler.timing import local_minutes_west
from collection.schema import DEFAULT_DCONF_ID

ENABLED_CONF_KEY: Final = "loadBalancerEnabled"
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday is 0)
_ALL_QUEUES: Final = tuple(int(q) for q in CardQueue)


def load_balancer(
    conn: sqlite3.Connection, col: Col, decks: DeckIndex, card: CardState, when: SchedTiming
) -> LoadBalancer | None:
    """The balancer for `card` (in a regular deck), or None when balancing is off or
    the card's deck has no preset of its own to balance within."""
    if col.conf.get(ENABLED_CONF_KEY, True) is False:
        return None
    deck = decks.by_id.get(card.did)
    if deck is None or deck.get("dyn"):
        return None
    preset_id = int(deck.get("conf", DEFAULT_DCONF_ID))
    preset = col.dconf.get(str(preset_id))
    if not isinstance(preset, dict):
        return None
    deck_ids = [
        did
        for did, d in decks.by_id.items()
        if not d.get("dyn") and int(d.get("conf", DEFAULT_DCONF_ID)) == preset_id
    ]
    today = when.days_elapsed
    window = (today, today + BALANCED_DAYS)
    queues = ",".join("?" * len(_ALL_QUEUES))
    in_decks = f"did in ({','.join('?' * len(deck_ids))})"
    # Anki balances only within a preset that has cards due (queue aside: a new card
    # whose position falls in the window counts, as in Anki).
    if not any(
        conn.execute(
            f"select 1 from cards where did = ? and queue in ({queues}) and due >= ? and due < ?"
            " limit 1",
            (did, *_ALL_QUEUES, *window),
        ).fetchone()
        for did in deck_ids
    ):
        return None

    def due_counts(first: int, last: int) -> list[int]:
        # One index range per (deck, queue): ix_cards_sched is (did, queue, due).
        counts = [0] * (last - first + 1)
        for due, count in conn.execute(
            f"select due, count() from cards where {in_decks} and queue in ({queues})"
            " and due >= ? and due <= ? group by due",
            (*deck_ids, *_ALL_QUEUES, today + first, today + last),
        ):
            counts[int(due) - today - first] = int(count)
        return counts

    bury_reviews = bool(preset.get("rev", {}).get("bury", False))
    # The card's own note, when siblings are kept apart: the days of its few cards.
    note_days: frozenset[int] = frozenset()
    if bury_reviews:
        note_days = frozenset(
            int(due) - today
            for (due,) in conn.execute(
                f"select due from cards where nid = ? and {in_decks}"
                f" and queue in ({queues}) and due >= ? and due < ?",
                (card.nid, *deck_ids, *_ALL_QUEUES, *window),
            )
        )
    return LoadBalancer(
        due_counts=due_counts,
        note_days=note_days,
        easy_days=_easy_days(preset),
        tomorrow_weekday=_weekday(when.next_day_at, col.conf),
        note_id=card.nid if bury_reviews else None,
        seed=fuzz_seed(card.id, card.reps),
    )


def _easy_days(preset: dict[str, Any]) -> tuple[float, ...]:
    values = preset.get("easyDaysPercentages")
    if not isinstance(values, list) or len(values) != 7:
        return ()
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return ()
    return tuple(float(v) for v in values)


def _weekday(stamp: int, conf: dict[str, Any]) -> int:
    """The learner's weekday (Monday 0) at `stamp`, in their own time zone."""
    return ((stamp - local_minutes_west(conf) * 60) // 86_400 + _EPOCH_WEEKDAY) % 7
