"""Card counts by state for a deck and its subdecks, in one indexed aggregate query."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

from collection.col import Col
from collection.decks import DeckIndex
from collection.enums import CardQueue, CardType

MATURE_IVL: Final = 21  # days; Anki's boundary between young and mature review cards

# Each state by queue (and type / interval); the states are disjoint. A card in none of
# them (e.g. `CardQueue.PREVIEW_REPEAT`, in filtered decks) still counts in `total`.
_LEARNING: Final = f"queue in ({CardQueue.LEARN}, {CardQueue.DAY_LEARN})"
_STATES: Final = (
    ("new", f"queue = {CardQueue.NEW}"),
    ("learning", f"{_LEARNING} and type = {CardType.LEARN}"),
    ("relearning", f"{_LEARNING} and type = {CardType.RELEARN}"),
    ("young", f"queue = {CardQueue.REVIEW} and ivl < {MATURE_IVL}"),
    ("mature", f"queue = {CardQueue.REVIEW} and ivl >= {MATURE_IVL}"),
    ("suspended", f"queue = {CardQueue.SUSPENDED}"),
    ("buried", f"queue in ({CardQueue.SCHED_BURIED}, {CardQueue.USER_BURIED})"),
)
_SUMS: Final = ", ".join(
    f"coalesce(sum(case when {condition} then 1 else 0 end), 0)" for _, condition in _STATES
)


@dataclass(frozen=True, slots=True)
class DeckStats:
    new: int
    learning: int
    relearning: int
    young: int
    mature: int
    suspended: int
    buried: int
    total: int

    def counts(self) -> dict[str, int]:
        """The counts keyed as the HTTP API names them (`New`, `Learning`, ...)."""
        return {name.capitalize(): getattr(self, name) for name, _ in _STATES}


def stats_query(deck_count: int) -> str:
    """The aggregate over `cards` for `deck_count` deck ids (`did in (...)`)."""
    marks = ",".join("?" * deck_count)
    return f"select count(), {_SUMS} from cards where did in ({marks})"


def deck_stats(conn: sqlite3.Connection, deck_id: int) -> DeckStats:
    """Counts for the cards in a deck and its subdecks; DeckNotFound if unknown.

    Cards are counted where they are: a card borrowed by a filtered deck counts there.
    """
    ids = DeckIndex(Col(conn)).subtree(deck_id)
    total, *counts = conn.execute(stats_query(len(ids)), ids).fetchone()
    new, learning, relearning, young, mature, suspended, buried = (int(n) for n in counts)
    return DeckStats(new, learning, relearning, young, mature, suspended, buried, int(total))
