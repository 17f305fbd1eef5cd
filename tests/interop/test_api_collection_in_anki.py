"""After work through the API, real Anki opens the stored collection and agrees with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from anki.collection import Collection

from api.user_collection import collection_key
from tests.support.api_rig import Rig
from tests.support.stored import stored_collection

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("rig", ["local"], indirect=True)
def test_anki_sees_what_the_api_made(rig: Rig, tmp_path: Path) -> None:
    h = rig.signed_up("alice")
    post, put, delete = rig.client.post, rig.client.put, rig.client.delete
    spanish = post("/api/decks", json={"name": "Languages::Spanish"}, headers=h).json()
    french = post("/api/decks", json={"name": "Languages::French"}, headers=h).json()
    doomed = post("/api/decks", json={"name": "Scratch"}, headers=h).json()
    put(f"/api/decks/{spanish['id']}/rename", json={"name": "Languages::Español"}, headers=h)
    cards = {}
    for front, back, deck in [
        ("<b>naïve</b> &amp; café", "日本語 🦉", spanish["id"]),
        ("hola", "hello", spanish["id"]),
        ("bonjour", "<i>hello</i>", french["id"]),
        ("gone", "soon", doomed["id"]),
        ("edited", "before", None),
        ("deleted", "card", None),
    ]:
        body = {"front": front, "back": back, **({"deckId": deck} if deck else {})}
        cards[front] = post("/api/cards", json=body, headers=h).json()
    put(
        f"/api/cards/{cards['edited']['cardId']}",
        json={"front": "edited", "back": "after"},
        headers=h,
    )
    delete(f"/api/cards/{cards['deleted']['cardId']}", headers=h)
    delete(f"/api/decks/{doomed['id']}", headers=h)
    ours = {(d["id"], d["name"]) for d in rig.client.get("/api/decks", headers=h).json()["decks"]}

    # The collection as stored: the snapshot with the page log applied, as a fresh
    # instance reads it.
    path = tmp_path / "copy.anki2"
    path.write_bytes(stored_collection(rig.store, collection_key("alice")))
    shutil.copy(path, tmp_path / "pristine.anki2")

    col = Collection(str(path))
    try:
        assert {(d.id, d.name) for d in col.decks.all_names_and_ids()} == ours
        fields = {}
        for nid in col.find_notes(""):
            note = col.get_note(nid)
            fields[note["Front"]] = (note["Back"], {col.get_card(c).did for c in note.card_ids()})
        assert fields == {
            "<b>naïve</b> &amp; café": ("日本語 🦉", {spanish["id"]}),
            "hola": ("hello", {spanish["id"]}),
            "bonjour": ("<i>hello</i>", {french["id"]}),
            "edited": ("after", {1}),
        }
        assert len(col.find_cards('"deck:Languages::Español"')) == 2
        assert len(col.find_cards("deck:Languages")) == 3
        problems, _ = col.fix_integrity()
        checked = [line for line in problems.splitlines() if "rebuilt" not in line.lower()]
        assert checked == [], problems
    finally:
        col.close()
