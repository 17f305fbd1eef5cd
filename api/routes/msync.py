"""Anki's media sync protocol: ``POST /msync/{method}`` (and ``begin``'s legacy GET).

Not built yet: every known call answers 501, so a client's media sync fails quietly
and its collection sync is unaffected.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request, Response

from api.errors import SyncRefused
from api.sync.envelope import parse_header

router = APIRouter(tags=["sync"], include_in_schema=False)

_MEDIA_METHODS: Final = frozenset(
    {"begin", "mediaChanges", "uploadChanges", "downloadFiles", "mediaSanity"}
)
_MEDIA_NOT_YET: Final = "Media sync is not available on this server yet."


@router.post("/msync/{method}")
async def media_sync_call(method: str, request: Request) -> Response:
    parse_header(request.headers.get("anki-sync"))
    raise SyncRefused(404 if method not in _MEDIA_METHODS else 501, _MEDIA_NOT_YET)
