"""Importing packages made by real Anki (every format it writes) into our collections.

The oracle is the Anki collection the packages were exported from: after the import
our collection must hold the same notes (fields byte for byte), note types, decks,
card states (review days rebased onto our day) and review log; and the file must
still be one Anki opens, checks clean and renders.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from collection.apkg import ImportSummary, import_package
from collection.apkg.archive import ImportLimits, extract_package
from collection.apkg.source import open_source
from tests.collection.apkg_fixtures import (
    DAY,
    AnkiPackages,
    assert_same_cards,
    build_anki_packages,
    new_collection,
    our_today,
    view_of,
)
from tests.collection.conftest import dump

pytestmark = pytest.mark.interop

FORMATS = ["legacy.apkg", "latest.apkg", "legacy.colpkg", "latest.colpkg"]
# Our collection was created ten days before the import, Anki's on the day of it.
OUR_AGE_DAYS = 10


@pytest.fixture(scope="module")
def anki(tmp_path_factory: pytest.TempPathFactory) -> AnkiPackages:
    return build_anki_packages(tmp_path_factory.mktemp("anki"))


@pytest.fixture
def now() -> float:
    return time.time()


@pytest.fixture
def ours(tmp_path: Path, now: float) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "ours.anki2"
    new_collection(path, now - OUR_AGE_DAYS * DAY)
    with closing(sqlite3.connect(path)) as conn:
        yield conn


def _import(conn: sqlite3.Connection, package: Path, now: float) -> ImportSummary:
    summary = import_package(conn, package, now=now, limits=ImportLimits())
    conn.commit()
    return summary


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_anki_package_arrives_whole(
    anki: AnkiPackages, ours: sqlite3.Connection, now: float, fmt: str, tmp_path: Path
) -> None:
    summary = _import(ours, anki.packages[fmt], now)

    assert summary == ImportSummary(
        notes_added=anki.note_count,
        notes_updated=0,
        notes_skipped=0,
        cards_added=anki.card_count,
        # Lang, Lang::Spanish, Lang::Spanish::Verbs, Geo (Default is ours already)
        decks_added=4,
        # The stock note types land on ours; only the custom Vocab one is new to us
        note_types_added=1,
        revlog_added=anki.revlog_count,
        media_files_skipped=anki.media_files,  # no media store given
    )
    view = view_of(ours, our_today(ours, now))
    assert view.today == OUR_AGE_DAYS and anki.view.today == 0
    assert view.notes == anki.view.notes
    assert view.note_types == anki.view.note_types
    assert_same_cards(anki.view, view, new_positions_rebased=True)

    decks = {
        d["name"]: d
        for d in json.loads(ours.execute("select decks from col").fetchone()[0]).values()
    }
    dconf = json.loads(ours.execute("select dconf from col").fetchone()[0])
    spanish = decks["Lang::Spanish"]
    assert spanish["desc"] == "Spanish <b>words</b>"
    per_day, delays = anki.spanish_options
    assert dconf[str(spanish["conf"])]["new"]["perDay"] == per_day
    assert dconf[str(spanish["conf"])]["new"]["delays"] == delays
    assert "Cram" not in decks  # its cards went home; Anki's check would agree

    # Our file, opened by Anki: clean, and the cloze card renders.
    copy = tmp_path / "check.anki2"
    shutil.copyfile(ours.execute("pragma database_list").fetchone()[2], copy)
    from anki.collection import Collection

    col = Collection(str(copy))
    try:
        problems, ok = col.fix_integrity()
        assert ok, problems
        (cid,) = col.find_cards('"note:Cloze" card:1')
        assert "[...]" in col.get_card(cid).question()
        assert "Madrid" in col.get_card(cid).answer()
        (vocab,) = col.find_notes('"note:Vocab (4 fields)"')
        assert col.get_note(vocab).fields == ["casa", "house", "mi casa", "<i>f.</i>"]
        assert col.sched.today == OUR_AGE_DAYS
    finally:
        col.close()


@pytest.mark.parametrize("fmt", ["legacy.apkg", "latest.colpkg"])
def test_importing_twice_adds_nothing(
    anki: AnkiPackages, ours: sqlite3.Connection, now: float, fmt: str
) -> None:
    _import(ours, anki.packages[fmt], now)
    before = dump(ours)
    again = _import(ours, anki.packages[fmt], now + 60)
    assert again == ImportSummary(notes_skipped=anki.note_count, media_files_skipped=1)
    assert dump(ours) == before


def test_the_other_format_of_the_same_collection_adds_nothing(
    anki: AnkiPackages, ours: sqlite3.Connection, now: float
) -> None:
    _import(ours, anki.packages["latest.apkg"], now)
    before = dump(ours)
    again = _import(ours, anki.packages["legacy.colpkg"], now)
    assert (again.notes_added, again.cards_added, again.revlog_added) == (0, 0, 0)
    assert (again.decks_added, again.note_types_added) == (0, 0)
    assert dump(ours) == before


def test_an_import_is_a_function_of_collection_package_and_now(
    anki: AnkiPackages, ours: sqlite3.Connection, now: float, tmp_path: Path
) -> None:
    ours.commit()
    (path,) = (row[2] for row in ours.execute("pragma database_list"))
    twin = tmp_path / "twin.anki2"
    shutil.copyfile(path, twin)
    _import(ours, anki.packages["latest.apkg"], now)
    with closing(sqlite3.connect(twin)) as other:
        _import(other, anki.packages["latest.apkg"], now)
        assert dump(other) == dump(ours)


def test_a_newer_note_updates_ours_and_an_older_one_is_skipped(
    anki: AnkiPackages, ours: sqlite3.Connection, now: float, tmp_path: Path
) -> None:
    from anki.collection import Collection, ExportAnkiPackageOptions

    _import(ours, anki.packages["legacy.apkg"], now)
    (guid,) = (g for g, (model, fields, _) in anki.view.notes.items() if fields[0] == "hablar")
    source = tmp_path / "edit.anki2"
    shutil.copyfile(anki.packages["legacy.apkg"].parent / "source.anki2", source)
    col = Collection(str(source))
    note = col.get_note(col.find_notes("hablar")[0])
    note["Back"] = "to speak, to talk"
    note.tags = ["edited"]
    col.update_note(note)
    col.db.execute("update notes set mod = mod + 5 where id = ?", note.id)
    package = tmp_path / "edited.apkg"
    col.export_anki_package(
        out_path=str(package),
        options=ExportAnkiPackageOptions(with_scheduling=True, with_deck_configs=True),
        limit=None,
    )
    col.close()

    cards_before = ours.execute("select count() from cards").fetchone()
    summary = _import(ours, package, now)
    assert (summary.notes_updated, summary.notes_added, summary.cards_added) == (1, 0, 0)
    assert summary.notes_skipped == anki.note_count - 1
    flds, tags = ours.execute("select flds, tags from notes where guid = ?", (guid,)).fetchone()
    assert flds.split("\x1f") == ["hablar", "to speak, to talk"]
    assert tags.split() == ["edited"]
    assert ours.execute("select count() from cards").fetchone() == cards_before

    # The same package again: our note is now as new as the package's, so it is kept.
    assert _import(ours, package, now).notes_updated == 0


def test_our_basic_note_type_is_reused_and_new_cards_queue_after_ours(
    anki: AnkiPackages, ours: sqlite3.Connection, now: float
) -> None:
    from collection.cards import add_card

    add_card(ours, "mine", "first", now=now)
    (models_before,) = ours.execute("select models from col").fetchone()
    (basic_id,) = (int(k) for k, m in json.loads(models_before).items() if m["name"] == "Basic")
    _import(ours, anki.packages["latest.apkg"], now)

    models = json.loads(ours.execute("select models from col").fetchone()[0])
    assert [m["name"] for m in models.values()].count("Basic") == 1
    mids = {mid for (mid,) in ours.execute("select mid from notes where flds like '%perro%'")}
    assert mids == {basic_id}
    dues = [due for (due,) in ours.execute("select due from cards where type = 0 order by due")]
    assert dues[0] == 1 and len(set(dues)) == len(dues) and dues == list(range(1, len(dues) + 1))
    (conf,) = ours.execute("select conf from col").fetchone()
    assert json.loads(conf)["nextPos"] == len(dues) + 1


def test_new_cards_queue_from_position_0_when_next_pos_is_not_a_position(
    anki: AnkiPackages, ours: sqlite3.Connection, now: float
) -> None:
    (conf,) = ours.execute("select conf from col").fetchone()
    ours.execute("update col set conf = ?", (json.dumps(json.loads(conf) | {"nextPos": "x"}),))
    _import(ours, anki.packages["latest.apkg"], now)
    dues = [due for (due,) in ours.execute("select due from cards where type = 0 order by due")]
    assert dues == list(range(len(dues)))
    (conf,) = ours.execute("select conf from col").fetchone()
    assert json.loads(conf)["nextPos"] == len(dues)


def test_reading_anki21b_agrees_with_ankis_own_downgrade(
    anki: AnkiPackages, tmp_path: Path
) -> None:
    """Our protobuf reading of schema 18 gives what Anki writes into schema-11 JSON."""
    sources = {}
    for fmt in ("legacy.colpkg", "latest.colpkg"):
        directory = tmp_path / fmt
        directory.mkdir()
        extracted = extract_package(anki.packages[fmt], directory, ImportLimits())
        with open_source(extracted.collection) as source:
            sources[fmt] = (source.models, source.decks, source.dconf, source.timing, source.crt)
    legacy, latest = sources["legacy.colpkg"], sources["latest.colpkg"]
    for a, b in zip(legacy, latest, strict=True):
        assert a == b
