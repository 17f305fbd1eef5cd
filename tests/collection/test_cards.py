"""Basic notes and their cards: adding, reading, editing, deleting and paging."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from collection import card_actions
from collection.cards import (
    AddedCard,
    CardSummary,
    add_card,
    card_state,
    delete_card,
    get_card,
    list_deck_cards,
    take_new_positions,
    update_card,
    validate_fields,
    write_card_state,
)
from collection.col import Col, server_usn
from collection.decks import create_deck, set_current_deck
from collection.enums import OriginalStockKind
from collection.errors import (
    CardNotFound,
    DeckNotFound,
    FilteredDeck,
    InvalidField,
    NoteTypeMissing,
)
from collection.ids import BASE91_ALPHABET, ms
from collection.text import field_checksum
from tests.collection.conftest import NOW, dump, readonly

GUID = re.compile("[" + re.escape(BASE91_ALPHABET) + "]{1,10}")
NOTE_COLUMNS = "id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data"
CARD_COLUMNS = (
    "id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses, left,"
    " odue, odid, flags, data"
)


def note_row(conn: sqlite3.Connection, note_id: int) -> dict[str, Any]:
    cursor = conn.execute(f"select {NOTE_COLUMNS} from notes where id = ?", (note_id,))
    return dict(zip(NOTE_COLUMNS.split(", "), cursor.fetchone(), strict=True))


def card_row(conn: sqlite3.Connection, card_id: int) -> dict[str, Any]:
    cursor = conn.execute(f"select {CARD_COLUMNS} from cards where id = ?", (card_id,))
    return dict(zip(CARD_COLUMNS.split(", "), cursor.fetchone(), strict=True))


def read_json(conn: sqlite3.Connection, column: str) -> dict[str, Any]:
    (value,) = conn.execute(f"select {column} from col").fetchone()
    return json.loads(value)


def write_json(conn: sqlite3.Connection, column: str, value: dict[str, Any]) -> None:
    conn.execute(f"update col set {column} = ?", (json.dumps(value),))


def basic_model(conn: sqlite3.Connection) -> dict[str, Any]:
    models = read_json(conn, "models").values()
    (model,) = (m for m in models if m.get("originalStockKind") == OriginalStockKind.BASIC)
    return dict(model)


def set_basic_model(conn: sqlite3.Connection, **changes: Any) -> None:
    model = basic_model(conn) | changes
    write_json(conn, "models", {str(model["id"]): model})


# --- adding --------------------------------------------------------------------------


def test_a_card_is_written_as_anki_writes_one(conn: sqlite3.Connection):
    added = add_card(conn, "<b>naïve</b> &amp; 日本語", "back", 1, now=NOW)
    assert added == AddedCard(ms(NOW), ms(NOW))
    note = note_row(conn, added.note_id)
    assert GUID.fullmatch(note.pop("guid"))
    assert note == {
        "id": ms(NOW),
        "mid": basic_model(conn)["id"],
        "mod": int(NOW),
        "usn": server_usn(conn),
        "tags": "",
        "flds": "<b>naïve</b> &amp; 日本語\x1fback",
        "sfld": "naïve & 日本語",
        "csum": field_checksum("naïve & 日本語"),
        "flags": 0,
        "data": "",
    }
    assert card_row(conn, added.card_id) == {
        "id": ms(NOW),
        "nid": ms(NOW),
        "did": 1,
        "ord": 0,
        "mod": int(NOW),
        "usn": server_usn(conn),
        "type": 0,
        "queue": 0,
        "due": 1,
        "ivl": 0,
        "factor": 0,
        "reps": 0,
        "lapses": 0,
        "left": 0,
        "odue": 0,
        "odid": 0,
        "flags": 0,
        "data": "",
    }
    assert read_json(conn, "conf")["nextPos"] == 2
    assert conn.execute("select mod from col").fetchone() == (ms(NOW),)


def test_new_positions_and_ids_keep_increasing_within_one_millisecond(
    conn: sqlite3.Connection,
):
    added = [add_card(conn, f"q{i}", "a", None, now=NOW) for i in range(20)]
    card_ids = [a.card_id for a in added]
    assert card_ids == list(range(ms(NOW), ms(NOW) + 20))
    assert [a.note_id for a in added] == card_ids
    dues = [card_row(conn, c)["due"] for c in card_ids]
    assert dues == list(range(1, 21))
    assert read_json(conn, "conf")["nextPos"] == 21
    guids = [r[0] for r in conn.execute("select guid from notes")]
    assert len(set(guids)) == 20


# `nextPos` as stored -> (the position a new card takes, `nextPos` after), as Anki
# reads it: anything but a whole number from 0 to 2**32 - 1 counts as 0.
NEXT_POSITIONS = [
    (5, (5, 6)),
    (0, (0, 1)),
    (2**32 - 2, (2**32 - 2, 2**32 - 1)),
    (2**32 - 1, (2**32 - 1, 0)),  # the u32 wraps around
    (2**32, (0, 1)),
    (5.0, (0, 1)),
    (5.7, (0, 1)),
    ("7", (0, 1)),
    ("abc", (0, 1)),
    (-3, (0, 1)),
    (True, (0, 1)),
    (None, (0, 1)),
    ([], (0, 1)),
    ({"a": 1}, (0, 1)),
    (1e20, (0, 1)),
]


@pytest.mark.parametrize(("stored", "expected"), NEXT_POSITIONS, ids=repr)
def test_new_positions_come_from_next_pos_as_anki_reads_it(
    conn: sqlite3.Connection, stored: Any, expected: tuple[int, int]
):
    col = Col(conn)
    col.conf["nextPos"] = stored
    assert (take_new_positions(col), col.conf["nextPos"]) == expected
    assert take_new_positions(col, 3) == expected[1]
    assert col.conf["nextPos"] == (expected[1] + 3) % 2**32


def test_no_positions_taken_writes_nothing(conn: sqlite3.Connection):
    col = Col(conn)
    assert take_new_positions(col, 0) == 1
    assert not col.changed


@pytest.mark.parametrize("stored", ["abc", [], -3, 5.5])
def test_adding_and_forgetting_tolerate_an_odd_next_pos(conn: sqlite3.Connection, stored: Any):
    conf = read_json(conn, "conf")
    write_json(conn, "conf", conf | {"nextPos": stored})
    added = add_card(conn, "q", "a", None, now=NOW)
    assert card_row(conn, added.card_id)["due"] == 0
    write_json(conn, "conf", read_json(conn, "conf") | {"nextPos": stored})
    card_actions.forget(conn, added.card_id, now=NOW, reset_counts=False)
    assert card_row(conn, added.card_id)["due"] == 0
    assert read_json(conn, "conf")["nextPos"] == 1


def test_a_later_clock_gives_later_ids(conn: sqlite3.Connection):
    first = add_card(conn, "q", "a", None, now=NOW)
    second = add_card(conn, "q", "a", None, now=NOW + 2)
    assert second.card_id == ms(NOW + 2) > first.card_id


@pytest.mark.parametrize(
    "text",
    [
        "<b>naïve</b> &amp; 日本語",
        "Cafe\u0301 (not NFC, kept as given)",
        "  spaced  \r\n",
        '<img src="x.jpg"> <span style="color: red">red</span>',
        "emoji 👩‍👩‍👧 and \u200b zero width",
        "x" * 100_000,
    ],
)
def test_fields_are_kept_byte_for_byte(conn: sqlite3.Connection, text: str):
    added = add_card(conn, text, text, None, now=NOW)
    (flds,) = conn.execute("select flds from notes where id = ?", (added.note_id,)).fetchone()
    assert flds.encode() == (text + "\x1f" + text).encode()
    view = get_card(conn, added.card_id)
    assert (view.front, view.back) == (text, text)


def test_no_deck_means_the_current_deck(conn: sqlite3.Connection):
    deck = create_deck(conn, "Spanish", now=NOW)
    set_current_deck(conn, deck.id, now=NOW)
    assert card_row(conn, add_card(conn, "q", "a", None, now=NOW).card_id)["did"] == deck.id


def test_a_filtered_current_deck_means_the_default_deck(conn: sqlite3.Connection):
    deck = create_deck(conn, "Cram", now=NOW)
    set_current_deck(conn, deck.id, now=NOW)
    decks = read_json(conn, "decks")
    decks[str(deck.id)]["dyn"] = 1
    write_json(conn, "decks", decks)
    assert card_row(conn, add_card(conn, "q", "a", None, now=NOW).card_id)["did"] == 1
    before = dump(conn)
    with pytest.raises(FilteredDeck):
        add_card(conn, "q", "a", deck.id, now=NOW)
    assert dump(conn) == before


def test_adding_to_an_unknown_deck_changes_nothing(conn: sqlite3.Connection):
    before = dump(conn)
    with pytest.raises(DeckNotFound):
        add_card(conn, "q", "a", 12345, now=NOW)
    assert dump(conn) == before


def test_the_stock_basic_note_type_is_found_under_another_name(conn: sqlite3.Connection):
    set_basic_model(conn, name="Básico")
    added = add_card(conn, "q", "a", None, now=NOW)
    assert note_row(conn, added.note_id)["mid"] == basic_model(conn)["id"]


def test_without_a_usable_note_type_nothing_is_added(conn: sqlite3.Connection):
    set_basic_model(conn, name="Cloze", type=1, originalStockKind=5)
    before = dump(conn)
    with pytest.raises(NoteTypeMissing):
        add_card(conn, "q", "a", None, now=NOW)
    assert dump(conn) == before


def test_extra_fields_start_empty_and_survive_edits(conn: sqlite3.Connection):
    model = basic_model(conn)
    extra = model["flds"][1] | {"name": "Extra", "ord": 2, "id": 99}
    set_basic_model(conn, flds=[*model["flds"], extra])
    added = add_card(conn, "q", "a", None, now=NOW)
    assert note_row(conn, added.note_id)["flds"] == "q\x1fa\x1f"
    conn.execute("update notes set flds = 'q\x1fa\x1fkeep me'")
    update_card(conn, added.card_id, "q2", "a2", now=NOW)
    assert note_row(conn, added.note_id)["flds"] == "q2\x1fa2\x1fkeep me"


def test_the_sort_field_follows_the_note_type(conn: sqlite3.Connection):
    set_basic_model(conn, sortf=1)
    added = add_card(conn, "<i>front</i>", "<i>back</i>", None, now=NOW)
    note = note_row(conn, added.note_id)
    assert (note["sfld"], note["csum"]) == ("back", field_checksum("front"))


def test_a_numeric_sort_field_is_stored_as_a_number_like_anki(conn: sqlite3.Connection):
    added = add_card(conn, "<b>42</b>", "", None, now=NOW)
    assert note_row(conn, added.note_id)["sfld"] == 42


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("front", "back", "field"),
    [
        ("", "a", "front"),
        ("   \n\t", "a", "front"),
        ("<br>", "a", "front"),
        ("<div> </div>&nbsp;", "a", "front"),
        ("<!-- only a comment -->", "a", "front"),
        ("a\x1fb", "a", "front"),
        ("q", "a\x1fb", "back"),
        ("x" * 100_001, "a", "front"),
        ("q", "x" * 100_001, "back"),
        ("q\ud800", "a", "front"),
        ("q", "\udfff", "back"),
    ],
)
def test_invalid_fields_are_refused_before_anything_changes(
    conn: sqlite3.Connection, front: str, back: str, field: str
):
    card = add_card(conn, "ok", "ok", None, now=NOW).card_id
    before = dump(conn)
    with pytest.raises(InvalidField) as raised:
        add_card(conn, front, back, None, now=NOW)
    assert raised.value.field == field
    with pytest.raises(InvalidField):
        update_card(conn, card, front, back, now=NOW)
    assert dump(conn) == before


@pytest.mark.parametrize(
    "front", ['<img src="cat.jpg">', "0", "&lt;&gt;", "[sound:a.mp3]", "\u00a0x"]
)
def test_fronts_that_show_something_are_accepted(front: str):
    validate_fields(front, "")


# --- reading -------------------------------------------------------------------------


def test_a_card_view_shows_the_card_and_its_note(conn: sqlite3.Connection):
    deck = create_deck(conn, "A::B", now=NOW)
    added = add_card(conn, "front", "back", deck.id, now=NOW)
    conn.execute(
        "update cards set type = 2, queue = 2, due = 30, ivl = 12, factor = 2500, reps = 4,"
        " lapses = 1, flags = 3, mod = ? where id = ?",
        (int(NOW) + 50, added.card_id),
    )
    view = get_card(conn, added.card_id)
    assert (view.card_id, view.note_id, view.deck_id, view.deck_name) == (
        added.card_id,
        added.note_id,
        deck.id,
        "A::B",
    )
    assert (view.front, view.back, view.ord) == ("front", "back", 0)
    assert (view.type, view.queue, view.due, view.ivl, view.factor) == (2, 2, 30, 12, 2500)
    assert (view.reps, view.lapses, view.flags, view.modified) == (4, 1, 3, int(NOW) + 50)


def test_a_card_state_is_read_and_written_by_the_scheduler_s_columns(
    conn: sqlite3.Connection,
):
    added = add_card(conn, "front", "back", None, now=NOW)
    state = card_state(conn, added.card_id)
    assert state.as_row() == {name: card_row(conn, added.card_id)[name] for name in state.as_row()}
    answered = replace(state, type=2, queue=2, due=30, ivl=12, factor=2500, reps=4, data="{}")
    write_card_state(conn, answered)
    assert card_state(conn, added.card_id) == answered
    assert card_row(conn, added.card_id)["flags"] == 0  # not a scheduling column: untouched
    with pytest.raises(CardNotFound):
        card_state(conn, 42)


def test_unknown_cards_are_not_found(conn: sqlite3.Connection):
    before = dump(conn)
    for call in (
        lambda: get_card(conn, 5),
        lambda: update_card(conn, 5, "q", "a", now=NOW),
        lambda: delete_card(conn, 5, now=NOW),
    ):
        with pytest.raises(CardNotFound):
            call()
    assert dump(conn) == before


def test_reads_work_on_a_read_only_connection(conn: sqlite3.Connection, col_path: Path):
    added = add_card(conn, "q", "a", None, now=NOW)
    conn.commit()
    with readonly(col_path) as ro:
        assert get_card(ro, added.card_id).front == "q"
        assert list_deck_cards(ro, 1).total == 1


# --- editing -------------------------------------------------------------------------


def test_editing_updates_the_note_and_marks_both_changed(conn: sqlite3.Connection):
    added = add_card(conn, "old", "old back", None, now=NOW)
    guid = note_row(conn, added.note_id)["guid"]
    view = update_card(conn, added.card_id, "<u>new</u> &gt; old", "new back", now=NOW + 60)
    note = note_row(conn, added.note_id)
    assert note == note | {
        "guid": guid,
        "flds": "<u>new</u> &gt; old\x1fnew back",
        "sfld": "new > old",
        "csum": field_checksum("new > old"),
        "mod": int(NOW) + 60,
        "usn": server_usn(conn),
    }
    assert (card_row(conn, added.card_id)["mod"], card_row(conn, added.card_id)["usn"]) == (
        int(NOW) + 60,
        server_usn(conn),
    )
    assert (view.front, view.back, view.modified) == (
        "<u>new</u> &gt; old",
        "new back",
        int(NOW) + 60,
    )
    assert conn.execute("select mod from col").fetchone() == (ms(NOW + 60),)


def test_an_edit_that_changes_nothing_writes_nothing(conn: sqlite3.Connection):
    added = add_card(conn, "same", "same", None, now=NOW)
    conn.commit()
    before = dump(conn)
    update_card(conn, added.card_id, "same", "same", now=NOW + 60)
    assert dump(conn) == before
    assert not conn.in_transaction


# --- deleting ------------------------------------------------------------------------


def test_deleting_the_last_card_deletes_the_note(conn: sqlite3.Connection):
    added = add_card(conn, "q", "a", None, now=NOW)
    delete_card(conn, added.card_id, now=NOW + 1)
    assert conn.execute("select count() from cards").fetchone() == (0,)
    assert conn.execute("select count() from notes").fetchone() == (0,)
    assert set(conn.execute("select usn, oid, type from graves")) == {
        (server_usn(conn), added.card_id, 0),
        (server_usn(conn), added.note_id, 1),
    }
    assert conn.execute("select mod from col").fetchone() == (ms(NOW + 1),)


def test_a_note_with_other_cards_stays(conn: sqlite3.Connection):
    added = add_card(conn, "q", "a", None, now=NOW)
    conn.execute(
        f"insert into cards ({CARD_COLUMNS}) select id + 1, nid, did, 1, mod, usn, type, queue,"
        " due, ivl, factor, reps, lapses, left, odue, odid, flags, data from cards"
    )
    delete_card(conn, added.card_id, now=NOW)
    assert conn.execute("select id from notes").fetchall() == [(added.note_id,)]
    assert list(conn.execute("select usn, oid, type from graves")) == [
        (server_usn(conn), added.card_id, 0)
    ]


# --- paging --------------------------------------------------------------------------


@pytest.fixture
def deck_of_25(conn: sqlite3.Connection) -> int:
    parent = create_deck(conn, "P", now=NOW)
    child = create_deck(conn, "P::C", now=NOW)
    for i in range(25):
        # Subdeck cards are part of the deck, as with Anki's `deck:P`.
        add_card(conn, f"q{i}", f"a{i}", child.id if i % 5 == 0 else parent.id, now=NOW)
    add_card(conn, "not in P", "", 1, now=NOW)
    return parent.id


def test_pages_cover_the_deck_and_its_subdecks_in_creation_order(
    conn: sqlite3.Connection, deck_of_25: int
):
    pages = [list_deck_cards(conn, deck_of_25, page, 10) for page in (1, 2, 3)]
    assert [len(p.cards) for p in pages] == [10, 10, 5]
    fronts = [c.front for p in pages for c in p.cards]
    assert fronts == [f"q{i}" for i in range(25)]
    assert all(
        (p.total, p.per_page, p.total_pages, p.deck_id, p.deck_name) == (25, 10, 3, deck_of_25, "P")
        for p in pages
    )
    first = pages[0].cards[0]
    assert first == CardSummary(ms(NOW) + 0, ms(NOW) + 0, "q0", "a0", int(NOW), "q0")
    ids = [c.card_id for p in pages for c in p.cards]
    assert ids == sorted(ids)


def test_a_page_past_the_end_is_empty(conn: sqlite3.Connection, deck_of_25: int):
    page = list_deck_cards(conn, deck_of_25, 4, 10)
    assert (page.cards, page.total, page.page, page.total_pages) == ((), 25, 4, 3)


def test_out_of_range_paging_is_clamped(conn: sqlite3.Connection, deck_of_25: int):
    page = list_deck_cards(conn, deck_of_25, 0, 0)
    assert (page.page, page.per_page, page.total_pages, len(page.cards)) == (1, 1, 25, 1)
    assert list_deck_cards(conn, deck_of_25, -3, 1000).cards[-1].front == "q24"


def test_an_empty_deck_has_no_pages(conn: sqlite3.Connection):
    deck = create_deck(conn, "Empty", now=NOW)
    page = list_deck_cards(conn, deck.id)
    assert (page.cards, page.total, page.page, page.per_page, page.total_pages) == (
        (),
        0,
        1,
        10,
        0,
    )
    with pytest.raises(DeckNotFound):
        list_deck_cards(conn, 404)
