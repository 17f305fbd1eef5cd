"""Every mapping from an exception to an HTTP answer lives here.

Answers are ``{"detail": <message a person can act on>, "code": <machine-readable>}``;
no answer ever carries a traceback.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from storage.objects import ObjectNotFound, StoreUnavailable
from storage.session import CollectionConflict, CorruptCollection

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "2"


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


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


async def _collection_missing(_: Request, exc: Exception) -> JSONResponse:
    return error_response(404, "collection_missing", "No collection exists for this account.")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return error_response(500, "internal_error", "Something went wrong on our side.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(CollectionConflict, _conflict)
    app.add_exception_handler(CorruptCollection, _corrupt)
    app.add_exception_handler(ObjectNotFound, _collection_missing)
    app.add_exception_handler(Exception, _unexpected)
