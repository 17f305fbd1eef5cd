"""Decks: list, create, rename, delete, the current deck, statistics and card listings."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import CollectionDep
from api.routes._responses import SIGNED_IN, errors
from api.schemas.base import AnkiId
from api.schemas.cards import DeckCardsOut
from api.schemas.decks import (
    CurrentDeckIn,
    DeckCreate,
    DeckListOut,
    DeckOut,
    DeckRename,
    DeckStatsOut,
)
from api.schemas.presets import PresetAssign, PresetOptionsIn, PresetOptionsOut
from collection import cards, decks, presets, stats

router = APIRouter(prefix="/api/decks", tags=["decks"], responses=SIGNED_IN)

_NOT_FOUND = errors(_404="No such deck in your collection")


@router.get("")
def list_decks(collection: CollectionDep) -> DeckListOut:
    """Every deck, subdecks as `Parent::Child`, with its card count (subdecks included)."""
    return DeckListOut(decks=[DeckOut.of(deck) for deck in collection.read(decks.list_decks)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(_409="A deck with that name exists"),
)
def create_deck(body: DeckCreate, collection: CollectionDep) -> DeckOut:
    """Create a deck; `Parent::Child` creates a subdeck (and any missing parents)."""
    now = time.time()
    return DeckOut.of(collection.write(lambda conn: decks.create_deck(conn, body.name, now=now)))


@router.get("/current")
def get_current_deck(collection: CollectionDep) -> DeckOut:
    return DeckOut.of(collection.read(decks.get_current_deck))


@router.put("/current", responses=_NOT_FOUND)
def set_current_deck(body: CurrentDeckIn, collection: CollectionDep) -> DeckOut:
    now = time.time()
    return DeckOut.of(
        collection.write(lambda conn: decks.set_current_deck(conn, body.deck_id, now=now))
    )


@router.put(
    "/{deck_id:int}/rename",
    responses=errors(_404="No such deck in your collection", _409="A deck with that name exists"),
)
def rename_deck(deck_id: AnkiId, body: DeckRename, collection: CollectionDep) -> DeckOut:
    """Rename a deck; its subdecks move with it."""
    now = time.time()
    return DeckOut.of(
        collection.write(lambda conn: decks.rename_deck(conn, deck_id, body.name, now=now))
    )


@router.delete(
    "/{deck_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        _404="No such deck in your collection", _400="The default deck cannot be deleted"
    ),
)
def delete_deck(deck_id: AnkiId, collection: CollectionDep) -> Response:
    """Delete a deck, its subdecks, and their cards."""
    now = time.time()
    collection.write(lambda conn: decks.delete_deck(conn, deck_id, now=now))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{deck_id:int}/stats", responses=_NOT_FOUND)
def deck_stats(deck_id: AnkiId, collection: CollectionDep) -> DeckStatsOut:
    """Cards of the deck and its subdecks, counted by state."""
    return DeckStatsOut.of(deck_id, collection.read(lambda conn: stats.deck_stats(conn, deck_id)))


@router.get("/{deck_id:int}/cards", responses=_NOT_FOUND)
def deck_cards(
    deck_id: AnkiId,
    collection: CollectionDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=500)] = 10,
) -> DeckCardsOut:
    """The deck's cards, oldest first, a page at a time."""
    return DeckCardsOut.of(
        collection.read(lambda conn: cards.list_deck_cards(conn, deck_id, page, per_page))
    )


@router.get("/{deck_id:int}/options", responses=_NOT_FOUND)
def get_deck_options(deck_id: AnkiId, collection: CollectionDep) -> PresetOptionsOut:
    """The options of the deck's preset (shared with the other decks using it)."""
    return PresetOptionsOut.of(
        collection.read(lambda conn: presets.get_deck_options(conn, deck_id))
    )


@router.put("/{deck_id:int}/options", responses=_NOT_FOUND)
def update_deck_options(
    deck_id: AnkiId, body: PresetOptionsIn, collection: CollectionDep
) -> PresetOptionsOut:
    """Change any of the options of the deck's preset; the others keep their values.
    The preset is shared: every deck using it changes too, as in Anki."""
    now = time.time()
    return PresetOptionsOut.of(
        collection.write(
            lambda conn: presets.update_deck_options(conn, deck_id, body.changes(), now=now)
        )
    )


@router.put(
    "/{deck_id:int}/preset",
    responses=errors(_404="No such deck or options preset in your collection"),
)
def assign_preset(
    deck_id: AnkiId, body: PresetAssign, collection: CollectionDep
) -> PresetOptionsOut:
    """Give the deck (and, with `includeSubdecks`, its subdecks) an options preset."""
    now = time.time()
    return PresetOptionsOut.of(
        collection.write(
            lambda conn: presets.assign_preset(
                conn, deck_id, body.preset_id, include_subdecks=body.include_subdecks, now=now
            )
        )
    )
