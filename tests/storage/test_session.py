"""S3SQLiteSession over real HTTP to a moto server: costs, conflicts, faults, corruption."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.errors import CorruptDatabase, ObjectExists, StoreUnavailable, WriteConflict
from storage.objects import StoredObject
from tests.storage.conftest import (
    KEY,
    SessionRig,
    counter_db_bytes,
    increment,
    read_applied,
    read_counter,
)
from tests.support.fault_proxy import Fault, FaultProxy

MakeRig = Callable[..., SessionRig]


def stored_bytes(rig: SessionRig) -> bytes:
    result = rig.store.get(KEY)
    assert isinstance(result, StoredObject)
    return result.body


def test_write_is_stored_and_seen_by_another_process_cache(make_rig: MakeRig) -> None:
    first, second = make_rig(), make_rig()
    first.session.create(KEY, counter_db_bytes(0))
    assert first.session.write(KEY, increment("a")) == 1
    assert second.session.read(KEY, read_counter) == 1


def test_reads_are_read_only(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes())

    def sneaky(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE counter SET value = 99")

    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        rig.session.read(KEY, sneaky)
    assert rig.session.read(KEY, read_counter) == 0


def test_warm_read_is_one_conditional_get_without_body(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes())
    rig.session.read(KEY, read_counter)
    rig.log.clear()

    assert rig.session.read(KEY, read_counter) == 0

    [exchange] = rig.log.exchanges
    assert exchange.method == "GET"
    assert "If-None-Match" in exchange.headers
    assert exchange.status == 304
    assert exchange.body_bytes == 0


def test_cold_read_is_one_get(make_rig: MakeRig) -> None:
    writer, reader = make_rig(), make_rig()
    writer.session.create(KEY, counter_db_bytes(5))
    assert reader.session.read(KEY, read_counter) == 5
    assert [(e.method, e.status) for e in reader.log.exchanges] == [("GET", 200)]


def test_write_with_current_cache_is_one_conditional_put(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes())
    rig.log.clear()

    rig.session.write(KEY, increment("a"))

    [exchange] = rig.log.exchanges
    assert exchange.method == "PUT"
    assert exchange.status == 200
    assert "If-Match" in exchange.headers


def test_write_that_changes_nothing_sends_nothing(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes())
    rig.log.clear()
    assert rig.session.write(KEY, read_counter) == 0
    assert rig.log.exchanges == []


def test_failing_operation_changes_nothing(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes())
    before = stored_bytes(rig)
    rig.log.clear()

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE counter SET value = 42")
        raise LookupError("no such card")

    with pytest.raises(LookupError):
        rig.session.write(KEY, half_done)
    assert rig.log.exchanges == []
    assert stored_bytes(rig) == before
    assert rig.session.read(KEY, read_counter) == 0


def test_the_private_copy_is_written_without_journal_file_or_fsync(make_rig: MakeRig) -> None:
    # It is scratch until the PUT succeeds; the uploaded file is still a rollback-journal
    # database (see the WAL test below), and a failed operation still rolls back (above).
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes())
    seen: dict[str, object] = {}

    def look(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE counter SET value = 5")
        (_, _, file), *_ = conn.execute("PRAGMA database_list").fetchall()
        seen["journal file"] = Path(file + "-journal").exists()
        seen["synchronous"] = conn.execute("PRAGMA synchronous").fetchone()[0]

    rig.session.write(KEY, look)
    assert seen == {"journal file": False, "synchronous": 0}
    assert rig.session.read(KEY, read_counter) == 5
    assert stored_bytes(rig)[18:20] == b"\x01\x01"


def test_stale_cache_write_reloads_and_reapplies(make_rig: MakeRig) -> None:
    a, b = make_rig(), make_rig()
    a.session.create(KEY, counter_db_bytes())
    b.session.read(KEY, read_counter)  # b caches version 0
    a.session.write(KEY, increment("from-a"))
    b.log.clear()

    assert b.session.write(KEY, increment("from-b")) == 2

    assert [(e.method, e.status) for e in b.log.exchanges] == [
        ("PUT", 412),
        ("HEAD", 200),  # was it our own write? no
        ("GET", 200),
        ("PUT", 200),
    ]
    assert a.session.read(KEY, read_applied) == ["from-a", "from-b"]


def test_conflicts_exhausting_retries_answer_conflict_and_change_nothing(
    make_rig: MakeRig, proxy: FaultProxy
) -> None:
    rig = make_rig(proxy.url, attempts=3)
    rig.session.create(KEY, counter_db_bytes())
    before = stored_bytes(rig)
    proxy.inject(Fault("PUT", "status", status=412, times=3))
    with pytest.raises(WriteConflict):
        rig.session.write(KEY, increment("lost"))
    assert stored_bytes(rig) == before
    assert rig.session.read(KEY, read_applied) == []


def test_conditional_request_conflict_409_is_retried_like_412(
    make_rig: MakeRig, proxy: FaultProxy
) -> None:
    rig = make_rig(proxy.url)
    rig.session.create(KEY, counter_db_bytes())
    proxy.inject(Fault("PUT", "status", status=409, code="ConditionalRequestConflict"))
    assert rig.session.write(KEY, increment("after-409")) == 1
    assert [(e.method, e.status) for e in rig.log.exchanges][-4:] == [
        ("PUT", 409),
        ("HEAD", 200),
        ("GET", 200),
        ("PUT", 200),
    ]
    assert rig.session.read(KEY, read_applied) == ["after-409"]


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
    before = stored_bytes(rig)
    proxy.inject(fault)

    with pytest.raises(StoreUnavailable):
        rig.session.write(KEY, increment("failed"))

    assert stored_bytes(rig) == before
    entry = rig.session.cache.peek(KEY)
    assert entry is not None and entry.path.read_bytes() == before  # still the clean copy
    assert list(rig.session.cache.work_dir.iterdir()) == []
    fault.times = 0  # the fault clears
    assert rig.session.write(KEY, increment("next")) == 1
    assert rig.session.read(KEY, read_applied) == ["next"]


def test_failed_conditional_get_is_unavailable_not_stale(
    make_rig: MakeRig, proxy: FaultProxy
) -> None:
    rig = make_rig(proxy.url)
    rig.session.create(KEY, counter_db_bytes())
    proxy.inject(Fault("GET", "status", status=503, times=5))
    with pytest.raises(StoreUnavailable):
        rig.session.read(KEY, read_counter)


def test_put_applied_but_answer_lost_is_recognised_and_applied_once(
    make_rig: MakeRig, proxy: FaultProxy
) -> None:
    rig = make_rig(proxy.url, http_attempts=2)  # botocore retries the PUT once
    rig.session.create(KEY, counter_db_bytes())
    proxy.inject(Fault("PUT", "forward_then_reset"))

    assert rig.session.write(KEY, increment("once")) == 1

    assert [(e.method, e.status) for e in rig.log.exchanges][-3:] == [
        ("PUT", 0),  # first attempt: applied, but the connection was reset
        ("PUT", 412),  # botocore's retry: refused, the ETag moved on
        ("HEAD", 200),  # and the new version is recognised as ours
    ]
    fresh = make_rig()
    assert fresh.session.read(KEY, read_applied) == ["once"]
    assert rig.session.write(KEY, increment("next")) == 2  # the cache is current


def damaged_database() -> bytes:
    body = bytearray(counter_db_bytes())
    # Page 2 holds the first table's b-tree; scribbling over its header breaks it.
    body[4096 : 4096 + 16] = b"\xff" * 16
    return bytes(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"this is not a database at all" * 100, "not a SQLite database"),
        (damaged_database(), "quick_check"),
    ],
    ids=["not-sqlite", "fails-quick-check"],
)
def test_corrupt_object_is_reported_and_never_overwritten(
    make_rig: MakeRig, body: bytes, message: str
) -> None:
    rig = make_rig()
    rig.store.put(KEY, body)
    with pytest.raises(CorruptDatabase, match=message):
        rig.session.read(KEY, read_counter)
    with pytest.raises(CorruptDatabase):
        rig.session.write(KEY, increment("x"))
    assert stored_bytes(rig) == body
    assert rig.log.methods.count("PUT") == 1  # only the test's own
    assert rig.session.cache.peek(KEY) is None


def test_create_never_overwrites(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes(1))
    with pytest.raises(ObjectExists):
        rig.session.create(KEY, counter_db_bytes(2))
    assert rig.session.read(KEY, read_counter) == 1


def test_operations_cannot_leave_the_file_in_wal_mode(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes())

    def switch_to_wal(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("UPDATE counter SET value = 7")

    rig.session.write(KEY, switch_to_wal)
    body = stored_bytes(rig)
    assert body[18:20] == b"\x01\x01"  # file format versions: 1 = rollback journal


def test_same_key_writes_in_one_process_are_serialised(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.create(KEY, counter_db_bytes())
    rig.log.clear()

    def worker(n: int) -> None:
        for i in range(5):
            rig.session.write(KEY, increment(f"{n}-{i}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert rig.session.read(KEY, read_counter) == 30
    puts = [e for e in rig.log.exchanges if e.method == "PUT"]
    assert len(puts) == 30 and all(e.status == 200 for e in puts)  # no lost races in-process


def test_different_keys_proceed_in_parallel(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.create("user_dbs/a.anki2", counter_db_bytes())
    rig.session.create("user_dbs/b.anki2", counter_db_bytes())
    inside_a = threading.Event()
    release_a = threading.Event()

    def slow(conn: sqlite3.Connection) -> int:
        inside_a.set()
        assert release_a.wait(10)
        return read_counter(conn)

    reader = threading.Thread(target=rig.session.read, args=("user_dbs/a.anki2", slow))
    reader.start()
    assert inside_a.wait(10)
    # a is busy; b must not wait for it.
    assert rig.session.write("user_dbs/b.anki2", increment("b")) == 1
    release_a.set()
    reader.join()


def test_reading_a_missing_collection_is_not_found(make_rig: MakeRig, tmp_path: Path) -> None:
    from storage.objects import ObjectNotFound

    rig = make_rig()
    with pytest.raises(ObjectNotFound):
        rig.session.read("user_dbs/nobody.anki2", read_counter)
    with pytest.raises(ObjectNotFound):
        rig.session.write("user_dbs/nobody.anki2", increment("x"))
