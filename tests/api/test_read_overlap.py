"""A GET's collection revalidation runs while its token is checked; a write starts none.

The store's ``get`` and the user repository's ``get`` meet at a barrier: a request
gets through only if the revalidation is in flight while the token is checked, for
one after the other the first would wait alone until the barrier broke.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import api.deps
from api.observability import log as request_log
from api.user_collection import UserCollection, collection_key, start_revalidation
from auth.local import LocalUserStore
from auth.tokens import TokenService
from auth.users import User
from collection import decks
from storage.cache import DiskCache
from storage.errors import CorruptDatabase, ObjectNotFound, StoreUnavailable
from storage.local import LocalObjectStore
from storage.objects import NotModified, StoredObject
from storage.session import S3SQLiteSession
from tests.support.api_rig import Rig, build_rig


class Meeting:
    """Parties that must be in flight together: each armed one waits for the other, once."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=5)
        self.expected: set[str] = set()
        self._lock = threading.Lock()

    def arm(self) -> None:
        self.expected = {"store", "users"}

    def attend(self, party: str) -> None:
        with self._lock:
            if party not in self.expected:
                return
            self.expected.discard(party)
        self.barrier.wait()

    @property
    def held(self) -> bool:
        """Both parties came, and neither waited in vain."""
        return not self.expected and not self.barrier.broken


def in_background() -> bool:
    """Whether this thread is one of the revalidations started ahead of a read."""
    return threading.current_thread().name.startswith("collection-prefetch")


class GatedStore(LocalObjectStore):
    """Records each request; ``get`` attends the meeting, then fails if told to."""

    def __init__(self, root: Path, meeting: Meeting) -> None:
        super().__init__(root)
        self.meeting = meeting
        self.calls: list[str] = []
        # Whether each request came from a revalidation started ahead of a read.
        self.ahead: list[bool] = []
        self.failures: list[Exception] = []

    def clear(self) -> None:
        self.calls.clear()
        self.ahead.clear()

    # Options pass through as given: the store's signature is not this test's business.
    def get(self, key: str, **options: Any) -> StoredObject | NotModified:
        self.calls.append("get")
        self.ahead.append(in_background())
        self.meeting.attend("store")
        if self.failures:
            raise self.failures.pop(0)
        return super().get(key, **options)

    def put(self, key: str, body: bytes, **options: Any) -> str:
        self.calls.append("put")
        self.ahead.append(in_background())
        return super().put(key, body, **options)


class GatedUsers(LocalUserStore):
    """The local user store, whose ``get`` (the token-version read) attends the meeting."""

    def __init__(self, path: Path, meeting: Meeting) -> None:
        super().__init__(path)
        self.meeting = meeting

    def get(self, username: str) -> User | None:
        self.meeting.attend("users")
        return super().get(username)


@dataclass
class App:
    rig: Rig
    store: GatedStore
    meeting: Meeting
    # Every revalidation the app started, by key.
    prefetched: list[str]
    # The request log's lines, parsed.
    lines: list[dict[str, object]]

    def warm(self, headers: dict[str, str]) -> None:
        """A first read, after which the cache holds the current collection."""
        assert self.rig.client.get("/api/decks", headers=headers).status_code == 200
        self.store.clear()
        self.prefetched.clear()
        self.lines.clear()


class Lines(logging.Handler):
    def __init__(self, records: list[dict[str, object]]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(record.getMessage()))


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    meeting = Meeting()
    store = GatedStore(tmp_path / "objects", meeting)
    users = GatedUsers(tmp_path / "users.sqlite3", meeting)
    prefetched: list[str] = []

    def recording(session: S3SQLiteSession, key: str) -> Future[float]:
        prefetched.append(key)
        return start_revalidation(session, key)

    monkeypatch.setattr(api.deps, "start_revalidation", recording)
    lines: list[dict[str, object]] = []
    handler = Lines(lines)
    request_log.addHandler(handler)
    try:
        for rig in build_rig(tmp_path, users, users, store):
            yield App(rig, store, meeting, prefetched, lines)
    finally:
        request_log.removeHandler(handler)


@pytest.fixture
def alice(app: App) -> dict[str, str]:
    headers = app.rig.signed_up("alice")
    app.warm(headers)
    return headers


@pytest.mark.parametrize("path", ["/api/decks", "/api/decks/current", "/api/review"])
def test_a_warm_get_costs_one_store_request_overlapping_the_token_checks(
    app: App, alice: dict[str, str], path: str
) -> None:
    app.meeting.arm()
    response = app.rig.client.get(path, headers=alice)
    assert response.status_code == 200, response.text
    assert app.meeting.held
    assert app.prefetched == [collection_key("alice")]
    # The revalidation's request, which the read then relies on.
    assert (app.store.calls, app.store.ahead) == (["get"], [True])
    [line] = app.lines
    assert (line["storageRequests"], line["cache"]) == (1, "revalidated")


