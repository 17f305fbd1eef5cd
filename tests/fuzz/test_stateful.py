"""Hypothesis drives sequences of API operations against a model of the collection."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from auth.local import LocalUserStore
from storage.local import LocalObjectStore
from tests.support.api_rig import Rig, build_rig

pytestmark = pytest.mark.fuzz

names = st.text(alphabet="abAB", min_size=1, max_size=3)
fields = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x1f\x00"), max_size=12)


class CollectionMachine(RuleBasedStateMachine):
    """The model: deck names (with their ids) and cards (front, back, deck id)."""

    cards = Bundle("cards")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        users = LocalUserStore(root / "users.sqlite3")
        self.rig_context = build_rig(root, users, users, LocalObjectStore(root / "objects"))
        self.rig: Rig = next(self.rig_context)
        self.headers: dict[str, str] = {}
        self.decks: dict[str, int] = {}  # lower-cased full name -> id
        self.spelling: dict[int, str] = {}
        self.model_cards: dict[int, tuple[str, str, int]] = {}

    @initialize()
    def sign_up(self) -> None:
        self.headers = self.rig.signed_up("model")
        self.decks = {"default": 1}
        self.spelling = {1: "Default"}

    def teardown(self) -> None:
        self.rig_context.close()
        self.tmp.cleanup()

    def _subtree(self, deck_id: int) -> set[int]:
        name = self.spelling[deck_id].lower()
        return {i for n, i in self.decks.items() if n == name or n.startswith(name + "::")}

    @rule(parent=names, child=st.one_of(st.none(), names))
    def create_deck(self, parent: str, child: str | None) -> None:
        name = parent if child is None else f"{parent}::{child}"
        response = self.rig.client.post("/api/decks", json={"name": name}, headers=self.headers)
        if name.lower() in self.decks:
            assert response.status_code == 409
            return
        assert response.status_code == 201, response.text
        created = response.json()
        parts = name.split("::")
        for depth in range(1, len(parts)):  # missing parents appear too
            assert "::".join(parts[:depth]).lower() in {d["name"].lower() for d in self._listing()}
        self.decks[name.lower()] = created["id"]
        self.spelling[created["id"]] = created["name"]
        for deck in self._listing():
            if deck["name"].lower() not in self.decks:
                self.decks[deck["name"].lower()] = deck["id"]
                self.spelling[deck["id"]] = deck["name"]

    def _listing(self) -> list[dict[str, object]]:
        return list(self.rig.client.get("/api/decks", headers=self.headers).json()["decks"])

    @rule(data=st.data(), front=fields, back=fields)
    def add_card(self, data: st.DataObject, front: str, back: str) -> None:
        deck_id = data.draw(st.sampled_from(sorted(self.spelling)))
        response = self.rig.client.post(
            "/api/cards",
            json={"front": front, "back": back, "deckId": deck_id},
            headers=self.headers,
        )
        if not front.strip() or len(front) == 0:
            assert response.status_code == 422
            return
        if response.status_code == 422:  # e.g. only HTML-like whitespace: refused as empty
            return
        assert response.status_code == 201, response.text
        self.model_cards[response.json()["cardId"]] = (front, back, deck_id)

    @rule(data=st.data(), back=fields)
    def edit_card(self, data: st.DataObject, back: str) -> None:
        if not self.model_cards:
            return
        card_id = data.draw(st.sampled_from(sorted(self.model_cards)))
        front, _, deck_id = self.model_cards[card_id]
        response = self.rig.client.put(
            f"/api/cards/{card_id}", json={"front": front, "back": back}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        self.model_cards[card_id] = (front, back, deck_id)

    @rule(data=st.data())
    def delete_card(self, data: st.DataObject) -> None:
        if not self.model_cards:
            return
        card_id = data.draw(st.sampled_from(sorted(self.model_cards)))
        assert (
            self.rig.client.delete(f"/api/cards/{card_id}", headers=self.headers).status_code == 204
        )
        del self.model_cards[card_id]

    @rule(data=st.data())
    def delete_deck(self, data: st.DataObject) -> None:
        deck_id = data.draw(st.sampled_from(sorted(self.spelling)))
        response = self.rig.client.delete(f"/api/decks/{deck_id}", headers=self.headers)
        if deck_id == 1:
            assert response.status_code == 400
            return
        assert response.status_code == 204
        gone = self._subtree(deck_id)
        self.decks = {n: i for n, i in self.decks.items() if i not in gone}
        self.spelling = {i: n for i, n in self.spelling.items() if i not in gone}
        self.model_cards = {c: v for c, v in self.model_cards.items() if v[2] not in gone}

    @invariant()
    def decks_match(self) -> None:
        if not self.headers:
            return
        assert {d["name"].lower(): d["id"] for d in self._listing()} == self.decks

    @invariant()
    def cards_match(self) -> None:
        if not self.headers:
            return
        seen: dict[int, tuple[str, str, int]] = {}
        for deck_id in self.spelling:
            page = self.rig.client.get(
                f"/api/decks/{deck_id}/cards", params={"perPage": 500}, headers=self.headers
            ).json()
            for card in page["cards"]:
                full = self.rig.client.get(f"/api/cards/{card['cardId']}", headers=self.headers)
                seen[card["cardId"]] = (card["front"], card["back"], full.json()["deckId"])
        assert seen == self.model_cards


CollectionMachine.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_collection_model = CollectionMachine.TestCase
