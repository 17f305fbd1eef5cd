"""Documented error answers for the OpenAPI schema."""

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from api.errors import ErrorOut, FieldErrorsOut

Responses = dict[int | str, dict[str, Any]]

# 422s list field problems; every other error is one message.
_SCHEMAS: dict[str, type[BaseModel]] = {"ErrorOut": ErrorOut, "FieldErrorsOut": FieldErrorsOut}


def _content(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def errors(**by_status: str) -> Responses:
    """``errors(_404="No such deck")``: each status with its description and error body.

    The body refers to one shared schema rather than naming the model: FastAPI builds a
    validator for every ``model`` of every route, which made up a third of the app's
    import time (a Lambda cold start) for an answer it never validates.
    """
    return {
        int(code): {
            "description": description,
            "content": _content("FieldErrorsOut" if code == "422" else "ErrorOut"),
        }
        for code, description in ((s.lstrip("_"), d) for s, d in by_status.items())
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
        for name, model in _SCHEMAS.items():
            if name not in schemas:
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(body.pop("$defs", {}))
                schemas[name] = body
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


SIGNED_IN = errors(_401="Missing, invalid, expired or revoked bearer token")
