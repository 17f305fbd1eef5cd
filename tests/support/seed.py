"""Realistic Anki collections of any size, built directly with SQL in one transaction.

A collection made through the API one card at a time would take minutes at 20 000
cards; this builds the same rows (`collection.schema.create_collection`, then notes,
cards and a review history inserted in bulk) in about a second. The learner has been
studying for a year: most cards are reviews (some due today or overdue), a quarter are
new, a few are learning, relearning or suspended, spread over a small deck tree whose
parent deck is the current one.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from collection.col import Col
from collection.decks import DeckIndex, create_deck, set_current_deck
from collection.fields import FIELD_SEPARATOR
from collection.ids import guid64
from collection.review import timing
from collection.schema import create_collection
from collection.text import field_checksum, strip_html_preserving_media_filenames

DAY = 86_400
STUDY_DAYS = 365  # how long ago the collection was created
# (deck name, share of the cards); the review session studies "Languages" and below.
DECKS = (("Languages::Spanish", 0.45), ("Languages::French", 0.35), ("Geography", 0.2))
STUDY_DECK = "Languages"

_WORDS = (
    *("casa", "perro", "gato", "libro", "mesa", "ventana", "ciudad", "tiempo", "agua"),
    *("maison", "chien", "chat", "livre", "table", "fenetre", "ville", "temps", "eau"),
    *("river", "mountain", "capital", "border", "island", "desert", "valley", "ocean"),
)


@dataclass(frozen=True)
class Seeded:
    body: bytes
    cards: int
    due_today: int  # reviews due today or overdue in the study deck tree


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def build_collection(cards: int, *, seed: int = 8, now: float | None = None) -> Seeded:
    """The bytes of a collection with `cards` Basic cards, as a year of study leaves it."""
    now = time.time() if now is None else now
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="javumbo-seed-") as tmp:
        path = Path(tmp) / "collection.anki2"
        with closing(sqlite3.connect(path)) as conn:
            created = now - STUDY_DAYS * DAY
            create_collection(conn, now=created)
            deck_ids = [create_deck(conn, name, now=created).id for name, _ in DECKS]
            col = Col(conn)
            study_deck_id = DeckIndex(col).find(STUDY_DECK)  # made as the parent
            assert study_deck_id is not None
            model_id = int(next(iter(col.models)))
            today = timing(col, conn, now).days_elapsed
            due_today = _insert_cards(conn, rng, cards, deck_ids, model_id, today, now)
            set_current_deck(conn, study_deck_id, now=created)
            conn.commit()
            conn.execute("vacuum")
        return Seeded(path.read_bytes(), cards, due_today)


def _insert_cards(
    conn: sqlite3.Connection,
    rng: random.Random,
    count: int,
    deck_ids: list[int],
    model_id: int,
    today: int,
    now: float,
) -> int:
    """Notes, cards and review history in bulk; returns reviews due in the study decks."""
    first_ms = int((now - (STUDY_DAYS + 1) * DAY) * 1000)
    weights = [share for _, share in DECKS]
    notes, card_rows, revlog = [], [], []
    new_position = 0
    due_today = 0
    study_decks = set(deck_ids[:2])
    # Enough due reviews for a 100-answer session even in a small collection; in a big
    # one a realistic few percent (the daily limit caps what is shown anyway).
    due_share = min(1.0, max(0.05, 150 / (0.65 * 0.8 * count)))
    for i in range(count):
        note_id = card_id = first_ms + i
        front = f"{_text(rng, 3)} <b>{i}</b>"
        back = f"{_text(rng, 8)}<br>{_text(rng, 6)}"
        sort_field = strip_html_preserving_media_filenames(front)
        notes.append(
            (note_id, guid64(), model_id, int(now), 0, "", f"{front}{FIELD_SEPARATOR}{back}",
             sort_field, field_checksum(sort_field))
        )  # fmt: skip
        did = rng.choices(deck_ids, weights)[0]
        kind = rng.random()
        ivl, factor, reps, lapses, left = 0, 0, 0, 0, 0
        if kind < 0.25:  # new
            ctype, queue, due = 0, 0, new_position
            new_position += 1
        elif kind < 0.90:  # review: some overdue or due today, the rest later
            ivl = rng.randint(1, 120)
            offset = rng.randint(-5, 0) if rng.random() < due_share else rng.randint(1, ivl)
            ctype, queue, due = 2, 2, today + offset
            factor, reps, lapses = rng.choice((2050, 2300, 2500, 2650)), rng.randint(2, 12), 0
            due_today += due <= today and did in study_decks
            for r in range(min(reps, 3)):
                when = int((now - (r + 1) * rng.randint(2, 30) * DAY) * 1000) + i
                revlog.append((when, card_id, 0, 3, ivl, max(ivl // 2, 1), factor, 8000, 1))
        elif kind < 0.93:  # learning, due within the hour
            ctype, queue, due, left = 1, 1, int(now) + rng.randint(60, 3600), 1
            reps = 1
        elif kind < 0.95:  # relearning after a lapse
            ivl, factor, reps, lapses = 1, 2300, 6, 1
            ctype, queue, due, left = 3, 1, int(now) + rng.randint(60, 3600), 1
        else:  # suspended
            ivl, factor, reps = rng.randint(1, 60), 2500, 3
            ctype, queue, due = 2, -1, today + rng.randint(1, 30)
        card_rows.append(
            (card_id, note_id, did, 0, int(now), 0, ctype, queue, due, ivl, factor, reps,
             lapses, left, 0, 0, 0, "")
        )  # fmt: skip
    conn.executemany(
        "insert into notes (id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '')",
        notes,
    )
    conn.executemany(f"insert into cards values ({','.join('?' * 18)})", card_rows)
    conn.executemany(
        "insert or ignore into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        revlog,
    )
    col = Col(conn)
    col.conf["nextPos"] = new_position
    col.mark_changed("conf")
    col.save(now=now)
    return due_today
