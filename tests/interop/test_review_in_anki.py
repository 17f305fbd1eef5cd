"""Real Anki, opening a collection we studied in, agrees on what is due and what happened."""

from __future__ import annotations

import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from anki.collection import Collection

from collection.cards import add_card
from collection.col import Col
from collection.review import answer, next_card, timing
from collection.schema import create_collection

pytestmark = pytest.mark.interop


def test_anki_sees_the_same_due_counts_and_history(tmp_path: Path) -> None:
    now = time.time()
    path = tmp_path / "ours.anki2"
    with closing(sqlite3.connect(path)) as conn:
        create_collection(conn, now=now - 40 * 86_400)
        today = timing(Col(conn), conn, now).days_elapsed
        cards = [add_card(conn, f"q{i}", "a", None, now=now).card_id for i in range(40)]
        for i, card in enumerate(cards[:6]):  # reviews, some overdue, one not yet due
            conn.execute(
                "update cards set type = 2, queue = 2, due = ?, ivl = 8, factor = 2500, reps = 4"
                " where id = ?",
                (today - i + 1, card),
            )
        conn.execute("update cards set queue = -1 where id = ?", (cards[6],))
        conn.execute("update cards set queue = -3 where id = ?", (cards[7],))
        # Study: three new cards (Good, Good, Easy), two reviews (Again, Good).
        for card, ease in (
            (cards[10], 3),
            (cards[11], 3),
            (cards[12], 4),
            (cards[2], 1),
            (cards[3], 3),
        ):
            answer(conn, card, ease, 5_000, now=now)
        ours = next_card(conn, None, now=now + 1)
        history = conn.execute(
            "select cid, ease, ivl, lastIvl, factor, time, type from revlog order by id"
        ).fetchall()
        conn.commit()

    copy = tmp_path / "anki.anki2"
    shutil.copyfile(path, copy)
    col = Collection(str(copy))
    try:
        new, learning, review = col.sched.counts()
        assert (ours.counts.new, ours.counts.review) == (new, review)
        assert ours.counts.learning == learning
        anki_history = col.db.all(
            "select cid, ease, ivl, lastIvl, factor, time, type from revlog order by id"
        )
        assert [tuple(row) for row in anki_history] == history
        problems, _ = col.fix_integrity()
        assert [p for p in problems.splitlines() if "rebuilt" not in p.lower()] == []
    finally:
        col.close()
