"""Restoring a collection as of an earlier write (storage/restore.py), on a versioned
bucket (moto over HTTP) and on the local store, which keeps no versions.

Every test writes the same history through a real session: a database created at
position 0, then 14 changes, compacted every 4 entries, with the entries folded long
enough ago deleted (the session's clock moves 60 s per write; the grace is 100 s). The
store then holds the snapshot at position 12 and entries 9-14; a versioned bucket also
keeps snapshots 0, 4 and 8 and entries 1-8 as noncurrent versions.

The payload is a plain SQLite table: the storage layer knows nothing of Anki.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import moto.s3.models
import pytest

from storage.cache import DiskCache
from storage.errors import CorruptDatabase
from storage.local import LocalObjectStore, file_name
from storage.objects import ObjectStore, StoredObject
from storage.pagelog import decode_entry, entry_key, log_prefix
from storage.restore import (
    Restorer,
    RestoreRefused,
    UnknownKey,
    integrity_check,
)
from storage.s3 import S3ObjectStore
from storage.session import META_LOG_ID, LogPolicy, RetryPolicy, S3SQLiteSession
from tests.conftest import s3_client_for
from tests.support.moto_server import MotoServer

KEY = "user_dbs/alice.anki2"
WRITES = 14
COMPACTION_ENTRIES = 4
SNAPSHOT_SEQ = 12  # where the last compaction of the 14 writes left the snapshot
PRESENT = range(9, 15)  # the entries still present (1-8 were folded and deleted)
# The moto server's clock moves this much on every reading, so that no two writes share
# a LastModified (S3 keeps it to the second).
MOTO_TICK = timedelta(seconds=10)

Rows = list[tuple[int, str]]


# -- the payload ---------------------------------------------------------------------------


def initial_database() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db.sqlite"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        conn.execute("INSERT INTO notes VALUES (0, 'created')")
        conn.commit()
        conn.close()
        return path.read_bytes()


def change(k: int) -> Callable[[sqlite3.Connection], None]:
    """Write k: a new row of about 1.5 KB (so pages split and the file grows), now and
    then a row deleted or an old one edited."""

    def operation(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO notes VALUES (?, ?)", (k, f"change {k} " + "x" * 1500))
        if k % 3 == 0:
            conn.execute("DELETE FROM notes WHERE id = ?", (k - 2,))
        if k % 5 == 0:
            conn.execute("UPDATE notes SET body = ? WHERE id = 0", (f"edited at {k}",))

    return operation


def rows(conn: sqlite3.Connection) -> Rows:
    return [(int(i), str(b)) for i, b in conn.execute("SELECT id, body FROM notes ORDER BY id")]


def rows_of(body: bytes) -> Rows:
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(body)
        return rows(conn)
    finally:
        conn.close()


# -- the two stores ------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


@dataclass
class Backend:
    name: str
    store: ObjectStore
    tmp: Path
    client: Any = None  # S3 only: a boto3 client on the bucket, to look behind the code
    bucket: str = ""
    clock: FakeClock = field(default_factory=FakeClock)
    _count: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def versioned(self) -> bool:
        return self.name == "s3"

    def session(self) -> S3SQLiteSession:
        """An instance of the service: its own cache, on the shared store and clock."""
        return S3SQLiteSession(
            self.store,
            DiskCache(self.tmp / f"cache-{next(self._count)}", max_bytes=64 * 1024 * 1024),
            retry=RetryPolicy(attempts=4, base_delay=0),
            log_policy=LogPolicy(
                compaction_entries=COMPACTION_ENTRIES, grace_seconds=100, trust_seconds=50
            ),
            clock=self.clock.time,
        )

    def local_path(self, key: str) -> Path:
        assert isinstance(self.store, LocalObjectStore)
        return self.store.root.joinpath(*(file_name(part) for part in key.split("/")))

    def everything(self) -> dict[str, str]:
        """Every object (every version, on S3) with a digest of its bytes: what a test
        compares to prove that nothing changed."""
        found: dict[str, str] = {}
        if self.name == "s3":
            pages = self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket)
            for page in pages:
                for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    found[f"{item['Key']}@{item['VersionId']}"] = str(item.get("ETag"))
            return found
        assert isinstance(self.store, LocalObjectStore)
        for path in sorted(self.store.root.rglob("*")):
            if path.is_file() and ".locks" not in path.parts:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        return found


def tick_moto_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The moto server's clock (a thread of this process) moves MOTO_TICK per reading."""
    ticks = itertools.count()
    start = datetime(2030, 1, 1, 12, 0, 0)

    def utcnow() -> datetime:
        return start + next(ticks) * MOTO_TICK

    monkeypatch.setattr(moto.s3.models, "utcnow", utcnow)


