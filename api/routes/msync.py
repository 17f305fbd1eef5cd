"""Anki's media sync protocol: ``POST /msync/{method}`` (and ``begin``'s legacy GET).

Every call names its learner by the host key (the ``anki-sync`` header's ``k``, or the
query's ``k`` on the legacy GET) and works on that learner's media store, whose change
counter is the media usn ``meta`` reports. JSON results are wrapped as Anki wraps them,
``{"data": ..., "err": ""}``; ``downloadFiles`` answers a zip. The calls themselves
are in api/sync/media.py.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AccountsDep, ServicesDep, SettingsDep
from api.errors import SyncRefused
from api.media import LearnerMedia
from api.sync import media as msync
from api.sync.envelope import (
    ORIGINAL_SIZE,
    UPLOAD_DRAIN_BYTES,
    BodyTooLarge,
    compress,
    decode_json,
    decompress,
    ok_json,
    parse_header,
    read_compressed,
)
from api.sync.large_answers import compressed_answer

router = APIRouter(tags=["sync"], include_in_schema=False)

_JSON_METHODS: Final = frozenset({"begin", "mediaChanges", "downloadFiles", "mediaSanity"})


async def _media_sync_call(
    request: Request,
    settings: SettingsDep,
    services: ServicesDep,
    accounts: AccountsDep,
) -> Response:
    method = request.url.path.rsplit("/", 1)[-1]
    header = parse_header(request.headers.get("anki-sync"))
    if method == "uploadChanges":
        limit = settings.sync_media_upload_max_bytes
        try:
            body = await read_compressed(request, limit, drain_limit=UPLOAD_DRAIN_BYTES)
        except BodyTooLarge as exc:
            raise SyncRefused(
                413,
                f"These media files are {exc.size / 1_000_000:.2f} MB compressed, more than "
                f"the {limit / 1_000_000:.2f} MB one media sync request may carry here.",
            ) from None
    else:
        body = await request.body()
    data = decompress(body, settings.sync_max_uncompressed_bytes)

    user = await run_in_threadpool(accounts.sync_user, header.key)
    request.state.username = user.username
    media = LearnerMedia(services.media, user.username)

    if method == "uploadChanges":
        result = await run_in_threadpool(
            msync.upload_changes, media, data, settings.sync_max_uncompressed_bytes
        )
        request.state.media_files = result["data"][0]  # for the request's log line
        return ok_json(result)
    arguments = decode_json(data)
    if method == "begin":
        version = arguments.get("v") if isinstance(arguments, dict) else None
        return ok_json(await run_in_threadpool(msync.begin, media, header.key, version))
    if method == "mediaChanges":
        return ok_json(await run_in_threadpool(msync.media_changes, media, arguments))
    if method == "mediaSanity":
        return ok_json(await run_in_threadpool(msync.media_sanity, media, arguments))
    zipped = await run_in_threadpool(
        msync.download_files, media, arguments, settings.sync_media_download_max_bytes
    )
    request.state.media_files = len(zipfile.ZipFile(io.BytesIO(zipped)).filelist) - 1  # _meta
    # One file may be larger than a Lambda answer carries: then it goes through the CDN.
    return compressed_answer(
        compress(zipped),
        len(zipped),
        username=user.username,
        limit=settings.sync_download_max_bytes,
        redirects=services.sync_downloads,
        state=request.state,
    )


# One route per call, so that the request log names the call.
for _method in sorted(_JSON_METHODS | {"uploadChanges"}):
    router.add_api_route(f"/msync/{_method}", _media_sync_call, methods=["POST"])


@router.post("/msync/{method}")
async def unknown_media_sync_call(method: str, request: Request) -> Response:
    parse_header(request.headers.get("anki-sync"))
    raise SyncRefused(404, f"unknown media sync method {method!r}")


@router.get("/msync/begin")
async def media_sync_begin_legacy(
    request: Request, services: ServicesDep, accounts: AccountsDep
) -> Response:
    """The form older clients used: ``GET /msync/begin?k=<host key>&v=<version>``.
    Answered as Anki's server answers it, in plain JSON (not compressed)."""
    query = request.query_params
    if "k" not in query and "v" not in query:
        # Not the legacy form (a browser, say): this path is for POSTs.
        raise SyncRefused(405, "media sync calls are POSTs")
    key, version = query.get("k", ""), query.get("v", "")
    if not version:
        raise SyncRefused(400, "begin needs the client's version")
    user = await run_in_threadpool(accounts.sync_user, key)
    request.state.username = user.username
    media = LearnerMedia(services.media, user.username)
    result: Any = await run_in_threadpool(msync.begin, media, key, version)
    body = json.dumps(result, separators=(",", ":")).encode()
    return Response(
        content=body,
        media_type="application/octet-stream",
        headers={ORIGINAL_SIZE: str(len(body))},
    )
