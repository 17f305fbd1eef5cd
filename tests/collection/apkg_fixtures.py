"""Builders for the .apkg tests: Anki-made packages (real Anki is the oracle), our own
source collections, and views of both sides that can be compared."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collection.apkg import ImportLimits
from collection.decks import create_deck, list_decks
from collection.scheduler.timing import sched_timing_for_collection
from collection.schema import create_collection

DAY = 86_400
CARD_STATE = "type, queue, ivl, factor, reps, lapses, left, flags"
REVLOG_VALUES = "r.id, r.ease, r.ivl, r.lastIvl, r.factor, r.time, r.type"
QUEUE_LEARN, QUEUE_REVIEW, QUEUE_DAY_LEARN = 1, 2, 3
TYPE_NEW, TYPE_REVIEW = 0, 2
SMALL = ImportLimits(max_bytes=8 * 1024 * 1024, max_members=50)


def our_today(conn: sqlite3.Connection, now: float) -> int:
    (crt,) = conn.execute("select crt from col").fetchone()
    (conf,) = conn.execute("select conf from col").fetchone()
    return sched_timing_for_collection(int(crt), json.loads(conf), now).days_elapsed


def new_collection(path: Path, now: float) -> None:
    with closing(sqlite3.connect(path)) as conn:
        create_collection(conn, now=now)


def deck_id(conn: sqlite3.Connection, name: str) -> int:
    (found,) = (d.id for d in list_decks(conn) if d.name == name)
    return found


def ensure_deck(conn: sqlite3.Connection, name: str, now: float) -> int:
    if name not in {d.name for d in list_decks(conn)}:
        create_deck(conn, name, now=now)
    return deck_id(conn, name)


# --- a comparable view of a collection, keyed by what survives an import -------------


@dataclass
class View:
    """Notes by guid, cards by (guid, ord), review log by (guid, ord): what must be equal
    between a collection and its import elsewhere (ids and day numbers may differ)."""

    notes: dict[str, tuple[str, list[str], list[str]]]  # guid -> (note type, fields, tags)
    note_types: dict[str, tuple[int, list[str], list[tuple[str, str, str]], str]]
    cards: dict[tuple[str, int], dict[str, Any]]
    revlog: dict[tuple[str, int], list[tuple[int, ...]]]
    today: int


def view_of(conn: sqlite3.Connection, today: int) -> View:
    (models_json,) = conn.execute("select models from col").fetchone()
    (decks_json,) = conn.execute("select decks from col").fetchone()
    models = {int(k): m for k, m in json.loads(models_json).items()}
    decks = {int(k): d["name"] for k, d in json.loads(decks_json).items()}
    notes = {}
    used_models = set()
    for guid, mid, flds, tags in conn.execute("select guid, mid, flds, tags from notes"):
        used_models.add(mid)
        notes[guid] = (models[mid]["name"], flds.split("\x1f"), sorted(tags.split()))
    note_types = {
        models[mid]["name"]: (
            models[mid]["type"],
            [f["name"] for f in models[mid]["flds"]],
            [(t["name"], t["qfmt"], t["afmt"]) for t in models[mid]["tmpls"]],
            models[mid]["css"],
        )
        for mid in used_models
    }
    cards: dict[tuple[str, int], dict[str, Any]] = {}
    columns = [c.strip() for c in CARD_STATE.split(",")]
    for row in conn.execute(
        f"select n.guid, c.ord, c.did, c.due, c.odid, {', '.join('c.' + c for c in columns)}"
        " from cards c join notes n on n.id = c.nid"
    ):
        guid, ord_, did, due, odid, *state = row
        cards[(guid, ord_)] = {
            "deck": decks[did],
            "due": due,
            "odid": odid,
            **dict(zip(columns, state, strict=True)),
        }
    revlog: dict[tuple[str, int], list[tuple[int, ...]]] = {}
    for guid, ord_, *values in conn.execute(
        f"select n.guid, c.ord, {REVLOG_VALUES} from revlog r join cards c on c.id = r.cid"
        " join notes n on n.id = c.nid order by r.id"
    ):
        revlog.setdefault((guid, ord_), []).append(tuple(values))
    return View(notes, note_types, cards, revlog, today)


def rebased(card: dict[str, Any], source_today: int, target_today: int) -> int:
    """Anki's rule for a card's `due` after an import with scheduling."""
    if card["queue"] in (QUEUE_REVIEW, QUEUE_DAY_LEARN) or card["type"] == TYPE_REVIEW:
        return int(card["due"]) - source_today + target_today
    return int(card["due"])


def assert_same_cards(source: View, target: View, *, new_positions_rebased: bool) -> None:
    assert set(target.cards) == set(source.cards)
    for key, theirs in source.cards.items():
        ours = target.cards[key]
        assert ours["deck"] == theirs["deck"], key
        for column in ("type", "queue", "ivl", "factor", "reps", "lapses", "left", "flags"):
            assert ours[column] == theirs[column], (key, column)
        if theirs["type"] == TYPE_NEW and new_positions_rebased:
            continue  # checked by order below
        assert ours["due"] == rebased(theirs, source.today, target.today), key
    if new_positions_rebased:
        new = [k for k, c in source.cards.items() if c["type"] == TYPE_NEW]
        new.sort(key=lambda k: (source.cards[k]["due"], k))
        dues = [target.cards[k]["due"] for k in new]
        assert dues == sorted(dues)
    assert target.revlog == source.revlog


# --- Anki's side ---------------------------------------------------------------------


@dataclass(frozen=True)
class AnkiPackages:
    """Packages exported by real Anki from one collection, and that collection's view
    (after its filtered deck was emptied, which is what an import restores)."""

    packages: dict[str, Path]
    view: View
    note_count: int
    card_count: int
    revlog_count: int
    media_files: int
    deck_names: frozenset[str]
    spanish_options: tuple[int, list[float]]


def _answer(col: Any, cid: int, ease: int) -> None:
    card = col.get_card(cid)
    card.start_timer()
    col.sched.answerCard(card, ease)
    # Distinct review ids: return once the clock has moved past this millisecond.
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 <= start:
        pass


def build_anki_packages(directory: Path) -> AnkiPackages:
    """An Anki collection with Basic, Basic (and reversed card), Cloze and a 4-field note
    type, nested decks, a deck options group, reviews of every kind, a suspended and a
    buried card, a filtered deck and a media file; exported in each package format."""
    from anki.collection import Collection, ExportAnkiPackageOptions

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "source.anki2"
    col = Collection(str(path))
    models = col.models
    vocab = models.new("Vocab (4 fields)")
    for name in ("Word", "Meaning", "Example", "Notes"):
        models.add_field(vocab, models.new_field(name))
    template = models.new_template("Recognition")
    template["qfmt"] = "{{Word}}"
    template["afmt"] = "{{FrontSide}}<hr id=answer>{{Meaning}}<br>{{Example}}"
    models.add_template(vocab, template)
    models.add(vocab)

    spanish = col.decks.id("Lang::Spanish")
    verbs = col.decks.id("Lang::Spanish::Verbs")
    geo = col.decks.id("Geo")
    options = col.decks.add_config_returning_id("Spanish options")
    conf = col.decks.get_config(options)
    conf["new"]["perDay"] = 7
    conf["new"]["delays"] = [2.0, 20.0]
    conf["new"]["order"] = 0  # random
    conf["rev"]["perDay"] = 150
    conf["rev"]["hardFactor"] = 1.15
    conf["lapse"]["leechAction"] = 0  # suspend
    conf["lapse"]["delays"] = [5.0]
    conf["maxTaken"] = 30
    conf["desiredRetention"] = 0.85
    conf["easyDaysPercentages"] = [1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.0]
    col.decks.update_config(conf)
    deck = col.decks.get(spanish)
    deck["conf"] = options
    deck["desc"] = "Spanish <b>words</b>"
    col.decks.save(deck)

    col.media.write_data("pic.png", b"\x89PNG not really")

    def add(model: str, fields: dict[str, str], did: int, tags: tuple[str, ...] = ()) -> Any:
        note = col.new_note(col.models.by_name(model))
        for name, value in fields.items():
            note[name] = value
        note.tags = list(tags)
        col.add_note(note, did)
        return note

    basic = add("Basic", {"Front": "<b>perro</b> & ñ", "Back": "dog"}, spanish, ("animals",))
    reversed_ = add("Basic (and reversed card)", {"Front": "hablar", "Back": "to speak"}, verbs)
    cloze = add(
        "Cloze",
        {"Text": "{{c1::Madrid}} is the capital of {{c2::Spain}}", "Back Extra": "é"},
        geo,
        ("geo", "capitals"),
    )
    vocab_note = add(
        "Vocab (4 fields)",
        {"Word": "casa", "Meaning": "house", "Example": "mi casa", "Notes": "<i>f.</i>"},
        spanish,
    )
    add("Basic", {"Front": '<img src="pic.png">', "Back": "a picture"}, geo)
    suspended = add("Basic", {"Front": "suspended", "Back": "s"}, spanish)
    buried = add("Basic", {"Front": "buried", "Back": "b"}, verbs)
    add("Basic", {"Front": "still new", "Back": "n"}, verbs)

    _answer(col, basic.card_ids()[0], 4)  # review
    _answer(col, reversed_.card_ids()[0], 3)  # learning
    c1, c2 = cloze.card_ids()
    _answer(col, c1, 3)
    _answer(col, c1, 3)  # graduated: review
    _answer(col, c2, 1)  # learning
    vocab_card = vocab_note.card_ids()[0]
    _answer(col, vocab_card, 4)
    col.db.execute("update cards set due = ? where id = ?", col.sched.today, vocab_card)
    _answer(col, vocab_card, 1)  # relearning
    col.sched.suspend_cards([suspended.card_ids()[0]])
    col.sched.bury_cards([buried.card_ids()[0]])

    cram = col.decks.new_filtered("Cram")
    filtered = col.decks.get(cram)
    filtered["terms"] = [["deck:Geo", 100, 0]]
    col.decks.save(filtered)
    col.sched.rebuild_filtered_deck(cram)
    assert col.db.scalar("select count() from cards where odid != 0") > 0

    packages: dict[str, Path] = {}
    for legacy in (True, False):
        name = "legacy.apkg" if legacy else "latest.apkg"
        packages[name] = directory / name
        col.export_anki_package(
            out_path=str(packages[name]),
            options=ExportAnkiPackageOptions(
                with_scheduling=True, with_deck_configs=True, with_media=True, legacy=legacy
            ),
            limit=None,
        )
    for legacy in (True, False):
        name = "legacy.colpkg" if legacy else "latest.colpkg"
        packages[name] = directory / name
        col.export_collection_package(str(packages[name]), include_media=True, legacy=legacy)
        col = Collection(str(path))

    today = col.sched.today
    col.sched.empty_filtered_deck(cram)
    col.close(downgrade=True)  # to schema 11, our layout, for `view_of`
    with closing(sqlite3.connect(path)) as conn:
        view = view_of(conn, today)
        counts = [
            conn.execute(f"select count() from {t}").fetchone()[0]
            for t in ("notes", "cards", "revlog")
        ]
        (decks,) = conn.execute("select decks from col").fetchone()
        names = frozenset(d["name"] for d in json.loads(decks).values())
    return AnkiPackages(
        packages=packages,
        view=view,
        note_count=counts[0],
        card_count=counts[1],
        revlog_count=counts[2],
        media_files=1,
        deck_names=names,
        spanish_options=(7, [2.0, 20.0]),
    )


def anki_import(package: Path, into: Path) -> Any:
    """Import a package into a fresh Anki collection with scheduling; returns it open."""
    from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

    col = Collection(str(into))
    col.import_anki_package(
        ImportAnkiPackageRequest(
            package_path=str(package),
            options=ImportAnkiPackageOptions(
                with_scheduling=True, with_deck_configs=True, merge_notetypes=False
            ),
        )
    )
    return col


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*"))


Builder = Callable[[Path], Path]


# --- media ---------------------------------------------------------------------------

MEDIA_FILES: dict[str, bytes] = {
    "pic.png": b"\x89PNG a picture",
    "say hi.mp3": b"ID3 a greeting",
    "a&b.jpg": b"\xff\xd8 an ampersand",
    "_font.woff": b"wOFF a font",
}
MEDIA_FIELDS: dict[str, tuple[str, str]] = {
    # guid-independent key -> (Front, Back) of a Basic note
    "picture": ('<img src="pic.png">', "[sound:say hi.mp3]"),
    "entity": ("<img src='a&amp;b.jpg'>", "an ampersand"),
    "plain": ("no media", "here"),
}
FONT_CSS = '@font-face { font-family: f; src: url("_font.woff"); }'


@dataclass(frozen=True)
class AnkiMediaPackages:
    legacy: Path
    latest: Path


def build_anki_media_packages(directory: Path) -> AnkiMediaPackages:
    """An Anki collection whose Basic notes reference a picture, a sound and a file
    named with an entity, and whose Basic note type's CSS uses `_font.woff`; exported
    by Anki with media, in the legacy and the current package format."""
    from anki.collection import Collection, ExportAnkiPackageOptions

    directory.mkdir(parents=True, exist_ok=True)
    col = Collection(str(directory / "media-source.anki2"))
    try:
        for name, data in MEDIA_FILES.items():
            assert col.media.write_data(name, data) == name
        col.media.write_data("unused.png", b"nobody uses me")
        basic = col.models.by_name("Basic")
        basic["css"] += FONT_CSS
        col.models.update_dict(basic)
        for front, back in MEDIA_FIELDS.values():
            note = col.new_note(col.models.by_name("Basic"))
            note["Front"], note["Back"] = front, back
            col.add_note(note, col.decks.id("Media"))
        paths = {}
        for legacy in (True, False):
            paths[legacy] = directory / ("media-legacy.apkg" if legacy else "media-latest.apkg")
            col.export_anki_package(
                out_path=str(paths[legacy]),
                options=ExportAnkiPackageOptions(
                    with_scheduling=False, with_deck_configs=False, with_media=True, legacy=legacy
                ),
                limit=None,
            )
    finally:
        col.close()
    return AnkiMediaPackages(legacy=paths[True], latest=paths[False])
