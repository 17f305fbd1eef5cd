"""Every mapping from an exception to an HTTP answer lives here.

Answers are ``{"detail": ..., "code": <machine-readable>, "error": <one sentence>}``:
``detail`` is FastAPI's convention (a message, or for 422 the list of field problems),
``error`` is what the Javumbo web client shows a learner (for 422, the first field's
problem). No answer ever carries a traceback.

The API's own exceptions are defined here too; each package keeps its own in its
``errors.py`` (auth/errors.py, collection/errors.py, storage's) and they are mapped
below:

- ``NotAvailable`` (400): the operation does not exist on this backend (AWS only).
- ``UnsupportedUpload`` (415): an import request not shaped as a package upload.
- ``UploadNotFound`` (404): no upload of this learner has that key.
- ``UnsupportedMedia`` (415): an uploaded media file that is not a picture, sound or
  video, or whose bytes are not what its name says.
- ``SyncRefused``: a sync call refused with a status and a sentence.
- ``StarterDeckInvalid``: not an answer but a start-up failure; the configured
  starter deck cannot be used (api/starter.py), and the message names the setting.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from auth.errors import (
    AuthStoreUnavailable,
    InvalidCredentials,
    InvalidSyncKey,
    InvalidToken,
    SyncKeyNotFound,
    TooManyAttempts,
    UserExists,
    UserNotFound,
)
from collection.errors import (
    CardChanged,
    CardNotFound,
    CardNotStudyable,
    CollectionError,
    DeckNotFound,
    DefaultDeckProtected,
    DefaultPresetProtected,
    DuplicateDeck,
    FilteredDeck,
    InvalidDeckName,
    InvalidField,
    MalformedPackage,
    NoCardsWouldBeMade,
    NotAPackage,
    NoteNotFound,
    NoteTypeMissing,
    NoteTypeNotFound,
    PackageTooLarge,
    PresetNotFound,
)
from storage.errors import (
    CorruptDatabase,
    CorruptMediaIndex,
    MediaNameRefused,
    MediaNotFound,
    MediaTooLarge,
    TooManyMediaFiles,
    WriteConflict,
)
from storage.objects import ObjectNotFound, StoreUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "2"


class NotAvailable(Exception):
    """The operation does not exist on this backend (400)."""


class UnsupportedUpload(Exception):
    """The import request is not shaped as a package upload (415)."""


class UploadNotFound(Exception):
    """No upload of this learner has that key (404)."""


class UnsupportedMedia(Exception):
    """An uploaded media file that is not a picture, sound or video (415)."""


class SyncRefused(Exception):
    """A sync call refused: ``status`` and a sentence, answered as plain text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StarterDeckInvalid(ValueError):
    """The configured starter deck cannot be used; the message names the setting."""


class ErrorOut(BaseModel):
    """Every error answer: a message a person can act on, and a stable code."""

    detail: str
    code: str
    error: str


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class FieldErrorsOut(BaseModel):
    """A 422: every field problem in ``detail``, the first one as a sentence in ``error``."""

    detail: list[FieldProblem]
    code: str
    error: str


def error_body(code: str, detail: str) -> dict[str, str]:
    """The body of every error answer but 422's (see ``field_errors_response``)."""
    return {"detail": detail, "code": code, "error": detail}


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, detail), status_code=status, headers=headers)


def _field_sentence(problem: dict[str, Any]) -> str:
    """One field problem as a sentence: ``password: String should have at least 10 chars.``"""
    where = [str(part) for part in problem["loc"] if part not in ("body", "query", "path")]
    message = str(problem["msg"]).rstrip(".")
    return f"{'.'.join(where)}: {message}." if where else f"{message}."


def field_errors_response(code: str, problems: list[dict[str, Any]]) -> JSONResponse:
    """422: ``detail`` lists every field problem (where and what); ``error`` names the first."""
    error = _field_sentence(problems[0]) if problems else "The request is not valid."
    return JSONResponse({"detail": problems, "code": code, "error": error}, status_code=422)


