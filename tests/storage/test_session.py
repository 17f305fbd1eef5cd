"""S3SQLiteSession on every object store: what a read and a write cost, what other
instances see, conflicts, compaction, old caches, replace and delete (docs/storage.md).

Most tests build instances with ``make_session``: each has its own cache and its own
record of requests, all share one store and a fake clock. The tests of the wire itself
run over HTTP to moto, through the fault-injecting proxy where they need faults.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from storage import metrics
from storage.errors import (
    CorruptDatabase,
    ObjectExists,
    ObjectNotFound,
    StoreUnavailable,
    WriteConflict,
)
from storage.images import MemoryImage, checksum_of
from storage.keys import PREFIX_LOGS
from storage.objects import ListedObject, NotModified, ObjectInfo, ObjectStore, StoredObject
from storage.pagelog import decode_entry, entry_key, is_closing, log_prefix
from storage.session import META_CHECKSUM, META_FOLDS, META_LOG_ID, META_SEQ
from tests.storage.conftest import (
    ENGINES,
    GRACE_SECONDS,
    KEY,
    TRUST_SECONDS,
    FakeClock,
    MakeSession,
    SessionRig,
    assert_cache_is_clean,
    counter_db_bytes,
    damaged_database,
    entry_seqs,
    increment,
    log_id_of,
    read_applied,
    read_counter,
    recorder,
    snapshot_applied,
    stored_snapshot,
    use_engine,
)
from tests.support.fault_proxy import Fault, FaultProxy

MakeRig = Callable[..., SessionRig]


def labels(prefix: str, count: int, start: int = 1) -> list[str]:
    return [f"{prefix}{n}" for n in range(start, start + count)]


def write_all(session_write: Callable[..., object], names: list[str]) -> None:
    for name in names:
        session_write(KEY, increment(name))


class Interposed:
    """A store that runs the queued actions (another instance's, say) just before the
    next compaction's PUT of the snapshot."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.before_snapshot_put: list[Callable[[], object]] = []

    def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject | NotModified:
        return self.inner.get(key, if_none_match=if_none_match)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        if if_match is not None and not key.startswith(PREFIX_LOGS) and self.before_snapshot_put:
            self.before_snapshot_put.pop(0)()
        return self.inner.put(
            key, body, if_match=if_match, if_none_match=if_none_match, metadata=metadata
        )

    def head(self, key: str) -> ObjectInfo:
        return self.inner.head(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str) -> list[ListedObject]:
        return self.inner.list(prefix)


class AtomicPuts(Interposed):
    """S3 checks a PUT's condition and stores the object in one step; moto in-process
    checks, then stores, so two threads could both pass the check. One PUT at a time
    gives every backend S3's guarantee (the local store has it already)."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self._mutex = threading.Lock()

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        with self._mutex:
            return super().put(
                key, body, if_match=if_match, if_none_match=if_none_match, metadata=metadata
            )


# -- what a read and a write cost --------------------------------------------------------


def test_a_warm_read_is_one_get_of_the_next_entry_answered_not_found(
    make_session: MakeSession,
) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    write_all(session.write, ["a", "b"])
    recorder(session).clear()

    with metrics.collecting(metrics.StorageStats()) as stats:
        assert session.read(KEY, read_counter) == 2

    assert recorder(session).summary() == [("GET", "entry 3", "404")]
    assert stats.store_requests == 1
    assert stats.bytes_in == 0  # no body


@pytest.mark.parametrize("entries", [0, 3])
def test_a_cold_read_gets_the_snapshot_then_each_entry_beyond_it(
    make_session: MakeSession, entries: int
) -> None:
    writer, reader = make_session(), make_session()
    writer.create(KEY, counter_db_bytes(5))
    write_all(writer.write, labels("w", entries))

    with metrics.collecting(metrics.StorageStats()) as stats:
        assert reader.read(KEY, read_counter) == 5 + entries

    assert recorder(reader).summary() == [
        ("GET", "snapshot", "200"),
        *[("GET", f"entry {n}", "200") for n in range(1, entries + 1)],
        ("GET", f"entry {entries + 1}", "404"),
    ]
    assert stats.store_requests == 1 + entries + 1


def test_a_write_with_a_current_cache_is_one_put_creating_the_next_entry(
    make_session: MakeSession, store: ObjectStore
) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    session.write(KEY, increment("a"))
    snapshot = stored_snapshot(store)
    recorder(session).clear()

    with metrics.collecting(metrics.StorageStats()) as stats:
        assert session.write(KEY, increment("b")) == 2

    [put] = recorder(session).requests
    assert (put.method, put.target, put.outcome) == ("PUT", "entry 2", "200")
    assert put.if_none_match == "*" and put.if_match is None
    assert stats.store_requests == 1
    assert entry_seqs(store) == [1, 2]
    assert stored_snapshot(store).etag == snapshot.etag  # the snapshot is not touched


@pytest.mark.parametrize("how", ENGINES)
def test_a_write_uploads_far_less_than_the_collection(
    make_session: MakeSession, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    body = counter_db_bytes(padding_kib=300)
    session = make_session()
    session.create(KEY, body)
    use_engine(session, how, monkeypatch)
    recorder(session).clear()

    with metrics.collecting(metrics.StorageStats()) as stats:
        assert session.write(KEY, increment("small")) == 1

    [put] = [r for r in recorder(session).requests if r.method == "PUT"]
    assert (put.target, put.outcome) == ("entry 1", "200")
    assert put.sent < len(body) / 10
    assert stats.log_bytes == put.sent and stats.compacted_bytes == 0
    assert len(session.cache) == (1 if how == "cached" else 0)
    assert make_session().read(KEY, read_applied) == ["small"]


def test_a_write_that_changes_nothing_sends_nothing(make_session: MakeSession) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    recorder(session).clear()
    assert session.write(KEY, read_counter) == 0
    assert recorder(session).requests == []


def test_a_failing_operation_changes_nothing(make_session: MakeSession, store: ObjectStore) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    state = session.cache.peek(KEY)
    recorder(session).clear()

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE counter SET value = 42")
        raise LookupError("no such card")

    with pytest.raises(LookupError):
        session.write(KEY, half_done)
    assert recorder(session).requests == []
    assert entry_seqs(store) == []
    assert state is not None
    assert_cache_is_clean(session, state.state)
    assert session.read(KEY, read_counter) == 0


def test_a_read_current_since_a_revalidation_sends_nothing(
    make_session: MakeSession, clock: FakeClock
) -> None:
    writer, reader = make_session(), make_session()
    writer.create(KEY, counter_db_bytes())
    moment = reader.revalidate(KEY)
    recorder(reader).clear()

    assert reader.read(KEY, read_counter, current_since=moment) == 0
    assert recorder(reader).requests == []

    writer.write(KEY, increment("later"))
    clock.advance(1)
    # A request that arrived after the revalidation is not answered from it.
    assert reader.read(KEY, read_applied, current_since=clock.time()) == ["later"]


# -- what other instances see ------------------------------------------------------------


@pytest.mark.parametrize("how", ENGINES)
def test_another_instances_writes_are_seen_by_the_next_read(
    make_session: MakeSession, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    a, b = make_session(), make_session()
    a.create(KEY, counter_db_bytes())
    use_engine(b, how, monkeypatch)
    assert b.read(KEY, read_counter) == 0

    assert a.write(KEY, increment("a1")) == 1
    assert b.read(KEY, read_applied) == ["a1"]

    write_all(a.write, ["a2", "a3", "a4"])
    recorder(b).clear()
    assert b.read(KEY, read_applied) == ["a1", "a2", "a3", "a4"]
    entries = [("GET", f"entry {n}", "200") for n in (1, 2, 3, 4)]
    if how == "cached":  # the entries it lacked, then the end of the log
        assert recorder(b).summary() == [*entries[1:], ("GET", "entry 5", "404")]
    else:  # from memory: the snapshot, the whole log, its end
        assert recorder(b).summary() == [
            ("GET", "snapshot", "200"),
            *entries,
            ("GET", "entry 5", "404"),
        ]
        assert len(b.cache) == 0

    assert b.write(KEY, increment("b1")) == 5
    assert a.read(KEY, read_applied) == ["a1", "a2", "a3", "a4", "b1"]


def test_a_write_from_a_stale_cache_is_refused_undone_caught_up_and_run_again(
    make_session: MakeSession, store: ObjectStore
) -> None:
    a, b = make_session(), make_session()
    a.create(KEY, counter_db_bytes())
    b.read(KEY, read_counter)  # b's cache: position 0
    write_all(a.write, ["a1", "a2", "a3"])
    recorder(b).clear()

    with metrics.collecting(metrics.StorageStats()) as stats:
        # The operation ran again on the fresh data: its result says so.
        assert b.write(KEY, increment("b")) == 4

    assert recorder(b).summary() == [
        ("PUT", "entry 1", "412"),  # the position b believed free
        ("HEAD", "entry 1", "200"),  # not ours: another SHA-256
        ("GET", "entry 1", "200"),
        ("GET", "entry 2", "200"),
        ("GET", "entry 3", "200"),
        ("GET", "entry 4", "404"),
        ("PUT", "entry 4", "200"),
    ]
    assert stats.conflicts_retried == 1
    assert a.read(KEY, read_applied) == ["a1", "a2", "a3", "b"]
    assert entry_seqs(store) == [1, 2, 3, 4]
    entry = b.cache.peek(KEY)
    assert entry is not None and entry.state.seq == 4
    assert_cache_is_clean(b)


def test_same_key_writes_in_one_process_are_serialised(
    make_session: MakeSession, store: ObjectStore
) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    recorder(session).clear()
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            write_all(session.write, labels(f"{n}-", 5))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    assert session.read(KEY, read_counter) == 30
    puts = [r for r in recorder(session).requests if r.method == "PUT"]
    # No lost races in-process: each write took the next position at its first try.
    assert [(r.target, r.outcome) for r in puts] == [(f"entry {n}", "200") for n in range(1, 31)]
    assert entry_seqs(store) == list(range(1, 31))


def test_writers_on_several_instances_at_once_keep_every_write(
    make_session: MakeSession, store: ObjectStore
) -> None:
    shared = AtomicPuts(store)
    sessions = [make_session(compaction_entries=4, attempts=60, inner=shared) for _ in range(3)]
    sessions[0].create(KEY, counter_db_bytes())
    start = threading.Barrier(len(sessions))
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            start.wait(10)
            write_all(sessions[n].write, labels(f"{n}-", 6))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    expected = sorted(f"{n}-{i}" for n in range(3) for i in range(1, 7))
    seen = make_session().read(KEY, read_applied)
    assert sorted(seen) == expected
    for session in sessions:
        assert session.read(KEY, read_applied) == seen
    # Each instance's writes are in its own order; compactions raced too, and the
    # snapshot holds exactly the log's first entries.
    for n in range(3):
        assert [label for label in seen if label.startswith(f"{n}-")] == labels(f"{n}-", 6)
    snapshot_seq = int(stored_snapshot(store).metadata[META_SEQ])
    assert snapshot_seq >= 4
    assert snapshot_applied(store) == seen[:snapshot_seq]
    assert entry_seqs(store) == list(range(1, 19))


# -- the wire (moto over HTTP) -----------------------------------------------------------


def test_on_the_wire_a_warm_read_is_one_get_and_a_write_one_conditional_put(
    make_rig: MakeRig,
) -> None:
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes())
    rig.log.clear()

    assert rig.session.read(KEY, read_counter) == 0
    [get] = rig.log.exchanges
    assert (get.method, get.status) == ("GET", 404)

    rig.log.clear()
    assert rig.session.write(KEY, increment("a")) == 1
    [put] = rig.log.exchanges
    assert (put.method, put.status) == ("PUT", 200)
    assert put.headers.get("If-None-Match") == "*" and "If-Match" not in put.headers


def test_conditional_request_conflict_409_is_treated_like_412(
    make_rig: MakeRig, proxy: FaultProxy
) -> None:
    rig = make_rig(proxy.url)
    rig.session.create(KEY, counter_db_bytes())
    rig.log.clear()
    proxy.inject(Fault("PUT", "status", status=409, code="ConditionalRequestConflict"))

    assert rig.session.write(KEY, increment("after-409")) == 1

    assert [(e.method, e.status) for e in rig.log.exchanges] == [
        ("PUT", 409),  # another conditional write in flight: someone else's
        ("HEAD", 404),  # not ours (there is none)
        ("GET", 404),  # caught up: nothing new after all
        ("PUT", 200),
    ]
    assert rig.session.read(KEY, read_applied) == ["after-409"]
    assert entry_seqs(rig.store) == [1]


def test_conflicts_exhausting_retries_answer_conflict_and_change_nothing(
    make_rig: MakeRig, proxy: FaultProxy
) -> None:
    rig = make_rig(proxy.url, attempts=3)
    rig.session.create(KEY, counter_db_bytes())
    snapshot = stored_snapshot(rig.store)
    proxy.inject(Fault("PUT", "status", status=412, times=3))

    with pytest.raises(WriteConflict):
        rig.session.write(KEY, increment("lost"))

    assert entry_seqs(rig.store) == []
    assert stored_snapshot(rig.store) == snapshot
    assert_cache_is_clean(rig.session)
    assert rig.session.read(KEY, read_applied) == []


@pytest.mark.parametrize(
    "fault",
    [Fault("PUT", "status", status=500, times=5), Fault("PUT", "reset", times=5)],
    ids=["http-500", "connection-reset"],
)
def test_failed_upload_is_an_error_and_leaves_no_trace(
    make_rig: MakeRig, proxy: FaultProxy, fault: Fault
) -> None:
    rig = make_rig(proxy.url)
    rig.session.create(KEY, counter_db_bytes())
    rig.session.read(KEY, read_counter)
    before = rig.session.cache.peek(KEY)
    assert before is not None
    proxy.inject(fault)

    with pytest.raises(StoreUnavailable):
        rig.session.write(KEY, increment("failed"))

    assert entry_seqs(rig.store) == []
    assert_cache_is_clean(rig.session, before.state)  # still the clean copy, where it was
    fault.times = 0  # the fault clears
    assert rig.session.write(KEY, increment("next")) == 1
    assert rig.session.read(KEY, read_applied) == ["next"]


def test_a_failed_get_of_the_next_entry_is_unavailable_not_stale(
    make_rig: MakeRig, proxy: FaultProxy
) -> None:
    reader, writer = make_rig(proxy.url), make_rig()
    reader.session.create(KEY, counter_db_bytes())
    reader.session.read(KEY, read_counter)
    writer.session.write(KEY, increment("new"))
    proxy.inject(Fault("GET", "status", status=503))

    with pytest.raises(StoreUnavailable):
        reader.session.read(KEY, read_applied)  # the cached copy is stale; it is not served

    assert_cache_is_clean(reader.session)
    assert reader.session.read(KEY, read_applied) == ["new"]


def test_put_applied_but_answer_lost_is_recognised_and_applied_once(
    make_rig: MakeRig, proxy: FaultProxy
) -> None:
    rig = make_rig(proxy.url, http_attempts=2)  # botocore retries the PUT once
    rig.session.create(KEY, counter_db_bytes())
    rig.log.clear()
    proxy.inject(Fault("PUT", "forward_then_reset"))

    assert rig.session.write(KEY, increment("once")) == 1

    assert [(e.method, e.status) for e in rig.log.exchanges] == [
        ("PUT", 0),  # first attempt: applied, but the connection was reset
        ("PUT", 412),  # botocore's retry: refused, the entry exists
        ("HEAD", 200),  # and it is recognised as ours
    ]
    assert make_rig().session.read(KEY, read_applied) == ["once"]
    rig.log.clear()
    assert rig.session.write(KEY, increment("next")) == 2  # the cache is current
    assert [(e.method, e.status) for e in rig.log.exchanges] == [("PUT", 200)]


# -- damaged data and the file format ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"this is not a database at all" * 100, "not a SQLite database"),
        (damaged_database(), "quick_check"),
    ],
    ids=["not-sqlite", "fails-quick-check"],
)
def test_a_corrupt_snapshot_is_reported_and_never_overwritten(
    make_session: MakeSession, store: ObjectStore, body: bytes, message: str
) -> None:
    session = make_session(compaction_entries=1)
    store.put(KEY, body)
    with pytest.raises(CorruptDatabase, match=message):
        session.read(KEY, read_counter)
    with pytest.raises(CorruptDatabase):
        session.write(KEY, increment("x"))
    assert stored_snapshot(store).body == body
    assert [r for r in recorder(session).requests if r.method == "PUT"] == []
    assert session.cache.peek(KEY) is None


def test_the_cached_file_is_changed_in_place_under_a_rollback_journal_without_fsync(
    make_session: MakeSession, store: ObjectStore
) -> None:
    # The journal names the pages the operation changed (they are what is uploaded);
    # the file is scratch until the entry is stored, so it is never synced.
    session = make_session(compaction_entries=1)
    session.create(KEY, counter_db_bytes())
    entry = session.cache.peek(KEY)
    assert entry is not None
    seen: dict[str, object] = {}

    def look(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE counter SET value = 5")
        (_, _, file), *_ = conn.execute("PRAGMA database_list").fetchall()
        seen["file"] = Path(file).resolve()
        seen["journal file"] = Path(file + "-journal").exists()
        seen["journal mode"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
        seen["synchronous"] = conn.execute("PRAGMA synchronous").fetchone()[0]

    session.write(KEY, look)
    assert seen == {
        "file": entry.path.resolve(),
        "journal file": True,
        "journal mode": "delete",
        "synchronous": 0,
    }
    assert not Path(f"{entry.path}-journal").exists()
    assert session.read(KEY, read_counter) == 5
    assert entry.path.read_bytes()[18:20] == b"\x01\x01"  # file format: rollback journal
    assert stored_snapshot(store).body[18:20] == b"\x01\x01"  # compacted at once (k = 1)


def test_operations_cannot_leave_the_stored_database_in_wal_mode(
    make_session: MakeSession, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = make_session(compaction_entries=1)
    writer.create(KEY, counter_db_bytes())

    def switch_to_wal(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("UPDATE counter SET value = 7")

    writer.write(KEY, switch_to_wal)

    in_memory = make_session()
    use_engine(in_memory, "too-big", monkeypatch)
    assert in_memory.read(KEY, read_counter) == 7
    assert stored_snapshot(store).body[18:20] == b"\x01\x01"  # file format: rollback journal


# -- create, read-only reads, missing collections, keys side by side --------------------


def test_create_never_overwrites(make_session: MakeSession) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes(1))
    with pytest.raises(ObjectExists):
        session.create(KEY, counter_db_bytes(2))
    assert session.read(KEY, read_counter) == 1
    assert make_session().read(KEY, read_counter) == 1


def test_reads_are_read_only(make_session: MakeSession, store: ObjectStore) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())

    def sneaky(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE counter SET value = 99")

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        session.read(KEY, sneaky)
    assert session.read(KEY, read_counter) == 0
    assert entry_seqs(store) == []
    assert_cache_is_clean(session)


def test_reading_a_missing_collection_is_not_found(make_session: MakeSession) -> None:
    session = make_session()
    with pytest.raises(ObjectNotFound):
        session.read("user_dbs/nobody.anki2", read_counter)
    with pytest.raises(ObjectNotFound):
        session.write("user_dbs/nobody.anki2", increment("x"))
    assert len(session.cache) == 0


def test_different_keys_proceed_in_parallel(make_session: MakeSession) -> None:
    session = make_session()
    session.create("user_dbs/a.anki2", counter_db_bytes())
    session.create("user_dbs/b.anki2", counter_db_bytes())
    inside_a = threading.Event()
    release_a = threading.Event()

    def slow(conn: sqlite3.Connection) -> int:
        inside_a.set()
        assert release_a.wait(10)
        return read_counter(conn)

    reader = threading.Thread(target=session.read, args=("user_dbs/a.anki2", slow))
    reader.start()
    try:
        assert inside_a.wait(10)
        # a is busy; b must not wait for it.
        assert session.write("user_dbs/b.anki2", increment("b")) == 1
    finally:
        release_a.set()
        reader.join()


# -- replace and delete --------------------------------------------------------------------


@pytest.mark.parametrize("how", ENGINES)
def test_replace_makes_a_body_current_as_a_full_image_entry(
    make_session: MakeSession, store: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    a, b = make_session(), make_session()
    a.create(KEY, counter_db_bytes())
    a.write(KEY, increment("before"))
    assert b.read(KEY, read_applied) == ["before"]
    snapshot = stored_snapshot(store)
    use_engine(a, how, monkeypatch)
    body = counter_db_bytes(42, padding_kib=20)  # more pages than the database had

    a.replace(KEY, body)

    assert entry_seqs(store) == [1, 2]
    stored = store.get(entry_key(KEY, log_id_of(store), 2))
    assert isinstance(stored, StoredObject)
    entry = decode_entry(stored.body, expected_seq=2)
    assert entry.full_image and len(entry.pages) == entry.page_count == len(body) // 4096
    assert stored_snapshot(store) == snapshot  # the log keeps what was replaced
    assert a.read(KEY, read_counter) == 42 and a.read(KEY, read_applied) == []
    assert b.read(KEY, read_counter) == 42
    assert b.write(KEY, increment("after")) == 43
    assert a.read(KEY, read_applied) == ["after"]


@pytest.mark.parametrize(
    "body",
    [b"this is not a database at all" * 100, damaged_database()],
    ids=["not-sqlite", "fails-quick-check"],
)
def test_replace_refuses_an_invalid_body_and_changes_nothing(
    make_session: MakeSession, store: ObjectStore, body: bytes
) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    session.write(KEY, increment("kept"))
    before = session.cache.peek(KEY)
    assert before is not None
    snapshot = stored_snapshot(store)
    recorder(session).clear()

    with pytest.raises(CorruptDatabase):
        session.replace(KEY, body)

    assert recorder(session).requests == []
    assert entry_seqs(store) == [1]
    assert stored_snapshot(store) == snapshot
    assert_cache_is_clean(session, before.state)
    assert session.read(KEY, read_applied) == ["kept"]


def test_delete_removes_the_snapshot_closes_its_log_and_create_starts_a_new_log(
    make_session: MakeSession, store: ObjectStore
) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    write_all(session.write, ["old-1", "old-2", "old-3"])
    old_log = log_id_of(store)
    old_entries = {}
    for seq in entry_seqs(store):
        stored = store.get(entry_key(KEY, old_log, seq))
        assert isinstance(stored, StoredObject)
        old_entries[seq] = stored.body

    session.delete(KEY)

    with pytest.raises(ObjectNotFound):
        store.head(KEY)
    # The log's end and every entry it held are the closing mark: no data is left in it,
    # and a copy at any of its positions learns the collection is gone.
    assert entry_seqs(store, log_id=old_log) == [*old_entries, max(old_entries) + 1]
    for seq in entry_seqs(store, log_id=old_log):
        closed = store.get(entry_key(KEY, old_log, seq))
        assert isinstance(closed, StoredObject) and is_closing(closed.body)
    assert session.cache.peek(KEY) is None
    with pytest.raises(ObjectNotFound):
        session.read(KEY, read_counter)

    # Even had the old entries kept their data (a delete stopped half-way), a
    # collection created again never meets them: it has a log of its own.
    for seq, body in old_entries.items():
        store.put(entry_key(KEY, old_log, seq), body)
    session.create(KEY, counter_db_bytes())
    assert log_id_of(store) != old_log
    assert session.read(KEY, read_applied) == []
    assert session.write(KEY, increment("new")) == 1
    assert make_session().read(KEY, read_applied) == ["new"]


class StopsBeforeDeleting(Interposed):
    """A store that fails the DELETE of the snapshot: a delete stopped after closing."""

    def delete(self, key: str) -> None:
        if not key.startswith(PREFIX_LOGS):
            raise StoreUnavailable("stopped before deleting the snapshot")
        self.inner.delete(key)


class WriterTakesTheEnd(Interposed):
    """Another instance appends just before the delete stores its closing mark."""

    def __init__(self, inner: ObjectStore, write: Callable[[], object]) -> None:
        super().__init__(inner)
        self.write: Callable[[], object] | None = write

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        if is_closing(body) and if_none_match is not None and self.write is not None:
            write, self.write = self.write, None
            write()
        return super().put(
            key, body, if_match=if_match, if_none_match=if_none_match, metadata=metadata
        )


def test_a_copy_behind_the_log_meets_the_closing_mark_of_a_deleted_collection(
    make_session: MakeSession, store: ObjectStore
) -> None:
    a, b = make_session(), make_session()
    a.create(KEY, counter_db_bytes())
    a.write(KEY, increment("one"))
    assert b.read(KEY, read_applied) == ["one"]  # b's young copy is at entry 1 of 3
    write_all(a.write, ["two", "three"])

    a.delete(KEY)

    with pytest.raises(ObjectNotFound):
        b.read(KEY, read_applied)
    assert b.cache.peek(KEY) is None
    with pytest.raises(ObjectNotFound):
        b.write(KEY, increment("into the void"))
    assert_nothing_holds_data(store)


def assert_nothing_holds_data(store: ObjectStore) -> None:
    for listed in store.list(PREFIX_LOGS):
        closed = store.get(listed.key)
        assert isinstance(closed, StoredObject) and is_closing(closed.body), listed.key


def test_a_write_that_wins_the_end_of_the_log_from_a_delete_goes_with_the_collection(
    make_session: MakeSession, store: ObjectStore
) -> None:
    a, b = make_session(), make_session()
    a.create(KEY, counter_db_bytes())
    a.write(KEY, increment("one"))
    old_log = log_id_of(store)
    deleter = make_session(inner=WriterTakesTheEnd(store, lambda: b.write(KEY, increment("b"))))

    deleter.delete(KEY)

    assert entry_seqs(store, log_id=old_log) == [1, 2, 3]  # b's entry 2, the mark at 3
    assert_nothing_holds_data(store)
    for session in (a, b, make_session()):
        with pytest.raises(ObjectNotFound):
            session.read(KEY, read_applied)


def test_a_delete_stopped_before_the_snapshot_went_reads_as_missing_and_can_be_retried(
    make_session: MakeSession, store: ObjectStore
) -> None:
    a = make_session()
    a.create(KEY, counter_db_bytes())
    write_all(a.write, ["one", "two"])
    stopped = make_session(inner=StopsBeforeDeleting(store))

    with pytest.raises(StoreUnavailable):
        stopped.delete(KEY)

    assert stored_snapshot(store).body  # still there, but its log is closed
    for session in (a, make_session()):
        with pytest.raises(ObjectNotFound):
            session.read(KEY, read_applied)
        with pytest.raises(ObjectNotFound):
            session.write(KEY, increment("lost"))
    with pytest.raises(ObjectExists):
        a.create(KEY, counter_db_bytes())  # the name stays taken until the delete ends

    a.delete(KEY)

    with pytest.raises(ObjectNotFound):
        store.head(KEY)
    assert_nothing_holds_data(store)
    a.create(KEY, counter_db_bytes())
    assert a.write(KEY, increment("new")) == 1
    assert make_session().read(KEY, read_applied) == ["new"]


def test_a_collection_deleted_and_created_again_elsewhere_is_not_served_from_the_old_log(
    make_session: MakeSession,
) -> None:
    a, b = make_session(), make_session()
    a.create(KEY, counter_db_bytes())
    a.write(KEY, increment("deleted"))
    assert b.read(KEY, read_applied) == ["deleted"]  # b's cache is young

    a.delete(KEY)
    a.create(KEY, counter_db_bytes())
    a.write(KEY, increment("new"))

    assert b.read(KEY, read_applied) == ["new"]
    assert b.write(KEY, increment("from-b")) == 2
    assert a.read(KEY, read_applied) == ["new", "from-b"]


def test_compaction_of_a_new_log_never_uses_the_folds_of_a_deleted_one(
    make_session: MakeSession, store: ObjectStore, clock: FakeClock
) -> None:
    interposed = Interposed(store)
    a = make_session(compaction_entries=3, inner=interposed)
    b = make_session()  # compacts only after 31 entries
    a.create(KEY, counter_db_bytes())
    write_all(a.write, labels("old-", 6))  # compactions at 3 and 6
    clock.advance(2 * GRACE_SECONDS)
    a.delete(KEY)
    a.create(KEY, counter_db_bytes())
    write_all(a.write, ["n1", "n2"])
    assert b.read(KEY, read_applied) == ["n1", "n2"]
    # Another instance appends entry 4 while a compacts at 3.
    interposed.before_snapshot_put.append(lambda: b.write(KEY, increment("b")))

    a.write(KEY, increment("n3"))

    assert entry_seqs(store) == [1, 2, 3, 4]  # folded only now; entry 4 never
    assert make_session().read(KEY, read_applied) == ["n1", "n2", "n3", "b"]


# -- compaction ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ENGINES)
def test_compaction_folds_the_log_into_the_snapshot_every_k_entries(
    make_session: MakeSession, store: ObjectStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    writer = make_session(compaction_entries=3)
    writer.create(KEY, counter_db_bytes())
    log_id = log_id_of(store)
    use_engine(writer, how, monkeypatch)
    write_all(writer.write, ["w1", "w2"])
    assert stored_snapshot(store).metadata[META_SEQ] == "0"

    with metrics.collecting(metrics.StorageStats()) as stats:
        assert writer.write(KEY, increment("w3")) == 3

    snapshot = stored_snapshot(store)
    assert snapshot.metadata[META_LOG_ID] == log_id
    assert snapshot.metadata[META_SEQ] == "3"
    assert snapshot.metadata[META_CHECKSUM] == str(checksum_of(MemoryImage(snapshot.body)))
    assert stats.compacted_bytes == len(snapshot.body)
    assert snapshot_applied(store) == ["w1", "w2", "w3"]  # the snapshot alone holds it all
    assert entry_seqs(store) == [1, 2, 3]  # folded, but younger than the grace

    # A cold read now starts at the snapshot: it, and the end of the log.
    reader = make_session()
    assert reader.read(KEY, read_applied) == ["w1", "w2", "w3"]
    assert recorder(reader).summary() == [("GET", "snapshot", "200"), ("GET", "entry 4", "404")]

    write_all(writer.write, ["w4", "w5", "w6"])
    assert stored_snapshot(store).metadata[META_SEQ] == "6"
    assert snapshot_applied(store) == labels("w", 6)
    assert reader.read(KEY, read_applied) == labels("w", 6)


def test_folded_entries_are_deleted_only_once_their_fold_is_older_than_the_grace(
    make_session: MakeSession, store: ObjectStore, clock: FakeClock
) -> None:
    writer = make_session(compaction_entries=3)
    writer.create(KEY, counter_db_bytes())
    write_all(writer.write, labels("w", 3))  # folded at 3 now
    clock.advance(GRACE_SECONDS - 1)

    write_all(writer.write, labels("w", 3, start=4))  # folded at 6; the fold at 3 is not old
    assert entry_seqs(store) == list(range(1, 7))

    clock.advance(2)
    write_all(writer.write, labels("w", 3, start=7))  # the fold at 3 is old now, at 6 not
    assert entry_seqs(store) == list(range(4, 10))
    assert stored_snapshot(store).metadata[META_FOLDS].split()[-1].startswith("9@")

    clock.advance(GRACE_SECONDS)
    write_all(writer.write, labels("w", 3, start=10))
    assert entry_seqs(store) == [10, 11, 12]
    assert make_session().read(KEY, read_applied) == labels("w", 12)


def test_a_compaction_that_loses_its_race_changes_nothing_and_the_write_stands(
    make_session: MakeSession, store: ObjectStore
) -> None:
    interposed = Interposed(store)
    a = make_session(compaction_entries=3, inner=interposed)
    b = make_session(compaction_entries=3)
    a.create(KEY, counter_db_bytes())
    write_all(a.write, ["w1", "w2"])
    etags: list[str] = []

    def compact_first() -> None:
        assert b.compact(KEY)
        etags.append(store.head(KEY).etag)

    interposed.before_snapshot_put.append(compact_first)

    assert a.write(KEY, increment("w3")) == 3  # the write stands

    snapshot_puts = [
        r for r in recorder(a).requests if r.target == "snapshot" and r.method == "PUT"
    ]
    assert [r.outcome for r in snapshot_puts[1:]] == ["412"]  # after create's own PUT
    assert stored_snapshot(store).etag == etags[0]  # b's, untouched
    assert stored_snapshot(store).metadata[META_SEQ] == "3"
    assert entry_seqs(store) == [1, 2, 3]
    assert a.read(KEY, read_applied) == ["w1", "w2", "w3"]

    # a learned where the snapshot is: its next compaction starts from b's.
    recorder(a).clear()
    write_all(a.write, ["w4", "w5", "w6"])
    [compaction] = [r for r in recorder(a).requests if r.target == "snapshot"]
    assert (compaction.outcome, compaction.if_match) == ("200", etags[0])
    assert snapshot_applied(store) == labels("w", 6)


# -- old caches ----------------------------------------------------------------------------


def test_a_cache_younger_than_the_trust_needs_one_request(
    make_session: MakeSession, clock: FakeClock
) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    clock.advance(TRUST_SECONDS - 1)
    recorder(session).clear()
    assert session.read(KEY, read_counter) == 0
    assert recorder(session).summary() == [("GET", "entry 1", "404")]


def test_an_old_cache_revalidates_the_snapshot_before_trusting_not_found(
    make_session: MakeSession, clock: FakeClock
) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    clock.advance(TRUST_SECONDS)
    recorder(session).clear()

    assert session.read(KEY, read_counter) == 0
    assert recorder(session).summary() == [("GET", "snapshot", "304"), ("GET", "entry 1", "404")]

    recorder(session).clear()  # young again
    assert session.read(KEY, read_counter) == 0
    assert recorder(session).summary() == [("GET", "entry 1", "404")]


@pytest.mark.parametrize("operation", ["read", "write"])
def test_an_old_cache_never_takes_deleted_entries_for_the_end_of_the_log(
    make_session: MakeSession, store: ObjectStore, clock: FakeClock, operation: str
) -> None:
    a, b = make_session(compaction_entries=3), make_session()
    a.create(KEY, counter_db_bytes())
    a.write(KEY, increment("a1"))
    assert b.read(KEY, read_applied) == ["a1"]  # b's cache: position 1
    write_all(a.write, labels("a", 5, start=2))  # compactions at 3 and 6
    clock.advance(GRACE_SECONDS + 1)
    write_all(a.write, labels("a", 3, start=7))  # at 9: deletes what was folded a grace ago
    assert entry_seqs(store) == [7, 8, 9]  # entry 2, which b would ask for, is gone
    recorder(b).clear()

    if operation == "read":
        assert b.read(KEY, read_applied) == labels("a", 9)
        assert recorder(b).summary() == [("GET", "snapshot", "200"), ("GET", "entry 10", "404")]
    else:
        assert b.write(KEY, increment("b")) == 10
        puts = [(r.target, r.outcome) for r in recorder(b).requests if r.method == "PUT"]
        assert puts == [("entry 10", "200")]  # never at a position the snapshot covers
        assert make_session().read(KEY, read_applied) == [*labels("a", 9), "b"]
        assert a.read(KEY, read_applied) == [*labels("a", 9), "b"]


def test_entries_live_under_the_logs_prefix(make_session: MakeSession, store: ObjectStore) -> None:
    session = make_session()
    session.create(KEY, counter_db_bytes())
    session.write(KEY, increment("a"))
    [listed] = store.list(log_prefix(KEY, log_id_of(store)))
    assert listed.key == f"logs/{KEY}/{log_id_of(store)}/0000000000000001"
