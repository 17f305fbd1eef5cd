"""Moving collections in and out of Anki: `.apkg` export and `.apkg`/`.colpkg` import."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from api.deps import CollectionDep, CurrentUser, MediaDep, SettingsDep, get_services
from api.errors import NotAvailable, UnsupportedUpload
from api.media import LearnerMedia
from api.packages import (
    export_package_file,
    import_package_file,
    import_upload,
    publish_if_large,
    scratch_file,
)
from api.routes._responses import SIGNED_IN, Responses, errors
from api.schemas.base import AnkiId
from api.schemas.packages import ImportFromUpload, ImportSummaryOut, UploadUrlOut
from api.services import Services
from storage.transfers import PackageTransfers

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


def _export(
    collection: CollectionDep,
    settings: SettingsDep,
    transfers: PackageTransfers | None,
    media: LearnerMedia,
    deck_id: int | None,
) -> Response:
    exported = export_package_file(collection, deck_id, now=time.time(), media=media)
    url = publish_if_large(
        exported, collection.username, transfers, redirect_bytes=settings.export_redirect_bytes
    )
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    return FileResponse(
        exported.path,
        media_type="application/octet-stream",
        filename=exported.filename,
        background=BackgroundTask(exported.path.unlink, missing_ok=True),
    )


@router.get("/api/export", response_class=Response, responses=_PACKAGE)
def export_collection(
    collection: CollectionDep, settings: SettingsDep, transfers: TransfersDep, media: MediaDep
) -> Response:
    """The whole collection as an `.apkg` that Anki imports, scheduling, history and
    the media files its notes use included."""
    return _export(collection, settings, transfers, media, None)


@router.get(
    "/api/decks/{deck_id:int}/export",
    response_class=Response,
    responses={**_PACKAGE, **errors(_404="No such deck in your collection")},
)
def export_deck(
    deck_id: AnkiId,
    collection: CollectionDep,
    settings: SettingsDep,
    transfers: TransfersDep,
    media: MediaDep,
) -> Response:
    """A deck and its subdecks as an `.apkg`, with the media files their notes use."""
    return _export(collection, settings, transfers, media, deck_id)


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
    media: MediaDep,
) -> ImportSummaryOut:
    """Add an `.apkg` or `.colpkg` from Anki: a multipart `file`, or `{key}` of an upload.

    Notes already here (same guid) are updated when the package's are newer, otherwise
    skipped; nothing is duplicated. Media files are stored with yours (a different file
    under a name you already use gets a new name, and the imported notes follow it).
    """
    content_type = request.headers.get("content-type", "")
    now = time.time()
    if content_type.startswith("multipart/form-data"):
        with scratch_file(".apkg") as package:
            await _receive_file(request, package)
            summary = await run_in_threadpool(
                import_package_file,
                collection,
                package,
                max_bytes=settings.import_max_bytes,
                now=now,
                media=media,
            )
    elif content_type.startswith("application/json"):
        if transfers is None:
            raise NotAvailable("Uploads by key exist on AWS only; POST the file to /api/import.")
        key = await _receive_key(request)
        summary = await run_in_threadpool(
            import_upload,
            collection,
            transfers,
            key,
            max_bytes=settings.import_max_bytes,
            now=now,
            media=media,
        )
    else:
        raise UnsupportedUpload("Send the package as multipart field `file`, or JSON {key}.")
    return ImportSummaryOut.of(summary)


async def _receive_file(request: Request, target: Path) -> None:
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UnsupportedUpload("The multipart body needs the package in a field named `file`.")
        with target.open("wb") as out:
            while chunk := await upload.read(1 << 20):
                out.write(chunk)


async def _receive_key(request: Request) -> str:
    try:
        body = ImportFromUpload.model_validate_json(await request.body())
    except ValidationError as error:
        raise UnsupportedUpload(
            f"The JSON body must be {{key}}: {error.errors()[0]['msg']}"
        ) from None
    return body.key
