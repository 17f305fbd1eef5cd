"""One JSON line per request, with what the request cost; never a secret or a card."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from api.observability import log as request_log
from tests.support.api_rig import PASSWORD, USER_STORES, Rig


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, object]] = []
        self.raw: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.raw.append(record.getMessage())
        self.records.append(json.loads(record.getMessage()))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    request_log.addHandler(handler)
    yield handler
    request_log.removeHandler(handler)


def test_each_request_logs_one_line_with_its_costs(rig: Rig, lines: Lines) -> None:
    headers = rig.signed_up("alice")
    lines.records.clear()
    created = rig.client.post(
        "/api/cards", json={"front": "secret front", "back": "secret back"}, headers=headers
    )
    card_id = created.json()["cardId"]
    rig.client.get(f"/api/cards/{card_id}", headers=headers)

    write, read = lines.records
    assert write["route"] == "/api/cards"
    assert (write["method"], write["status"], write["user"]) == ("POST", 201, "alice")
    assert write["storageRequests"] == 1  # the log entry's conditional PUT, nothing else
    assert write["cache"] == "hit"
    # Only the changed pages travel: the entry, a fraction of the collection.
    assert write["storageBytesOut"] == write["logBytes"] > 0
    assert write["logBytes"] * 4 < write["collectionBytes"]
    assert write["compactedBytes"] == 0
    assert read["route"] == "/api/cards/{card_id}"
    assert read["storageRequests"] == 1  # "is there an entry after mine?": no
    assert read["cache"] == "revalidated"
    assert read["storageBytesIn"] == 0
    assert isinstance(read["latencyMs"], float)
    assert created.headers["x-request-id"] == write["requestId"]


def test_request_id_from_the_client_is_kept(rig: Rig, lines: Lines) -> None:
    response = rig.client.get("/health", headers={"X-Request-Id": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    assert lines.records[-1]["requestId"] == "trace-123"
    rig.client.get("/health", headers={"X-Request-Id": "bad id with spaces\nand lines"})
    assert lines.records[-1]["requestId"] != "bad id with spaces\nand lines"


@pytest.mark.parametrize("rig", USER_STORES, indirect=True)
def test_no_secrets_or_contents_in_the_lines(rig: Rig, lines: Lines) -> None:
    headers = rig.signed_up("alice")
    token = headers["Authorization"].removeprefix("Bearer ")
    rig.client.post("/api/cards", json={"front": "hush hush", "back": "quiet"}, headers=headers)
    rig.client.post("/api/login", json={"username": "alice", "password": "wrong but secret"})
    everything = "\n".join(lines.raw)
    for secret in (PASSWORD, "wrong but secret", token, "hush hush", "quiet"):
        assert secret not in everything


def test_failures_are_logged_with_their_status(rig: Rig, lines: Lines) -> None:
    rig.client.get("/api/me")
    rig.client.get("/no/such/path")
    assert [(r["status"], r["route"]) for r in lines.records[-2:]] == [
        (401, "/api/me"),
        (404, "unmatched"),
    ]


def test_on_lambda_the_line_carries_embedded_metrics(
    rig: Rig, lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.main import create_app

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "javumbo")
    from fastapi.testclient import TestClient

    client = TestClient(create_app(rig.client.app.state.settings, rig.services))  # type: ignore[attr-defined]
    client.get("/health")
    record = lines.records[-1]
    directive = record["_aws"]["CloudWatchMetrics"][0]  # type: ignore[index]
    assert directive["Namespace"] == "Javumbo"
    names = {m["Name"] for m in directive["Metrics"]}
    assert {"Latency", "Errors5xx", "ConflictsRetried", "S3Requests"} <= names
    for name in names:
        assert name in record  # every declared metric has its value on the line
    assert record["Route"] == "/health"


def test_next_card_is_one_conditional_get(rig: Rig, lines: Lines) -> None:
    headers = rig.signed_up("alice")
    rig.client.post("/api/cards", json={"front": "q", "back": "a"}, headers=headers)
    rig.client.get("/api/review", headers=headers)
    lines.records.clear()
    assert rig.client.get("/api/review", headers=headers).json()["card"] is not None
    [line] = lines.records
    assert (line["route"], line["storageRequests"], line["cache"]) == (
        "/api/review",
        1,
        "revalidated",
    )
