"""Moving collections in and out of Anki: `.apkg` export and `.apkg`/`.colpkg` import."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from api.deps import CollectionDep, CurrentUser, SettingsDep, get_services
from api.errors import NotAvailable, UnsupportedUpload, UploadNotFound
from api.routes._responses import SIGNED_IN, Responses, errors
from api.schemas.base import AnkiId
from api.schemas.packages import ImportFromUpload, ImportSummaryOut, UploadUrlOut
from api.services import Services
from collection.decks import get_deck
from collection.errors import PackageTooLarge
from storage.objects import ObjectNotFound
from storage.transfers import PackageTransfers, TooLarge

router = APIRouter(tags=["packages"], responses=SIGNED_IN)

_PACKAGE: Responses = {
    200: {
        "content": {"application/octet-stream": {}},
        "description": "The .apkg file, as an attachment",
    },
    303: {"description": "Large exports on AWS: download from the Location (expires in an hour)"},
}


def get_transfers(services: Annotated[Services, Depends(get_services)]) -> PackageTransfers | None:
    return services.transfers


TransfersDep = Annotated[PackageTransfers | None, Depends(get_transfers)]


def _private_file(suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="javumbo-", suffix=suffix)
    os.close(fd)
    return Path(name)


def _export(
    collection: CollectionDep,
    settings: SettingsDep,
    transfers: PackageTransfers | None,
    deck_id: int | None,
) -> Response:
    # Imported here, not at the top: most Lambda cold starts never export or import.
    from collection.apkg import export_filename, export_package

    now = time.time()
    snapshot, package = _private_file(".anki2"), _private_file(".apkg")
    try:
        # Only the snapshot is taken under the collection's lock; writers wait for
        # that copy, not for the pruning and zipping.
        def take_snapshot(conn: sqlite3.Connection) -> None:
            with closing(sqlite3.connect(snapshot)) as target:
                conn.backup(target)

        collection.read(take_snapshot)
        with closing(sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)) as conn:
            deck_name = get_deck(conn, deck_id).name if deck_id is not None else None
            export_package(conn, package, deck_id=deck_id, now=now)
    except BaseException:
        package.unlink(missing_ok=True)
        raise
    finally:
        snapshot.unlink(missing_ok=True)
    filename = export_filename(deck_name, now)
    if transfers is not None and package.stat().st_size > settings.export_redirect_bytes:
        try:
            url = transfers.publish_export(collection.username, package, filename)
        finally:
            package.unlink(missing_ok=True)
        return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    return FileResponse(
        package,
        media_type="application/octet-stream",
        filename=filename,
        background=BackgroundTask(package.unlink, missing_ok=True),
    )


@router.get("/api/export", response_class=Response, responses=_PACKAGE)
def export_collection(
    collection: CollectionDep, settings: SettingsDep, transfers: TransfersDep
) -> Response:
    """The whole collection as an `.apkg` that Anki imports, scheduling and history included."""
    return _export(collection, settings, transfers, None)


@router.get(
    "/api/decks/{deck_id:int}/export",
    response_class=Response,
    responses={**_PACKAGE, **errors(_404="No such deck in your collection")},
)
def export_deck(
    deck_id: AnkiId, collection: CollectionDep, settings: SettingsDep, transfers: TransfersDep
) -> Response:
    """A deck and its subdecks as an `.apkg`."""
    return _export(collection, settings, transfers, deck_id)


@router.post(
    "/api/import/upload-url",
    responses=errors(_400="Not available on the local backend: POST the file to /api/import"),
)
def upload_url(user: CurrentUser, transfers: TransfersDep) -> UploadUrlOut:
    """Where to PUT a large package (AWS); then POST `{key}` to /api/import."""
    if transfers is None:
        raise NotAvailable("Direct uploads exist on AWS only; POST the file to /api/import.")
    upload = transfers.upload_url(user.username)
    return UploadUrlOut(url=upload.url, key=upload.key, expires_in=upload.expires_in)


_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/json": {"schema": ImportFromUpload.model_json_schema()},
        },
    }
}


@router.post(
    "/api/import",
    openapi_extra=_IMPORT_BODY,
    responses=errors(
        _400="Imports by key exist on AWS only",
        _404="No such upload of yours",
        _413="The package is too large",
        _415="Not an Anki package",
        _422="The package is damaged or unsafe to open; nothing was imported",
    ),
)
async def import_collection(
    request: Request,
    collection: CollectionDep,
    settings: SettingsDep,
    transfers: TransfersDep,
) -> ImportSummaryOut:
    """Add an `.apkg` or `.colpkg` from Anki: a multipart `file`, or `{key}` of an upload.

    Notes already here (same guid) are updated when the package's are newer, otherwise
    skipped; nothing is duplicated. Media files are counted, not imported.
    """
    from collection.apkg import ImportLimits, import_package

    package = _private_file(".apkg")
    try:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            await _receive_file(request, package)
            cleanup: Callable[[], None] | None = None
        elif content_type.startswith("application/json"):
            key = await _receive_key(request, collection.username, transfers)
            assert transfers is not None
            await run_in_threadpool(_download, transfers, key, package, settings.import_max_bytes)

            def cleanup() -> None:
                transfers.delete(key)
        else:
            raise UnsupportedUpload("Send the package as multipart field `file`, or JSON {key}.")
        now = time.time()
        limits = ImportLimits(max_bytes=settings.import_max_bytes)
        summary = await run_in_threadpool(
            collection.write, lambda conn: import_package(conn, package, now=now, limits=limits)
        )
        if cleanup is not None:
            await run_in_threadpool(cleanup)
        return ImportSummaryOut.of(summary)
    finally:
        package.unlink(missing_ok=True)


async def _receive_file(request: Request, target: Path) -> None:
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UnsupportedUpload("The multipart body needs the package in a field named `file`.")
        with target.open("wb") as out:
            while chunk := await upload.read(1 << 20):
                out.write(chunk)


async def _receive_key(request: Request, username: str, transfers: PackageTransfers | None) -> str:
    if transfers is None:
        raise NotAvailable("Uploads by key exist on AWS only; POST the file to /api/import.")
    try:
        body = ImportFromUpload.model_validate_json(await request.body())
    except ValidationError as error:
        raise UnsupportedUpload(
            f"The JSON body must be {{key}}: {error.errors()[0]['msg']}"
        ) from None
    if not PackageTransfers.owns(username, body.key):
        raise UploadNotFound("No upload of yours has that key; it may have expired.")
    return body.key


def _download(transfers: PackageTransfers, key: str, target: Path, max_bytes: int) -> None:
    try:
        transfers.download(key, target, max_bytes=max_bytes)
    except TooLarge:
        raise PackageTooLarge(f"The package is larger than {max_bytes >> 20} MiB.") from None
    except ObjectNotFound:
        raise UploadNotFound("No upload of yours has that key; it may have expired.") from None
