"""What our decks and cards functions write, as the real Anki sees it.

Every test commits, copies the file and opens the copy with `anki.collection.Collection`
(opening upgrades the file, so never the original), then asks Anki's own API.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collection import card_actions
from collection.cards import add_card, delete_card, get_card, list_deck_cards, update_card
from collection.decks import (
    create_deck,
    delete_deck,
    get_current_deck,
    list_decks,
    name_key,
    normalize_deck_name,
    rename_deck,
    set_current_deck,
)
from collection.enums import CardQueue, CardType
from collection.errors import CollectionError, DuplicateDeck
from collection.scheduler.card import LEARNING_DUE_CUTOFF, restored_queue
from collection.schema import create_collection
from tests.collection.conftest import NOW, AnkiOpener, dump

pytestmark = pytest.mark.interop


def by_name(conn: sqlite3.Connection, name: str) -> int:
    (deck_id,) = (d.id for d in list_decks(conn) if d.name == name)
    return deck_id


def all_card_ids(conn: sqlite3.Connection, deck_id: int) -> list[int]:
    page = list_deck_cards(conn, deck_id, 1, 1_000_000)
    return [c.card_id for c in page.cards]


def notes(conn: sqlite3.Connection) -> dict[int, tuple[str, Any, int]]:
    return {nid: (flds, sfld, csum) for nid, flds, sfld, csum in conn.execute(
        "select id, flds, sfld, csum from notes"
    )}  # fmt: skip


def assert_anki_agrees(conn: sqlite3.Connection, anki: Collection) -> None:
    """Same decks (ids, names, order), notes, card placement and `deck:` searches."""
    ours = [(d.id, d.name) for d in list_decks(conn)]
    assert [(d.id, d.name) for d in anki.decks.all_names_and_ids()] == ours
    for nid, (flds, _, _) in notes(conn).items():
        assert anki.get_note(nid).fields == flds.split("\x1f")
    for cid, did in conn.execute("select id, did from cards"):
        assert anki.get_card(cid).did == did
    for deck_id, name in ours:
        assert sorted(anki.find_cards(f'"deck:{name}"')) == all_card_ids(conn, deck_id)
    assert anki.decks.get_current_id() == get_current_deck(conn).id


def test_a_session_of_edits_is_what_anki_sees(conn: sqlite3.Connection, open_in_anki: AnkiOpener):
    create_deck(conn, "A::B::C", now=NOW)
    create_deck(conn, "Spanish", now=NOW + 1)
    create_deck(conn, "日本語::漢字", now=NOW + 2)
    create_deck(conn, "Temp::Sub", now=NOW + 3)
    rename_deck(conn, by_name(conn, "A"), "Z", now=NOW + 4)
    assert [d.name for d in list_decks(conn)][:3] == ["Default", "Spanish", "Temp"]

    naive = add_card(
        conn, "<b>naïve</b> &amp; 日本語", "<i>back</i>", by_name(conn, "Z::B::C"), now=NOW + 5
    )
    peru = add_card(conn, "capital of Peru", "Lima", by_name(conn, "Spanish"), now=NOW + 5)
    cat = add_card(
        conn, '<img src="cat.jpg"> cat', "猫", by_name(conn, "日本語::漢字"), now=NOW + 5
    )
    gone = add_card(conn, "to delete", "x", by_name(conn, "Z"), now=NOW + 5)
    add_card(conn, "in temp", "x", by_name(conn, "Temp::Sub"), now=NOW + 5)
    default = add_card(conn, "default deck &nbsp; card", "", None, now=NOW + 5)
    update_card(conn, peru.card_id, "capital of <u>Peru</u>?", "Lima &lt;3", now=NOW + 6)
    delete_card(conn, gone.card_id, now=NOW + 7)
    delete_deck(conn, by_name(conn, "Temp"), now=NOW + 8)
    set_current_deck(conn, by_name(conn, "Spanish"), now=NOW + 9)
    ours = notes(conn)

    anki = open_in_anki(conn)
    assert_anki_agrees(conn, anki)
    assert [d.name for d in anki.decks.all_names_and_ids()] == [
        "Default", "Spanish", "Z", "Z::B", "Z::B::C", "日本語", "日本語::漢字",
    ]  # fmt: skip
    assert set(ours) == {naive.note_id, peru.note_id, cat.note_id, default.note_id}
    assert anki.get_note(peru.note_id).fields == ["capital of <u>Peru</u>?", "Lima &lt;3"]
    assert "naïve" in anki.get_card(naive.card_id).question()
    assert anki.card_count() == 4

    problems, ok = anki.fix_integrity()
    assert ok, problems
    # Anki's check rewrites every note through its own code: our sfld and csum survive.
    after = {nid: row for nid, *row in anki.db.all("select id, flds, sfld, csum from notes")}
    assert after == {nid: list(row) for nid, row in ours.items()}

    # And Anki adding the same fields computes the same sort field and checksum.
    for flds, sfld, csum in ours.values():
        note = anki.new_note(anki.models.by_name("Basic"))
        note.fields = flds.split("\x1f")
        anki.add_note(note, 1)
        assert anki.db.first("select sfld, csum from notes where id = ?", note.id) == [sfld, csum]


def test_our_card_row_matches_one_added_by_anki(conn: sqlite3.Connection, open_in_anki: AnkiOpener):
    ours = add_card(conn, "front", "back", None, now=NOW)
    anki = open_in_anki(conn)
    note = anki.new_note(anki.models.by_name("Basic"))
    note.fields = ["front", "back"]
    anki.add_note(note, 1)
    (theirs,) = note.card_ids()
    # Not `nid = id`: Anki's card id equals its note id only when both land in the same
    # millisecond, so that comparison depends on timing.
    columns = "did, ord, type, queue, ivl, factor, reps, lapses, left, odue, odid, flags"
    row = f"select {columns} from cards where id = ?"
    assert anki.db.first(row, ours.card_id) == anki.db.first(row, theirs)
    # Anki gives the new card the next position: ours took 1, so Anki's is 2.
    assert anki.db.scalar("select due from cards where id = ?", theirs) == 2
    note_row = "select mid, tags, flds, sfld, csum, flags, data from notes where id = ?"
    assert anki.db.first(note_row, ours.note_id) == anki.db.first(note_row, note.id)
    assert get_card(conn, ours.card_id).due == 1


# A `nextPos` Anki cannot read as a u32 counts as 0. (2**32 - 1 is left out: Anki then
# writes the position into the card's i32 `due` as -1.)
@pytest.mark.parametrize(
    "stored", [5, 0, 2**32, 5.0, 5.7, "7", "abc", -3, True, None, []], ids=repr
)
def test_a_new_card_takes_the_position_anki_would_give_it(
    conn: sqlite3.Connection, open_in_anki: AnkiOpener, stored: Any
):
    (conf,) = conn.execute("select conf from col").fetchone()
    conf = json.loads(conf)
    conf.pop("nextPos")
    if stored is not None:
        conf["nextPos"] = stored
    conn.execute("update col set conf = ?", (json.dumps(conf),))
    anki = open_in_anki(conn)
    note = anki.new_note(anki.models.by_name("Basic"))
    note["Front"] = "q"
    anki.add_note(note, 1)

    ours = add_card(conn, "q", "", None, now=NOW)
    assert get_card(conn, ours.card_id).due == anki.db.scalar(
        "select due from cards where nid = ?", note.id
    )
    (conf,) = conn.execute("select conf from col").fetchone()
    assert json.loads(conf)["nextPos"] == anki.get_config("nextPos")


@pytest.mark.parametrize(
    ("card_type", "due"),
    [
        (CardType.NEW, 7),
        (CardType.LEARN, 1_900_000_000),
        (CardType.LEARN, 120),
        (CardType.REVIEW, 100),
        (CardType.RELEARN, LEARNING_DUE_CUTOFF + 1),
        (CardType.RELEARN, LEARNING_DUE_CUTOFF),
    ],
)
def test_a_card_comes_back_to_the_queue_anki_restores(
    conn: sqlite3.Connection, open_in_anki: AnkiOpener, card_type: int, due: int
):
    card = add_card(conn, "q", "", None, now=NOW).card_id
    conn.execute(
        "update cards set type = ?, due = ?, queue = ? where id = ?",
        (card_type, due, CardQueue.SUSPENDED, card),
    )
    anki = open_in_anki(conn)
    anki.sched.unsuspend_cards([card])
    assert restored_queue(card_type, due) == anki.get_card(card).queue

    card_actions.unsuspend(conn, card, now=NOW)
    assert get_card(conn, card).queue == anki.get_card(card).queue


# --- random sequences of deck operations ---------------------------------------------

COMPONENTS = st.sampled_from(["a", "A", "b", "ß", "SS", "x y", " c ", "Ω", "ω"])
NAMES = st.one_of(
    st.lists(COMPONENTS, min_size=1, max_size=3).map("::".join),
    st.sampled_from(["", "::", "a::", "a:::b", "Default", "default::x"]),
)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), NAMES),
        st.tuples(st.just("rename"), st.integers(0, 20), NAMES),
        st.tuples(st.just("delete"), st.integers(0, 20)),
        st.tuples(st.just("add"), st.integers(0, 20)),
        st.tuples(st.just("select"), st.integers(0, 20)),
    ),
    max_size=12,
)


def check_invariants(conn: sqlite3.Connection) -> None:
    decks = list_decks(conn)
    keys = [name_key(d.name) for d in decks]
    assert len(set(keys)) == len(keys), "names must be unique ignoring case"
    for deck, key in zip(decks, keys, strict=True):
        assert normalize_deck_name(deck.name) == deck.name
        assert len(key) == 1 or key[:-1] in keys, f"{deck.name} has no parent"
    ids = {d.id for d in decks}
    assert 1 in ids
    assert {did for (did,) in conn.execute("select did from cards")} <= ids
    orphan_notes = "select count() from notes where id not in (select nid from cards)"
    assert conn.execute(orphan_notes).fetchone() == (0,)
    assert get_current_deck(conn).id in ids


def apply(conn: sqlite3.Connection, op: tuple[Any, ...], step: int) -> None:
    decks = list_decks(conn)
    now = NOW + step
    before = dump(conn)
    try:
        match op:
            case ("create", name):
                existed = {name_key(d.name) for d in decks}
                try:
                    created = create_deck(conn, name, now=now)
                except DuplicateDeck:
                    assert name_key(normalize_deck_name(name)) in existed
                    raise
                assert name_key(created.name) == name_key(normalize_deck_name(name))
            case ("rename", index, name):
                deck = decks[index % len(decks)]
                renamed = rename_deck(conn, deck.id, name, now=now)
                assert name_key(renamed.name) == name_key(normalize_deck_name(name))
            case ("delete", index):
                deck = decks[index % len(decks)]
                delete_deck(conn, deck.id, now=now)
                assert deck.id not in {d.id for d in list_decks(conn)}
            case ("add", index):
                add_card(conn, f"card {step}", "", decks[index % len(decks)].id, now=now)
            case ("select", index):
                set_current_deck(conn, decks[index % len(decks)].id, now=now)
    except CollectionError:
        assert dump(conn) == before, f"{op} failed but changed the database"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(OPS)
def test_random_deck_operations_keep_the_collection_sound_for_anki(ops: list[tuple[Any, ...]]):
    with tempfile.TemporaryDirectory(prefix="javumbo-prop-") as tmp:
        path = Path(tmp) / "collection.anki2"
        with closing(sqlite3.connect(path)) as conn:
            create_collection(conn, now=NOW)
            for step, op in enumerate(ops):
                apply(conn, op, step)
                check_invariants(conn)
            conn.commit()
            copy = Path(tmp) / "anki.anki2"
            shutil.copyfile(path, copy)
            anki = Collection(str(copy))
            try:
                assert_anki_agrees(conn, anki)
                problems, ok = anki.fix_integrity()
                assert ok, problems
                assert [(d.id, d.name) for d in anki.decks.all_names_and_ids()] == [
                    (d.id, d.name) for d in list_decks(conn)
                ]
            finally:
                anki.close()


def test_anki_s_check_rewrites_non_nfc_fields_that_we_keep_verbatim(
    conn: sqlite3.Connection, open_in_anki: AnkiOpener
):
    # We store fields exactly as given; Anki's Check Database (with its default
    # "normalize note text" setting) silently rewrites them in NFC and reports no problem.
    added = add_card(conn, "Cafe\u0301", "x", None, now=NOW)
    anki = open_in_anki(conn)
    assert anki.get_note(added.note_id).fields[0] == "Cafe\u0301"
    problems, ok = anki.fix_integrity()
    assert ok, problems
    assert anki.get_note(added.note_id).fields[0] == "Caf\u00e9"