def versioned_backend(endpoint: str, bucket: str, tmp_path: Path) -> Backend:
    """A bucket with versioning on, as the stack creates it."""
    client = s3_client_for(endpoint)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return Backend("s3", S3ObjectStore(client, bucket), tmp_path, client=client, bucket=bucket)


@pytest.fixture(params=["s3", "local"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")  # type: ignore[no-any-return]


@pytest.fixture
def local_backend(tmp_path: Path) -> Backend:
    return Backend("local", LocalObjectStore(tmp_path / "objects"), tmp_path)


@pytest.fixture
def s3_backend(
    moto_server: MotoServer, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    tick_moto_clock(monkeypatch)
    return versioned_backend(moto_server.url, bucket, tmp_path)


@dataclass
class Written:
    session: S3SQLiteSession  # the instance that wrote it all
    states: dict[int, Rows]  # what the collection held at each position
    log_id: str


def write_history(backend: Backend) -> Written:
    session = backend.session()
    session.create(KEY, initial_database())
    states = {0: session.read(KEY, rows)}
    for k in range(1, WRITES + 1):
        backend.clock.now += 60
        session.write(KEY, change(k))
        states[k] = session.read(KEY, rows)
    log_id = backend.store.head(KEY).metadata[META_LOG_ID]
    # The history the tests restore from: compacted, folded entries deleted.
    assert current_entries(backend, log_id) == list(PRESENT)
    assert snapshot_seq(backend) == SNAPSHOT_SEQ
    assert len({tuple(state) for state in states.values()}) == WRITES + 1  # all different
    return Written(session, states, log_id)


def current_entries(backend: Backend, log_id: str) -> list[int]:
    return [
        int(item.key.rsplit("/", 1)[-1]) for item in backend.store.list(log_prefix(KEY, log_id))
    ]


def snapshot_seq(backend: Backend) -> int:
    return int(backend.store.head(KEY).metadata["log-seq"])


def content_seen_by_a_new_instance(backend: Backend) -> Rows:
    return backend.session().read(KEY, rows)


@pytest.fixture
def written(backend: Backend) -> Written:
    return write_history(backend)


@pytest.fixture
def s3_written(s3_backend: Backend) -> Written:
    return write_history(s3_backend)


# -- the history ---------------------------------------------------------------------------


def test_history_lists_every_kept_write_and_snapshot(backend: Backend, written: Written) -> None:
    history = Restorer(written.session).history(KEY)

    assert history.current is not None and history.current.seq == SNAPSHOT_SEQ
    assert history.head(written.log_id) == WRITES
    writes = [e for e in history.events() if e.kind == "write"]
    snapshots = [e for e in history.events() if e.kind == "snapshot"]
    if backend.versioned:
        # Every acknowledged write, the folded ones as the versions the bucket keeps.
        assert [e.seq for e in writes] == list(range(1, WRITES + 1))
        assert [e.note for e in writes] == ["folded, kept as a version"] * 8 + [""] * 6
        assert [e.seq for e in snapshots] == [0, 4, 8, 12]
        assert all(e.version_id for e in writes + snapshots)
        assert history.restorable(written.log_id) == [(0, WRITES)]
        times = [e.at for e in history.events()]
        assert times == sorted(times) and len(set(times)) == len(times)
    else:
        assert [e.seq for e in writes] == list(PRESENT)
        assert [e.seq for e in snapshots] == [SNAPSHOT_SEQ]
        assert history.restorable(written.log_id) == [(SNAPSHOT_SEQ, WRITES)]
        assert "keeps no versions" in history.note


def test_an_unknown_key_has_no_history(backend: Backend, written: Written) -> None:
    with pytest.raises(UnknownKey):
        Restorer(written.session).history("user_dbs/nobody.anki2")


# -- restoring to a position ---------------------------------------------------------------


def test_restore_to_a_position_is_a_new_write_that_can_be_undone(
    backend: Backend, written: Written
) -> None:
    restorer = Restorer(written.session)
    # A versioned bucket goes back past compactions; the local store only to its snapshot.
    target = 5 if backend.versioned else SNAPSHOT_SEQ + 1

    plan = restorer.history(KEY).plan_position(target)
    rebuilt = restorer.rebuild(plan)
    assert rows_of(rebuilt.body) == written.states[target]
    restored = restorer.restore(rebuilt)

    # The restore is entry 15: a full image of the old state, appended after the rest.
    assert (restored.log_id, restored.position) == (written.log_id, WRITES + 1)
    stored = backend.store.get(entry_key(KEY, written.log_id, WRITES + 1))
    assert isinstance(stored, StoredObject)
    assert decode_entry(stored.body, expected_seq=WRITES + 1).full_image
    # Every instance sees it: a new one, and the writer's own (warm) cache.
    assert content_seen_by_a_new_instance(backend) == written.states[target]
    assert written.session.read(KEY, rows) == written.states[target]

    # Nothing was lost: position 14 is still there, and so is the restore itself.
    history = restorer.history(KEY)
    assert history.head(written.log_id) == WRITES + 1
    assert (
        rows_of(restorer.rebuild(history.plan_position(WRITES + 1)).body)
        == (written.states[target])
    )
    # Restoring position 14 undoes the restore.
    undone = restorer.restore(restorer.rebuild(history.plan_position(WRITES)))
    assert undone.position == WRITES + 2
    assert content_seen_by_a_new_instance(backend) == written.states[WRITES]
    assert written.session.read(KEY, rows) == written.states[WRITES]
    # That write was due to compact (16 - 12 = 4 entries): the local store, which keeps
    # no versions, can no longer go back before it; the bucket can.
    assert snapshot_seq(backend) == WRITES + 2
    history = restorer.history(KEY)
    if backend.versioned:
        again = restorer.rebuild(history.plan_position(WRITES + 1))
        assert rows_of(again.body) == written.states[target]
    else:
        with pytest.raises(RestoreRefused, match="Restorable positions: 16"):
            history.plan_position(WRITES + 1)


def test_every_kept_position_rebuilds_to_what_it_held(backend: Backend, written: Written) -> None:
    restorer = Restorer(written.session)
    history = restorer.history(KEY)
    positions = range(0, WRITES + 1) if backend.versioned else range(SNAPSHOT_SEQ, WRITES + 1)
    for position in positions:
        rebuilt = restorer.rebuild(history.plan_position(position))
        assert rows_of(rebuilt.body) == written.states[position], position


def test_unknown_and_no_longer_kept_positions_are_refused(
    backend: Backend, written: Written
) -> None:
    restorer = Restorer(written.session)
    history = restorer.history(KEY)
    before = backend.everything()

    with pytest.raises(RestoreRefused, match=r"position 15 does not exist.*ends at position 14"):
        history.plan_position(WRITES + 1)
    with pytest.raises(RestoreRefused, match="position -1 does not exist"):
        history.plan_position(-1)
    with pytest.raises(RestoreRefused, match="no log"):
        history.plan_position(3, log_id="0123456789abcdef")
    if not backend.versioned:
        # Entries 9-11 are still there, but no snapshot that old is.
        with pytest.raises(RestoreRefused, match=r"no snapshot at or before it.*12-14"):
            history.plan_position(10)
        with pytest.raises(RestoreRefused, match="keeps no versions"):
            history.plan_version("anything")
    else:
        with pytest.raises(RestoreRefused, match="no kept version nope"):
            history.plan_version("nope")
    assert backend.everything() == before


def test_a_position_whose_entry_expired_is_refused(
    s3_backend: Backend, s3_written: Written
) -> None:
    """The lifecycle rule removed the noncurrent version of entry 6: positions 6 and 7
    have no chain any more; 5 (from snapshot 0) and 8 (snapshot 8) still do."""
    client, bucket = s3_backend.client, s3_backend.bucket
    key6 = entry_key(KEY, s3_written.log_id, 6)
    for item in client.list_object_versions(Bucket=bucket, Prefix=key6)["Versions"]:
        client.delete_object(Bucket=bucket, Key=key6, VersionId=item["VersionId"])
    restorer = Restorer(s3_written.session)
    history = restorer.history(KEY)

    assert history.restorable(s3_written.log_id) == [(0, 5), (8, WRITES)]
    for position in (6, 7):
        with pytest.raises(RestoreRefused, match=r"entry 6 is not kept.*0-5, 8-14"):
            history.plan_position(position)
    for position in (5, 8):
        rebuilt = restorer.rebuild(history.plan_position(position))
        assert rows_of(rebuilt.body) == s3_written.states[position]


def test_a_damaged_entry_is_reported_and_nothing_is_written(
    backend: Backend, written: Written
) -> None:
    restorer = Restorer(written.session)
    seq = 3 if backend.versioned else 13
    key = entry_key(KEY, written.log_id, seq)
    if backend.versioned:
        # The only version left of entry 3 is a damaged one.
        client, bucket = backend.client, backend.bucket
        versions = client.list_object_versions(Bucket=backend.bucket, Prefix=key)["Versions"]
        body = client.get_object(Bucket=bucket, Key=key, VersionId=versions[0]["VersionId"])
        good = body["Body"].read()
        for item in versions:
            client.delete_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])
        client.put_object(Bucket=bucket, Key=key, Body=good[:-100])
    else:
        stored = backend.store.get(key)
        assert isinstance(stored, StoredObject)
        backend.store.put(key, stored.body[:-100])
    plan = restorer.history(KEY).plan_position(seq)
    before = backend.everything()

    with pytest.raises(CorruptDatabase, match=f"log entry {seq} fails its checksum"):
        restorer.rebuild(plan)
    assert backend.everything() == before


def test_an_entry_in_the_wrong_place_is_reported(local_backend: Backend) -> None:
    """Entry 14's bytes where entry 13 should be: refused, never applied."""
    backend = local_backend
    written = write_history(backend)
    misplaced = backend.store.get(entry_key(KEY, written.log_id, 14))
    assert isinstance(misplaced, StoredObject)
    backend.store.put(entry_key(KEY, written.log_id, 13), misplaced.body)
    restorer = Restorer(written.session)
    with pytest.raises(CorruptDatabase, match="log entry 13 says it is entry 14"):
        restorer.rebuild(restorer.history(KEY).plan_position(13))


# -- restoring to a time -------------------------------------------------------------------


def entry_times(backend: Backend, log_id: str) -> dict[int, datetime]:
    """Each entry's LastModified, read back from the store itself (every kept version)."""
    times: dict[int, datetime] = {}
    prefix = log_prefix(KEY, log_id)
    if backend.versioned:
        listing = backend.client.list_object_versions(Bucket=backend.bucket, Prefix=prefix)
        for item in listing["Versions"]:
            times[int(item["Key"].rsplit("/", 1)[-1])] = item["LastModified"].astimezone(UTC)
    else:
        for listed in backend.store.list(prefix):
            moment = datetime.fromtimestamp(listed.last_modified, UTC)
            times[int(listed.key.rsplit("/", 1)[-1])] = moment
    return times


def space_out_local_entries(backend: Backend, log_id: str) -> datetime:
    """On the local store LastModified is the file's time, which a test may set: entry
    k at base + 10k s, the snapshot (stored after entry 12) at base + 125 s."""
    base = datetime(2030, 1, 1, tzinfo=UTC)
    for seq in PRESENT:
        path = backend.local_path(entry_key(KEY, log_id, seq))
        moment = (base + timedelta(seconds=10 * seq)).timestamp()
        os.utime(path, (moment, moment))
    snapshot = (base + timedelta(seconds=125)).timestamp()
    os.utime(backend.local_path(KEY), (snapshot, snapshot))
    return base


def test_restore_to_a_time(backend: Backend, written: Written) -> None:
    if not backend.versioned:
        space_out_local_entries(backend, written.log_id)
    times = entry_times(backend, written.log_id)
    restorer = Restorer(written.session)
    history = restorer.history(KEY)
    # A folded entry on the bucket; an entry after the snapshot locally.
    seq = 6 if backend.versioned else 13
    assert times[seq] + timedelta(seconds=1) < times[seq + 1]

    # At the write's own time, and a second later: the state right after it.
    for when in (times[seq], times[seq] + timedelta(seconds=1)):
        plan = history.plan_time(when)
        assert (plan.log_id, plan.seq, plan.at) == (written.log_id, seq, times[seq])
        assert rows_of(restorer.rebuild(plan).body) == written.states[seq]
    # Any time zone names the same moment.
    east = times[seq].astimezone(dt.timezone(timedelta(hours=5)))
    assert history.plan_time(east).seq == seq

    restorer.restore(restorer.rebuild(history.plan_time(times[seq])))
    assert content_seen_by_a_new_instance(backend) == written.states[seq]


def test_a_time_before_what_is_kept_is_refused(backend: Backend, written: Written) -> None:
    if not backend.versioned:
        space_out_local_entries(backend, written.log_id)
    history = Restorer(written.session).history(KEY)
    first = min(e.at for e in history.events())
    with pytest.raises(RestoreRefused):
        history.plan_time(first - timedelta(seconds=1))
    if not backend.versioned:
        # Entry 10 is still there, but not the snapshot it would be rebuilt from.
        times = entry_times(backend, written.log_id)
        with pytest.raises(RestoreRefused, match=r"position 10 .* no snapshot at or before"):
            history.plan_time(times[10])


# -- restoring a version -------------------------------------------------------------------


def snapshot_version_at(s3_backend: Backend, seq: int) -> str:
    """The version id of the snapshot at ``seq``, found with boto3 alone."""
    client, bucket = s3_backend.client, s3_backend.bucket
    for item in client.list_object_versions(Bucket=bucket, Prefix=KEY)["Versions"]:
        if item["Key"] != KEY:
            continue
        head = client.head_object(Bucket=bucket, Key=KEY, VersionId=item["VersionId"])
        if head["Metadata"].get("log-seq") == str(seq):
            return str(item["VersionId"])
    raise AssertionError(f"no snapshot version at {seq}")


def test_restore_a_snapshot_version_or_an_entry_version(
    s3_backend: Backend, s3_written: Written
) -> None:
    restorer = Restorer(s3_written.session)
    history = restorer.history(KEY)
    version = snapshot_version_at(s3_backend, 4)

    plan = history.plan_version(version)
    assert (plan.seq, plan.entries, plan.base.version.version_id) == (4, (), version)
    restorer.restore(restorer.rebuild(plan))
    assert content_seen_by_a_new_instance(s3_backend) == s3_written.states[4]

    key6 = entry_key(KEY, s3_written.log_id, 6)
    listing = s3_backend.client.list_object_versions(Bucket=s3_backend.bucket, Prefix=key6)
    entry_version = listing["Versions"][0]["VersionId"]
    plan = restorer.history(KEY).plan_version(entry_version)
    assert plan.seq == 6
    assert rows_of(restorer.rebuild(plan).body) == s3_written.states[6]


# -- a deleted collection ------------------------------------------------------------------


def test_a_deleted_collection_keeps_its_history_but_is_not_restored(
    s3_backend: Backend, s3_written: Written
) -> None:
    times = entry_times(s3_backend, s3_written.log_id)
    s3_written.session.delete(KEY)
    restorer = Restorer(s3_written.session)
    history = restorer.history(KEY)

    assert history.current is None and len(history.deletions) == 1
    assert [e.kind for e in history.events()][-1] == "deleted"
    with pytest.raises(RestoreRefused, match="was deleted"):
        history.plan_position(3)
    with pytest.raises(RestoreRefused, match="did not exist"):
        history.plan_time(history.deletions[0].last_modified)
    # What it held before can still be rebuilt (to hand to an operator), not written back.
    rebuilt = restorer.rebuild(history.plan_time(times[6]))
    assert rows_of(rebuilt.body) == s3_written.states[6]
    before = s3_backend.everything()
    with pytest.raises(RestoreRefused, match="deleted"):
        restorer.restore(rebuilt)
    assert s3_backend.everything() == before


def test_a_collection_registered_again_is_restored_from_its_earlier_life(
    s3_backend: Backend, s3_written: Written
) -> None:
    """Deleted, then created anew (a new log): a time before the deletion finds the old
    log, and the restore is a write of the new one."""
    times = entry_times(s3_backend, s3_written.log_id)
    s3_written.session.delete(KEY)
    session = s3_backend.session()
    session.create(KEY, initial_database())
    session.write(KEY, change(100))
    fresh = session.read(KEY, rows)
    new_log = s3_backend.store.head(KEY).metadata[META_LOG_ID]
    assert new_log != s3_written.log_id
    restorer = Restorer(session)
    history = restorer.history(KEY)

    assert history.logs() == [s3_written.log_id, new_log]
    assert [e.kind for e in history.events()][WRITES + 4 :] == ["deleted", "snapshot", "write"]
    # Positions name the current log; times and versions reach the earlier one.
    assert rows_of(restorer.rebuild(history.plan_position(1)).body) == fresh
    with pytest.raises(RestoreRefused, match="ends at position 1"):
        history.plan_position(6)
    plan = history.plan_time(times[6])
    assert (plan.log_id, plan.seq) == (s3_written.log_id, 6)
    restored = restorer.restore(restorer.rebuild(plan))
    assert (restored.log_id, restored.position) == (new_log, 2)
    assert content_seen_by_a_new_instance(s3_backend) == s3_written.states[6]


# -- the final check -----------------------------------------------------------------------


def test_integrity_check_refuses_a_damaged_database() -> None:
    body = initial_database()
    integrity_check(body)
    damaged = bytearray(body)
    damaged[4096 : 4096 + 16] = b"\xff" * 16  # page 2: the table's b-tree
    with pytest.raises(CorruptDatabase, match="integrity_check"):
        integrity_check(bytes(damaged))
