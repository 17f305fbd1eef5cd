"""Burying siblings, the three deck options, against real Anki: the same collection
(made in Anki, copied as the schema-11 file Javumbo keeps) has the first card of
two-card notes answered on both sides; afterwards every card is in the same queue."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection

from collection.review.answering import answer
from tests.support.anki_presets import add_preset
from tests.sync.test_fsrs_sync import answer_in_anki

pytestmark = pytest.mark.interop

PRESETS: dict[str, dict[str, Any]] = {
    "no burying": {},
    "bury new": {"new": {"bury": True}},
    "bury reviews": {"rev": {"bury": True}},
    "bury interday learning": {"buryInterdayLearning": True},
    "bury all": {"new": {"bury": True}, "rev": {"bury": True}, "buryInterdayLearning": True},
}
# The answered card's state and its sibling's: type, queue, due relative to today (new:
# a position; intraday learning: seconds from now).
ANSWERED = {
    "new": (0, 0, 1),
    "learning": (1, 1, -5),
    "review": (2, 2, 0),
    "interday learning": (1, 3, 0),
    "relearning": (3, 1, -5),
}
SIBLINGS = {"new": (0, 0, 2), "review": (2, 2, 3), "interday learning": (1, 3, 1)}
PAIRS = {
    f"{first}, {sibling}": (ANSWERED[first], SIBLINGS[sibling])
    for first in ANSWERED
    for sibling in SIBLINGS
}


def _set(col: Collection, card_id: int, state: tuple[int, int, int]) -> None:
    ctype, queue, due = state
    if queue == 1:
        due += int(time.time())
    elif ctype != 0:
        due += col.sched.today
    ivl, factor = (5, 2500) if ctype in (2, 3) else (0, 0)
    left = 1 if ctype in (1, 3) else 0
    col.db.execute(
        "update cards set type = ?, queue = ?, due = ?, ivl = ?, factor = ?, left = ? where id = ?",
        ctype, queue, due, ivl, factor, left, card_id,
    )  # fmt: skip


def test_siblings_are_buried_as_in_anki(tmp_path: Path) -> None:
    (tmp_path / "anki").mkdir()
    path = tmp_path / "anki" / "collection.anki2"
    anki = Collection(str(path))
    reversed_type = anki.models.by_name("Basic (and reversed card)")
    answered = []
    for preset_name, overrides in PRESETS.items():
        preset_id = add_preset(anki, preset_name, overrides)
        deck_id = anki.decks.id(preset_name)
        deck = anki.decks.get(deck_id)
        deck["conf"] = preset_id
        anki.decks.save(deck)
        for pair_name, (first, sibling) in PAIRS.items():
            note = anki.new_note(reversed_type)
            note["Front"], note["Back"] = f"{preset_name}: {pair_name}", "back"
            anki.add_note(note, deck_id)
            first_id, sibling_id = note.card_ids()
            _set(anki, first_id, first)
            _set(anki, sibling_id, sibling)
            answered.append(first_id)
    anki.close(downgrade=True)
    shutil.copy(path, tmp_path / "javumbo.anki2")
    anki = Collection(str(path))
    ours = sqlite3.connect(tmp_path / "javumbo.anki2")

    for card_id in answered:
        answer_in_anki(anki, card_id, 3)
        answer(ours, card_id, 3, 1000, now=time.time())
    ours.commit()

    query = "select id, type, queue from cards order by id"
    theirs = [tuple(row) for row in anki.db.all(query)]
    assert ours.execute(query).fetchall() == theirs
    buried = [row for row in theirs if row[2] == -2]
    assert len(buried) >= 20  # the presets did bury siblings, of every kind
    anki.close()
    ours.close()
