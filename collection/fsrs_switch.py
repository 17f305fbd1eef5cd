"""Turning FSRS on and off for a collection (`col.conf["fsrs"]`), as Anki's deck
options switch does: turning it on computes every answered card's memory state from
its review log (its home preset's parameters and retentions); turning it off clears
them."""

from __future__ import annotations

import sqlite3

from collection.cards import review_history
from collection.col import Col, mark_modified
from collection.decks import DeckIndex, deck_preset
from collection.enums import CardType
from collection.scheduler.card_data import (
    FSRS_KEYS,
    card_data_json,
    parse_card_data,
    with_memory,
)
from collection.scheduler.fsrs import memory_state_from_history
from collection.scheduler.fsrs_states import FsrsConfig
from collection.scheduler.timing import sched_timing_for_collection
from collection.schema import DEFAULT_DECK_ID

FSRS_CONF_KEY = "fsrs"


def fsrs_enabled(conn: sqlite3.Connection) -> bool:
    return Col(conn).conf.get(FSRS_CONF_KEY) is True


def set_fsrs(conn: sqlite3.Connection, enabled: bool, *, now: float) -> bool:
    """Switch the collection's scheduler; a no-op when it already is `enabled`."""
    col = Col(conn)
    if (col.conf.get(FSRS_CONF_KEY) is True) == enabled:
        return enabled
    col.conf[FSRS_CONF_KEY] = enabled
    col.mark_changed("conf")
    decks = DeckIndex(col)
    next_day_at = sched_timing_for_collection(col.crt, col.conf, now).next_day_at
    rows = conn.execute(
        "select id, did, odid, type, ivl, reps, factor, data from cards where type != ?",
        (CardType.NEW,),
    ).fetchall()
    for card_id, did, odid, ctype, ivl, reps, factor, data in rows:
        parsed = parse_card_data(data)
        if enabled:
            home = decks.by_id.get(odid or did) or decks.get(DEFAULT_DECK_ID)
            config = FsrsConfig.from_dconf(deck_preset(col, home))
            memory = memory_state_from_history(
                config.model,
                review_history(conn, card_id),
                card_type=ctype,
                card_ivl=ivl,
                card_reps=reps,
                card_factor=factor,
                next_day_at=next_day_at,
                historical_retention=config.historical_retention,
                ignore_before_ms=config.ignore_before_ms,
            )
            if memory is None:
                continue
            updated = with_memory(parsed, memory, config.desired_retention, config.decay)
        else:
            if not any(key in parsed for key in FSRS_KEYS):
                continue
            updated = {k: v for k, v in parsed.items() if k not in FSRS_KEYS}
        conn.execute(
            "update cards set data = ?, mod = ?, usn = ? where id = ?",
            (card_data_json(updated), int(now), col.usn, card_id),
        )
    col.save(now=now)
    mark_modified(conn, now=now)
    return enabled
