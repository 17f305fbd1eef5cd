"""Our `.apkg` exports, imported by real Anki: the whole collection and one deck.

Anki is the oracle: after `import_anki_package` with scheduling, a fresh Anki
collection must hold our notes byte for byte, our decks, our card states (review
days rebased from our day to Anki's), our deck options and our review log.
"""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
import time
import zipfile
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from collection.apkg import ExportSummary, export_filename, export_package, import_package
from collection.cards import add_card
from collection.decks import create_deck
from collection.errors import DeckNotFound
from collection.ids import ms
from tests.collection.apkg_fixtures import (
    DAY,
    anki_import,
    build_anki_packages,
    deck_id,
    new_collection,
    our_today,
    view_of,
)
from tests.collection.conftest import NOW, dump, readonly

pytestmark = pytest.mark.interop

FIELDS = {
    "review": ("¿Qué tal? <b>bien</b>", "fine &amp; you"),
    "learning": ("hablar", "to speak"),
    "day learning": ("comer", "to eat"),
    "relearning": ("beber", "to drink"),
    "suspended": ("dormir", "to sleep"),
    "new 1": ("vivir", "to live"),
    "new 2": ("escribir", "to write"),
    "french": ("chien", "dog"),
    "default": ("日本語", "Japanese"),
}


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """Our collection: decks, options, cards in every state, review history."""
    now = time.time()
    path = tmp_path / "ours.anki2"
    new_collection(path, NOW)
    with closing(sqlite3.connect(path)) as conn:
        create_deck(conn, "Spanish::Verbs", now=NOW)
        create_deck(conn, "French", now=NOW)
        spanish, verbs, french = (deck_id(conn, n) for n in ("Spanish", "Spanish::Verbs", "French"))
        decks = dict.fromkeys(["review", "suspended", "new 2"], spanish)
        decks |= dict.fromkeys(["learning", "day learning", "relearning", "new 1"], verbs)
        decks |= {"french": french, "default": 1}
        cards = {
            key: add_card(conn, *FIELDS[key], decks[key], now=NOW + i).card_id
            for i, key in enumerate(FIELDS)
        }
        today = our_today(conn, now)
        states = {
            "review": (2, 2, today + 5, 12, 2350, 6, 1, 0),
            "learning": (1, 1, int(now) + 600, 0, 0, 1, 0, 1001),
            "day learning": (1, 3, today + 1, 0, 0, 2, 0, 1),
            "relearning": (3, 1, int(now) + 300, 1, 2100, 9, 2, 1),
            "suspended": (2, -1, today - 3, 30, 2500, 4, 0, 0),
        }
        for key, (ctype, queue, due, ivl, factor, reps, lapses, left) in states.items():
            conn.execute(
                "update cards set type=?, queue=?, due=?, ivl=?, factor=?, reps=?, lapses=?,"
                " left=? where id=?",
                (ctype, queue, due, ivl, factor, reps, lapses, left, cards[key]),
            )
        reviews = [
            ("review", 3, 12, 5, 2350, 8000, 1),
            ("relearning", 1, -300, 9, 2100, 3000, 1),
            ("french", 2, 1, 0, 2500, 2000, 0),
            ("learning", 3, -600, 0, 0, 1500, 0),
        ]
        for i, (key, ease, ivl, last, factor, taken, kind) in enumerate(reviews):
            conn.execute(
                "insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
                " values (?, ?, -1, ?, ?, ?, ?, ?, ?)",
                (ms(NOW) + 100 + i, cards[key], ease, ivl, last, factor, taken, kind),
            )
            # Anki keeps the last review time in the card (its check adds it otherwise).
            conn.execute(
                "update cards set data = ? where id = ? and type != 0",
                (json.dumps({"lrt": (ms(NOW) + 100 + i) // 1000}), cards[key]),
            )
        dconf = json.loads(conn.execute("select dconf from col").fetchone()[0])
        custom = dict(dconf["1"], id=1700000000001, name="Intense")
        custom["new"] = dict(custom["new"], perDay=42, delays=[3.0, 30.0])
        dconf[str(custom["id"])] = custom
        decks_json = json.loads(conn.execute("select decks from col").fetchone()[0])
        decks_json[str(spanish)]["conf"] = custom["id"]
        decks_json[str(spanish)]["desc"] = "<i>Lots</i> of verbs"
        # A filtered deck (as Anki writes one) borrowing a Spanish and a French card.
        cram = 1700000000002
        decks_json[str(cram)] = dict(
            decks_json[str(french)], id=cram, name="Cram", dyn=1, resched=True,
            terms=[["deck:Spanish or deck:French", 100, 0]], separate=True, delays=None,
            previewDelay=0, previewAgainSecs=60, previewHardSecs=600, previewGoodSecs=0,
        )  # fmt: skip
        for del_key in ("conf", "extendNew", "extendRev"):
            decks_json[str(cram)].pop(del_key, None)
        for position, key in enumerate(("review", "french")):
            conn.execute(
                "update cards set odid = did, did = ?, odue = due, due = ? where id = ?",
                (cram, -100_000 + position, cards[key]),
            )
        conn.execute(
            "update col set dconf = ?, decks = ?", (json.dumps(dconf), json.dumps(decks_json))
        )
        conn.commit()
    return path, cards


def _export(path: Path, target: Path, deck: int | None) -> ExportSummary:
    with readonly(path) as conn:
        return export_package(conn, target, deck_id=deck, now=time.time())


CARD_COLUMNS = ("nid", "did", "odid", "type", "queue", "due", "odue", "ivl", "factor", "reps",
                "lapses", "left")  # fmt: skip
REVLOG_COLUMNS = "id, cid, ease, ivl, lastIvl, factor, time, type"


def _cards(rows: Any) -> dict[int, dict[str, Any]]:
    return {cid: dict(zip(CARD_COLUMNS, rest, strict=True)) for cid, *rest in rows}


def _assert_anki_has(col: Any, path: Path, card_ids: set[int], *, sent_home: bool) -> None:
    """Anki holds exactly these cards of ours, with our notes, decks, states (review
    days rebased from our day to Anki's) and review log. With `sent_home`, cards in
    filtered decks are expected back in their home decks."""
    query = f"select id, {', '.join(CARD_COLUMNS)} from cards"
    with readonly(path) as conn:
        today = our_today(conn, time.time())
        ours = {cid: card for cid, card in _cards(conn.execute(query)).items() if cid in card_ids}
        (decks_json,) = conn.execute("select decks from col").fetchone()
        names = {int(k): d["name"] for k, d in json.loads(decks_json).items()}
        notes = dict(conn.execute("select id, flds from notes"))
        revlog = sorted(
            row
            for row in conn.execute(f"select {REVLOG_COLUMNS} from revlog")
            if row[1] in card_ids
        )
    names[0] = None
    theirs = _cards(col.db.all(query))
    assert set(theirs) == set(ours)
    anki_today = col.sched.today
    for cid, card in ours.items():
        if sent_home and card["odid"]:
            card.update(did=card["odid"], odid=0, due=card["odue"], odue=0)
        got = theirs[cid]
        assert col.decks.name(got["did"]) == names[card["did"]], cid
        assert (col.decks.name(got["odid"]) if got["odid"] else None) == names[card["odid"]]
        for column in ("type", "queue", "ivl", "factor", "reps", "lapses", "left"):
            assert got[column] == card[column], (cid, column)
        expected = card["due"]
        if card["queue"] in (2, 3) or card["type"] == 2:
            expected = card["due"] - today + anki_today
        assert got["due"] == expected, cid
        assert col.get_note(got["nid"]).fields == notes[card["nid"]].split("\x1f")
    assert sorted(tuple(r) for r in col.db.all(f"select {REVLOG_COLUMNS} from revlog")) == revlog


def test_the_whole_collection_arrives_in_anki(
    source: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    path, cards = source
    package = tmp_path / "all.apkg"
    summary = _export(path, package, None)
    assert summary == ExportSummary(
        notes=9, cards=9, decks=5, note_types=5, deck_configs=2, revlog=4
    )

    col = anki_import(package, tmp_path / "anki.anki2")
    try:
        _assert_anki_has(col, path, set(cards.values()), sent_home=False)
        names = {d.name for d in col.decks.all_names_and_ids()}
        assert {"Default", "Spanish", "Spanish::Verbs", "French"} <= names
        spanish = col.decks.by_name("Spanish")
        assert spanish["desc"] == "<i>Lots</i> of verbs"
        options = col.decks.config_dict_for_deck_id(spanish["id"])
        assert (options["name"], options["new"]["perDay"]) == ("Intense", 42)
        assert options["new"]["delays"] == [3.0, 30.0]
        problems, ok = col.fix_integrity()
        assert ok, problems
    finally:
        col.close()


def test_one_deck_and_its_subdecks_arrive_alone(
    source: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    path, cards = source
    with readonly(path) as conn:
        spanish = deck_id(conn, "Spanish")
    package = tmp_path / "spanish.apkg"
    summary = _export(path, package, spanish)
    spanish_keys = [k for k in FIELDS if k not in ("french", "default")]
    assert (summary.notes, summary.cards, summary.revlog) == (7, 7, 3)
    assert (summary.note_types, summary.deck_configs) == (1, 2)

    col = anki_import(package, tmp_path / "anki.anki2")
    try:
        _assert_anki_has(col, path, {cards[k] for k in spanish_keys}, sent_home=True)
        names = {d.name for d in col.decks.all_names_and_ids()}
        assert names == {"Default", "Spanish", "Spanish::Verbs"}
        assert col.find_cards("chien") == [] and col.find_cards("日本語") == []
    finally:
        col.close()

    with zipfile.ZipFile(package) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        assert set(infos) == {"collection.anki2", "media"}
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos.values())
        assert archive.read("media") == b"{}"
        with tempfile.TemporaryDirectory() as tmp:
            inner = Path(archive.extract("collection.anki2", tmp))
            with closing(sqlite3.connect(inner)) as conn:
                assert conn.execute("select count() from graves").fetchone() == (0,)
                assert conn.execute("select count() from notes where usn != 0").fetchone() == (0,)
                assert conn.execute("pragma journal_mode").fetchone() == ("delete",)
                (tags,) = conn.execute("select tags from col").fetchone()
                assert tags == "{}"


def test_a_collection_imported_from_anki_exports_back_intact(tmp_path: Path) -> None:
    """Cloze, a 4-field note type and reversed cards survive Anki -> us -> Anki."""
    anki = build_anki_packages(tmp_path / "anki")
    now = time.time()
    path = tmp_path / "ours.anki2"
    new_collection(path, now - 3 * DAY)
    with closing(sqlite3.connect(path)) as conn:
        import_package(conn, anki.packages["latest.apkg"], now=now)
        conn.commit()
    package = tmp_path / "back.apkg"
    _export(path, package, None)
    col = anki_import(package, tmp_path / "back.anki2")
    try:
        problems, ok = col.fix_integrity()
        assert ok, problems
        with readonly(path) as conn:
            mine = view_of(conn, 0)
        by_guid = {col.get_note(n).guid: n for n in col.find_notes("")}
        assert set(by_guid) == set(mine.notes)
        for guid, (model, fields, tags) in mine.notes.items():
            note = col.get_note(by_guid[guid])
            # Anki matches note types by id: ours named like one of its own gets a "+".
            name = note.note_type()["name"]
            assert (name.rstrip("+"), note.fields, sorted(note.tags)) == (model, fields, tags)
        (cid,) = col.find_cards('"note:Cloze*" card:2')
        assert "[...]" in col.get_card(cid).question()
    finally:
        col.close()


def test_a_deck_that_does_not_exist(source: tuple[Path, dict[str, int]]) -> None:
    path, _ = source
    with readonly(path) as conn, pytest.raises(DeckNotFound):
        export_package(conn, io.BytesIO(), deck_id=424242, now=time.time())


def test_export_writes_only_in_its_private_directory(
    source: tuple[Path, dict[str, int]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = source
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    buffer = io.BytesIO()
    with readonly(path) as conn:
        before = dump(conn)
        export_package(conn, buffer, now=time.time())
        assert dump(conn) == before
    assert list(scratch.iterdir()) == []
    assert zipfile.ZipFile(buffer).testzip() is None


@pytest.mark.parametrize(
    ("deck", "expected"),
    [
        (None, "Javumbo-2026-11-25.apkg"),
        ("Spanish", "Javumbo-Spanish-2026-11-25.apkg"),
        ("Español::Verbos irregulares", "Javumbo-Espanol-Verbos-irregulares-2026-11-25.apkg"),
        ("日本語", "Javumbo-Deck-2026-11-25.apkg"),
        ("../../etc/passwd", "Javumbo-etc-passwd-2026-11-25.apkg"),
        ("x" * 300, f"Javumbo-{'x' * 60}-2026-11-25.apkg"),
    ],
)
def test_export_filename(deck: str | None, expected: str) -> None:
    now = 1795564800.0 + 3600  # 2026-11-25 01:00 UTC
    assert export_filename(deck, now) == expected
    assert export_filename(deck, now).isascii()
