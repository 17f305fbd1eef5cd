"""The preset's new-card insertion order, against real Anki: cards added to a deck
whose preset inserts at random get the position Anki gives them, and changing a deck's
order re-sorts its new cards as Anki's deck options screen does."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from anki import deck_config_pb2
from anki.collection import Collection
from anki.decks import DeckId

from collection.notes import add_note
from collection.positions import random_position
from collection.presets import assign_preset, create_preset, update_preset

pytestmark = pytest.mark.interop

RANDOM = deck_config_pb2.DeckConfig.Config.NEW_CARD_INSERT_ORDER_RANDOM
IN_ORDER = deck_config_pb2.DeckConfig.Config.NEW_CARD_INSERT_ORDER_DUE


def set_insert_order(col: Collection, order: int) -> None:
    """Change the default preset's insertion order as the deck options screen does."""
    current = col.decks.get_deck_configs_for_update(DeckId(1))
    configs = [c.config for c in current.all_config]
    for config in configs:
        if config.id == 1:
            config.config.new_card_insert_order = order
    col.decks.update_deck_configs(
        deck_config_pb2.UpdateDeckConfigsRequest(
            target_deck_id=1,
            configs=configs,
            mode=deck_config_pb2.UpdateDeckConfigsMode.UPDATE_DECK_CONFIGS_MODE_NORMAL,
            card_state_customizer=current.card_state_customizer,
            limits=current.current_deck.limits,
            new_cards_ignore_review_limit=current.new_cards_ignore_review_limit,
            apply_all_parent_limits=current.apply_all_parent_limits,
            fsrs=current.fsrs,
        )
    )


def positions(query: sqlite3.Connection | Collection) -> list[tuple[str, str, int, int]]:
    """(deck name, front, template, position) of every new card."""
    sql = (
        "select did, n.sfld, c.ord, c.due from cards c join notes n on n.id = c.nid"
        " where c.type = 0 order by n.sfld, c.ord"
    )
    if isinstance(query, Collection):
        assert query.db is not None
        rows = [tuple(r) for r in query.db.all(sql)]
        names = {d.id: d.name for d in query.decks.all_names_and_ids()}
    else:
        rows = query.execute(sql).fetchall()
        (decks,) = query.execute("select decks from col").fetchone()
        names = {int(k): v["name"] for k, v in json.loads(decks).items()}
    return [(names[int(did)], str(front), int(ord_), int(due)) for did, front, ord_, due in rows]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Collection, sqlite3.Connection]]:
    """One collection in Anki and its schema-11 copy: a default deck and a subdeck, both
    on the default preset, which inserts new cards at random."""
    anki_path = tmp_path / "anki" / "collection.anki2"
    anki_path.parent.mkdir()
    anki = Collection(str(anki_path))
    anki.decks.id("Default::Sub")
    set_insert_order(anki, RANDOM)
    anki.close(downgrade=True)
    shutil.copy(anki_path, tmp_path / "javumbo.anki2")
    anki = Collection(str(anki_path))
    with closing(sqlite3.connect(tmp_path / "javumbo.anki2")) as ours:
        yield anki, ours
    anki.close()


def add_both(anki: Collection, ours: sqlite3.Connection, front: str, deck: str) -> None:
    notetype = anki.models.by_name("Basic (and reversed card)")
    assert notetype is not None
    note = anki.new_note(notetype)
    note["Front"], note["Back"] = front, "back"
    deck_id = anki.decks.id(deck)
    assert deck_id is not None
    anki.add_note(note, deck_id)
    add_note(
        ours,
        notetype["id"],
        {"Front": front, "Back": "back"},
        deck_id=deck_id,
        now=time.time(),
    )


def set_next_position(anki: Collection, ours: sqlite3.Connection, value: int) -> None:
    anki.set_config("nextPos", value)
    (conf,) = ours.execute("select conf from col").fetchone()
    ours.execute("update col set conf = ?", (json.dumps(json.loads(conf) | {"nextPos": value}),))


def test_random_insertion_gives_the_positions_anki_gives(
    pair: tuple[Collection, sqlite3.Connection],
) -> None:
    anki, ours = pair
    for start in (1, 5, 500, 999, 1000, 5001, 123_456, 2**31):
        set_next_position(anki, ours, start)
        for number in range(6):
            add_both(
                anki, ours, f"note {start} {number}", "Default" if number % 2 else "Default::Sub"
            )
    assert positions(ours) == positions(anki)
    dues = [due for *_, due in positions(ours)]
    assert len(set(dues)) > 40  # spread out, not in order added
    assert random_position(5001) != 5001


def test_a_changed_order_resorts_new_cards_as_anki_does(
    pair: tuple[Collection, sqlite3.Connection],
) -> None:
    anki, ours = pair
    for number in range(12):
        add_both(anki, ours, f"note {number:02}", "Default" if number % 3 else "Default::Sub")
    shuffled = positions(ours)
    assert shuffled == positions(anki)

    set_insert_order(anki, IN_ORDER)
    update_preset(ours, 1, {"new_card_order": "sequential"}, now=time.time())
    in_order = positions(ours)
    assert in_order == positions(anki)
    assert in_order != shuffled
    # From 1 in each deck, in the order the notes were added; a note's cards share it.
    assert [due for deck, _, ord_, due in in_order if deck == "Default" and ord_ == 0] == list(
        range(1, 9)
    )

    set_insert_order(anki, RANDOM)
    update_preset(ours, 1, {"new_card_order": "random"}, now=time.time())
    for deck, count in (("Default", 8), ("Default::Sub", 4)):
        ours_deck = [row for row in positions(ours) if row[0] == deck]
        anki_deck = [row for row in positions(anki) if row[0] == deck]
        # Shuffled (by a generator neither side seeds): the same positions, one per note.
        assert sorted({due for *_, due in ours_deck}) == list(range(1, count + 1))
        assert sorted({due for *_, due in anki_deck}) == list(range(1, count + 1))
        for front in {front for _, front, _, _ in ours_deck}:
            assert len({due for _, f, _, due in ours_deck if f == front}) == 1


def test_a_deck_given_a_preset_with_another_order_is_resorted(
    pair: tuple[Collection, sqlite3.Connection],
) -> None:
    anki, ours = pair
    for number in range(10):
        add_both(anki, ours, f"note {number:02}", "Default::Sub")
    sub = anki.decks.id("Default::Sub")
    assert sub is not None
    in_order = create_preset(ours, "In order", {"new_card_order": "sequential"}, now=time.time())
    assign_preset(ours, sub, in_order.preset_id, include_subdecks=False, now=time.time())
    assert [due for _, _, ord_, due in positions(ours) if ord_ == 0] == list(range(1, 11))
    # Back on the random preset: shuffled again.
    assign_preset(ours, sub, 1, include_subdecks=False, now=time.time())
    assert sorted({due for *_, due in positions(ours)}) == list(range(1, 11))
