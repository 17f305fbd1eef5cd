"""Notes of any note type: the cards they make, their sort field, checksum and tags,
with the real Anki as the oracle for what a note of each stock note type generates."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from collection import notes
from collection.col import Col
from collection.errors import (
    InvalidField,
    NoCardsWouldBeMade,
    NoteNotFound,
    NoteTypeNotFound,
)
from collection.notetypes import list_notetypes
from tests.collection.conftest import NOW, AnkiOpener


def notetype_id(conn: sqlite3.Connection, name: str) -> int:
    (view,) = (v for v in list_notetypes(conn) if v.name == name)
    return view.notetype_id


def card_rows(conn: sqlite3.Connection, note_id: int) -> list[tuple[int, int, int]]:
    rows = conn.execute(
        "select ord, did, due from cards where nid = ? order by ord", (note_id,)
    ).fetchall()
    return [(int(o), int(d), int(due)) for o, d, due in rows]


# (note type, fields) -> the card ordinals; each case is also checked against Anki.
GENERATION = [
    ("Basic", {"Front": "q", "Back": "a"}, [0]),
    ("Basic (and reversed card)", {"Front": "q", "Back": "a"}, [0, 1]),
    ("Basic (and reversed card)", {"Front": "q", "Back": ""}, [0]),
    ("Basic (and reversed card)", {"Front": "", "Back": "a"}, [1]),
    ("Basic (optional reversed card)", {"Front": "q", "Back": "a"}, [0]),
    ("Basic (optional reversed card)", {"Front": "q", "Back": "a", "Add Reverse": "y"}, [0, 1]),
    ("Basic (type in the answer)", {"Front": "q", "Back": "a"}, [0]),
    ("Basic (type in the answer)", {"Front": "", "Back": "a"}, [0]),
    ("Cloze", {"Text": "{{c1::Paris}} is in {{c3::France}}"}, [0, 2]),
    ("Cloze", {"Text": "{{c2::a}} {{c2::b}}", "Back Extra": "x"}, [1]),
    ("Cloze", {"Text": "{{c1::outer {{c2::inner}}}}"}, [0, 1]),
    ("Cloze", {"Text": "{{c4::}}"}, [3]),
]


@pytest.mark.parametrize(("name", "fields", "ordinals"), GENERATION)
def test_a_note_gets_the_cards_its_fields_generate(
    conn: sqlite3.Connection, name: str, fields: dict[str, str], ordinals: list[int]
):
    view = notes.add_note(conn, notetype_id(conn, name), fields, now=NOW)
    rows = card_rows(conn, view.note_id)
    assert [o for o, _, _ in rows] == ordinals
    # All cards of a note share one new-card position, in the current deck.
    assert {(d, due) for _, d, due in rows} == {(1, rows[0][2])}
    assert len(view.card_ids) == len(ordinals)


@pytest.mark.interop
@pytest.mark.parametrize(("name", "fields", "ordinals"), GENERATION)
def test_anki_generates_the_same_cards(
    tmp_path: Any, name: str, fields: dict[str, str], ordinals: list[int]
):
    from anki.collection import Collection

    col = Collection(str(tmp_path / "anki.anki2"))
    try:
        note = col.new_note(col.models.by_name(name))
        for key, value in fields.items():
            note[key] = value
        col.add_note(note, 1)
        assert sorted(c.ord for c in note.cards()) == ordinals
    finally:
        col.close()


@pytest.mark.interop
def test_anki_reads_our_notes_as_its_own(conn: sqlite3.Connection, open_in_anki: AnkiOpener):
    added = {
        name: notes.add_note(
            conn, notetype_id(conn, name), fields, tags=["b", "A", "a", "x::y"], now=NOW
        )
        for name, fields, _ in GENERATION[:9:2]
    }
    anki = open_in_anki(conn)
    assert anki.fix_integrity()[1]
    for name, view in added.items():
        note = anki.get_note(view.note_id)
        assert note.note_type()["name"] == name
        assert note.tags == ["A", "b", "x::y"]
        assert sorted(c.id for c in note.cards()) == sorted(view.card_ids)
        # Anki recomputes sfld and csum when checking; ours were already its own.
        sfld, csum = anki.db.first("select sfld, csum from notes where id = ?", view.note_id)
        ours = conn.execute("select sfld, csum from notes where id = ?", (view.note_id,)).fetchone()
        assert (str(sfld), int(csum)) == (str(ours[0]), int(ours[1]))


def test_a_note_that_would_make_no_card_is_refused_with_the_reason(conn: sqlite3.Connection):
    before = conn.total_changes
    with pytest.raises(NoCardsWouldBeMade) as cloze:
        notes.add_note(conn, notetype_id(conn, "Cloze"), {"Text": "no cloze here"}, now=NOW)
    assert "cloze" in str(cloze.value).lower()
    with pytest.raises(NoCardsWouldBeMade) as basic:
        notes.add_note(conn, notetype_id(conn, "Basic"), {"Back": "only a back"}, now=NOW)
    assert "Front" in str(basic.value)
    assert conn.total_changes == before


def test_unknown_fields_and_note_types_are_refused(conn: sqlite3.Connection):
    with pytest.raises(InvalidField, match="no field named 'Nope'"):
        notes.add_note(conn, notetype_id(conn, "Basic"), {"Nope": "x"}, now=NOW)
    with pytest.raises(NoteTypeNotFound):
        notes.add_note(conn, 12345, {"Front": "x"}, now=NOW)
    with pytest.raises(NoteNotFound):
        notes.update_note(conn, 12345, fields={"Front": "x"}, now=NOW)


def test_editing_adds_newly_generated_cards_and_deletes_none(conn: sqlite3.Connection):
    mid = notetype_id(conn, "Cloze")
    view = notes.add_note(conn, mid, {"Text": "{{c1::a}} {{c2::b}}"}, now=NOW)
    first_due = card_rows(conn, view.note_id)[0][2]
    conn.execute("update cards set type = 2, queue = 2, due = 100, ivl = 5 where ord = 1")

    edited = notes.update_note(conn, view.note_id, fields={"Text": "{{c1::a}} {{c3::c}}"}, now=NOW)
    rows = card_rows(conn, view.note_id)
    # c2 is reviewed and no longer generated: it stays. c3 is new, next to the new c1.
    assert [o for o, _, _ in rows] == [0, 1, 2]
    assert rows[2][2] == first_due
    assert len(edited.card_ids) == 3


def test_tags_are_registered_and_replaced(conn: sqlite3.Connection):
    mid = notetype_id(conn, "Basic")
    view = notes.add_note(conn, mid, {"Front": "q"}, tags=["Zeta alpha", "ALPHA"], now=NOW)
    assert view.tags == ["alpha", "Zeta"]
    assert set(Col(conn).tags) >= {"alpha", "Zeta"}
    # A registered tag keeps its registered case.
    other = notes.add_note(conn, mid, {"Front": "q2"}, tags=["zeta"], now=NOW)
    assert other.tags == ["Zeta"]
    cleared = notes.update_note(conn, view.note_id, tags=[], now=NOW)
    assert cleared.tags == []
    (stored,) = conn.execute("select tags from notes where id = ?", (view.note_id,)).fetchone()
    assert stored == ""


def test_an_unchanged_edit_writes_nothing(conn: sqlite3.Connection):
    view = notes.add_note(conn, notetype_id(conn, "Basic"), {"Front": "q", "Back": "a"}, now=NOW)
    conn.commit()
    before = conn.total_changes
    notes.update_note(conn, view.note_id, fields={"Front": "q"}, tags=[], now=NOW + 60)
    assert conn.total_changes == before


def test_deleting_a_note_leaves_graves(conn: sqlite3.Connection):
    view = notes.add_note(
        conn, notetype_id(conn, "Basic (and reversed card)"), {"Front": "q", "Back": "a"}, now=NOW
    )
    notes.delete_note(conn, view.note_id, now=NOW)
    graves = conn.execute("select oid, type from graves order by type, oid").fetchall()
    assert graves == [*((cid, 0) for cid in sorted(view.card_ids)), (view.note_id, 1)]
    with pytest.raises(NoteNotFound):
        notes.get_note(conn, view.note_id)
