"""Notes of any note type: add, read, edit, delete (cards follow as Anki makes them)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response, status

from api.deps import CollectionDep
from api.routes._responses import SIGNED_IN, errors
from api.schemas.base import AnkiId
from api.schemas.notes import NoteCreate, NoteOut, NoteUpdate
from collection import notes

router = APIRouter(prefix="/api/notes", tags=["notes"], responses=SIGNED_IN)

_NOT_FOUND = errors(_404="No such note in your collection")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(_404="No such note type or deck in your collection"),
)
def add_note(body: NoteCreate, collection: CollectionDep) -> NoteOut:
    """Add a note and exactly the cards Anki would make for it (422 if none)."""
    now = time.time()
    return NoteOut.of(
        collection.write(
            lambda conn: notes.add_note(
                conn, body.note_type_id, body.fields, deck_id=body.deck_id, tags=body.tags, now=now
            )
        )
    )


@router.get("/{note_id:int}", responses=_NOT_FOUND)
def get_note(note_id: AnkiId, collection: CollectionDep) -> NoteOut:
    return NoteOut.of(collection.read(lambda conn: notes.get_note(conn, note_id)))


@router.put("/{note_id:int}", responses=_NOT_FOUND)
def update_note(note_id: AnkiId, body: NoteUpdate, collection: CollectionDep) -> NoteOut:
    """Change fields (by name) and/or tags; cards that now show something are added,
    none is deleted."""
    now = time.time()
    return NoteOut.of(
        collection.write(
            lambda conn: notes.update_note(
                conn, note_id, fields=body.fields, tags=body.tags, now=now
            )
        )
    )


@router.delete("/{note_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND)
def delete_note(note_id: AnkiId, collection: CollectionDep) -> Response:
    """Delete the note and its cards; its media files stay, as in Anki."""
    now = time.time()
    collection.write(lambda conn: notes.delete_note(conn, note_id, now=now))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