def test_the_read_answers_from_what_the_revalidation_fetched(
    app: App, alice: dict[str, str], tmp_path: Path
) -> None:
    bob = app.rig.signed_up("bob")
    # Another instance of the service adds a deck: this one's cached copy is now stale.
    elsewhere = S3SQLiteSession(app.store, DiskCache(tmp_path / "elsewhere", 64 * 1024 * 1024))
    UserCollection(elsewhere, "alice").write(
        lambda conn: decks.create_deck(conn, "Spanish", now=time.time())
    )
    app.store.clear()
    app.lines.clear()
    app.meeting.arm()
    listed = app.rig.client.get("/api/decks", headers=alice).json()["decks"]
    assert {d["name"] for d in listed} == {"Default", "Spanish"}
    assert app.meeting.held
    # The revalidation fetched the change; the read after it asked for nothing.
    assert app.store.calls and all(app.store.ahead)
    # Each learner's revalidation is of their own collection.
    app.prefetched.clear()
    assert app.rig.client.get("/api/decks", headers=bob).status_code == 200
    assert app.prefetched == [collection_key("bob")]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/decks", {"name": "Spanish"}),
        ("PUT", "/api/decks/1/rename", {"name": "Main"}),
        ("POST", "/api/cards", {"front": "hola", "back": "hello"}),
    ],
)
def test_a_write_starts_no_revalidation_and_costs_its_put_alone(
    app: App, alice: dict[str, str], method: str, path: str, body: dict[str, object]
) -> None:
    response = app.rig.client.request(method, path, json=body, headers=alice)
    assert response.status_code < 300, response.text
    assert app.prefetched == []
    assert (app.store.calls, app.store.ahead) == (["put"], [False])
    [line] = app.lines
    assert line["storageRequests"] == 1


def test_a_revoked_token_is_the_usual_401_though_the_revalidation_ran(
    app: App, alice: dict[str, str]
) -> None:
    unsigned = app.rig.client.get("/api/decks")
    assert app.rig.client.post("/api/logout", headers=alice).status_code == 204
    app.meeting.arm()
    response = app.rig.client.get("/api/decks", headers=alice)
    assert response.status_code == 401
    assert response.json() == unsigned.json()
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "Default" not in response.text
    assert app.meeting.held  # the revalidation did overlap; its outcome went nowhere


def test_a_token_with_a_bad_signature_starts_nothing(app: App, alice: dict[str, str]) -> None:
    forged = TokenService("another-secret-that-is-long-enough-0123456789").issue("alice", 0)
    response = app.rig.client.get("/api/decks", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert "Default" not in response.text
    assert app.prefetched == []
    assert app.store.calls == []


@pytest.mark.parametrize(
    "error", [StoreUnavailable("S3 GetObject failed"), CorruptDatabase("not a database")]
)
def test_a_failed_revalidation_does_not_change_the_answer(
    app: App, alice: dict[str, str], error: Exception
) -> None:
    app.store.failures = [error]
    app.meeting.arm()
    response = app.rig.client.get("/api/decks", headers=alice)
    assert response.status_code == 200, response.text
    assert [d["name"] for d in response.json()["decks"]] == ["Default"]
    assert app.meeting.held
    # The failure was the revalidation's, and a request after it made the copy current.
    assert app.store.ahead[0] and len(app.store.calls) > 1


def test_a_revalidation_that_finds_no_collection_leaves_the_read_to_create_it(
    app: App, alice: dict[str, str]
) -> None:
    # As when its creation at registration failed: no object, nothing cached.
    app.rig.services.session.delete(collection_key("alice"))
    app.store.clear()
    app.meeting.arm()
    response = app.rig.client.get("/api/decks", headers=alice)
    assert response.status_code == 200, response.text
    assert [d["name"] for d in response.json()["decks"]] == ["Default"]
    assert app.meeting.held
    assert app.store.ahead[0]  # the revalidation found nothing ...
    assert app.store.calls.count("put") == 1  # ... and the read created the collection


@pytest.fixture
def learner(tmp_path: Path) -> UserCollection:
    session = S3SQLiteSession(
        LocalObjectStore(tmp_path / "objects"), DiskCache(tmp_path / "cache", 64 * 1024 * 1024)
    )
    collection = UserCollection(session, "alice")
    collection.ensure_exists()
    return collection


def count_decks(conn: sqlite3.Connection) -> int:
    return len(decks.list_decks(conn))


@pytest.mark.timeout(10)  # waiting for it would be waiting forever
def test_a_revalidation_no_thread_took_up_is_cancelled_not_waited_for(
    learner: UserCollection,
) -> None:
    pending: Future[float] = Future()  # queued behind busy threads: never started
    collection = UserCollection(
        learner.session, "alice", current_since=time.time(), prefetch=pending
    )
    assert collection.read(count_decks) == 1
    assert pending.cancelled()


@pytest.mark.parametrize(
    "error", [StoreUnavailable("S3 GetObject failed"), ObjectNotFound("user_dbs/alice.anki2")]
)
def test_the_error_of_a_revalidation_is_not_raised_by_the_read(
    learner: UserCollection, error: Exception
) -> None:
    failed: Future[float] = Future()
    failed.set_running_or_notify_cancel()
    failed.set_exception(error)
    collection = UserCollection(
        learner.session, "alice", current_since=time.time(), prefetch=failed
    )
    assert collection.read(count_decks) == 1
    assert collection.write(count_decks) == 1
