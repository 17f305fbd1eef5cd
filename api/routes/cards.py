"""Cards: add, read, edit, delete."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response, status

from api.deps import CollectionDep
from api.routes._responses import errors
from api.schemas.cards import CardCreate, CardCreated, CardOut, CardUpdate
from collection import cards

router = APIRouter(prefix="/api/cards", tags=["cards"])

_NOT_FOUND = errors(_404="No such card in your collection")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(_404="No such deck in your collection", _422="A field is empty or invalid"),
)
def add_card(body: CardCreate, collection: CollectionDep) -> CardCreated:
    """Add a Basic note and its card, to the current deck unless `deckId` is given."""
    now = time.time()
    added = collection.write(
        lambda conn: cards.add_card(conn, body.front, body.back, body.deck_id, now=now)
    )
    return CardCreated(card_id=added.card_id, note_id=added.note_id)


@router.get("/{card_id}", responses=_NOT_FOUND)
def get_card(card_id: int, collection: CollectionDep) -> CardOut:
    return CardOut.of(collection.read(lambda conn: cards.get_card(conn, card_id)))


@router.put("/{card_id}", responses=_NOT_FOUND)
def update_card(card_id: int, body: CardUpdate, collection: CollectionDep) -> CardOut:
    """Replace the card's front and back."""
    now = time.time()
    return CardOut.of(
        collection.write(
            lambda conn: cards.update_card(conn, card_id, body.front, body.back, now=now)
        )
    )


@router.delete("/{card_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
def delete_card(card_id: int, collection: CollectionDep) -> Response:
    now = time.time()
    collection.write(lambda conn: cards.delete_card(conn, card_id, now=now))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
