"""The session's fault paths, on both object stores and both engines (docs/storage.md).

``FaultyStore`` stands in front of a real store (S3 over HTTP to moto, or the local
directory), records every request the session makes and fails the ones a test names:
with the errors the S3 store reports for a 500, a 503 SlowDown, a reset connection or
a timeout; by storing a PUT and losing its answer; by stopping the process; or by
running another writer first. Each case checks what the caller is told, the requests
made, what the store holds and what the cache keeps, on the cached file and on the
in-memory image (the collection too big for the cache, or the disk failing).

The same faults on the wire, through an HTTP proxy, are in tests/integration.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from storage.cache import DiskCache, LogState
from storage.errors import (
    CorruptDatabase,
    ObjectNotFound,
    PreconditionFailed,
    StoreUnavailable,
)
from storage.images import FileImage, checksum_of
from storage.keys import PREFIX_LOGS
from storage.local import LocalObjectStore
from storage.objects import (
    ANY_ETAG,
    ListedObject,
    NotModified,
    ObjectInfo,
    ObjectStore,
    StoredObject,
)
from storage.pagelog import decode_entry, entry_key, log_prefix
from storage.s3 import S3ObjectStore, mapped_s3_errors
from storage.session import META_LOG_ID, META_SEQ, LogPolicy, RetryPolicy, S3SQLiteSession
from tests.conftest import s3_client_for
from tests.storage.conftest import (
    ENGINES,
    KEY,
    counter_db_bytes,
    increment,
    read_applied,
    read_counter,
)
from tests.storage.conftest import use_engine as use_session_engine
from tests.support.moto_server import MotoServer

IN_MEMORY = ("too-big", "disk-failed")
T = TypeVar("T")
GRACE = 1000.0
TRUST = 400.0


class Interrupted(BaseException):
    """The process stopping (a signal, a shutdown): not an error anyone handles."""


def _answer(status: int, code: str) -> ClientError:
    response: Any = {
        "ResponseMetadata": {"HTTPStatusCode": status},
        "Error": {"Code": code, "Message": "injected"},
    }
    return ClientError(response, "Operation")


# What botocore raises when the store fails; the S3 store reports each as
# StoreUnavailable. The local store would fail otherwise; the session sees the same.
WIRE_ERRORS: dict[str, Callable[[], Exception]] = {
    "500": lambda: _answer(500, "InternalError"),
    "503-slowdown": lambda: _answer(503, "SlowDown"),
    "reset": lambda: ConnectionClosedError(endpoint_url="http://s3.test"),
    "timeout": lambda: ReadTimeoutError(endpoint_url="http://s3.test"),
}
# Every kind on the cached file; the in-memory engines meet the same errors the same way.
ENGINES_AND_WIRE = pytest.mark.parametrize(
    ("how", "wire"),
    [
        *[("cached", wire) for wire in WIRE_ERRORS],
        ("too-big", "503-slowdown"),
        ("disk-failed", "reset"),
    ],
)

# -- a store that records and fails --------------------------------------------------


def target_of(method: str, key: str) -> str:
    """``snapshot``, ``entry N`` or ``log`` (a listing), for readable assertions."""
    if method == "LIST":
        return "log"
    if key.startswith(PREFIX_LOGS):
        return f"entry {int(key.rsplit('/', 1)[-1])}"
    return "snapshot"


@dataclass
class Fault:
    """What happens to the next ``times`` requests ``method`` ``target`` (``entry``: any
    entry). ``kind``: a WIRE_ERRORS name (the request fails before reaching the store);
    ``lost`` (stored, then the answer times out); ``lost-then-refused`` (stored, and the
    client's retry is answered 412); ``interrupted`` (the process stops first);
    ``damaged`` (a GET whose body arrives with its last byte flipped); ``None``. Then
    ``before``, if given, runs first (another writer, say)."""

    method: str
    target: str
    kind: str | None = None
    before: Callable[[], object] | None = None
    times: int = 1

    def matches(self, method: str, target: str) -> bool:
        if self.times <= 0 or method != self.method:
            return False
        return self.target == target or (self.target == "entry" and target.startswith("entry "))


def _raise_as_s3(method: str, key: str, error: Exception) -> None:
    """Raise what the S3 store makes of ``error`` (a storage error, the cause kept)."""
    with mapped_s3_errors(method, key, expected=(PreconditionFailed,)):
        raise error


def _outcome(error: BaseException) -> str:
    if isinstance(error, ObjectNotFound):
        return "404"
    if isinstance(error, PreconditionFailed):
        return "412"
    return type(error).__name__


@dataclass
class FaultyStore:
    """A real store behind the queued faults; records (method, target, outcome)."""

    inner: ObjectStore
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, *faults: Fault) -> None:
        with self._mutex:
            self.faults.extend(faults)

    def clear(self) -> None:
        with self._mutex:
            self.requests.clear()

    def methods(self, method: str) -> list[tuple[str, str, str]]:
        return [r for r in self.requests if r[0] == method]

    def _call(self, method: str, key: str, action: Callable[[Fault | None], T]) -> T:
        target = target_of(method, key)
        with self._mutex:
            fault = next((f for f in self.faults if f.matches(method, target)), None)
            if fault is not None:
                fault.times -= 1
        try:
            if fault is not None and fault.before is not None:
                fault.before()
            if fault is not None and fault.kind == "interrupted":
                raise Interrupted
            if fault is not None and fault.kind in WIRE_ERRORS:
                _raise_as_s3(method, key, WIRE_ERRORS[fault.kind]())
            result = action(fault)
        except BaseException as error:
            with self._mutex:
                self.requests.append((method, target, _outcome(error)))
            raise
        with self._mutex:
            self.requests.append(
                (method, target, "304" if isinstance(result, NotModified) else "200")
            )
        return result

    def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject | NotModified:
        def action(fault: Fault | None) -> StoredObject | NotModified:
            result = self.inner.get(key, if_none_match=if_none_match)
            if fault is not None and fault.kind == "damaged" and isinstance(result, StoredObject):
                body = bytearray(result.body)
                body[-1] ^= 0xFF
                return replace(result, body=bytes(body))
            return result

        return self._call("GET", key, action)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        def action(fault: Fault | None) -> str:
            etag = self.inner.put(
                key, body, if_match=if_match, if_none_match=if_none_match, metadata=metadata
            )
            if fault is not None and fault.kind == "lost":
                _raise_as_s3("PUT", key, ReadTimeoutError(endpoint_url="http://s3.test"))
            if fault is not None and fault.kind == "lost-then-refused":
                _raise_as_s3("PUT", key, _answer(412, "PreconditionFailed"))
            return etag

        return self._call("PUT", key, action)

    def head(self, key: str) -> ObjectInfo:
        return self._call("HEAD", key, lambda _: self.inner.head(key))

    def delete(self, key: str) -> None:
        self._call("DELETE", key, lambda _: self.inner.delete(key))

    def list(self, prefix: str) -> list[ListedObject]:
        return self._call("LIST", prefix, lambda _: self.inner.list(prefix))


# -- instances of the service on one store -----------------------------------------------


class FakeClock:
    """The sessions' clock: it moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def s3_client(moto_server: MotoServer) -> Any:
    """One client for the module: making a client costs far more than a request."""
    return s3_client_for(moto_server.url)


@pytest.fixture(params=[pytest.param("s3", marks=pytest.mark.integration), "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """The real store behind the faults: S3 over HTTP to moto (a bucket of the test's
    own), or a local directory."""
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    client = request.getfixturevalue("s3_client")
    bucket = "f-" + hashlib.sha1(request.node.nodeid.encode(), usedforsecurity=False).hexdigest()
    client.create_bucket(Bucket=bucket[:63])
    return S3ObjectStore(client, bucket[:63])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class Instance:
    """One instance of the service: a session with its own cache, behind its own faults."""

    session: S3SQLiteSession
    store: FaultyStore

    @property
    def cache(self) -> DiskCache:
        return self.session.cache

    def write(self, label: str) -> int:
        return self.session.write(KEY, increment(label))

    def applied(self) -> list[str]:
        return self.session.read(KEY, read_applied)


MakeInstance = Callable[..., Instance]


@pytest.fixture
def make(backend: ObjectStore, tmp_path: Path, clock: FakeClock) -> MakeInstance:
    count = itertools.count(1)

    def make_instance(*, compaction_entries: int = 31, attempts: int = 4) -> Instance:
        faulty = FaultyStore(backend)
        session = S3SQLiteSession(
            faulty,
            DiskCache(tmp_path / f"cache-{next(count)}", max_bytes=64 * 1024 * 1024),
            retry=RetryPolicy(attempts=attempts, base_delay=0),
            log_policy=LogPolicy(
                compaction_entries=compaction_entries, grace_seconds=GRACE, trust_seconds=TRUST
            ),
            clock=clock.time,
        )
        return Instance(session, faulty)

    return make_instance


def use_engine(instance: Instance, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work on the cached file, or in memory: the collection outgrows the cache budget,
    or the disk refuses to take it in."""
    use_session_engine(instance.session, how, monkeypatch)


Requests = list[tuple[str, str, str]]


def loads(upto: int, *, snapshot_at: int = 0) -> Requests:
    """A load from the store: the snapshot (at ``snapshot_at``), then each entry beyond
    it up to ``upto``, then the end of the log."""
    return [
        ("GET", "snapshot", "200"),
        *[("GET", f"entry {n}", "200") for n in range(snapshot_at + 1, upto + 1)],
        ("GET", f"entry {upto + 1}", "404"),
    ]


def snapshot(store: ObjectStore) -> StoredObject:
    result = store.get(KEY)
    assert isinstance(result, StoredObject)
    return result


def log_id(store: ObjectStore) -> str:
    return store.head(KEY).metadata[META_LOG_ID]


def entry_seqs(store: ObjectStore) -> list[int]:
    return [int(o.key.rsplit("/", 1)[-1]) for o in store.list(log_prefix(KEY, log_id(store)))]


def entry_body(store: ObjectStore, seq: int) -> bytes:
    result = store.get(entry_key(KEY, log_id(store), seq))
    assert isinstance(result, StoredObject)
    return result.body


def overwrite_entry(store: ObjectStore, seq: int, body: bytes) -> None:
    """What a bug or an operator's mistake could leave at entry ``seq``."""
    key = entry_key(KEY, log_id(store), seq)
    store.delete(key)
    store.put(key, body, if_none_match=ANY_ETAG)


def snapshot_applied(store: ObjectStore) -> list[str]:
    """What the snapshot alone holds (a complete database, as Anki opens it)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(snapshot(store).body)
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        return read_applied(conn)
    finally:
        conn.close()


def assert_clean(instance: Instance, state: LogState | None = None) -> None:
    """Nothing half-done is left in the cache: no scratch file, no file but the entry
    of KEY (if any) and its state, which is on disk (clean) and what the file holds."""
    cache = instance.cache
    assert list(cache.work_dir.iterdir()) == []
    files = sorted(p.name for p in cache.directory.iterdir() if p.suffix in (".entry", ".state"))
    entry = cache.peek(KEY)
    if entry is None:
        assert files == []
        return
    assert files == sorted([entry.path.name, entry.path.with_suffix(".state").name])
    image = FileImage(entry.path)
    try:
        assert checksum_of(image) == entry.state.checksum
    finally:
        image.close()
    if state is not None:
        assert entry.state == state


def cached_state(instance: Instance) -> LogState | None:
    entry = instance.cache.peek(KEY)
    return None if entry is None else entry.state


def started(make: MakeInstance, how: str, monkeypatch: pytest.MonkeyPatch) -> Instance:
    """An instance on ``how`` with KEY created and one write ("a", entry 1) stored, its
    copy current (when cached: the file at entry 1), and its record of requests empty."""
    instance = make()
    instance.session.create(KEY, counter_db_bytes())
    assert instance.write("a") == 1
    use_engine(instance, how, monkeypatch)
    assert instance.applied() == ["a"]
    instance.store.clear()
    return instance


def opening(how: str, upto: int) -> Requests:
    """What a write sends before its PUT: nothing from a current cached file (it trusts
    it), the whole load when it works in memory."""
    return [] if how == "cached" else loads(upto)


def damaged_database() -> bytes:
    """A SQLite file that fails quick_check: page 2 (the first table's b-tree) scribbled."""
    body = bytearray(counter_db_bytes())
    body[4096 : 4096 + 16] = b"\xff" * 16
    return bytes(body)


ON_ENGINES = pytest.mark.parametrize("how", ENGINES)


# -- a failed append -----------------------------------------------------------------------


@ENGINES_AND_WIRE
def test_a_failed_append_changes_nothing_and_leaves_the_copy_clean_at_the_old_state(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str, wire: str
) -> None:
    alice = started(make, how, monkeypatch)
    before = snapshot(backend)
    state = cached_state(alice)
    alice.store.fail(Fault("PUT", "entry", wire))

    with pytest.raises(StoreUnavailable, match=r"^S3 PUT logs/"):
        alice.write("failed")

    # It looked whether the PUT had landed after all before saying it failed.
    assert alice.store.requests == [
        *opening(how, 1),
        ("PUT", "entry 2", "StoreUnavailable"),
        ("HEAD", "entry 2", "404"),
    ]
    assert entry_seqs(backend) == [1]
    assert snapshot(backend).etag == before.etag
    assert_clean(alice, state)
    assert len(alice.cache) == (1 if how == "cached" else 0)

    # The next read is served as if nothing had happened: one request when cached.
    alice.store.clear()
    assert alice.session.read(KEY, read_counter) == 1
    assert alice.store.requests == ([("GET", "entry 2", "404")] if how == "cached" else loads(1))
    # The next write goes through: the position the failed one wanted is still free.
    alice.store.clear()
    assert alice.write("next") == 2
    assert alice.store.requests == [*opening(how, 1), ("PUT", "entry 2", "200")]
    assert make().applied() == ["a", "next"]


@ON_ENGINES
@pytest.mark.parametrize("landed", [False, True], ids=["refused", "landed"])
def test_an_append_whose_outcome_cannot_be_checked_fails_and_the_store_is_served_next(
    make: MakeInstance,
    backend: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    landed: bool,
) -> None:
    alice = started(make, how, monkeypatch)
    state = cached_state(alice)
    alice.store.fail(
        Fault("PUT", "entry", "lost" if landed else "500"), Fault("HEAD", "entry", "timeout")
    )

    with pytest.raises(StoreUnavailable):  # it may have landed: the session cannot tell
        alice.write("unknown")

    assert alice.store.requests == [
        *opening(how, 1),
        ("PUT", "entry 2", "StoreUnavailable"),
        ("HEAD", "entry 2", "StoreUnavailable"),
    ]
    assert entry_seqs(backend) == ([1, 2] if landed else [1])
    assert_clean(alice, state)  # undone either way: the cache holds only what it knows

    # Whatever happened, the next read serves what the store holds, and it holds it once.
    expected = ["a", "unknown"] if landed else ["a"]
    alice.store.clear()
    assert alice.applied() == expected
    if how == "cached":
        assert alice.store.requests == (
            [("GET", "entry 2", "200"), ("GET", "entry 3", "404")]
            if landed
            else [("GET", "entry 2", "404")]
        )
    assert alice.write("next") == len(expected) + 1
    assert make().applied() == [*expected, "next"]


STOPS = ["operation-raises", "operation-interrupted", "put-interrupted"]


@ON_ENGINES
@pytest.mark.parametrize("stop", STOPS)
def test_a_write_stopped_before_its_upload_leaves_nothing_dirty_to_serve(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str, stop: str
) -> None:
    alice = started(make, how, monkeypatch)
    state = cached_state(alice)

    def half_done(conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE counter SET value = 42")
        conn.execute("INSERT INTO applied VALUES ('half-done')")
        if stop == "operation-raises":
            raise LookupError("no such card")
        if stop == "operation-interrupted":
            raise Interrupted
        return 42

    if stop == "put-interrupted":
        alice.store.fail(Fault("PUT", "entry", "interrupted"))

    with pytest.raises((LookupError, Interrupted)):
        alice.session.write(KEY, half_done)

    put = [("PUT", "entry 2", "Interrupted")] if stop == "put-interrupted" else []
    assert alice.store.requests == [*opening(how, 1), *put]
    assert entry_seqs(backend) == [1]
    assert_clean(alice, state)
    alice.store.clear()
    assert alice.session.read(KEY, read_counter) == 1
    assert alice.store.requests == ([("GET", "entry 2", "404")] if how == "cached" else loads(1))
    assert alice.applied() == ["a"]
    assert alice.write("next") == 2
    assert make().applied() == ["a", "next"]


@ON_ENGINES
def test_a_failed_full_replacement_is_not_kept(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    alice = started(make, how, monkeypatch)
    alice.store.fail(Fault("PUT", "entry", "503-slowdown"))

    with pytest.raises(StoreUnavailable):
        alice.session.replace(KEY, counter_db_bytes(7))

    assert alice.store.requests == [
        *opening(how, 1),
        ("PUT", "entry 2", "StoreUnavailable"),
        ("HEAD", "entry 2", "404"),
    ]
    assert entry_seqs(backend) == [1]
    # The cached file took every page, and a journal cannot give them back: it is dropped.
    assert alice.cache.peek(KEY) is None
    assert_clean(alice)
    alice.store.clear()
    assert alice.session.read(KEY, read_counter) == 1
    assert alice.store.requests == loads(1)
    assert alice.applied() == ["a"]


# -- an append that landed, an append that lost ---------------------------------------------


@ON_ENGINES
@pytest.mark.parametrize("fault", ["lost", "lost-then-refused"])
def test_an_append_that_landed_but_whose_answer_was_lost_is_acknowledged_once(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str, fault: str
) -> None:
    alice = started(make, how, monkeypatch)
    alice.store.fail(Fault("PUT", "entry", fault))

    assert alice.write("once") == 2  # a HEAD found our own entry (its SHA-256)

    outcome = "StoreUnavailable" if fault == "lost" else "412"
    assert alice.store.requests == [
        *opening(how, 1),
        ("PUT", "entry 2", outcome),
        ("HEAD", "entry 2", "200"),
    ]
    assert entry_seqs(backend) == [1, 2]
    state = cached_state(alice)
    if how == "cached":
        assert state is not None and state.seq == 2
    assert_clean(alice, state)
    alice.store.clear()
    assert alice.applied() == ["a", "once"]
    assert alice.store.requests == ([("GET", "entry 3", "404")] if how == "cached" else loads(2))
    assert alice.write("next") == 3
    assert make().applied() == ["a", "once", "next"]
    assert entry_seqs(backend) == [1, 2, 3]


@ON_ENGINES
@pytest.mark.parametrize("fault", ["refused", "timeout"])
def test_an_append_whose_position_another_writer_took_is_run_again_after_it(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str, fault: str
) -> None:
    # "refused": the PUT is answered 412. "timeout": its answer never comes, and the HEAD
    # finds another writer's entry there: not ours, so a lost race as well.
    alice = started(make, how, monkeypatch)
    bob = make()
    alice.store.fail(
        Fault(
            "PUT",
            "entry",
            None if fault == "refused" else "timeout",
            before=lambda: bob.write("bob"),
        )
    )

    assert alice.write("alice") == 3  # run again on top of bob's write

    outcome = "412" if fault == "refused" else "StoreUnavailable"
    assert (
        alice.store.requests
        == [
            *opening(how, 1),
            ("PUT", "entry 2", outcome),
            ("HEAD", "entry 2", "200"),  # another SHA-256
            ("GET", "entry 2", "200") if how == "cached" else loads(2)[0],
            *([("GET", "entry 3", "404")] if how == "cached" else loads(2)[1:]),
            ("PUT", "entry 3", "200"),
        ]
    )
    assert make().applied() == ["a", "bob", "alice"]
    assert_clean(alice)


# -- reads -----------------------------------------------------------------------------------


@ON_ENGINES
def test_a_read_is_read_only(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    alice = started(make, how, monkeypatch)
    state = cached_state(alice)

    def sneaky(conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE counter SET value = 99")
        conn.commit()
        return read_counter(conn)

    def sneakier(conn: sqlite3.Connection) -> int:
        conn.execute("PRAGMA query_only = OFF")
        return sneaky(conn)

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        alice.session.read(KEY, sneaky)
    if how == "cached":  # opened read-only
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            alice.session.read(KEY, sneakier)
    else:  # at most it changes a private copy, thrown away
        alice.session.read(KEY, sneakier)

    assert alice.store.methods("PUT") == []
    assert entry_seqs(backend) == [1]
    assert_clean(alice, state)
    assert alice.session.read(KEY, read_counter) == 1
    assert make().session.read(KEY, read_counter) == 1


@ENGINES_AND_WIRE
def test_a_store_outage_on_read_is_the_store_error_not_stale_or_corrupt_data(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str, wire: str
) -> None:
    alice = started(make, how, monkeypatch)
    state = cached_state(alice)
    make().write("b")  # alice's copy is now behind
    first = "entry 2" if how == "cached" else "snapshot"
    alice.store.fail(Fault("GET", first, wire))

    with pytest.raises(StoreUnavailable, match=r"^S3 GET "):  # the API answers 503
        alice.applied()

    assert alice.store.requests == [("GET", first, "StoreUnavailable")]
    assert_clean(alice, state)
    alice.store.clear()
    assert alice.applied() == ["a", "b"]
    assert alice.store.requests == (
        [("GET", "entry 2", "200"), ("GET", "entry 3", "404")] if how == "cached" else loads(2)
    )


@ON_ENGINES
def test_an_outage_partway_through_the_log_keeps_only_entries_applied_whole(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    alice = started(make, how, monkeypatch)
    bob = make()
    bob.write("b1")
    bob.write("b2")
    alice.store.fail(Fault("GET", "entry 3", "reset"))

    with pytest.raises(StoreUnavailable):
        alice.applied()

    if how == "cached":
        assert alice.store.requests == [
            ("GET", "entry 2", "200"),
            ("GET", "entry 3", "StoreUnavailable"),
        ]
        state = cached_state(alice)
        assert state is not None and state.seq == 2  # entry 2 is stored: the copy keeps it
        assert_clean(alice)
    else:
        assert alice.store.requests == [*loads(2)[:-1], ("GET", "entry 3", "StoreUnavailable")]
        assert len(alice.cache) == 0
    alice.store.clear()
    assert alice.applied() == ["a", "b1", "b2"]
    assert alice.store.requests == (
        [("GET", "entry 3", "200"), ("GET", "entry 4", "404")] if how == "cached" else loads(3)
    )


def test_an_outage_when_an_old_copy_checks_the_snapshot_is_the_store_error(
    make: MakeInstance, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = started(make, "cached", monkeypatch)
    state = cached_state(alice)
    clock.advance(TRUST + 1)  # too old to trust "no next entry" without the snapshot
    alice.store.fail(Fault("GET", "snapshot", "503-slowdown"))

    with pytest.raises(StoreUnavailable):
        alice.applied()

    assert alice.store.requests == [("GET", "snapshot", "StoreUnavailable")]
    assert_clean(alice, state)
    alice.store.clear()
    assert alice.applied() == ["a"]
    assert alice.store.requests == [("GET", "snapshot", "304"), ("GET", "entry 2", "404")]


@ON_ENGINES
def test_a_deleted_collection_is_not_found_and_forgotten(
    make: MakeInstance, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    alice = started(make, how, monkeypatch)
    make().session.delete(KEY)  # by another instance
    clock.advance(TRUST + 1)  # a copy this old asks for the snapshot

    with pytest.raises(ObjectNotFound):
        alice.applied()
    assert alice.cache.peek(KEY) is None
    assert_clean(alice)
    with pytest.raises(ObjectNotFound):
        alice.write("x")
    assert alice.store.methods("PUT") == []


# -- corrupt data -----------------------------------------------------------------------------

CORRUPTIONS = ["bit-flip", "truncated", "header-only", "misplaced", "wrong-base", "wrong-result"]


def corrupted(store: ObjectStore, damage: str) -> bytes:
    """Entry 2 as a fault could leave it: damaged bytes, or a sound entry that does not
    belong there (entry 1's; one made from another state; one ending in another)."""
    good = entry_body(store, 2)
    if damage == "bit-flip":
        flipped = bytearray(good)
        flipped[-1] ^= 0x01
        return bytes(flipped)
    if damage == "truncated":
        return good[:-7]
    if damage == "header-only":
        return good[:50]
    if damage == "misplaced":
        return entry_body(store, 1)
    entry = decode_entry(good, expected_seq=2)
    if damage == "wrong-base":
        return replace(entry, checksum_before=entry.checksum_before ^ 1).encode()
    assert damage == "wrong-result"  # applied in full before the checksum shows it
    return replace(entry, checksum_after=entry.checksum_after ^ 1).encode()


# Every damage on the cached file; in memory, one refused by its checksum and one
# applied in full before its end checksum shows it.
@pytest.mark.parametrize(
    ("how", "damage"),
    [
        *[("cached", damage) for damage in CORRUPTIONS],
        *[
            (how, damage)
            for how in ("too-big", "disk-failed")
            for damage in ("bit-flip", "wrong-result")
        ],
    ],
)
def test_a_corrupt_entry_is_reported_never_applied_and_not_kept(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str, damage: str
) -> None:
    alice = started(make, how, monkeypatch)  # at entry 1
    assert make().write("b") == 2
    good = entry_body(backend, 2)
    bad = corrupted(backend, damage)
    overwrite_entry(backend, 2, bad)

    with pytest.raises(CorruptDatabase):
        alice.applied()

    if how == "cached":  # the copy might be what is wrong: loaded afresh, the same entry
        assert alice.store.requests == [("GET", "entry 2", "200"), *loads(2)[:-1]]
    else:
        assert alice.store.requests == loads(2)[:-1]
    assert alice.cache.peek(KEY) is None
    assert_clean(alice)

    # Nothing writes over it, or after it.
    alice.store.clear()
    with pytest.raises(CorruptDatabase):
        alice.write("never")
    assert alice.store.requests == loads(2)[:-1]
    assert entry_seqs(backend) == [1, 2]
    assert entry_body(backend, 2) == bad
    assert_clean(alice)

    # Once an operator puts the entry right, it is served, and nothing of the bad one.
    overwrite_entry(backend, 2, good)
    assert alice.applied() == ["a", "b"]
    assert alice.write("c") == 3
    assert make().applied() == ["a", "b", "c"]


@ON_ENGINES
def test_an_entry_damaged_in_transit_is_refused(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    alice = started(make, how, monkeypatch)
    make().write("b")
    alice.store.fail(Fault("GET", "entry 2", "damaged"))

    if how == "cached":
        # Refused; the load afresh from the snapshot gets it whole.
        assert alice.applied() == ["a", "b"]
        assert alice.store.requests == [("GET", "entry 2", "200"), *loads(2)]
        state = cached_state(alice)
        assert state is not None and state.seq == 2
    else:
        with pytest.raises(CorruptDatabase):
            alice.applied()
        assert alice.store.requests == loads(2)[:-1]
        assert alice.applied() == ["a", "b"]
    assert_clean(alice)


SNAPSHOT_DAMAGE = ["not-sqlite", "fails-quick-check", "not-its-checksum"]


@ON_ENGINES
@pytest.mark.parametrize("damage", SNAPSHOT_DAMAGE)
def test_a_corrupt_snapshot_is_reported_and_never_written_over(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str, damage: str
) -> None:
    make().session.create(KEY, counter_db_bytes())
    metadata = dict(snapshot(backend).metadata)
    bad = {
        "not-sqlite": b"this is not a database at all" * 200,
        "fails-quick-check": damaged_database(),
        "not-its-checksum": counter_db_bytes(5),  # sound, but not what its metadata says
    }[damage]
    backend.put(KEY, bad, metadata=metadata)
    alice = make()
    use_engine(alice, how, monkeypatch)

    with pytest.raises(CorruptDatabase):
        alice.applied()
    with pytest.raises(CorruptDatabase):
        alice.write("never")

    assert alice.store.requests == [("GET", "snapshot", "200")] * 2
    assert snapshot(backend).body == bad
    assert entry_seqs(backend) == []
    assert_clean(alice)
    assert alice.cache.peek(KEY) is None


# -- compaction ------------------------------------------------------------------------------


def snapshot_seq(store: ObjectStore) -> int:
    return int(snapshot(store).metadata[META_SEQ])


def labels(prefix: str, first: int, last: int) -> list[str]:
    return [f"{prefix}{n}" for n in range(first, last + 1)]


@ON_ENGINES
@pytest.mark.parametrize("fault", ["503-slowdown", "lost"])
def test_a_failed_compaction_loses_nothing_and_a_later_write_compacts(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str, fault: str
) -> None:
    alice = make(compaction_entries=3)
    alice.session.create(KEY, counter_db_bytes())
    use_engine(alice, how, monkeypatch)
    first = snapshot(backend)
    assert [alice.write(label) for label in ("a1", "a2")] == [1, 2]
    alice.store.fail(Fault("PUT", "snapshot", fault))
    alice.store.clear()

    assert alice.write("a3") == 3  # acknowledged: compaction never fails the write

    outcome = "StoreUnavailable"
    assert alice.store.methods("PUT") == [("PUT", "entry 3", "200"), ("PUT", "snapshot", outcome)]
    landed = fault == "lost"
    assert entry_seqs(backend) == [1, 2, 3]  # nothing is deleted on a failure
    if landed:
        assert snapshot_seq(backend) == 3
        assert snapshot_applied(backend) == ["a1", "a2", "a3"]
    else:
        assert snapshot(backend).etag == first.etag
        assert snapshot_applied(backend) == []
    assert make().applied() == ["a1", "a2", "a3"]

    alice.store.clear()
    assert alice.write("a4") == 4
    snapshot_puts = [r for r in alice.store.requests if r[:2] == ("PUT", "snapshot")]
    if not landed:  # tried again, from the same snapshot
        assert snapshot_puts == [("PUT", "snapshot", "200")]
        assert snapshot_seq(backend) == 4
    elif how == "cached":  # tried again: refused, and the copy learns where it stands
        assert snapshot_puts == [("PUT", "snapshot", "412")]
        assert snapshot_seq(backend) == 3
        state = cached_state(alice)
        assert state is not None
        assert (state.snapshot_seq, state.snapshot_etag) == (3, snapshot(backend).etag)
    else:  # loaded from the new snapshot: nothing due
        assert snapshot_puts == []
        assert snapshot_seq(backend) == 3
    assert [alice.write(label) for label in ("a5", "a6")] == [5, 6]
    assert snapshot_seq(backend) == (4 if not landed else 6)
    assert make().applied() == labels("a", 1, 6)
    assert_clean(alice)


@ON_ENGINES
@pytest.mark.parametrize("fault", ["delete", "list"])
def test_a_failed_deletion_of_folded_entries_is_finished_by_the_next_compaction(
    make: MakeInstance,
    backend: ObjectStore,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    fault: str,
) -> None:
    alice = make(compaction_entries=3)
    alice.session.create(KEY, counter_db_bytes())
    use_engine(alice, how, monkeypatch)
    for label in labels("a", 1, 3):
        alice.write(label)  # folded into the snapshot at 3; too recently to delete
    assert (snapshot_seq(backend), entry_seqs(backend)) == (3, [1, 2, 3])
    clock.advance(GRACE + 1)
    if fault == "delete":
        alice.store.fail(Fault("DELETE", "entry 2", "500"))
    else:
        alice.store.fail(Fault("LIST", "log", "reset"))
    alice.store.clear()

    for label in labels("a", 4, 6):
        alice.write(label)  # compacts at 6, then deletes 1 to 3: fails part-way

    deletes = [r for r in alice.store.requests if r[0] in ("LIST", "DELETE")]
    if fault == "delete":
        assert deletes == [
            ("LIST", "log", "200"),
            ("DELETE", "entry 1", "200"),
            ("DELETE", "entry 2", "StoreUnavailable"),
        ]
        assert entry_seqs(backend) == [2, 3, 4, 5, 6]
    else:
        assert deletes == [("LIST", "log", "StoreUnavailable")]
        assert entry_seqs(backend) == [1, 2, 3, 4, 5, 6]
    assert snapshot_seq(backend) == 6
    reader = make()
    assert reader.applied() == labels("a", 1, 6)
    assert reader.store.requests == loads(6, snapshot_at=6)

    alice.store.clear()
    for label in labels("a", 7, 9):
        alice.write(label)  # compacts at 9, and deletes what is left of 1 to 3

    deleted = [r[1] for r in alice.store.requests if r[0] == "DELETE"]
    assert deleted == (["entry 2", "entry 3"] if fault == "delete" else labels("entry ", 1, 3))
    assert entry_seqs(backend) == [4, 5, 6, 7, 8, 9]
    assert make().applied() == labels("a", 1, 9)
    assert_clean(alice)


# -- a disk that fails under a cached collection ---------------------------------------------


def test_a_disk_failing_under_a_cached_write_moves_it_to_memory(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = started(make, "cached", monkeypatch)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(FileImage, "write", disk_full)

    assert alice.write("in-memory") == 2

    assert alice.store.requests == [*loads(1), ("PUT", "entry 2", "200")]
    assert alice.cache.peek(KEY) is None
    assert_clean(alice)
    assert make().applied() == ["a", "in-memory"]


@pytest.mark.parametrize("step", ["after-append", "after-catch-up"])
def test_a_disk_that_cannot_record_a_clean_state_drops_the_copy_and_reports_the_truth(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    # The state file is the cache's smallest write; a full disk can refuse it too.
    alice = started(make, "cached", monkeypatch)
    make().write("b")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(alice.cache, "_write_state", disk_full)

    if step == "after-append":
        # Refused, run again after b; stored: it must be acknowledged, not reported failed.
        assert alice.write("c") == 3
        assert make().applied() == ["a", "b", "c"]
        expected = ["a", "b", "c"]
    else:
        expected = ["a", "b"]
    assert alice.applied() == expected
    # The copy could not prove its state: it is not kept.
    assert alice.cache.peek(KEY) is None
    monkeypatch.undo()
    assert_clean(alice)
    assert alice.applied() == expected


def test_a_collection_deleted_and_created_again_elsewhere_is_not_served_from_the_old_copy(
    make: MakeInstance, backend: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = started(make, "cached", monkeypatch)  # a warm copy, at entry 1 of the old log
    other = make()
    other.session.delete(KEY)  # the account is deleted, and the name registered again
    other.session.create(KEY, counter_db_bytes(100))

    assert alice.session.read(KEY, read_counter) == 100  # not the deleted account's data
    assert alice.write("new") == 101
    assert make().session.read(KEY, read_applied) == ["new"]  # nor written to its dead log
