"""Fixtures for storage tests: every object store, and a session over HTTP to moto."""

from __future__ import annotations

import errno
import itertools
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import boto3
import pytest
from moto import mock_aws

from storage.cache import DiskCache, LogState
from storage.errors import ObjectNotFound, PreconditionFailed
from storage.images import FileImage, checksum_of
from storage.keys import PREFIX_LOGS
from storage.local import LocalObjectStore
from storage.objects import ListedObject, NotModified, ObjectInfo, ObjectStore, StoredObject
from storage.pagelog import log_prefix
from storage.s3 import S3ObjectStore
from storage.session import META_LOG_ID, LogPolicy, RetryPolicy, S3SQLiteSession
from tests.conftest import s3_client_for
from tests.support.moto_server import MotoServer
from tests.support.s3_log import S3RequestLog

KEY = "user_dbs/alice.anki2"


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """Each object store the service has, for tests every backend must pass (the contract)."""
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="contract")
        yield S3ObjectStore(client, "contract")


def counter_db_bytes(value: int = 0, *, padding_kib: int = 0) -> bytes:
    """A small SQLite database holding one counter and a log of applied changes,
    padded with about `padding_kib` KiB of filler where sizes should be realistic."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db.sqlite"
        conn = sqlite3.connect(path)
        conn.executescript(
            "CREATE TABLE counter (value INTEGER NOT NULL);"
            "CREATE TABLE applied (label TEXT NOT NULL);"
        )
        conn.execute("INSERT INTO counter VALUES (?)", (value,))
        if padding_kib:
            conn.execute("CREATE TABLE padding (blob BLOB)")
            conn.executemany("INSERT INTO padding VALUES (?)", [(b"x" * 1000,)] * padding_kib)
        conn.commit()
        conn.close()
        return path.read_bytes()


def increment(label: str) -> Callable[[sqlite3.Connection], int]:
    def operation(conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE counter SET value = value + 1")
        conn.execute("INSERT INTO applied VALUES (?)", (label,))
        return int(conn.execute("SELECT value FROM counter").fetchone()[0])

    return operation


def read_counter(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM counter").fetchone()[0])


def read_applied(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT label FROM applied ORDER BY rowid")]


@dataclass
class SessionRig:
    session: S3SQLiteSession
    log: S3RequestLog
    store: S3ObjectStore


@pytest.fixture
def make_rig(moto_server: MotoServer, bucket: str, tmp_path: Path) -> Callable[..., SessionRig]:
    """Build sessions (each with its own cache) on one bucket, optionally via a proxy."""
    count = 0

    def make(endpoint: str | None = None, attempts: int = 8, http_attempts: int = 1) -> SessionRig:
        nonlocal count
        count += 1
        client = s3_client_for(endpoint or moto_server.url, http_attempts)
        log = S3RequestLog().attach(client)
        store = S3ObjectStore(client, bucket)
        cache = DiskCache(tmp_path / f"cache-{count}", max_bytes=64 * 1024 * 1024)
        session = S3SQLiteSession(store, cache, retry=RetryPolicy(attempts=attempts))
        return SessionRig(session=session, log=log, store=store)

    return make


# -- page-log sessions: a fake clock, a recording store, and the two engines ------------
#
# The session's tests run each case on every object store (the ``store`` fixture) and,
# where it matters, on both engines: the cached file, and the in-memory image used when
# the collection is bigger than the cache budget or the disk refuses to hold it.

# Short enough to cross in a test with the fake clock; trust is below grace, as it must be.
GRACE_SECONDS = 1000.0
TRUST_SECONDS = 400.0
ENGINES = ("cached", "too-big", "disk-failed")


class FakeClock:
    """The sessions' clock: it moves only when a test moves it."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Request:
    """One request a session made: what, to which object, and how it was answered."""

    method: str  # GET, PUT, HEAD, DELETE, LIST
    key: str
    outcome: str  # "200", "304", "404", "412" or the exception's name
    sent: int = 0  # body bytes uploaded
    received: int = 0  # body bytes downloaded
    if_match: str | None = None
    if_none_match: str | None = None

    @property
    def target(self) -> str:
        """``snapshot``, ``entry N`` or ``log`` (a listing), for readable assertions."""
        if self.method == "LIST":
            return "log"
        if self.key.startswith(PREFIX_LOGS):
            return f"entry {int(self.key.rsplit('/', 1)[-1])}"
        return "snapshot"


