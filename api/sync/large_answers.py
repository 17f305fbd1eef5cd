"""Sync answers too large for one Lambda answer: a 303 to a presigned GET on the CDN
(storage/transfers.py: ``SyncDownloads``), which Anki's client follows for any call:
a full download, a media download, and a normal sync's unchunked answers (``start``'s
deletions, ``applyChanges``) after mass deletions or very many deck changes."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from api.sync.envelope import compress, encode_json, ok_compressed
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


def json_answer(
    value: Any,
    *,
    username: str,
    limit: int,
    redirects: SyncDownloads | None,
    state: Any,
) -> Response:
    """``value`` as JSON, in the answer or, past ``limit``, through the CDN."""
    data = encode_json(value)
    return compressed_answer(
        compress(data),
        len(data),
        username=username,
        limit=limit,
        redirects=redirects,
        state=state,
    )
