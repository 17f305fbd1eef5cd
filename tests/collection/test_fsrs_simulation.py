"""Thirty days of study with FSRS on, day by day, in Javumbo and in real Anki with the
same answers: the same cards are due every day, and at the end every card has the same
schedule and the same memory state.

One collection is made in Anki (FSRS switched on as the deck options screen does it)
and copied, as the schema-11 file Javumbo stores, for Javumbo's scheduler. Each day
both sides answer the same cards (everything due, a few new ones) with the same
buttons (seeded), Anki through its own v3 scheduler with its study queues built (so its
load balancer spreads the intervals, as in the reviewer), Javumbo through
`collection.review.answering.answer`; then both collections age by one day (every due
date, last-review time and review-log time moves a day back), which is how both
schedulers see the next day come.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection

from collection.review.answering import answer
from tests.sync.test_fsrs_sync import answer_in_anki, turn_fsrs_on

pytestmark = pytest.mark.interop

DAYS = 30
NOTES = 40
NEW_PER_DAY = 6
DAY = 86_400


Rows = list[tuple[Any, ...]]
Query = Callable[..., Rows]  # (sql, *args) -> rows


def sqlite_query(db: sqlite3.Connection) -> Query:
    return lambda sql, *args: db.execute(sql, args).fetchall()


def anki_query(col: Collection) -> Query:
    return lambda sql, *args: [tuple(row) for row in col.db.all(sql, *args)]


def due_today(query: Query, today: int) -> list[int]:
    """What a learner studies today: every review and (re)learning card that is due
    (learning steps are minutes: by the next day they all are), then new cards."""
    due = query(
        "select id from cards where (queue in (2, 3) and due <= ?) or queue = 1 order by id",
        today,
    )
    new = query("select id from cards where queue = 0 order by due, id")
    return [cid for (cid,) in due] + [cid for (cid,) in new[:NEW_PER_DAY]]


def age_one_day(query: Query) -> None:
    """Move every time in the collection one day into the past."""
    query("update cards set due = due - 1 where queue in (2, 3)")
    query(f"update cards set due = due - {DAY} where queue = 1")
    query(f"update revlog set id = id - {DAY * 1000}")
    for cid, data in query("select id, data from cards where data like '%lrt%'"):
        fields = json.loads(data)
        fields["lrt"] -= DAY
        query("update cards set data = ? where id = ?", json.dumps(fields), cid)


def schedule(query: Query) -> Rows:
    """Every card's schedule (intraday due times left out: the answers' seconds differ)."""
    return query(
        "select id, type, queue, case when queue = 1 then 0 else due end, ivl, factor, reps,"
        " lapses, left from cards order by id"
    )


def memory_states(query: Query) -> dict[int, dict[str, Any]]:
    """Every card's data but the second of its last review."""
    return {
        cid: {k: v for k, v in json.loads(data).items() if k != "lrt"}
        for cid, data in query("select id, data from cards")
    }


def test_thirty_days_of_study_match_anki(tmp_path: Path) -> None:
    (tmp_path / "anki").mkdir()
    anki_path = tmp_path / "anki" / "collection.anki2"
    anki = Collection(str(anki_path))
    for number in range(NOTES):
        note = anki.new_note(anki.models.by_name("Basic"))
        note["Front"], note["Back"] = f"word {number}", f"meaning {number}"
        anki.add_note(note, 1)
    turn_fsrs_on(anki)
    anki.close(downgrade=True)  # the schema-11 file Javumbo keeps
    shutil.copy(anki_path, tmp_path / "javumbo.anki2")
    anki = Collection(str(anki_path))
    ours = sqlite3.connect(tmp_path / "javumbo.anki2")
    theirs_query, ours_query = anki_query(anki), sqlite_query(ours)

    rng = random.Random(30)
    answers = 0
    for day in range(DAYS):
        studied = due_today(ours_query, anki.sched.today)
        assert studied == due_today(theirs_query, anki.sched.today), f"day {day}"
        for card_id in studied:
            ease = rng.choices((1, 2, 3, 4), weights=(15, 10, 65, 10))[0]
            answer_in_anki(anki, card_id, ease)
            answer(ours, card_id, ease, 3000, now=time.time())
            answers += 1
        for query in (ours_query, theirs_query):
            age_one_day(query)
        ours.commit()

    assert answers > 150
    assert schedule(ours_query) == schedule(theirs_query)
    assert memory_states(ours_query) == memory_states(theirs_query)
    assert all("s" in m for m in memory_states(ours_query).values())  # all studied
    anki.close()
    ours.close()