class RecordingStore:
    """An ObjectStore that records every request it passes on to ``inner``."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.requests: list[Request] = []
        self._mutex = threading.Lock()

    def _record(self, request: Request) -> None:
        with self._mutex:
            self.requests.append(request)

    def clear(self) -> None:
        with self._mutex:
            self.requests.clear()

    def summary(self) -> list[tuple[str, str, str]]:
        """(method, target, outcome) of each request, in order."""
        return [(r.method, r.target, r.outcome) for r in self.requests]

    def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject | NotModified:
        try:
            result = self.inner.get(key, if_none_match=if_none_match)
        except Exception as error:
            self._record(Request("GET", key, _outcome(error), if_none_match=if_none_match))
            raise
        if isinstance(result, NotModified):
            self._record(Request("GET", key, "304", if_none_match=if_none_match))
        else:
            self._record(
                Request("GET", key, "200", received=len(result.body), if_none_match=if_none_match)
            )
        return result

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        outcome = "200"
        try:
            return self.inner.put(
                key, body, if_match=if_match, if_none_match=if_none_match, metadata=metadata
            )
        except Exception as error:
            outcome = _outcome(error)
            raise
        finally:
            self._record(Request("PUT", key, outcome, len(body), 0, if_match, if_none_match))

    def head(self, key: str) -> ObjectInfo:
        outcome = "200"
        try:
            return self.inner.head(key)
        except Exception as error:
            outcome = _outcome(error)
            raise
        finally:
            self._record(Request("HEAD", key, outcome))

    def delete(self, key: str) -> None:
        self.inner.delete(key)
        self._record(Request("DELETE", key, "204"))

    def list(self, prefix: str) -> list[ListedObject]:
        found = self.inner.list(prefix)
        self._record(Request("LIST", prefix, "200"))
        return found


def _outcome(error: Exception) -> str:
    if isinstance(error, ObjectNotFound):
        return "404"
    if isinstance(error, PreconditionFailed):
        return "412"
    return type(error).__name__


def recorder(session: S3SQLiteSession) -> RecordingStore:
    """The RecordingStore a session from ``make_session`` talks to."""
    assert isinstance(session.store, RecordingStore)
    return session.store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_session(store: ObjectStore, tmp_path: Path, clock: FakeClock) -> MakeSession:
    """Instances of the service on one object store: each a session with its own cache
    and its own RecordingStore, all on the test's fake clock."""
    count = itertools.count(1)

    def make(
        *,
        compaction_entries: int = 31,
        attempts: int = 8,
        inner: ObjectStore | None = None,
        cache_bytes: int = 64 * 1024 * 1024,
    ) -> S3SQLiteSession:
        return S3SQLiteSession(
            RecordingStore(inner or store),
            DiskCache(tmp_path / f"instance-{next(count)}", max_bytes=cache_bytes),
            retry=RetryPolicy(attempts=attempts, base_delay=0),
            log_policy=LogPolicy(
                compaction_entries=compaction_entries,
                grace_seconds=GRACE_SECONDS,
                trust_seconds=TRUST_SECONDS,
            ),
            clock=clock.time,
        )

    return make


class MakeSession(Protocol):
    def __call__(
        self,
        *,
        compaction_entries: int = 31,
        attempts: int = 8,
        inner: ObjectStore | None = None,
        cache_bytes: int = 64 * 1024 * 1024,
    ) -> S3SQLiteSession: ...


def use_engine(session: S3SQLiteSession, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``session`` work on ``how`` (one of ENGINES) from now on: its cached file, or
    the database in memory because the collection outgrows the cache budget or the
    disk refuses to take it in."""
    assert how in ENGINES, how
    if how == "cached":
        return
    session.cache.clear()
    if how == "too-big":
        session.cache.max_bytes = 1000
        return

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(session.cache, "install", disk_full)


def log_id_of(store: ObjectStore, key: str = KEY) -> str:
    return store.head(key).metadata[META_LOG_ID]


def entry_seqs(store: ObjectStore, key: str = KEY, log_id: str | None = None) -> list[int]:
    """The positions of the log entries the store holds for ``key``."""
    listed = store.list(log_prefix(key, log_id or log_id_of(store, key)))
    return [int(item.key.rsplit("/", 1)[-1]) for item in listed]


def stored_snapshot(store: ObjectStore, key: str = KEY) -> StoredObject:
    result = store.get(key)
    assert isinstance(result, StoredObject)
    return result


def snapshot_applied(store: ObjectStore, key: str = KEY) -> list[str]:
    """What the snapshot alone holds, opened by sqlite3 as a file (as Anki would)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot.anki2"
        path.write_bytes(stored_snapshot(store, key).body)
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            return read_applied(conn)
        finally:
            conn.close()


def assert_cache_is_clean(session: S3SQLiteSession, state: LogState | None = None) -> None:
    """Nothing half-done is left: no scratch file, and the entry (if any) is marked clean
    and holds exactly the state it records (``state``, when given)."""
    if session.cache.work_dir.exists():
        assert list(session.cache.work_dir.iterdir()) == []
    entry = session.cache.peek(KEY)
    if entry is None:
        return
    assert entry.path.with_suffix(".state").exists(), "the entry is still marked dirty"
    image = FileImage(entry.path)
    try:
        assert checksum_of(image) == entry.state.checksum
    finally:
        image.close()
    if state is not None:
        assert entry.state == state


def damaged_database() -> bytes:
    """A SQLite file that fails quick_check: page 2 (the first table's b-tree) scribbled."""
    body = bytearray(counter_db_bytes())
    body[4096 : 4096 + 16] = b"\xff" * 16
    return bytes(body)
