"""Media files: the pictures and sounds the learner's cards show and play."""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from fastapi.responses import RedirectResponse
from starlette.convertors import StringConvertor, register_url_convertor

from api.deps import CollectionDep, MediaDep, MediaReaderDep, SettingsDep
from api.errors import UnsupportedMedia
from api.routes._responses import SIGNED_IN, errors
from api.schemas.media import MediaCheckIn, MediaCheckOut, MediaFileOut
from collection.media import collection_media_references
from storage.errors import MediaNotFound, MediaTooLarge
from storage.media import content_type, normalize_media_name

router = APIRouter(prefix="/api/media", tags=["media"], responses=SIGNED_IN)


class MediaName(StringConvertor):
    """A file name in a path: one segment, never `check` (that is POST /api/media/check,
    so /api/media/check is one resource; a file named exactly `check`, without an
    extension, is listed and checked but not fetched by name)."""

    regex = r"(?!check/?$)[^/]+"


register_url_convertor("medianame", MediaName())

# What a rendered card may load from us; a file opened on its own runs nothing.
_MEDIA_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=3600",
}
_UPLOADABLE: Final = ("image/", "audio/", "video/")
# The first bytes of the picture formats a browser shows, by content type.
_SIGNATURES: Final[dict[str, tuple[bytes, ...]]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "image/bmp": (b"BM",),
}


@router.get("", responses=errors())
def list_media(media: MediaDep) -> list[MediaFileOut]:
    """Every media file of yours, by name."""
    return [MediaFileOut.of(f) for f in media.files()]


@router.get(
    "/{name:medianame}",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes, with its content type."},
        307: {"description": "(aws) Large files: a short-lived presigned S3 URL."},
        **errors(_404="No media file of yours has that name"),
    },
)
def get_media(name: str, media: MediaReaderDep, settings: SettingsDep) -> Response:
    """One of your files. Authorised by the bearer token, or by the media token (`t`)
    in the links of rendered cards, which a browser follows without the header."""
    stored, body, url = media.fetch(name, url_above=settings.media_redirect_bytes)
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    assert body is not None
    disposition = f"inline; filename*=UTF-8''{quote(stored.name)}"
    return Response(
        body,
        media_type=content_type(stored.name),
        headers={**_MEDIA_HEADERS, "Content-Disposition": disposition, "ETag": f'"{stored.sha1}"'},
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=errors(
        _409="You have as many media files as allowed",
        _413="The file is larger than allowed",
        _415="Not a picture, sound or video, or not what its name says",
        _422="The file name cannot be used",
    ),
)
async def upload_media(
    file: Annotated[UploadFile, File(description="A picture, sound or video.")],
    media: MediaDep,
    settings: SettingsDep,
    name: Annotated[str | None, Form(description="Default: the file's own name.")] = None,
) -> MediaFileOut:
    """Store a file under its name (normalised as Anki does, returned); the same name
    with other bytes replaces the file, as in Anki."""
    wanted = normalize_media_name(name if name is not None else (file.filename or ""))
    data = await file.read(settings.media_max_file_bytes + 1)
    if len(data) > settings.media_max_file_bytes:
        raise MediaTooLarge(
            f"The file is larger than {settings.media_max_file_bytes} bytes; nothing was stored."
        )
    _check_type(wanted, data)
    return MediaFileOut.of(media.add(wanted, data))


def _check_type(name: str, data: bytes) -> None:
    kind = content_type(name)
    if not kind.startswith(_UPLOADABLE):
        raise UnsupportedMedia(
            f"{name!r} is not a picture, sound or video (by its extension); nothing was stored."
        )
    signatures = _SIGNATURES.get(kind)
    if signatures is not None and not data.startswith(signatures):
        raise UnsupportedMedia(f"The bytes of {name!r} are not a {kind} file; nothing was stored.")
    if kind == "image/svg+xml" and not data.lstrip().startswith(b"<"):
        raise UnsupportedMedia(f"The bytes of {name!r} are not an SVG file; nothing was stored.")


@router.delete(
    "/{name:medianame}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(_404="No media file of yours has that name"),
)
def delete_media(name: str, media: MediaDep) -> Response:
    """Delete one file (cards that show it then show it missing, as in Anki)."""
    if not media.delete([name]):
        raise MediaNotFound(f"You have no media file named {name!r}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/check")
def check_media(
    collection: CollectionDep, media: MediaDep, body: MediaCheckIn | None = None
) -> MediaCheckOut:
    """Anki's "Check Media": files no note uses, and names notes use that you do not
    have; with `deleteUnused`, the unused files are deleted."""
    used = collection.read(collection_media_references)
    report = media.check(used, delete_unused=body.delete_unused if body else False)
    return MediaCheckOut(unused=report.unused, missing=report.missing, deleted=report.deleted)
