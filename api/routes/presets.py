"""Options presets (Anki's options groups): list, create, read, change, delete."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response, status

from api.deps import CollectionDep
from api.routes._responses import SIGNED_IN, errors
from api.schemas.base import AnkiId
from api.schemas.presets import PresetCreate, PresetOptionsIn, PresetOptionsOut
from collection import presets

router = APIRouter(prefix="/api/presets", tags=["decks"], responses=SIGNED_IN)

_NOT_FOUND = errors(_404="No such options preset in your collection")


@router.get("")
def list_presets(collection: CollectionDep) -> list[PresetOptionsOut]:
    """Every options preset, with the decks that use it."""
    return [PresetOptionsOut.of(p) for p in collection.read(presets.list_presets)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_preset(body: PresetCreate, collection: CollectionDep) -> PresetOptionsOut:
    """A new preset with Anki's default options, and any options given."""
    now = time.time()
    changes = {k: v for k, v in body.changes().items() if k != "name"}
    return PresetOptionsOut.of(
        collection.write(lambda conn: presets.create_preset(conn, body.name, changes, now=now))
    )


@router.get("/{preset_id:int}", responses=_NOT_FOUND)
def get_preset(preset_id: AnkiId, collection: CollectionDep) -> PresetOptionsOut:
    return PresetOptionsOut.of(collection.read(lambda conn: presets.get_preset(conn, preset_id)))


@router.put("/{preset_id:int}", responses=_NOT_FOUND)
def update_preset(
    preset_id: AnkiId, body: PresetOptionsIn, collection: CollectionDep
) -> PresetOptionsOut:
    """Rename a preset or change any of its options (for every deck using it)."""
    now = time.time()
    return PresetOptionsOut.of(
        collection.write(
            lambda conn: presets.update_preset(conn, preset_id, body.changes(), now=now)
        )
    )


@router.delete(
    "/{preset_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        _404="No such options preset in your collection",
        _400="The default preset cannot be deleted",
    ),
)
def delete_preset(preset_id: AnkiId, collection: CollectionDep) -> Response:
    """Delete a preset; its decks use the default preset from then on. As in Anki, this
    changes the collection's schema: devices choose a full sync next time."""
    now = time.time()
    collection.write(lambda conn: presets.delete_preset(conn, preset_id, now=now))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
