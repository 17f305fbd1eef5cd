"""What a learner can do to a card besides answering it: suspend, bury, forget, move."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from collection.col import Col, mark_modified, server_usn
from collection.decks import DeckIndex
from collection.enums import BURIED_QUEUES, CardQueue, CardType, RevlogKind
from collection.errors import CardNotFound, FilteredDeck
from collection.ids import next_row_id
from collection.notes import take_new_positions
from collection.scheduler.card import restored_queue


def _require(conn: sqlite3.Connection, card_id: int) -> tuple[int, int, int, int]:
    row = conn.execute(
        "select queue, type, ivl, factor from cards where id = ?", (card_id,)
    ).fetchone()
    if row is None:
        raise CardNotFound(card_id)
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _set_queue(conn: sqlite3.Connection, card_id: int, queue: int, *, now: float) -> None:
    conn.execute(
        "update cards set queue = ?, mod = ?, usn = ? where id = ?",
        (queue, int(now), server_usn(conn), card_id),
    )
    mark_modified(conn, now=now)


def restore_queues(
    conn: sqlite3.Connection, where: str, args: Sequence[int], *, now: float
) -> None:
    """Put suspended or buried cards back in the queue their type and due imply (Anki)."""
    rows = conn.execute(f"select id, type, due from cards where {where}", args).fetchall()
    if not rows:
        return
    usn = server_usn(conn)
    conn.executemany(
        "update cards set queue = ?, mod = ?, usn = ? where id = ?",
        [(restored_queue(ctype, due), int(now), usn, cid) for cid, ctype, due in rows],
    )
    mark_modified(conn, now=now)


def suspend(conn: sqlite3.Connection, card_id: int, *, now: float) -> None:
    queue, *_ = _require(conn, card_id)
    if queue != CardQueue.SUSPENDED:
        _set_queue(conn, card_id, CardQueue.SUSPENDED, now=now)


def unsuspend(conn: sqlite3.Connection, card_id: int, *, now: float) -> None:
    queue, *_ = _require(conn, card_id)
    if queue == CardQueue.SUSPENDED:
        restore_queues(conn, "id = ?", (card_id,), now=now)


def bury(conn: sqlite3.Connection, card_id: int, *, now: float) -> None:
    """Hide the card until the next day starts (Anki's manual bury)."""
    queue, *_ = _require(conn, card_id)
    if queue >= 0:
        _set_queue(conn, card_id, CardQueue.USER_BURIED, now=now)


def unbury(conn: sqlite3.Connection, card_id: int, *, now: float) -> None:
    queue, *_ = _require(conn, card_id)
    if queue in BURIED_QUEUES:
        restore_queues(conn, "id = ?", (card_id,), now=now)


def forget(conn: sqlite3.Connection, card_id: int, *, now: float, reset_counts: bool) -> None:
    """Make the card new again, at the end of the new queue, as Anki's "Reset" does."""
    _, _, ivl, factor = _require(conn, card_id)
    col = Col(conn)
    position = take_new_positions(col)
    counts = ", reps = 0, lapses = 0" if reset_counts else ""
    conn.execute(
        f"update cards set type = {CardType.NEW}, queue = {CardQueue.NEW}, due = ?, ivl = 0,"
        f" factor = 0, left = 0, odue = 0, mod = ?, usn = ?{counts} where id = ?",
        (position, int(now), col.usn, card_id),
    )
    revlog_id = next_row_id(conn, "revlog", now)
    conn.execute(
        "insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
        " values (?, ?, ?, 0, 0, ?, ?, 0, ?)",
        (revlog_id, card_id, col.usn, ivl, factor, RevlogKind.MANUAL),
    )
    col.save(now=now)


def move(conn: sqlite3.Connection, card_id: int, deck_id: int, *, now: float) -> None:
    _require(conn, card_id)
    deck = DeckIndex(Col(conn)).get(deck_id)  # DeckNotFound
    if deck.get("dyn"):
        raise FilteredDeck(f"{deck['name']!r} is a filtered deck; cards cannot be moved into it.")
    moved = conn.execute(
        "update cards set did = ?, mod = ?, usn = ? where id = ? and did != ?",
        (deck_id, int(now), server_usn(conn), card_id, deck_id),
    )
    if moved.rowcount:
        mark_modified(conn, now=now)
