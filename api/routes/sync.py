"""Anki's sync protocol, the collection: ``POST /sync/{method}`` (media sync:
api/routes/msync.py).

Anki desktop, AnkiDroid and AnkiMobile sync with the API's base URL (with a trailing
slash) as their self-hosted sync server: logging in (``hostKey``), ``meta``, full
sync both ways (``upload``, ``download``) and normal sync (``start`` to ``finish``,
``abort``). The envelope is in api/sync/envelope.py, full sync in
api/sync/collection.py, normal sync in api/sync/normal.py.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AccountsDep, LearnerCollectionsDep, ServicesDep, SettingsDep
from api.errors import SyncRefused
from api.sync import collection as full
from api.sync import normal
from api.sync.envelope import (
    UPLOAD_DRAIN_BYTES,
    BodyTooLarge,
    SyncHeader,
    decode_json,
    decompress,
    ok_bytes,
    ok_json,
    parse_header,
    read_compressed,
)
from api.sync.large_answers import compressed_answer, json_answer
from api.sync.normal import NormalSync
from api.user_collection import UserCollection
from auth.users import SyncStateStore
from collection.usn import normalise_usns, pending_usn_tables
from storage.transfers import SyncDownloads

router = APIRouter(tags=["sync"], include_in_schema=False)

# The calls of a normal (incremental) sync.
_NORMAL: Final = frozenset(
    {
        "start",
        "applyGraves",
        "applyChanges",
        "chunk",
        "applyChunk",
        "sanityCheck2",
        "finish",
        "abort",
    }
)


@router.post("/sync/{method}")
async def sync_call(
    method: str,
    request: Request,
    settings: SettingsDep,
    services: ServicesDep,
    accounts: AccountsDep,
    collections: LearnerCollectionsDep,
) -> Response:
    header = parse_header(request.headers.get("anki-sync"))
    if method == "upload":
        try:
            body = await read_compressed(
                request, settings.sync_upload_max_bytes, drain_limit=UPLOAD_DRAIN_BYTES
            )
        except BodyTooLarge as exc:
            user = await run_in_threadpool(accounts.sync_user, header.key)
            request.state.username = user.username
            # As Anki's server: a refused upload is a 200 whose text the client shows.
            message = full.too_large_message(exc.size, settings.sync_upload_max_bytes)
            return ok_bytes(message.encode())
    else:
        body = await request.body()
    data = decompress(body, settings.sync_max_uncompressed_bytes)

    if method == "hostKey":
        return await run_in_threadpool(_host_key, accounts, header, data)
    if method not in ("meta", "download", "upload") and method not in _NORMAL:
        raise SyncRefused(404, f"unknown sync method {method!r}")

    user = await run_in_threadpool(accounts.sync_user, header.key)
    request.state.username = user.username
    collection = collections.of(user.username)

    if method in _NORMAL:
        sync = NormalSync(
            collection,
            _sync_states(accounts),
            services.session.store,
            header.session,
            chunk_max_bytes=settings.sync_chunk_max_bytes,
        )
        request.state.sync = method
        return json_answer(
            await run_in_threadpool(sync.call, method, _request_json(data)),
            username=user.username,
            limit=settings.sync_download_max_bytes,
            redirects=services.sync_downloads,
            state=request.state,
        )

    # Any of these ends a normal sync in progress, as on Anki's server.
    await run_in_threadpool(
        normal.discard, _sync_states(accounts), services.session.store, user.username
    )
    if method == "meta":
        return await run_in_threadpool(_meta, collection, services, data)
    if method == "download":
        request.state.full_sync = method  # counted once the answer is a 200 (or 303)
        return await run_in_threadpool(
            _download,
            collection,
            settings.sync_download_max_bytes,
            services.sync_downloads,
            request.state,
        )
    return await run_in_threadpool(_upload, collection, data, request.state)


def _sync_states(accounts: AccountsDep) -> SyncStateStore:
    if accounts.sync_states is None:
        raise SyncRefused(500, "this backend keeps no sync state")
    return accounts.sync_states


def _request_json(data: bytes) -> Any:
    return decode_json(data) if data else None


def _host_key(accounts: AccountsDep, header: SyncHeader, data: bytes) -> Response:
    request = decode_json(data)
    if not isinstance(request, dict):
        raise SyncRefused(400, "hostKey needs a JSON object")
    username, password = request.get("u"), request.get("p")
    if not isinstance(username, str) or not isinstance(password, str):
        raise SyncRefused(400, "hostKey needs a username and a password")
    key = accounts.issue_sync_key(username, password, header.client)
    return ok_json({"key": key})


def _meta(collection: UserCollection, services: ServicesDep, data: bytes) -> Response:
    request = decode_json(data)
    version = request.get("v") if isinstance(request, dict) else None
    if type(version) is not int or not full.META_VERSION_MIN <= version <= full.META_VERSION_MAX:
        # What Anki's server answers; old clients expect this code.
        raise SyncRefused(501, "unsupported version")
    return ok_json(full.meta(collection, services.media))


def _download(
    collection: UserCollection, limit: int, redirects: SyncDownloads | None, state: Any
) -> Response:
    """The collection in the answer, or, past ``limit``, a 303 to a presigned GET on
    the CDN (storage/transfers.py: ``SyncDownloads``), which Anki's client follows."""
    # Rows written the old way (usn -1) get a real usn before the file is handed out.
    if collection.read(pending_usn_tables):
        collection.write(normalise_usns)
    try:
        result = full.download(collection, None if redirects is not None else limit)
    except full.DownloadTooLarge as exc:
        raise SyncRefused(413, full.download_too_large_message(exc.size, limit)) from None
    return compressed_answer(
        result.compressed,
        result.original_size,
        username=collection.username,
        limit=limit,
        redirects=redirects,
        state=state,
    )


def _upload(collection: UserCollection, data: bytes, state: Any) -> Response:
    from collection.sync.full import UploadRefused  # loaded on first upload only

    try:
        full.upload(collection, data)
    except UploadRefused as exc:
        # As Anki's server: a refused upload is a 200 whose text the client shows.
        return ok_bytes(str(exc).encode())
    state.full_sync = "upload"  # for the request's log line
    return ok_bytes(b"OK")
