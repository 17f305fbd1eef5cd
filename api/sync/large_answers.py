"""Sync answers too large for one Lambda answer: a 303 to a presigned GET on the CDN
(storage/transfers.py: ``SyncDownloads``), which Anki's client follows for a full
download and for a media download alike."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from api.sync.envelope import ok_compressed
from storage.transfers import SyncDownloads


def compressed_answer(
    compressed: bytes,
    original_size: int,
    *,
    username: str,
    limit: int,
    redirects: SyncDownloads | None,
    state: Any,
) -> Response:
    """The body in the answer, or, past ``limit`` with a CDN configured, a 303 to it."""
    if redirects is None or len(compressed) <= limit:
        return ok_compressed(compressed, original_size)
    url = redirects.publish(username, compressed, original_size=original_size)
    state.redirected_bytes = len(compressed)  # for the request's sync figures
    return Response(status_code=303, headers={"Location": url})
