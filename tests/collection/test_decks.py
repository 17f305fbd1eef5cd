"""Decks in `col.decks`: names, parents, renames, deletion and the current deck."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collection.cards import add_card
from collection.col import Col, server_usn
from collection.decks import (
    Deck,
    DeckIndex,
    create_deck,
    delete_deck,
    get_current_deck,
    get_deck,
    list_decks,
    normalize_deck_name,
    rename_deck,
    set_current_deck,
)
from collection.errors import (
    DeckNotFound,
    DefaultDeckProtected,
    DuplicateDeck,
    FilteredDeck,
    InvalidDeckName,
    MalformedCollection,
)
from collection.ids import ms
from collection.schema import new_deck
from tests.collection.conftest import NOW, dump, readonly


def raw_decks(conn: sqlite3.Connection) -> dict[str, Any]:
    (decks,) = conn.execute("select decks from col").fetchone()
    return json.loads(decks)


def conf(conn: sqlite3.Connection) -> dict[str, Any]:
    (value,) = conn.execute("select conf from col").fetchone()
    return json.loads(value)


def names(conn: sqlite3.Connection) -> list[str]:
    return [d.name for d in list_decks(conn)]


def deck_ids_with_children(conn: sqlite3.Connection, deck_id: int) -> list[int]:
    return DeckIndex(Col(conn)).subtree(deck_id)


def by_name(conn: sqlite3.Connection, name: str) -> Deck:
    (deck,) = (d for d in list_decks(conn) if d.name == name)
    return deck


def graves(conn: sqlite3.Connection) -> set[tuple[int, int, int]]:
    return set(conn.execute("select usn, oid, type from graves"))


def edit_decks(conn: sqlite3.Connection, change: Callable[[dict[str, Any]], None]) -> None:
    decks = raw_decks(conn)
    change(decks)
    conn.execute("update col set decks = ?", (json.dumps(decks),))


# --- names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Spanish", "Spanish"),
        ("  Spanish  ", "Spanish"),
        (" A :: B ", "A::B"),
        ("A:::B", "A::B"),  # Anki trims ':' off each component too
        ("A: :B", "A: :B"),
        ("Cafe\u0301", "Caf\u00e9"),  # NFC, as Anki stores names
        ("日本語::漢字", "日本語::漢字"),
    ],
)
def test_names_are_normalised_like_anki(typed: str, stored: str):
    assert normalize_deck_name(typed) == stored


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "::", " :: ", ":::", "A::", "::A", "A::  ::B", "A\tB", "A\nB", "A\x1fB", "\ud800"],
)
def test_invalid_names_are_refused(conn: sqlite3.Connection, typed: str):
    before = dump(conn)
    with pytest.raises(InvalidDeckName):
        create_deck(conn, typed, now=NOW)
    assert dump(conn) == before


# --- creating ------------------------------------------------------------------------


def test_a_fresh_collection_has_only_the_default_deck(conn: sqlite3.Connection):
    assert list_decks(conn) == [Deck(1, "Default", 0)]
    assert get_current_deck(conn) == Deck(1, "Default", 0)


def test_a_new_deck_is_written_as_anki_writes_one(conn: sqlite3.Connection):
    deck = create_deck(conn, "  Spanish ", now=NOW)
    assert deck == Deck(ms(NOW), "Spanish", 0)
    expected = new_deck(ms(NOW), "Spanish", int(NOW)) | {"usn": server_usn(conn)}
    assert raw_decks(conn)[str(ms(NOW))] == expected
    assert conn.execute("select mod from col").fetchone() == (ms(NOW),)
    assert get_deck(conn, deck.id) == deck


def test_ids_are_unique_for_decks_created_in_the_same_millisecond(conn: sqlite3.Connection):
    ids = [create_deck(conn, f"D{i}", now=NOW).id for i in range(5)]
    assert ids == list(range(ms(NOW), ms(NOW) + 5))


def test_missing_parents_are_created(conn: sqlite3.Connection):
    deck = create_deck(conn, "A::B::C", now=NOW)
    assert names(conn) == ["A", "A::B", "A::B::C", "Default"]
    assert deck.name == "A::B::C"
    # Anki creates the missing parents innermost first, then the deck itself.
    assert [by_name(conn, n).id for n in ("A::B", "A", "A::B::C")] == [
        ms(NOW),
        ms(NOW) + 1,
        ms(NOW) + 2,
    ]
    usn = server_usn(conn)
    assert all(d["usn"] == usn for d in raw_decks(conn).values() if d["id"] != 1)


def test_a_subdeck_takes_the_spelling_of_its_existing_parent(conn: sqlite3.Connection):
    create_deck(conn, "Spanish", now=NOW)
    assert create_deck(conn, "SPANISH::Verbs", now=NOW).name == "Spanish::Verbs"
    assert create_deck(conn, "spanish::verbs::irregular", now=NOW).name == (
        "Spanish::Verbs::irregular"
    )


def test_new_decks_take_the_options_group_of_their_closest_parent(conn: sqlite3.Connection):
    parent = create_deck(conn, "Lang", now=NOW)
    edit_decks(conn, lambda d: d[str(parent.id)].update(conf=7))
    create_deck(conn, "Lang::Spanish::Verbs", now=NOW)
    decks = {d["name"]: d for d in raw_decks(conn).values()}
    assert decks["Lang::Spanish"]["conf"] == decks["Lang::Spanish::Verbs"]["conf"] == 7
    assert create_deck(conn, "Other::Deck", now=NOW)
    assert {d["conf"] for d in raw_decks(conn).values() if d["name"].startswith("Other")} == {1}


@pytest.mark.parametrize(
    ("existing", "duplicate"),
    [
        ("Spanish", "spanish"),
        ("Spanish", " SPANISH "),
        ("Straße", "STRASSE"),  # Unicode case folding, as Anki compares names
        ("Σίσυφος", "ΣΊΣΥΦΟΣ"),
        ("A::B", "a::b"),
        ("Café", "Cafe\u0301"),
        ("Default", "default"),
    ],
)
def test_duplicate_names_are_refused_ignoring_case(
    conn: sqlite3.Connection, existing: str, duplicate: str
):
    if existing != "Default":
        create_deck(conn, existing, now=NOW)
    before = dump(conn)
    with pytest.raises(DuplicateDeck) as raised:
        create_deck(conn, duplicate, now=NOW + 1)
    assert raised.value.name == existing
    assert dump(conn) == before


def test_nothing_goes_inside_a_filtered_deck(conn: sqlite3.Connection):
    filtered = create_deck(conn, "Cram", now=NOW)
    edit_decks(conn, lambda d: d[str(filtered.id)].update(dyn=1))
    before = dump(conn)
    with pytest.raises(FilteredDeck):
        create_deck(conn, "Cram::Inside", now=NOW)
    assert dump(conn) == before
    assert by_name(conn, "Cram").filtered


# --- listing -------------------------------------------------------------------------


def test_decks_are_listed_by_name_with_their_card_counts(conn: sqlite3.Connection):
    for name in ("b", "A B", "A::B", "A", "a::c"):
        if name.casefold() not in {n.casefold() for n in names(conn)}:
            create_deck(conn, name, now=NOW)
    add_card(conn, "q1", "", by_name(conn, "A::B").id, now=NOW)
    add_card(conn, "q2", "", by_name(conn, "A::B").id, now=NOW)
    add_card(conn, "q3", "", by_name(conn, "A").id, now=NOW)
    add_card(conn, "q4", "", by_name(conn, "A B").id, now=NOW)
    listed = [(d.name, d.card_count) for d in list_decks(conn)]
    # Like Anki's deck list: children right under their parent ("A::B" before "A B").
    assert listed == [("A", 3), ("A::B", 2), ("A::c", 0), ("A B", 1), ("b", 0), ("Default", 0)]
    assert get_deck(conn, by_name(conn, "A").id).card_count == 3
    assert deck_ids_with_children(conn, by_name(conn, "A").id) == [
        by_name(conn, n).id for n in ("A", "A::B", "A::c")
    ]


def test_unknown_decks_are_not_found(conn: sqlite3.Connection):
    before = dump(conn)
    for call in (
        lambda: get_deck(conn, 999),
        lambda: rename_deck(conn, 999, "X", now=NOW),
        lambda: delete_deck(conn, 999, now=NOW),
        lambda: set_current_deck(conn, 999, now=NOW),
        lambda: deck_ids_with_children(conn, 999),
    ):
        with pytest.raises(DeckNotFound):
            call()
    assert dump(conn) == before


@pytest.mark.parametrize(
    "decks", [{"x": {"name": "X"}}, {"5": ["not", "a", "deck"]}, {"5": {"id": 5}}]
)
def test_a_malformed_decks_json_is_reported(conn: sqlite3.Connection, decks: dict[str, Any]):
    edit_decks(conn, lambda d: d.update(decks))
    with pytest.raises(MalformedCollection, match="malformed deck"):
        list_decks(conn)


def test_reads_work_on_a_read_only_connection(conn: sqlite3.Connection, col_path: Path):
    create_deck(conn, "A::B", now=NOW)
    conn.commit()
    with readonly(col_path) as ro:
        assert [d.name for d in list_decks(ro)] == ["A", "A::B", "Default"]
        assert get_current_deck(ro).id == 1
        assert get_deck(ro, by_name(conn, "A").id).name == "A"


# --- renaming ------------------------------------------------------------------------


def test_renaming_a_parent_renames_its_children(conn: sqlite3.Connection):
    create_deck(conn, "A::B::C", now=NOW)
    a = by_name(conn, "A")
    renamed = rename_deck(conn, a.id, "Z", now=NOW + 5)
    assert renamed == Deck(a.id, "Z", 0)
    assert names(conn) == ["Default", "Z", "Z::B", "Z::B::C"]
    for deck in raw_decks(conn).values():
        if deck["id"] != 1:
            assert (deck["mod"], deck["usn"]) == (int(NOW) + 5, server_usn(conn))


def test_renaming_keeps_ids_and_cards(conn: sqlite3.Connection):
    deck = create_deck(conn, "A::B", now=NOW)
    add_card(conn, "front", "back", deck.id, now=NOW)
    rename_deck(conn, by_name(conn, "A").id, "Q", now=NOW)
    assert by_name(conn, "Q::B") == Deck(deck.id, "Q::B", 1)


def test_a_rename_can_move_a_deck_to_a_new_parent(conn: sqlite3.Connection):
    child = create_deck(conn, "A::B", now=NOW)
    create_deck(conn, "A::B::C", now=NOW)
    rename_deck(conn, child.id, "X::Y::B", now=NOW + 1)
    assert names(conn) == ["A", "Default", "X", "X::Y", "X::Y::B", "X::Y::B::C"]
    rename_deck(conn, child.id, "B", now=NOW + 2)  # up to the top level
    assert names(conn) == ["A", "B", "B::C", "Default", "X", "X::Y"]


def test_a_rename_under_an_existing_parent_takes_its_spelling_and_options(
    conn: sqlite3.Connection,
):
    parent = create_deck(conn, "Lang", now=NOW)
    edit_decks(conn, lambda d: d[str(parent.id)].update(conf=3))
    deck = create_deck(conn, "Verbs", now=NOW)
    assert rename_deck(conn, deck.id, "lang::Verbs", now=NOW).name == "Lang::Verbs"
    assert raw_decks(conn)[str(deck.id)]["conf"] == 3


def test_changing_only_the_case_of_a_name_is_a_rename(conn: sqlite3.Connection):
    deck = create_deck(conn, "spanish", now=NOW)
    create_deck(conn, "spanish::verbs", now=NOW)
    rename_deck(conn, deck.id, "Spanish", now=NOW)
    assert names(conn) == ["Default", "Spanish", "Spanish::verbs"]


def test_renaming_to_the_same_name_writes_nothing(conn: sqlite3.Connection):
    deck = create_deck(conn, "A::B", now=NOW)
    conn.commit()
    before = dump(conn)
    assert rename_deck(conn, deck.id, " A :: B ", now=NOW + 9).name == "A::B"
    assert rename_deck(conn, deck.id, "a::B", now=NOW + 9).name == "A::B"
    assert dump(conn) == before
    assert not conn.in_transaction


@pytest.mark.parametrize("target", ["B", "b", "B::C", "b::c"])
def test_renaming_onto_another_deck_is_refused(conn: sqlite3.Connection, target: str):
    deck = create_deck(conn, "A", now=NOW)
    create_deck(conn, "B::C", now=NOW)
    before = dump(conn)
    with pytest.raises(DuplicateDeck):
        rename_deck(conn, deck.id, target, now=NOW)
    assert dump(conn) == before


@pytest.mark.parametrize("target", ["A::X", "a::b::c", "A::B::X"])
def test_a_deck_cannot_move_inside_itself(conn: sqlite3.Connection, target: str):
    create_deck(conn, "A::B", now=NOW)
    before = dump(conn)
    with pytest.raises(InvalidDeckName, match="inside itself"):
        rename_deck(conn, by_name(conn, "A").id, target, now=NOW)
    assert dump(conn) == before


def test_a_renamed_child_may_not_land_on_an_existing_deck(conn: sqlite3.Connection):
    # An orphan "B::C" (no "B") can exist in imported collections.
    create_deck(conn, "A::C", now=NOW)
    orphan_id = ms(NOW) + 100
    edit_decks(conn, lambda d: d.update({str(orphan_id): new_deck(orphan_id, "B::C", 0)}))
    before = dump(conn)
    with pytest.raises(DuplicateDeck, match="B::C"):
        rename_deck(conn, by_name(conn, "A").id, "B", now=NOW)
    assert dump(conn) == before


def test_the_default_deck_can_be_renamed(conn: sqlite3.Connection):
    assert rename_deck(conn, 1, "General", now=NOW) == Deck(1, "General", 0)


def test_rename_refuses_invalid_names(conn: sqlite3.Connection):
    with pytest.raises(InvalidDeckName):
        rename_deck(conn, 1, " :: ", now=NOW)


# --- deleting ------------------------------------------------------------------------


def insert_card(conn: sqlite3.Connection, card_id: int, note_id: int, deck_id: int, **cols: int):
    values = {"did": deck_id, "odid": 0, "odue": 0, "type": 0, "queue": 0, "due": 0} | cols
    conn.execute(
        "insert into cards (id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps,"
        " lapses, left, odue, odid, flags, data)"
        " values (?, ?, ?, 1, 0, 0, ?, ?, ?, 0, 0, 0, 0, 0, ?, ?, 0, '')",
        (
            card_id,
            note_id,
            values["did"],
            values["type"],
            values["queue"],
            values["due"],
            values["odue"],
            values["odid"],
        ),
    )


def test_deleting_a_deck_deletes_subdecks_cards_and_orphaned_notes(conn: sqlite3.Connection):
    top = create_deck(conn, "A::B", now=NOW)
    a = by_name(conn, "A")
    keep = create_deck(conn, "Keep", now=NOW)
    c1, n1 = add_card(conn, "in A", "", a.id, now=NOW)
    c2, n2 = add_card(conn, "in A::B", "", top.id, now=NOW)
    c3, n3 = add_card(conn, "elsewhere", "", keep.id, now=NOW)
    # A note with one card in the doomed tree and one elsewhere survives.
    insert_card(conn, c3 + 100, n2, keep.id)
    conn.execute("insert into revlog values (1, ?, 0, 3, 1, 0, 2500, 1000, 0)", (c1,))
    before = graves(conn)

    assert delete_deck(conn, a.id, now=NOW + 10) == 2

    assert names(conn) == ["Default", "Keep"]
    assert {r[0] for r in conn.execute("select id from cards")} == {c3, c3 + 100}
    assert {r[0] for r in conn.execute("select id from notes")} == {n2, n3}
    usn = server_usn(conn)
    assert graves(conn) - before == {
        (usn, c1, 0),
        (usn, c2, 0),
        (usn, n1, 1),
        (usn, a.id, 2),
        (usn, top.id, 2),
    }
    # Anki keeps the review history of deleted cards.
    assert conn.execute("select count() from revlog").fetchone() == (1,)
    assert conn.execute("select mod from col").fetchone() == (ms(NOW + 10),)


def test_the_default_deck_cannot_be_deleted(conn: sqlite3.Connection):
    before = dump(conn)
    with pytest.raises(DefaultDeckProtected):
        delete_deck(conn, 1, now=NOW)
    assert dump(conn) == before
    rename_deck(conn, 1, "Parent::Default", now=NOW)
    before = dump(conn)
    with pytest.raises(DefaultDeckProtected, match="contains the default deck"):
        delete_deck(conn, by_name(conn, "Parent").id, now=NOW)
    assert dump(conn) == before


def test_deleting_the_current_deck_selects_the_default_deck(conn: sqlite3.Connection):
    deck = create_deck(conn, "A::B", now=NOW)
    set_current_deck(conn, deck.id, now=NOW)
    delete_deck(conn, by_name(conn, "A").id, now=NOW)
    assert (conf(conn)["curDeck"], conf(conn)["activeDecks"]) == (1, [1])


def test_deleting_a_subdeck_of_the_current_deck_leaves_it_active(conn: sqlite3.Connection):
    deck = create_deck(conn, "A::B", now=NOW)
    a = by_name(conn, "A")
    set_current_deck(conn, a.id, now=NOW)
    assert conf(conn)["activeDecks"] == [a.id, deck.id]
    delete_deck(conn, deck.id, now=NOW)
    assert (conf(conn)["curDeck"], conf(conn)["activeDecks"]) == (a.id, [a.id])


def test_per_deck_settings_go_with_the_deck(conn: sqlite3.Connection):
    deck = create_deck(conn, "A", now=NOW)
    value = conf(conn) | {f"_deck_{deck.id}_lastNotetype": 5, "_deck_1_lastNotetype": 6}
    conn.execute("update col set conf = ?", (json.dumps(value),))
    delete_deck(conn, deck.id, now=NOW)
    assert f"_deck_{deck.id}_lastNotetype" not in conf(conn)
    assert conf(conn)["_deck_1_lastNotetype"] == 6


def test_cards_borrowed_by_a_deleted_filtered_deck_go_home(conn: sqlite3.Connection):
    home = create_deck(conn, "Home", now=NOW)
    cram = create_deck(conn, "Cram", now=NOW)
    edit_decks(conn, lambda d: d[str(cram.id)].update(dyn=1))
    new_id, note = add_card(conn, "new", "", home.id, now=NOW)
    insert_card(conn, 10, note, cram.id, odid=home.id, type=2, queue=2, due=-5, odue=40)
    insert_card(conn, 11, note, cram.id, odid=home.id, type=3, queue=1, due=5, odue=1800000000)
    insert_card(conn, 12, note, cram.id, odid=home.id, type=1, queue=-1, due=0, odue=19)
    conn.execute(
        "update cards set did = ?, odid = ?, odue = due, due = -100000 where id = ?",
        (cram.id, home.id, new_id),
    )

    assert delete_deck(conn, cram.id, now=NOW) == 0

    rows = conn.execute("select id, did, odid, type, queue, due, odue from cards order by id")
    assert list(rows) == [
        (10, home.id, 0, 2, 2, 40, 0),
        (11, home.id, 0, 3, 1, 1800000000, 0),
        (12, home.id, 0, 1, -1, 19, 0),
        (new_id, home.id, 0, 0, 0, 1, 0),
    ]


def test_cards_whose_home_deck_is_deleted_go_even_from_a_filtered_deck(
    conn: sqlite3.Connection,
):
    home = create_deck(conn, "Home", now=NOW)
    cram = create_deck(conn, "Cram", now=NOW)
    edit_decks(conn, lambda d: d[str(cram.id)].update(dyn=1))
    card = add_card(conn, "q", "", home.id, now=NOW).card_id
    conn.execute("update cards set did = ?, odid = ? where id = ?", (cram.id, home.id, card))
    assert delete_deck(conn, home.id, now=NOW) == 1
    assert conn.execute("select count() from cards").fetchone() == (0,)
    assert conn.execute("select count() from notes").fetchone() == (0,)


# --- the current deck ----------------------------------------------------------------


def test_selecting_a_deck_sets_cur_deck_and_active_decks(conn: sqlite3.Connection):
    create_deck(conn, "A::C", now=NOW)
    create_deck(conn, "A::B::D", now=NOW)
    a = by_name(conn, "A")
    assert set_current_deck(conn, a.id, now=NOW + 3) == Deck(a.id, "A", 0)
    assert get_current_deck(conn) == Deck(a.id, "A", 0)
    expected = [by_name(conn, n).id for n in ("A", "A::B", "A::B::D", "A::C")]
    assert (conf(conn)["curDeck"], conf(conn)["activeDecks"]) == (a.id, expected)
    assert conn.execute("select mod from col").fetchone() == (ms(NOW + 3),)


def test_selecting_the_selected_deck_writes_nothing(conn: sqlite3.Connection):
    conn.commit()
    before = dump(conn)
    set_current_deck(conn, 1, now=NOW + 3)
    assert dump(conn) == before


def test_a_missing_current_deck_falls_back_to_the_default(conn: sqlite3.Connection):
    conn.execute("update col set conf = ?", (json.dumps(conf(conn) | {"curDeck": 404}),))
    assert get_current_deck(conn).id == 1


def test_names_stored_by_us_are_in_canonical_form(conn: sqlite3.Connection):
    create_deck(conn, " x :: Cafe\u0301 ", now=NOW)
    for name in names(conn):
        assert unicodedata.is_normalized("NFC", name)
        assert normalize_deck_name(name) == name