async def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("storage unavailable: %s", exc)
    return error_response(
        503,
        "storage_unavailable",
        "Storage is temporarily unavailable; nothing was changed. Try again shortly.",
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return error_response(
        409,
        "write_conflict",
        "Your collection was being changed by another request; nothing was changed. Try again.",
    )


async def _corrupt(_: Request, exc: Exception) -> JSONResponse:
    log.error("corrupt collection: %s", exc)
    return error_response(
        500,
        "collection_corrupt",
        f"Your collection could not be opened: {exc}. It has not been modified; "
        "an operator can restore a previous version from the versioned bucket.",
    )


async def _media_corrupt(_: Request, exc: Exception) -> JSONResponse:
    log.error("corrupt media index: %s", exc)
    return error_response(
        500,
        "media_corrupt",
        "Your media files could not be read; nothing was changed. An operator can "
        "restore the media index from the versioned bucket.",
    )


async def _collection_missing(_: Request, exc: Exception) -> JSONResponse:
    return error_response(404, "collection_missing", "No collection exists for this account.")


async def _user_exists(_: Request, exc: Exception) -> JSONResponse:
    return error_response(409, "username_taken", "That username is taken; choose another.")


async def _invalid_credentials(_: Request, exc: Exception) -> JSONResponse:
    return error_response(401, "invalid_credentials", "Wrong username or password.")


async def _invalid_token(_: Request, exc: Exception) -> JSONResponse:
    return error_response(
        401,
        "invalid_token",
        "Sign in again: the bearer token is missing, invalid, expired or revoked.",
        {"WWW-Authenticate": "Bearer"},
    )


async def _too_many_attempts(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TooManyAttempts)
    return error_response(
        429,
        "too_many_attempts",
        f"Too many failed logins for this account; try again in {exc.retry_after} seconds.",
        {"Retry-After": str(exc.retry_after)},
    )


async def _auth_store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("user store unavailable: %s", exc)
    return error_response(
        503,
        "user_store_unavailable",
        "Accounts are temporarily unavailable; nothing was changed. Try again shortly.",
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


_HTTP_CODES = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the first route that matched the path; ask every route
        # which methods it would take here.
        headers["Allow"] = ", ".join(
            method
            for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
            if any(
                route.matches({**request.scope, "method": method})[0] == Match.FULL
                for route in request.app.router.routes
            )
        )
    return error_response(
        exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail), headers
    )


async def _validation_failed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only where and what: FastAPI's default also echoes the input, and the input may
    # be a password.
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]
    return field_errors_response("validation_error", errors)


_COLLECTION_STATUS: dict[type[CollectionError], int] = {
    DeckNotFound: 404,
    PresetNotFound: 404,
    DefaultPresetProtected: 400,
    CardNotFound: 404,
    NoteNotFound: 404,
    NoteTypeNotFound: 404,
    DuplicateDeck: 409,
    DefaultDeckProtected: 400,
    InvalidDeckName: 422,
    InvalidField: 422,
    FilteredDeck: 422,
    NoCardsWouldBeMade: 422,
    CardNotStudyable: 409,
    CardChanged: 409,
    NoteTypeMissing: 409,
    NotAPackage: 415,
    PackageTooLarge: 413,
    MalformedPackage: 422,
}


_FIELD_OF: dict[type[CollectionError], str] = {
    InvalidDeckName: "name",
    FilteredDeck: "deckId",
    NoCardsWouldBeMade: "fields",
    MalformedPackage: "file",
}


async def _collection_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CollectionError)
    status = next((s for cls, s in _COLLECTION_STATUS.items() if isinstance(exc, cls)), 500)
    if status == 500:
        log.error("collection error: %s", exc)
    if status == 422:
        # The same shape as request validation errors: where, and what is wrong.
        where = _FIELD_OF.get(type(exc)) or getattr(exc, "field", None)
        item = {"loc": ["body", where] if where else ["body"], "msg": str(exc), "type": exc.code}
        return field_errors_response(exc.code, [item])
    return error_response(status, exc.code, str(exc))


