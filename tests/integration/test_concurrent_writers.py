"""Several processes write one collection through S3SQLiteSession over HTTP to moto."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from storage.cache import DiskCache
from storage.errors import WriteConflict
from storage.objects import StoredObject
from storage.s3 import S3ObjectStore
from storage.session import LogPolicy, RetryPolicy, S3SQLiteSession
from tests.conftest import s3_client_for
from tests.storage.conftest import KEY, counter_db_bytes, increment, read_applied, read_counter
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.integration

PROCESSES = 4
WRITES_EACH = 25


def _writer(
    endpoint: str, bucket: str, cache_dir: str, worker: int, compaction_entries: int
) -> tuple[list[str], int]:
    """Do WRITES_EACH acknowledged writes; return their labels and the conflicts seen."""
    session = S3SQLiteSession(
        S3ObjectStore(s3_client_for(endpoint), bucket),
        DiskCache(cache_dir, max_bytes=16 * 1024 * 1024),
        retry=RetryPolicy(attempts=4),
        log_policy=LogPolicy(compaction_entries=compaction_entries),
    )
    acknowledged: list[str] = []
    exhausted = 0
    while len(acknowledged) < WRITES_EACH:
        label = f"w{worker}-{len(acknowledged)}"
        try:
            session.write(KEY, increment(label))
        except WriteConflict:
            exhausted += 1  # not acknowledged: the client would try again, and so do we
            continue
        acknowledged.append(label)
    return acknowledged, exhausted


# 31: the default, a few compactions race the writers; 2: compactors race each other too.
@pytest.mark.parametrize("compaction_entries", [31, 2])
def test_every_acknowledged_write_is_kept_once(
    moto_server: MotoServer, bucket: str, tmp_path: Path, compaction_entries: int
) -> None:
    setup = S3SQLiteSession(
        S3ObjectStore(s3_client_for(moto_server.url), bucket),
        DiskCache(tmp_path / "setup-cache", max_bytes=16 * 1024 * 1024),
    )
    setup.create(KEY, counter_db_bytes(0))

    args = [
        (moto_server.url, bucket, str(tmp_path / f"cache-{n}"), n, compaction_entries)
        for n in range(PROCESSES)
    ]
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.starmap(_writer, args)

    acknowledged = [label for labels, _ in results for label in labels]
    stored = setup.read(KEY, read_applied)
    assert len(acknowledged) == PROCESSES * WRITES_EACH
    assert sorted(stored) == sorted(acknowledged)  # nothing lost, nothing extra
    assert len(set(stored)) == len(stored)  # nothing applied twice
    assert setup.read(KEY, read_counter) == len(acknowledged)

    # The collection object is always a whole database, a little behind at most.
    snapshot = setup.store.get(KEY)
    assert isinstance(snapshot, StoredObject)
    in_snapshot = _applied_in(snapshot.body, tmp_path / "snapshot.sqlite")
    assert set(in_snapshot) <= set(stored)
    assert len(stored) - len(in_snapshot) < 2 * compaction_entries + PROCESSES


def _applied_in(body: bytes, path: Path) -> list[str]:
    path.write_bytes(body)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        return read_applied(conn)
    finally:
        conn.close()
