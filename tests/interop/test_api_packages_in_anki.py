"""An export downloaded from the API opens in real Anki with the same notes, decks and
history, and Anki's own export of that comes back through the API unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collection.apkg_fixtures import anki_import
from tests.support.api_rig import Rig

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("rig", ["local"], indirect=True)
def test_api_export_into_anki_and_back(rig: Rig, tmp_path: Path) -> None:
    h = rig.signed_up("alice")
    deck = rig.client.post("/api/decks", json={"name": "Lang::日本語"}, headers=h).json()
    cards = [
        rig.client.post(
            "/api/cards",
            json={"front": f"<i>{word}</i>", "back": meaning, "deckId": deck["id"]},
            headers=h,
        ).json()["cardId"]
        for word, meaning in [("猫", "cat"), ("犬", "dog"), ("鳥", "bird")]
    ]
    for card_id, ease in zip(cards, (3, 4, 1), strict=True):
        rig.client.post(
            "/api/review", json={"cardId": card_id, "ease": ease, "timeTaken": 3000}, headers=h
        )
    package = tmp_path / "ours.apkg"
    package.write_bytes(rig.client.get("/api/export", headers=h).content)

    col = anki_import(package, tmp_path / "anki.anki2")
    try:
        notes = {col.get_note(n)["Front"]: col.get_note(n)["Back"] for n in col.find_notes("")}
        assert notes == {"<i>猫</i>": "cat", "<i>犬</i>": "dog", "<i>鳥</i>": "bird"}
        assert "Lang::日本語" in {d.name for d in col.decks.all_names_and_ids()}
        history = sorted((row[0], row[1]) for row in col.db.all("select ease, type from revlog"))
        assert history == [(1, 0), (3, 0), (4, 0)]
        problems, _ = col.fix_integrity()
        assert [p for p in problems.splitlines() if "rebuilt" not in p.lower()] == []
        back = tmp_path / "from-anki.apkg"
        from anki.collection import ExportAnkiPackageOptions

        col.export_anki_package(
            out_path=str(back),
            options=ExportAnkiPackageOptions(
                with_scheduling=True, with_deck_configs=True, with_media=False, legacy=False
            ),
            limit=None,
        )
    finally:
        col.close()

    bob = rig.signed_up("bob")
    imported = rig.client.post(
        "/api/import",
        files={"file": ("from-anki.apkg", back.read_bytes(), "application/octet-stream")},
        headers=bob,
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["notesAdded"] == 3
    listed = {
        c["front"]: c["back"]
        for c in rig.client.get("/api/decks/1/cards", headers=bob).json()["cards"]
    }
    decks = {d["name"]: d["id"] for d in rig.client.get("/api/decks", headers=bob).json()["decks"]}
    in_deck = rig.client.get(f"/api/decks/{decks['Lang::日本語']}/cards", headers=bob).json()
    assert {c["front"]: c["back"] for c in in_deck["cards"]} == notes
    assert listed == {}
