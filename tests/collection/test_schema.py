"""The schema-11 collection we create, checked against the real `anki` package.

Anki is the oracle twice over: it must open our file (a copy: opening upgrades it in
place), and its own fresh collection, downgraded to schema 11 on close, is the reference
for the layout and the default JSON.
"""

import json
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection

from collection.schema import (
    DEFAULT_DECK_ID,
    SCHEMA_VERSION,
    basic_note_type,
    create_collection,
    default_deck_config,
    new_collection_bytes,
    new_deck,
)

NOW = datetime(2024, 3, 10, 15, 30, 12, 345_000, tzinfo=UTC).timestamp()
SQLITE_HEADER = b"SQLite format 3\x00"
JSON_COLUMNS = ("conf", "models", "decks", "dconf", "tags")


# --- helpers -------------------------------------------------------------------------


def read_layout(conn: sqlite3.Connection) -> dict[str, Any]:
    """Tables with their columns and indexes with their columns, ignoring sqlite_*."""
    tables = {
        name: [
            (col_name, col_type.lower(), notnull, pk)
            for _, col_name, col_type, notnull, _, pk in conn.execute(f"pragma table_info({name})")
        ]
        for (name,) in conn.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
        )
    }
    indexes = {
        name: (table, [row[2] for row in conn.execute(f"pragma index_info({name})")])
        for name, table in conn.execute(
            "select name, tbl_name from sqlite_master"
            " where type = 'index' and name not like 'sqlite_%'"
        )
    }
    return {"tables": tables, "indexes": indexes}


def read_col(conn: sqlite3.Connection) -> dict[str, Any]:
    cursor = conn.execute("select * from col")
    rows = cursor.fetchall()
    assert len(rows) == 1
    row = dict(zip([d[0] for d in cursor.description], rows[0], strict=True))
    for column in JSON_COLUMNS:
        row[column] = json.loads(row[column])
    return row


def open_copy(src: Path, tmp_path: Path) -> Collection:
    """Open a copy with Anki, since opening upgrades the file in place."""
    dst = tmp_path / f"anki-copy-{uuid.uuid4().hex}.anki2"
    shutil.copyfile(src, dst)
    return Collection(str(dst))


