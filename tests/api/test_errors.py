"""Storage failures map onto the HTTP answers in the README's "The API at a glance"
(api/errors.py), without tracebacks."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from collection.errors import CollectionError
from storage.errors import CorruptDatabase, WriteConflict
from storage.objects import StoreUnavailable
from tests.collection.test_errors import EXAMPLES


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (StoreUnavailable("S3 PUT failed: Traceback secret-internal"), 503, "storage_unavailable"),
        (WriteConflict("k"), 409, "write_conflict"),
        (CorruptDatabase("the database fails SQLite's quick_check"), 500, "collection_corrupt"),
        (RuntimeError("Traceback (most recent call last): boom"), 500, "internal_error"),
    ],
)
def test_errors_become_json_answers(error: Exception, status: int, code: str) -> None:
    app = create_app()

    @app.get("/boom")
    def boom() -> None:
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    assert body["error"] == body["detail"]  # the sentence the web client shows
    assert "Traceback" not in response.text
    assert "secret-internal" not in response.text
    if status == 503:
        assert int(response.headers["Retry-After"]) > 0
    if code == "collection_corrupt":
        assert "quick_check" in body["detail"]
        assert "restore" in body["detail"]


def test_documented_errors_refer_to_the_error_body_schema() -> None:
    spec = TestClient(create_app()).get("/openapi.json").json()
    error_schema = spec["components"]["schemas"]["ErrorOut"]
    assert set(error_schema["required"]) == {"detail", "code", "error"}

    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(spec)
    # Every reference resolves: none points at a schema the document lacks.
    for ref in refs:
        assert ref.removeprefix("#/components/schemas/") in spec["components"]["schemas"], ref
    unauthorised = spec["paths"]["/api/decks"]["get"]["responses"]["401"]
    assert unauthorised["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    server_error = spec["paths"]["/api/review"]["post"]["responses"]["503"]
    assert server_error["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_the_error_schema_survives_a_rebuilt_document() -> None:
    app = create_app()
    assert "ErrorOut" in app.openapi()["components"]["schemas"]
    assert "ErrorOut" in app.openapi()["components"]["schemas"]

    @app.get("/later")  # FastAPI rebuilds its cached document when routes change
    def later() -> None: ...

    rebuilt = app.openapi()
    assert "/later" in rebuilt["paths"]
    assert "ErrorOut" in rebuilt["components"]["schemas"]


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_each_collection_error_answers_the_status_its_docstring_names(
    error: CollectionError,
) -> None:
    named = re.search(r"\b(\d{3})\)", type(error).__doc__ or "")
    assert named, f"{type(error).__name__}'s docstring names no status"
    app = create_app()

    @app.get("/boom")
    def boom() -> None:
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == int(named.group(1))
    assert response.json()["code"] == error.code
