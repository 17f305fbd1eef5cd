"""Documented error answers for the OpenAPI schema."""

from typing import Any

from fastapi import FastAPI

from api.errors import ErrorOut

Responses = dict[int | str, dict[str, Any]]

_ERROR_SCHEMA = ErrorOut.__name__
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": f"#/components/schemas/{_ERROR_SCHEMA}"}}}


def errors(**by_status: str) -> Responses:
    """``errors(_404="No such deck")``: each status with its description and error body.

    The body refers to one shared schema rather than naming the model: FastAPI builds a
    validator for every ``model`` of every route, which made up a third of the app's
    import time (a Lambda cold start) for an answer it never validates.
    """
    return {
        int(status.lstrip("_")): {"description": description, "content": _ERROR_CONTENT}
        for status, description in by_status.items()
    }


def document_error_schema(app: FastAPI) -> None:
    """Add the schema that ``errors()`` refers to to the app's OpenAPI document.

    FastAPI caches the document but rebuilds it when routes change, so the schema is
    added to whatever it returns, every time (a dictionary lookup once it is there).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        if _ERROR_SCHEMA not in schemas:
            schemas[_ERROR_SCHEMA] = ErrorOut.model_json_schema()
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


SIGNED_IN = errors(_401="Missing, invalid, expired or revoked bearer token")
