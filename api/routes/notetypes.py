"""Note types: what notes can be added with."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CollectionDep
from api.routes._responses import SIGNED_IN
from api.schemas.notes import NotetypeOut
from collection.notetypes import list_notetypes

router = APIRouter(prefix="/api/notetypes", tags=["notes"], responses=SIGNED_IN)


@router.get("")
def get_notetypes(collection: CollectionDep) -> list[NotetypeOut]:
    """Every note type of the collection: its kind, fields and card templates."""
    return [NotetypeOut.of(v) for v in collection.read(list_notetypes)]
