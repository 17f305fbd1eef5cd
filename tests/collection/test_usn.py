"""The usn rule: everything written to a collection carries its `col.usn`, never -1.

A sync server stamps its own changes with its current usn so that the next sync sends
them to every client; -1 means "not sent yet" on a client and fails the sanity check.
Each web write below runs on a collection whose `col.usn` is `USN`; every row and JSON
entry it adds or changes must then carry exactly `USN`, and nothing anywhere -1.
Collections written before the rule are put right once by `normalise_usns`.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collection import card_actions, notes
from collection.apkg.importer import import_package
from collection.cards import add_card, delete_card, update_card
from collection.col import Col, mark_modified, mark_schema_modified, server_usn
from collection.decks import create_deck, delete_deck, rename_deck, set_current_deck
from collection.ids import ms
from collection.notetypes import list_notetypes
from collection.review import answer, timing, unbury_on_new_day
from collection.schema import create_collection
from collection.usn import normalise_usns, pending_usn_tables
from tests.collection.apkg_fixtures import AnkiPackages, build_anki_packages
from tests.collection.conftest import NOW

USN = 7  # the collection's usn in these tests: neither -1 nor the 0 of a new file

TABLES = ("notes", "cards", "revlog")
JSON_OBJECTS = ("models", "decks", "dconf")


# --- a snapshot of every usn in a collection -------------------------------------------


Key = tuple[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """Every row and JSON entry that has a usn, with its content and its usn."""

    entries: dict[Key, tuple[Any, int]]  # key -> (content, usn)
    graves: list[tuple[int, int, int]]  # (usn, oid, type), in rowid order

    @classmethod
    def of(cls, conn: sqlite3.Connection) -> Snapshot:
        entries: dict[Key, tuple[Any, int]] = {}
        for table in TABLES:
            cursor = conn.execute(f"select * from {table}")
            names = [d[0] for d in cursor.description]
            for row in cursor:
                record = dict(zip(names, row, strict=True))
                entries[(table, record["id"])] = (record, record["usn"])
        row = conn.execute(f"select {', '.join(JSON_OBJECTS)}, tags from col").fetchone()
        for column, text in zip(JSON_OBJECTS, row, strict=False):
            for key, entry in json.loads(text).items():
                entries[(column, key)] = (entry, entry.get("usn"))
        for tag, usn in json.loads(row[-1]).items():
            entries[("tags", tag)] = (tag, usn)
        graves = [
            tuple(g) for g in conn.execute("select usn, oid, type from graves order by rowid")
        ]
        return cls(entries, graves)  # type: ignore[arg-type]

    def usns(self) -> set[int]:
        return {usn for _, usn in self.entries.values()} | {g[0] for g in self.graves}


def changed_kinds(before: Snapshot, after: Snapshot, usn: int) -> set[str]:
    """What kinds of rows a write added or changed (graves: added), checking that each
    of them carries `usn` and that no usn anywhere is -1."""
    assert -1 not in after.usns(), f"a usn of -1 is left: {pending(after)}"
    kinds: set[str] = set()
    for key, (content, entry_usn) in after.entries.items():
        if before.entries.get(key, (None, None))[0] != content:
            assert entry_usn == usn, f"{key} changed but carries usn {entry_usn}"
            kinds.add(key[0])
    assert after.graves[: len(before.graves)] == before.graves
    for grave in after.graves[len(before.graves) :]:
        assert grave[0] == usn, f"grave {grave} does not carry usn {usn}"
        kinds.add("graves")
    return kinds


def pending(snapshot: Snapshot) -> list[Any]:
    return [k for k, (_, u) in snapshot.entries.items() if u == -1] + [
        g for g in snapshot.graves if g[0] == -1
    ]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def conn(col_path: Path) -> Iterator[sqlite3.Connection]:
    """A collection whose server usn is `USN`, as after a few syncs."""
    with closing(sqlite3.connect(col_path)) as connection:
        connection.execute("update col set usn = ?", (USN,))
        connection.commit()
        yield connection


@pytest.fixture(scope="module")
def anki(tmp_path_factory: pytest.TempPathFactory) -> AnkiPackages:
    return build_anki_packages(tmp_path_factory.mktemp("anki"))


def notetype_id(conn: sqlite3.Connection, name: str) -> int:
    (found,) = (n.notetype_id for n in list_notetypes(conn) if n.name == name)
    return found


def deck_id(conn: sqlite3.Connection, name: str) -> int:
    for key, deck in Col(conn).decks.items():
        if deck["name"] == name:
            return int(key)
    raise AssertionError(name)


def a_card(conn: sqlite3.Connection, front: str = "q") -> int:
    added = add_card(conn, front, "a", None, now=NOW)
    conn.commit()
    return added.card_id


def write(conn: sqlite3.Connection, action: Callable[[], object]) -> set[str]:
    """Run a web write on `conn` and commit; the kinds of rows it changed."""
    conn.commit()
    before = Snapshot.of(conn)
    action()
    conn.commit()
    return changed_kinds(before, Snapshot.of(conn), USN)


# --- every web write ----------------------------------------------------------------------


def test_adding_and_editing_a_card(conn: sqlite3.Connection):
    added: list[Any] = []
    assert write(conn, lambda: added.append(add_card(conn, "q", "a", None, now=NOW))) == {
        "notes",
        "cards",
    }
    card_id = added[0].card_id
    assert write(conn, lambda: update_card(conn, card_id, "q2", "a2", now=NOW + 1)) == {
        "notes",
        "cards",
    }


STOCK_FIELDS = {
    "Basic": {"Front": "f", "Back": "b"},
    "Basic (and reversed card)": {"Front": "f", "Back": "b"},
    "Basic (optional reversed card)": {"Front": "f", "Back": "b", "Add Reverse": "y"},
    "Basic (type in the answer)": {"Front": "f", "Back": "b"},
    "Cloze": {"Text": "{{c1::a}} {{c2::b}}", "Back Extra": "x"},
}


@pytest.mark.parametrize("name", sorted(STOCK_FIELDS))
def test_adding_a_note_of_each_stock_type(conn: sqlite3.Connection, name: str):
    mid = notetype_id(conn, name)
    fields = STOCK_FIELDS[name]
    assert write(conn, lambda: notes.add_note(conn, mid, fields, tags=["new-tag"], now=NOW)) == {
        "notes",
        "cards",
        "tags",
    }


def test_editing_a_note_adds_cards_and_tags(conn: sqlite3.Connection):
    mid = notetype_id(conn, "Basic (optional reversed card)")
    view = notes.add_note(conn, mid, {"Front": "f", "Back": "b"}, now=NOW)
    changed = write(
        conn,
        lambda: notes.update_note(
            conn, view.note_id, fields={"Add Reverse": "y"}, tags=["later"], now=NOW + 1
        ),
    )
    assert changed == {"notes", "cards", "tags"}
    assert write(conn, lambda: notes.update_note(conn, view.note_id, tags=[], now=NOW + 2)) == {
        "notes"
    }


def test_deleting_a_card_a_note_and_a_deck_leaves_graves(conn: sqlite3.Connection):
    first, second = a_card(conn, "1"), a_card(conn, "2")
    assert write(conn, lambda: delete_card(conn, first, now=NOW)) == {"graves"}
    (nid,) = conn.execute("select nid from cards where id = ?", (second,)).fetchone()
    assert write(conn, lambda: notes.delete_note(conn, nid, now=NOW)) == {"graves"}
    deck = create_deck(conn, "Doomed::Child", now=NOW)
    add_card(conn, "in deck", "", deck.id, now=NOW)
    top = deck_id(conn, "Doomed")
    assert write(conn, lambda: delete_deck(conn, top, now=NOW)) == {"graves"}
    grave_types = {t for _, _, t in Snapshot.of(conn).graves}
    assert grave_types == {0, 1, 2}


def test_creating_and_renaming_decks(conn: sqlite3.Connection):
    assert write(conn, lambda: create_deck(conn, "A::B", now=NOW)) == {"decks"}
    a = deck_id(conn, "A")
    assert write(conn, lambda: rename_deck(conn, a, "Z::A", now=NOW + 1)) == {"decks"}
    # Selecting a deck only changes the collection config, which has no usn.
    assert write(conn, lambda: set_current_deck(conn, a, now=NOW + 2)) == set()


def test_card_actions(conn: sqlite3.Connection):
    card = a_card(conn)
    deck = create_deck(conn, "Elsewhere", now=NOW)
    assert write(conn, lambda: card_actions.move(conn, card, deck.id, now=NOW + 1)) == {"cards"}
    for action in (
        card_actions.suspend,
        card_actions.unsuspend,
        card_actions.bury,
        card_actions.unbury,
    ):
        assert write(conn, lambda a=action: a(conn, card, now=NOW + 2)) == {"cards"}, action
    answer(conn, card, 3, 1_000, now=NOW + 3)
    changed = write(conn, lambda: card_actions.forget(conn, card, now=NOW + 4, reset_counts=True))
    assert changed == {"cards", "revlog"}


def test_answering_a_card(conn: sqlite3.Connection):
    card = a_card(conn)
    assert write(conn, lambda: answer(conn, card, 3, 5_000, now=NOW)) == {
        "cards",
        "revlog",
        "decks",  # the deck's newToday counter
    }


def test_a_leech_is_tagged_and_its_tag_registered(conn: sqlite3.Connection):
    card = a_card(conn)
    today = timing(Col(conn), conn, NOW).days_elapsed
    conn.execute(
        "update cards set type = 2, queue = 2, due = ?, ivl = 10, factor = 2500, reps = 9,"
        " lapses = 7 where id = ?",
        (today, card),
    )
    changed = write(conn, lambda: answer(conn, card, 1, 5_000, now=NOW))
    assert changed == {"cards", "revlog", "notes", "tags", "decks"}  # decks: revToday
    assert Col(conn).tags == {"leech": USN}


def test_unburying_on_a_new_day(conn: sqlite3.Connection):
    card = a_card(conn)
    card_actions.bury(conn, card, now=NOW)
    conn.commit()
    assert write(conn, lambda: unbury_on_new_day(conn, now=NOW + 86_400)) == {"cards"}


@pytest.mark.interop
@pytest.mark.parametrize("fmt", ["latest.apkg", "legacy.apkg", "latest.colpkg"])
def test_importing_a_package(conn: sqlite3.Connection, anki: AnkiPackages, fmt: str):
    now = time.time()
    package = anki.packages[fmt]
    changed = write(conn, lambda: import_package(conn, package, now=now))
    assert changed == {"notes", "cards", "revlog", "models", "decks", "dconf", "tags"}

    # Our copies made older (and synced at usn 0): importing again updates notes and
    # note types, and the updates carry the collection's usn too.
    conn.execute("update notes set mod = 0, usn = 0")
    col = Col(conn)
    for model in col.models.values():
        model.update(mod=0, usn=0)
    col.mark_changed("models")
    col.save(now=now)
    conn.commit()
    changed = write(conn, lambda: import_package(conn, package, now=now + 1))
    assert changed == {"notes", "models"}


def test_stamping_col_mod_and_scm(conn: sqlite3.Connection):
    mark_modified(conn, now=NOW + 1)
    assert conn.execute("select mod, scm from col").fetchone() == (ms(NOW + 1), ms(NOW))
    mark_schema_modified(conn, now=NOW + 2)
    assert conn.execute("select mod, scm from col").fetchone() == (ms(NOW + 2), ms(NOW + 2))
    assert server_usn(conn) == USN


# --- collections written the old way ---------------------------------------------------------


def make_old(conn: sqlite3.Connection) -> int:
    """Turn every usn of the collection into -1, as the web API used to write them (and
    the original backend kept them); the number of rows and entries turned."""
    turned = 0
    for table in (*TABLES, "graves"):
        turned += conn.execute(f"update {table} set usn = -1").rowcount
    for column in (*JSON_OBJECTS, "tags"):
        (text,) = conn.execute(f"select {column} from col").fetchone()
        value = json.loads(text)
        for key in value:
            if column == "tags":
                value[key] = -1
            else:
                value[key]["usn"] = -1
        turned += len(value)
        # As the original backend wrote JSON: with spaces after separators.
        conn.execute(f"update col set {column} = ?", (json.dumps(value),))
    conn.commit()
    return turned


def fill(conn: sqlite3.Connection) -> None:
    """One of everything that has a usn: notes, cards, revlog, graves, a deck, a tag."""
    mid = notetype_id(conn, "Basic")
    view = notes.add_note(conn, mid, {"Front": "f", "Back": "b"}, tags=["t"], now=NOW)
    deck = create_deck(conn, "D", now=NOW)
    gone = add_card(conn, "gone", "", deck.id, now=NOW)
    delete_card(conn, gone.card_id, now=NOW)
    answer(conn, view.card_ids[0], 3, 1_000, now=NOW)
    conn.commit()


def test_normalising_fixes_every_table_and_json_column_once(conn: sqlite3.Connection):
    fill(conn)
    turned = make_old(conn)
    assert set(pending_usn_tables(conn)) == {
        "cards",
        "notes",
        "revlog",
        "graves",
        "col.models",
        "col.decks",
        "col.dconf",
        "col.tags",
    }
    before = Snapshot.of(conn)

    assert normalise_usns(conn) == turned
    conn.commit()
    after = Snapshot.of(conn)
    assert after.usns() == {USN}
    # Only the usns changed.
    assert {k: c for k, (c, _) in after.entries.items() if k[0] not in TABLES} == {
        k: {**c, "usn": USN} if isinstance(c, dict) else c
        for k, (c, _) in before.entries.items()
        if k[0] not in TABLES
    }
    assert {k: {**c, "usn": USN} for k, (c, _) in before.entries.items() if k[0] in TABLES} == {
        k: c for k, (c, _) in after.entries.items() if k[0] in TABLES
    }
    assert [g[1:] for g in after.graves] == [g[1:] for g in before.graves]
    assert pending_usn_tables(conn) == []

    changes = conn.total_changes
    assert normalise_usns(conn) == 0
    assert conn.total_changes == changes
    assert not conn.in_transaction


def test_normalising_leaves_col_mod_and_everything_else_alone(conn: sqlite3.Connection):
    fill(conn)
    make_old(conn)
    (mod, scm, crt, conf) = conn.execute("select mod, scm, crt, conf from col").fetchone()
    normalise_usns(conn)
    assert conn.execute("select mod, scm, crt, conf from col").fetchone() == (mod, scm, crt, conf)


def test_a_clean_collection_is_only_read(conn: sqlite3.Connection):
    fill(conn)
    # "-1" in the JSON text that is not a usn: parsed, found clean, nothing written.
    create_deck(conn, "-1", now=NOW)
    conn.commit()
    changes = conn.total_changes
    assert normalise_usns(conn) == 0
    assert conn.total_changes == changes
    assert not conn.in_transaction


def test_only_minus_one_is_normalised(conn: sqlite3.Connection):
    fill(conn)
    conn.execute("update cards set usn = 3")  # synced earlier: kept
    conn.execute("update notes set usn = -1")
    conn.commit()
    (notes_count,) = conn.execute("select count() from notes").fetchone()
    assert normalise_usns(conn) == notes_count
    assert {u for (u,) in conn.execute("select usn from cards")} == {3}
    assert {u for (u,) in conn.execute("select usn from notes")} == {USN}


def test_the_clean_check_uses_the_usn_indexes(conn: sqlite3.Connection):
    for table in TABLES:
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                f"explain query plan select 1 from {table} where usn = -1 limit 1"
            )
        )
        assert f"ix_{table}_usn" in plan, plan


def test_normalising_a_large_clean_collection_is_cheap(tmp_path: Path):
    """20 000 cards with reviews and graves: the no-op takes milliseconds."""
    path = tmp_path / "large.anki2"
    with closing(sqlite3.connect(path)) as conn:
        create_collection(conn, now=NOW)
        conn.execute("update col set usn = ?", (USN,))
        mid = notetype_id(conn, "Basic")
        base = ms(NOW)
        conn.executemany(
            "insert into notes values (?, ?, ?, 0, ?, '', ?, ?, 0, 0, '')",
            [(base + i, f"g{i}", mid, USN, f"f{i}\x1fb", f"f{i}") for i in range(20_000)],
        )
        conn.executemany(
            "insert into cards values (?, ?, 1, 0, 0, ?, 0, 0, ?, 0, 0, 0, 0, 0, 0, 0, 0, '')",
            [(base + i, base + i, USN, i) for i in range(20_000)],
        )
        conn.executemany(
            "insert into revlog values (?, ?, ?, 3, 1, 0, 2500, 1000, 1)",
            [(base + i, base + i % 20_000, USN) for i in range(60_000)],
        )
        conn.executemany("insert into graves values (?, ?, 0)", [(USN, i) for i in range(5_000)])
        conn.commit()
        start = time.perf_counter()
        for _ in range(10):
            assert normalise_usns(conn) == 0
        elapsed = (time.perf_counter() - start) / 10
        assert not conn.in_transaction
    assert elapsed < 0.05, f"{elapsed * 1000:.1f} ms"


# --- Anki's own sanity check ----------------------------------------------------------------

# The tables `storage/sync_check.rs` refuses a sync over if any row has usn -1 (schema 18,
# as Anki upgrades our file on opening it).
ANKI_USN_TABLES = (
    "cards",
    "notes",
    "revlog",
    "graves",
    "decks",
    "deck_config",
    "tags",
    "notetypes",
)


def anki_pending(col: Any) -> dict[str, int]:
    return {
        table: col.db.scalar(f"select count() from {table} where usn = -1")
        for table in ANKI_USN_TABLES
    }


def open_copy_in_anki(conn: sqlite3.Connection, source: Path, tmp_path: Path, name: str) -> Any:
    from anki.collection import Collection

    conn.commit()
    copy = tmp_path / f"{name}.anki2"
    shutil.copyfile(source, copy)
    return Collection(str(copy))


@pytest.mark.interop
def test_anki_finds_no_pending_usn_after_web_writes(
    conn: sqlite3.Connection, col_path: Path, tmp_path: Path, anki: AnkiPackages
):
    fill(conn)
    card = a_card(conn, "more")
    for action in (card_actions.suspend, card_actions.unsuspend):
        action(conn, card, now=NOW)
    card_actions.forget(conn, card, now=NOW, reset_counts=False)
    rename_deck(conn, deck_id(conn, "D"), "E::D", now=NOW)
    import_package(conn, anki.packages["latest.apkg"], now=time.time())
    col = open_copy_in_anki(conn, col_path, tmp_path, "written")
    try:
        assert anki_pending(col) == dict.fromkeys(ANKI_USN_TABLES, 0)
        assert col.db.scalar("select count() from graves") > 0
        assert col.db.scalar("select count() from tags") > 0
        assert {u for (u,) in col.db.execute("select distinct usn from notetypes")} <= {0, USN}
    finally:
        col.close()


@pytest.mark.interop
def test_anki_finds_no_pending_usn_after_normalising_an_old_collection(
    tmp_path: Path,
):
    """A collection as the original backend kept it (made by Anki, schema 11, every usn
    -1): Anki's check finds -1 rows before normalising and none after."""
    from anki.collection import Collection

    path = tmp_path / "old.anki2"
    col = Collection(str(path))
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"], note["Back"] = "f", "b"
    note.tags = ["old"]
    col.add_note(note, col.decks.id("Old::Deck"))
    gone = col.new_note(col.models.by_name("Basic"))
    gone["Front"] = "gone"
    col.add_note(gone, 1)
    col.remove_notes([gone.id])
    card = col.get_card(note.card_ids()[0])
    card.start_timer()
    col.sched.answerCard(card, 3)
    col.close(downgrade=True)
    with closing(sqlite3.connect(path)) as conn:
        make_old(conn)
        conn.execute("update col set usn = ?", (USN,))
        conn.commit()

    before = open_copy_in_anki(sqlite3.connect(":memory:"), path, tmp_path, "before")
    try:
        assert all(before.db.scalar(f"select count() from {t}") for t in ANKI_USN_TABLES)
        assert all(anki_pending(before).values()), anki_pending(before)
    finally:
        before.close()

    with closing(sqlite3.connect(path)) as conn:
        assert normalise_usns(conn) > 0
        conn.commit()
        assert normalise_usns(conn) == 0
        after = open_copy_in_anki(conn, path, tmp_path, "after")
    try:
        assert anki_pending(after) == dict.fromkeys(ANKI_USN_TABLES, 0)
        assert after.db.scalar("select count() from cards where usn = ?", USN) == 1
    finally:
        after.close()