def without(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def assert_has_items(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every key of `expected` is in `actual` with the same value (extra keys allowed)."""
    assert {k: actual.get(k, "<missing>") for k in expected} == expected


def model_named(models: dict[str, Any], name: str) -> dict[str, Any]:
    (model,) = (m for m in models.values() if m["name"] == name)
    return model


@dataclass(frozen=True)
class AnkiReference:
    layout: dict[str, Any]
    col: dict[str, Any]
    deck_config: dict[str, Any]  # as Anki's API reports it
    added_deck: dict[str, Any]  # a deck added through Anki's API, as written in schema 11


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> AnkiReference:
    path = tmp_path_factory.mktemp("anki-reference") / "collection.anki2"
    col = Collection(str(path))
    try:
        deck_config = col.decks.config_dict_for_deck_id(DEFAULT_DECK_ID)
        added_id = col.decks.id("Added")
    finally:
        col.close(downgrade=True)
    with closing(sqlite3.connect(path)) as conn:
        raw = read_col(conn)
        layout = read_layout(conn)
    assert raw["ver"] == 11, "Anki did not downgrade its collection to schema 11"
    added_deck = raw["decks"].pop(str(added_id))
    return AnkiReference(layout, raw, deck_config, added_deck)


@pytest.fixture
def ours(tmp_path: Path) -> Path:
    path = tmp_path / "ours.anki2"
    with closing(sqlite3.connect(path)) as conn:
        create_collection(conn, now=NOW)
    return path


@pytest.fixture
def ours_raw(ours: Path) -> dict[str, Any]:
    with closing(sqlite3.connect(ours)) as conn:
        return read_col(conn)


@pytest.fixture
def anki_col(ours: Path, tmp_path: Path) -> Iterator[Collection]:
    col = open_copy(ours, tmp_path)
    try:
        yield col
    finally:
        col.close()


# --- layout --------------------------------------------------------------------------


@pytest.mark.interop
def test_tables_and_columns_match_anki_schema_11(ours: Path, reference: AnkiReference):
    with closing(sqlite3.connect(ours)) as conn:
        layout = read_layout(conn)
    assert set(layout["tables"]) == {"col", "notes", "cards", "revlog", "graves"}
    assert layout["tables"] == reference.layout["tables"]


@pytest.mark.interop
def test_indexes_match_anki_schema_11(ours: Path, reference: AnkiReference):
    with closing(sqlite3.connect(ours)) as conn:
        layout = read_layout(conn)
    assert layout["indexes"] == reference.layout["indexes"]
    assert layout["indexes"]["ix_cards_sched"] == ("cards", ["did", "queue", "due"])


# --- the col row ---------------------------------------------------------------------


def test_col_row_is_a_fresh_schema_11_row(ours_raw: dict[str, Any]):
    assert ours_raw["id"] == 1
    assert ours_raw["ver"] == SCHEMA_VERSION == 11
    assert (ours_raw["dty"], ours_raw["usn"], ours_raw["ls"]) == (0, 0, 0)
    assert ours_raw["tags"] == {}
    for column in ("mod", "scm"):
        assert abs(ours_raw[column] / 1000 - NOW) < 0.001, f"{column} is not in milliseconds"


@pytest.mark.parametrize(
    ("created", "day_start"),
    [
        (datetime(2024, 3, 10, 15, 30, tzinfo=UTC), datetime(2024, 3, 10, 4, tzinfo=UTC)),
        (datetime(2024, 3, 10, 4, 0, tzinfo=UTC), datetime(2024, 3, 10, 4, tzinfo=UTC)),
        (datetime(2024, 3, 10, 3, 59, 59, tzinfo=UTC), datetime(2024, 3, 9, 4, tzinfo=UTC)),
        (datetime(2024, 1, 1, 0, 30, tzinfo=UTC), datetime(2023, 12, 31, 4, tzinfo=UTC)),
    ],
)
def test_crt_is_the_start_of_the_creation_day_at_the_rollover_hour(
    created: datetime, day_start: datetime
):
    with closing(sqlite3.connect(":memory:")) as conn:
        create_collection(conn, now=created.timestamp())
        (crt,) = conn.execute("select crt from col").fetchone()
    assert crt == int(day_start.timestamp())


# --- default JSON, against what Anki itself writes for schema 11 --------------------


@pytest.mark.interop
def test_collection_config_matches_anki(ours_raw: dict[str, Any], reference: AnkiReference):
    conf, anki_conf = ours_raw["conf"], reference.col["conf"]
    # curModel is an id; creationOffset is the creating machine's UTC offset in Anki.
    volatile = ("curModel", "creationOffset")
    assert_has_items(conf, without(anki_conf, *volatile))
    assert str(conf["curModel"]) in ours_raw["models"]
    assert conf["creationOffset"] == 0
    assert conf["rollover"] == 4


@pytest.mark.interop
def test_default_deck_matches_anki(ours_raw: dict[str, Any], reference: AnkiReference):
    assert set(ours_raw["decks"]) == {str(DEFAULT_DECK_ID)}
    ours, anki = ours_raw["decks"]["1"], reference.col["decks"]["1"]
    assert without(ours, "mod") == without(anki, "mod")
    assert ours["mod"] == int(NOW)


@pytest.mark.interop
def test_new_deck_matches_a_deck_added_through_anki(reference: AnkiReference):
    anki = reference.added_deck
    ours = new_deck(anki["id"], anki["name"], anki["mod"])
    # Anki marks its own local change as pending sync (usn -1).
    assert without(ours, "usn") == without(anki, "usn")


@pytest.mark.interop
def test_deck_options_group_matches_anki(ours_raw: dict[str, Any], reference: AnkiReference):
    assert ours_raw["dconf"] == reference.col["dconf"]
    assert default_deck_config() == reference.col["dconf"]["1"]


STOCK_NAMES = (
    "Basic",
    "Basic (and reversed card)",
    "Basic (optional reversed card)",
    "Basic (type in the answer)",
    "Cloze",
)


def test_a_new_collection_has_the_stock_note_types(ours_raw: dict[str, Any]):
    names = [m["name"] for m in ours_raw["models"].values()]
    assert sorted(names) == sorted(STOCK_NAMES)
    assert all(key == str(m["id"]) for key, m in ours_raw["models"].items())
    assert ours_raw["conf"]["curModel"] == model_named(ours_raw["models"], "Basic")["id"]


@pytest.mark.interop
@pytest.mark.parametrize("name", STOCK_NAMES)
def test_stock_note_types_match_anki(ours_raw: dict[str, Any], reference: AnkiReference, name: str):
    ours = model_named(ours_raw["models"], name)
    anki = model_named(reference.col["models"], name)

    # Anki leaves the note type's deck unset; the legacy default is the Default deck.
    volatile = ("id", "mod", "did", "tmpls", "flds")
    assert_has_items(ours, without(anki, *volatile))
    assert ours["did"] == DEFAULT_DECK_ID
    assert (ours["tags"], ours["vers"]) == ([], [])

    # Templates and fields carry random ids; everything else must be Anki's.
    for kind in ("tmpls", "flds"):
        assert [without(x, "id") for x in ours[kind]] == [without(x, "id") for x in anki[kind]]
        assert all(isinstance(x["id"], int) for x in ours[kind])


def test_basic_note_type_ids_are_fresh_each_time():
    first, second = basic_note_type(1, 0), basic_note_type(1, 0)
    ids = [x["id"] for m in (first, second) for x in (*m["tmpls"], *m["flds"])]
    assert len(set(ids)) == len(ids)


# --- Anki opens and uses our collection ----------------------------------------------


@pytest.mark.interop
def test_anki_adds_a_basic_note_to_the_default_deck(anki_col: Collection):
    problems, ok = anki_col.fix_integrity()
    assert ok, problems

    assert [(d.id, d.name) for d in anki_col.decks.all_names_and_ids()] == [(1, "Default")]
    basic = anki_col.models.by_name("Basic")
    assert basic is not None
    assert [f["name"] for f in basic["flds"]] == ["Front", "Back"]
    assert anki_col.models.current()["id"] == basic["id"]
    assert anki_col.v3_scheduler(), "without sched2021 Anki falls back to the removed v2"

    note = anki_col.new_note(basic)
    note["Front"], note["Back"] = "capital of Peru", "Lima"
    anki_col.add_note(note, DEFAULT_DECK_ID)

    (card,) = note.cards()
    assert card.did == DEFAULT_DECK_ID
    assert "capital of Peru" in card.question()
    assert "Lima" in card.answer()
    assert anki_col.card_count() == 1

    problems, ok = anki_col.fix_integrity()
    assert ok, problems


@pytest.mark.interop
def test_deck_options_read_through_anki_equal_anki_defaults(
    anki_col: Collection, reference: AnkiReference
):
    ours = anki_col.decks.config_dict_for_deck_id(DEFAULT_DECK_ID)
    anki = reference.deck_config
    expected = {
        ("new", "delays"): [1, 10],
        ("new", "ints"): [1, 4, 0],  # graduating 1 day, easy 4 days
        ("new", "initialFactor"): 2500,
        ("new", "perDay"): 20,
        ("rev", "perDay"): 200,
        ("rev", "ease4"): 1.3,
        ("rev", "hardFactor"): 1.2,
        ("rev", "ivlFct"): 1.0,
        ("rev", "maxIvl"): 36500,
        ("lapse", "delays"): [10],
        ("lapse", "mult"): 0.0,
        ("lapse", "minInt"): 1,
        ("lapse", "leechFails"): 8,
    }
    for (group, key), value in expected.items():
        assert anki[group][key] == value, f"Anki's own default {group}.{key} changed"
        assert ours[group][key] == anki[group][key], f"{group}.{key}"
    assert ours == anki


@pytest.mark.interop
def test_anki_accepts_a_deck_made_with_new_deck(ours: Path, tmp_path: Path):
    deck_id = int(NOW * 1000) + 1
    with closing(sqlite3.connect(ours)) as conn, conn:
        (decks_json,) = conn.execute("select decks from col").fetchone()
        decks = json.loads(decks_json)
        # A top-level deck: Anki's check would add any missing parent of "A::B".
        decks[str(deck_id)] = new_deck(deck_id, "Spanish", int(NOW))
        conn.execute("update col set decks = ?", (json.dumps(decks),))

    col = open_copy(ours, tmp_path)
    try:
        assert col.decks.id_for_name("Spanish") == deck_id
        assert col.decks.config_dict_for_deck_id(deck_id)["id"] == 1
        note = col.new_note(col.models.by_name("Basic"))
        note["Front"] = "hablar"
        col.add_note(note, deck_id)
        assert note.cards()[0].did == deck_id
        problems, ok = col.fix_integrity()
        assert ok, problems
    finally:
        col.close()


# --- the SQLite file -----------------------------------------------------------------


def test_file_is_a_healthy_rollback_journal_database(ours: Path):
    with closing(sqlite3.connect(ours)) as conn:
        assert conn.execute("pragma journal_mode").fetchone() == ("delete",)
        assert conn.execute("pragma integrity_check").fetchall() == [("ok",)]
        assert conn.execute("select ver from col").fetchone() == (11,)
    header = ours.read_bytes()[:20]
    assert header[18:20] == b"\x01\x01", "file format versions say WAL"
    assert sorted(p.name for p in ours.parent.iterdir()) == ["ours.anki2"]


def test_a_wal_connection_is_switched_back_to_a_rollback_journal(tmp_path: Path):
    path = tmp_path / "was-wal.anki2"
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("pragma journal_mode = wal").fetchone() == ("wal",)
        create_collection(conn, now=NOW)
        assert conn.execute("pragma journal_mode").fetchone() == ("delete",)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["was-wal.anki2"]
    assert path.read_bytes()[18:20] == b"\x01\x01"


def test_creation_is_one_transaction(tmp_path: Path):
    path = tmp_path / "clash.anki2"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("create table graves (x)")
        conn.commit()
        with pytest.raises(sqlite3.OperationalError, match="graves"):
            create_collection(conn, now=NOW)
        tables = {name for (name,) in conn.execute("select name from sqlite_master")}
        assert tables == {"graves"}
        assert not conn.in_transaction


def test_an_existing_collection_is_left_alone(ours: Path, ours_raw: dict[str, Any]):
    with closing(sqlite3.connect(ours)) as conn:
        with pytest.raises(ValueError, match="already"):
            create_collection(conn, now=NOW + 86_400)
        assert read_col(conn) == ours_raw


def test_new_collection_bytes_is_one_self_contained_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    data = new_collection_bytes(now=NOW)

    assert data.startswith(SQLITE_HEADER)
    assert data[18:20] == b"\x01\x01"
    assert list(scratch.iterdir()) == []

    path = tmp_path / "from-bytes.anki2"
    path.write_bytes(data)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("pragma integrity_check").fetchall() == [("ok",)]
        raw = read_col(conn)
    assert raw["ver"] == 11
    assert raw["scm"] == int(NOW * 1000)
