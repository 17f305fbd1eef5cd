"""The session's fault paths, on every object store, with the faults injected by a store.

The integration tests inject these faults on the wire (tests/integration/
test_faults.py, test_crash.py). Here ``FaultyStore`` stands in front of a real store
and fails as told (it refuses, stores and loses the answer, lets another writer in
first, hands out a damaged object), so each path is checked on the session alone:
what the caller is told, what the store holds, and what the cache keeps.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.cache import DiskCache
from storage.errors import (
    CorruptDatabase,
    ObjectNotFound,
    PreconditionFailed,
    StoreUnavailable,
    WriteConflict,
)
from storage.objects import (
    NotModified,
    ObjectInfo,
    ObjectStore,
    StoredObject,
    normalise_etag,
)
from storage.session import RetryPolicy, S3SQLiteSession
from tests.storage.conftest import KEY, counter_db_bytes, increment, read_applied, read_counter

# What a fault does to one request; a callable runs (another writer, say) and then
# the request goes ahead.
#   "refused": the store fails before doing anything (a 500, a reset): StoreUnavailable
#   "lost": a PUT is stored but its answer never arrives (a timeout): StoreUnavailable
#   "lost-then-refused": as "lost", and the client's retry of it is refused because
#       the ETag moved on: PreconditionFailed
#   "interrupted": the process stops just before the upload
Fault = str | Callable[[], None]


class Interrupted(BaseException):
    """The process stopping (a signal, a shutdown), not an error anyone handles."""


class FaultyStore:
    """A real ObjectStore behind faults queued per method; each fault is used once."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.faults: dict[str, list[Fault]] = {"get": [], "put": [], "head": []}
        self.gets = 0

    def fail(self, method: str, *faults: Fault) -> None:
        self.faults[method].extend(faults)

    def _next(self, method: str) -> Fault | None:
        queue = self.faults[method]
        if not queue:
            return None
        fault = queue.pop(0)
        if callable(fault):
            fault()
            return None
        if fault == "refused":
            raise StoreUnavailable(f"injected: {method} refused")
        if fault == "interrupted":
            raise Interrupted
        return fault

    def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject | NotModified:
        self.gets += 1
        self._next("get")
        return self.inner.get(key, if_none_match=if_none_match)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> str:
        fault = self._next("put")
        etag = self.inner.put(key, body, if_match=if_match, if_none_match=if_none_match)
        if fault == "lost":
            raise StoreUnavailable("injected: the PUT's answer was lost")
        if fault == "lost-then-refused":
            raise PreconditionFailed(f"{key}: 412 (the retry of a PUT that was applied)")
        return etag

    def head(self, key: str) -> ObjectInfo:
        self._next("head")
        return self.inner.head(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


@pytest.fixture
def faulty(store: ObjectStore) -> FaultyStore:
    return FaultyStore(store)


@pytest.fixture
def session(faulty: FaultyStore, tmp_path: Path) -> S3SQLiteSession:
    cache = DiskCache(tmp_path / "cache", max_bytes=64 * 1024 * 1024)
    return S3SQLiteSession(faulty, cache, retry=RetryPolicy(attempts=3, base_delay=0))


def stored(store: ObjectStore) -> bytes:
    result = store.get(KEY)
    assert isinstance(result, StoredObject)
    return result.body


def stored_applied(store: ObjectStore) -> list[str]:
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(stored(store))
        return read_applied(conn)
    finally:
        conn.close()


def uncached(session: S3SQLiteSession, how: str) -> None:
    """Make the session work in memory: the object outgrows the cache, or the disk fails."""
    session.cache.clear()
    if how == "too-big":
        session.cache.max_bytes = 1000
    else:
        shutil.rmtree(session.cache.work_dir)  # every private copy now fails to be written


def assert_cache_is_clean(session: S3SQLiteSession) -> None:
    """Nothing half-done is left, and the entry is a version stored under its ETag."""
    if session.cache.work_dir.exists():
        assert list(session.cache.work_dir.iterdir()) == []
    entry = session.cache.peek(KEY)
    if entry is not None:
        digest = hashlib.md5(entry.path.read_bytes(), usedforsecurity=False).hexdigest()
        assert digest == normalise_etag(entry.etag)


def damaged_database() -> bytes:
    body = bytearray(counter_db_bytes())
    # Page 2 holds the first table's b-tree; scribbling over its header breaks it.
    body[4096 : 4096 + 16] = b"\xff" * 16
    return bytes(body)


CORRUPT = pytest.mark.parametrize(
    "corrupt",
    [b"this is not a database at all" * 100, damaged_database()],
    ids=["not-sqlite", "fails-quick-check"],
)
UNCACHED = pytest.mark.parametrize("how", ["too-big", "disk-failed"])


# -- reads from memory --------------------------------------------------------------


@UNCACHED
def test_a_read_from_memory_is_read_only(
    session: S3SQLiteSession, store: ObjectStore, how: str
) -> None:
    session.create(KEY, counter_db_bytes())
    before = stored(store)
    uncached(session, how)

    def sneaky(conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE counter SET value = 99")
        conn.commit()
        return read_counter(conn)

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        session.read(KEY, sneaky)
    assert len(session.cache) == 0  # it was read from memory
    assert stored(store) == before
    assert session.read(KEY, read_counter) == 0


@UNCACHED
@CORRUPT
def test_a_corrupt_object_fetched_into_memory_is_reported_and_never_written_over(
    session: S3SQLiteSession, store: ObjectStore, how: str, corrupt: bytes
) -> None:
    store.put(KEY, counter_db_bytes())
    uncached(session, how)
    store.put(KEY, corrupt)

    with pytest.raises(CorruptDatabase):
        session.read(KEY, read_counter)
    with pytest.raises(CorruptDatabase):
        session.write(KEY, increment("x"))
    assert stored(store) == corrupt
    assert session.cache.peek(KEY) is None


@CORRUPT
def test_an_object_damaged_between_the_look_and_the_fetch_is_never_written_over(
    session: S3SQLiteSession, faulty: FaultyStore, store: ObjectStore, corrupt: bytes
) -> None:
    # Too big for the cache, a write looks at the object (one GET) and then fetches it
    # into memory (another). Someone stores a damaged object in between.
    session.create(KEY, counter_db_bytes())
    uncached(session, "too-big")

    def damage() -> None:
        if faulty.gets == 2:  # the fetch, after the look
            store.put(KEY, corrupt)

    faulty.fail("get", damage, damage)

    with pytest.raises(CorruptDatabase):
        session.write(KEY, increment("x"))
    assert stored(store) == corrupt


# -- failed and unknown uploads -----------------------------------------------------


@pytest.mark.parametrize("how", ["cached", "too-big", "disk-failed"])
def test_a_failed_put_changes_nothing_and_leaves_the_cache_as_it_was(
    session: S3SQLiteSession, faulty: FaultyStore, store: ObjectStore, how: str
) -> None:
    session.create(KEY, counter_db_bytes())
    session.read(KEY, read_counter)
    if how != "cached":
        uncached(session, how)
    before = stored(store)
    entry = session.cache.peek(KEY)
    faulty.fail("put", "refused")
    faulty.fail("head", "refused")  # nor can the session look: it must not guess

    with pytest.raises(StoreUnavailable):
        session.write(KEY, increment("failed"))

    assert stored(store) == before
    assert session.cache.peek(KEY) == entry
    if entry is not None:
        assert entry.path.read_bytes() == before  # still the clean copy
    assert_cache_is_clean(session)
    assert session.write(KEY, increment("next")) == 1  # the fault has cleared
    assert stored_applied(store) == ["next"]


@pytest.mark.parametrize("fault", ["refused", "interrupted"])
def test_a_write_stopped_before_its_upload_leaves_nothing_to_serve(
    session: S3SQLiteSession, faulty: FaultyStore, store: ObjectStore, fault: str
) -> None:
    session.create(KEY, counter_db_bytes())
    session.read(KEY, read_counter)  # a warm, clean entry
    before = stored(store)
    faulty.fail("put", fault)

    with pytest.raises((StoreUnavailable, Interrupted)):
        session.write(KEY, increment("never-acknowledged"))

    assert stored(store) == before
    assert_cache_is_clean(session)
    assert session.read(KEY, read_applied) == []


@pytest.mark.parametrize("how", ["cached", "too-big", "disk-failed"])
@pytest.mark.parametrize("fault", ["lost", "lost-then-refused"])
def test_a_put_that_landed_but_whose_answer_was_lost_is_reported_once(
    session: S3SQLiteSession, faulty: FaultyStore, store: ObjectStore, fault: str, how: str
) -> None:
    session.create(KEY, counter_db_bytes())
    session.read(KEY, read_counter)
    if how != "cached":
        uncached(session, how)
    faulty.fail("put", fault)

    assert session.write(KEY, increment("once")) == 1  # a HEAD found our own write

    assert stored_applied(store) == ["once"]
    assert_cache_is_clean(session)
    entry = session.cache.peek(KEY)
    if how == "cached":  # and the cache took the version that landed
        assert entry is not None and entry.path.read_bytes() == stored(store)
    assert session.write(KEY, increment("next")) == 2
    assert stored_applied(store) == ["once", "next"]


def test_a_lost_answer_that_cannot_be_checked_is_a_failure_and_the_store_is_served(
    session: S3SQLiteSession, faulty: FaultyStore, store: ObjectStore
) -> None:
    session.create(KEY, counter_db_bytes())
    session.read(KEY, read_counter)
    faulty.fail("put", "lost")
    faulty.fail("head", "refused")

    with pytest.raises(StoreUnavailable):  # it may have landed; the session cannot tell
        session.write(KEY, increment("unknown"))

    assert_cache_is_clean(session)
    # Whatever happened, what is served next is what the store holds.
    assert session.read(KEY, read_applied) == stored_applied(store) == ["unknown"]


def test_a_put_refused_for_someone_elses_write_is_not_taken_for_ours(
    session: S3SQLiteSession, faulty: FaultyStore, store: ObjectStore, tmp_path: Path
) -> None:
    session.create(KEY, counter_db_bytes())
    session.read(KEY, read_counter)
    other = S3SQLiteSession(store, DiskCache(tmp_path / "other", 1 << 24))
    faulty.fail("put", lambda: other.write(KEY, increment("other")))

    assert session.write(KEY, increment("mine")) == 2  # reloaded, applied again

    assert stored_applied(store) == ["other", "mine"]
    assert_cache_is_clean(session)


def test_writers_that_keep_winning_leave_a_conflict_and_their_writes(
    session: S3SQLiteSession, faulty: FaultyStore, store: ObjectStore, tmp_path: Path
) -> None:
    session.create(KEY, counter_db_bytes())
    other = S3SQLiteSession(store, DiskCache(tmp_path / "other", 1 << 24))
    faulty.fail("put", *[lambda: other.write(KEY, increment("other"))] * 3)  # every attempt

    with pytest.raises(WriteConflict):
        session.write(KEY, increment("mine"))

    assert stored_applied(store) == ["other"] * 3
    assert_cache_is_clean(session)
    assert session.write(KEY, increment("mine")) == 4


# -- failed reads and a failing disk ------------------------------------------------


def test_a_failed_revalidation_is_unavailable_not_stale(
    session: S3SQLiteSession, faulty: FaultyStore, store: ObjectStore, tmp_path: Path
) -> None:
    session.create(KEY, counter_db_bytes())
    session.read(KEY, read_counter)
    S3SQLiteSession(store, DiskCache(tmp_path / "other", 1 << 24)).write(KEY, increment("new"))
    faulty.fail("get", "refused")

    with pytest.raises(StoreUnavailable):
        session.read(KEY, read_applied)  # the cached copy is stale; it is not served

    assert_cache_is_clean(session)
    assert session.read(KEY, read_applied) == ["new"]


def test_a_failing_disk_degrades_to_uncached_writes_and_reads(
    session: S3SQLiteSession, store: ObjectStore
) -> None:
    session.create(KEY, counter_db_bytes())
    session.read(KEY, read_counter)  # cached, then the disk fails under it
    shutil.rmtree(session.cache.work_dir)

    assert session.write(KEY, increment("disk-failed")) == 1
    assert session.read(KEY, read_applied) == ["disk-failed"]
    assert stored_applied(store) == ["disk-failed"]
    assert len(session.cache) == 0


def test_a_missing_object_is_not_found_and_forgotten(
    session: S3SQLiteSession, store: ObjectStore
) -> None:
    session.create(KEY, counter_db_bytes())
    session.read(KEY, read_counter)
    store.delete(KEY)  # by someone else

    with pytest.raises(ObjectNotFound):
        session.read(KEY, read_counter)
    assert session.cache.peek(KEY) is None
    with pytest.raises(ObjectNotFound):
        session.write(KEY, increment("x"))
