"""Where new cards go in the new queue: a preset's "insertion order" (schema-11
`new.order`: 0 random, 1 in order added), as Anki applies it.

- A card added to a deck whose preset inserts at random gets a position drawn from the
  next position (`nextPos`): Anki seeds its generator with that number, so the same
  collection gives the same position here as in Anki.
- When a deck's insertion order changes (its preset's option changes, it is given
  another preset, or its preset is deleted), its new cards are re-sorted from
  position 1: in the order their notes were added, or shuffled, as Anki's deck options
  screen does it.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any, Final

from collection.col import Col
from collection.decks import DeckIndex, deck_preset
from collection.enums import CardType
from collection.scheduler.rng import random_u32_in_range

INSERT_RANDOM: Final = 0
INSERT_IN_ORDER: Final = 1


def insert_order(col: Col, deck: dict[str, Any]) -> int:
    """The deck's insertion order (`INSERT_RANDOM` or `INSERT_IN_ORDER`)."""
    order = deck_preset(col, deck).get("new", {}).get("order", INSERT_IN_ORDER)
    return INSERT_RANDOM if order == INSERT_RANDOM else INSERT_IN_ORDER


def random_position(next_position: int) -> int:
    """Anki's random insertion: `StdRng::seed_from_u64(next).random_range(1..max(next,
    1000))`, so positions stay spread over at least a thousand slots."""
    return random_u32_in_range(next_position, 1, max(next_position, 1000))


def position_in_deck(col: Col, deck: dict[str, Any], next_position: int) -> int:
    """The position a card added to `deck` gets, `next_position` being the note's."""
    if insert_order(col, deck) == INSERT_RANDOM:
        return random_position(next_position)
    return next_position


def insert_orders(col: Col, decks: DeckIndex) -> dict[int, int]:
    """Every regular deck's insertion order, to compare before and after a change."""
    return {
        deck_id: insert_order(col, deck)
        for deck_id, deck in decks.by_id.items()
        if not deck.get("dyn")
    }


def resort_changed_decks(
    conn: sqlite3.Connection,
    col: Col,
    before: dict[int, int],
    after: dict[int, int],
    *,
    now: float,
) -> None:
    """Re-sort the new cards of every deck whose insertion order changed."""
    for deck_id, order in sorted(after.items()):
        if before.get(deck_id, order) != order:
            _resort_deck(conn, deck_id, order, usn=col.usn, now=now)


def _resort_deck(
    conn: sqlite3.Connection, deck_id: int, order: int, *, usn: int, now: float
) -> None:
    """Positions from 1, one per note (a note's cards share it): by note id, or
    shuffled. Cards lent to a filtered deck keep theirs in `odue`, as in Anki."""
    rows = conn.execute(
        "select id, nid, odid, due, odue from cards"
        " where (did = ? or (odid != 0 and odid = ?)) and type = ?",
        (deck_id, deck_id, CardType.NEW),
    ).fetchall()
    note_ids = sorted({int(r[1]) for r in rows})
    if order == INSERT_RANDOM:
        random.SystemRandom().shuffle(note_ids)
    position = {nid: index + 1 for index, nid in enumerate(note_ids)}
    for card_id, note_id, odid, due, odue in rows:
        new = position[int(note_id)]
        column, current = ("odue", odue) if odid else ("due", due)
        if int(current) != new:
            conn.execute(
                f"update cards set {column} = ?, mod = ?, usn = ? where id = ?",
                (new, int(now), usn, card_id),
            )
