"""Cards: add, read, edit, delete."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from fastapi import APIRouter, Response, status

from api.deps import CollectionDep, MediaTokenDep
from api.media import web_card
from api.routes._responses import SIGNED_IN, errors
from api.schemas.base import AnkiId
from api.schemas.cards import CardCreate, CardCreated, CardMove, CardOut, CardReset, CardUpdate
from collection import card_actions, cards
from collection.card_faces import CardFace

router = APIRouter(prefix="/api/cards", tags=["cards"], responses=SIGNED_IN)

_NOT_FOUND = errors(_404="No such card in your collection")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(_404="No such deck in your collection"),
)
def add_card(body: CardCreate, collection: CollectionDep) -> CardCreated:
    """Add a Basic note and its card, to the current deck unless `deckId` is given."""
    now = time.time()
    added = collection.write(
        lambda conn: cards.add_card(conn, body.front, body.back, body.deck_id, now=now)
    )
    return CardCreated(card_id=added.card_id, note_id=added.note_id)


@router.get("/{card_id:int}", responses=_NOT_FOUND)
def get_card(card_id: AnkiId, collection: CollectionDep, media_token: MediaTokenDep) -> CardOut:
    """The card: `front`/`back` are its note's first two fields as stored (what `PUT`
    edits); `question`/`answer`/`css` are the card as Anki renders it."""
    view, face = collection.read(lambda conn: cards.get_card_and_face(conn, card_id))
    return CardOut.of(view, web_card(face, media_token))


@router.put("/{card_id:int}", responses=_NOT_FOUND)
def update_card(
    card_id: AnkiId, body: CardUpdate, collection: CollectionDep, media_token: MediaTokenDep
) -> CardOut:
    """Replace the first two fields of the card's note (front and back, whatever the
    note type); cards that now have something to show are added, as in Anki."""
    now = time.time()

    def update(conn: sqlite3.Connection) -> tuple[cards.CardView, CardFace]:
        cards.update_card(conn, card_id, body.front, body.back, now=now)
        return cards.get_card_and_face(conn, card_id)

    view, face = collection.write(update)
    return CardOut.of(view, web_card(face, media_token))


@router.delete("/{card_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
def delete_card(card_id: AnkiId, collection: CollectionDep) -> Response:
    now = time.time()
    collection.write(lambda conn: cards.delete_card(conn, card_id, now=now))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _act(collection: CollectionDep, card_id: int, action: Callable[..., None]) -> CardOut:
    now = time.time()

    def act(conn: sqlite3.Connection) -> cards.CardView:
        action(conn, card_id, now=now)
        return cards.get_card(conn, card_id)

    return CardOut.of(collection.write(act))


@router.post("/{card_id:int}/suspend", responses=_NOT_FOUND)
def suspend(card_id: AnkiId, collection: CollectionDep) -> CardOut:
    """Keep the card out of reviews until it is unsuspended."""
    return _act(collection, card_id, card_actions.suspend)


@router.post("/{card_id:int}/unsuspend", responses=_NOT_FOUND)
def unsuspend(card_id: AnkiId, collection: CollectionDep) -> CardOut:
    return _act(collection, card_id, card_actions.unsuspend)


@router.post("/{card_id:int}/bury", responses=_NOT_FOUND)
def bury(card_id: AnkiId, collection: CollectionDep) -> CardOut:
    """Hide the card until tomorrow."""
    return _act(collection, card_id, card_actions.bury)


@router.post("/{card_id:int}/unbury", responses=_NOT_FOUND)
def unbury(card_id: AnkiId, collection: CollectionDep) -> CardOut:
    return _act(collection, card_id, card_actions.unbury)


@router.post("/{card_id:int}/forget", responses=_NOT_FOUND)
def forget(card_id: AnkiId, collection: CollectionDep, body: CardReset | None = None) -> CardOut:
    """Make the card new again, at the end of the new cards (Anki's "Reset")."""
    reset_counts = body.reset_counts if body else False
    return _act(
        collection,
        card_id,
        lambda conn, cid, now: card_actions.forget(conn, cid, now=now, reset_counts=reset_counts),
    )


@router.post(
    "/{card_id:int}/move",
    responses=errors(_404="No such card or deck in your collection"),
)
def move(card_id: AnkiId, body: CardMove, collection: CollectionDep) -> CardOut:
    """Move the card to another deck."""
    return _act(
        collection,
        card_id,
        lambda conn, cid, now: card_actions.move(conn, cid, body.deck_id, now=now),
    )
