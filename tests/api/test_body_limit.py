"""Bodies over the limit are refused with 413 before anything parses them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.errors import install_error_handlers
from api.middleware import BodySizeLimit

LIMIT = 1024


class Payload(BaseModel):
    text: str


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=LIMIT, overrides={"/big": 4 * LIMIT})
    seen: list[int] = []
    app.state.seen = seen

    @app.post("/echo")
    def echo(payload: Payload) -> dict[str, int]:
        seen.append(len(payload.text))
        return {"length": len(payload.text)}

    @app.post("/big")
    def big(payload: Payload) -> dict[str, int]:
        return {"length": len(payload.text)}

    return TestClient(app, raise_server_exceptions=False)


def test_small_body_passes(client: TestClient) -> None:
    assert client.post("/echo", json={"text": "x" * 100}).json() == {"length": 100}


def test_declared_length_over_the_limit_is_413_and_never_reaches_the_route(
    client: TestClient,
) -> None:
    response = client.post("/echo", json={"text": "x" * (2 * LIMIT)})
    assert response.status_code == 413
    assert "MiB" in response.json()["detail"]
    assert client.app.state.seen == []  # type: ignore[attr-defined]


def test_streamed_body_without_length_is_cut_off(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'"}'

    response = client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert client.app.state.seen == []  # type: ignore[attr-defined]


def test_a_route_can_have_a_larger_limit(client: TestClient) -> None:
    assert client.post("/big", json={"text": "x" * (2 * LIMIT)}).status_code == 200
    assert client.post("/big", json={"text": "x" * (5 * LIMIT)}).status_code == 413


def test_app_refuses_bodies_over_ten_mib() -> None:
    from api.main import create_app

    client = TestClient(create_app(), raise_server_exceptions=False)
    body = b"x" * (10 * 1024 * 1024 + 1)
    response = client.post(
        "/api/register", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