async def _media_name_refused(_: Request, exc: Exception) -> JSONResponse:
    item = {"loc": ["body", "name"], "msg": str(exc), "type": "media_name_refused"}
    return field_errors_response("media_name_refused", [item])


def _simple(status: int, code: str) -> Any:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return error_response(status, code, str(exc))

    return handler


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return error_response(500, "internal_error", "Something went wrong on our side.")


# Anki's sync protocol (/sync/*, /msync/*) answers errors as plain text, and its
# client reads a 403 as "log in again" (a 401 means nothing to it) and a 400 as
# "check the database".
SYNC_PREFIXES = ("/sync/", "/msync/")
_SYNC_STATUS = {401: 403, 422: 400}


def is_sync_path(path: str) -> bool:
    return path.startswith(SYNC_PREFIXES)


def sync_error_response(status: int, message: str) -> PlainTextResponse:
    return PlainTextResponse(message, status_code=status)


async def _sync_refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SyncRefused)
    return sync_error_response(exc.status, exc.message)


def _plain_for_sync(handler: Any) -> Any:
    """``handler``, answering a sync call's error as plain text: the JSON answer's
    sentence, with the status the sync client understands."""

    async def wrapped(request: Request, exc: Exception) -> Response:
        response: Response = await handler(request, exc)
        if not is_sync_path(request.url.path) or not isinstance(response, JSONResponse):
            return response
        try:
            sentence = str(json.loads(bytes(response.body))["error"])
        except (ValueError, KeyError, TypeError):
            sentence = "The request failed."
        plain = sync_error_response(
            _SYNC_STATUS.get(response.status_code, response.status_code), sentence
        )
        if "retry-after" in response.headers:
            plain.headers["Retry-After"] = response.headers["retry-after"]
        return plain

    return wrapped


def install_error_handlers(app: FastAPI) -> None:
    _install_error_handlers(app)
    app.add_exception_handler(SyncRefused, _sync_refused)
    app.add_exception_handler(InvalidSyncKey, _sync_key_refused)
    app.add_exception_handler(SyncKeyNotFound, _simple(404, "sync_key_not_found"))
    handlers = app.exception_handlers
    for key, handler in list(handlers.items()):
        if handler is not _sync_refused:
            handlers[key] = _plain_for_sync(handler)


async def _sync_key_refused(_: Request, exc: Exception) -> Response:
    return sync_error_response(403, "Your sync login is no longer valid; log in again.")


def _install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(UserExists, _user_exists)
    app.add_exception_handler(InvalidCredentials, _invalid_credentials)
    app.add_exception_handler(InvalidToken, _invalid_token)
    # The account vanished mid-request (deleted elsewhere): its token speaks for no one.
    app.add_exception_handler(UserNotFound, _invalid_token)
    app.add_exception_handler(TooManyAttempts, _too_many_attempts)
    app.add_exception_handler(AuthStoreUnavailable, _auth_store_unavailable)
    app.add_exception_handler(CollectionError, _collection_error)
    app.add_exception_handler(NotAvailable, _simple(400, "not_available"))
    app.add_exception_handler(UnsupportedUpload, _simple(415, "unsupported_upload"))
    app.add_exception_handler(UploadNotFound, _simple(404, "upload_not_found"))
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(WriteConflict, _conflict)
    app.add_exception_handler(CorruptDatabase, _corrupt)
    app.add_exception_handler(ObjectNotFound, _collection_missing)
    app.add_exception_handler(MediaNotFound, _simple(404, "media_not_found"))
    app.add_exception_handler(MediaNameRefused, _media_name_refused)
    app.add_exception_handler(MediaTooLarge, _simple(413, "media_too_large"))
    app.add_exception_handler(TooManyMediaFiles, _simple(409, "too_many_media_files"))
    app.add_exception_handler(UnsupportedMedia, _simple(415, "unsupported_media"))
    app.add_exception_handler(CorruptMediaIndex, _media_corrupt)
    app.add_exception_handler(Exception, _unexpected)
