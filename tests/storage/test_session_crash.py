"""A process SIGKILLed at any step of a write or of a compaction loses nothing
acknowledged, applies nothing twice, and leaves nothing unacknowledged to serve.

Each case runs a child process that makes acknowledged writes, then kills itself at
one step of the next write or compaction. The parent restarts a session on the same
cache directory and checks it against a fresh instance with an empty cache.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from storage.cache import DiskCache
from storage.images import FileImage, checksum_of
from storage.local import LocalObjectStore
from storage.objects import ObjectStore
from storage.pagelog import log_prefix
from storage.s3 import S3ObjectStore
from storage.session import META_LOG_ID, META_SEQ, LogPolicy, S3SQLiteSession
from tests.conftest import s3_client_for
from tests.storage.conftest import KEY, counter_db_bytes, increment, read_applied
from tests.support.moto_server import MotoServer

ROOT = Path(__file__).resolve().parents[2]
GRACE = 1000.0

# argv: store kind, endpoint or directory, bucket, cache dir, step, result file.
CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    import boto3
    from botocore.config import Config
    from storage.cache import DiskCache
    from storage.local import LocalObjectStore
    from storage.s3 import S3ObjectStore
    from storage.session import LogPolicy, S3SQLiteSession

    # Kept light on purpose: the test fixtures' modules take seconds to import.
    KEY = "user_dbs/alice.anki2"

    def increment(label):
        def operation(conn):
            conn.execute("UPDATE counter SET value = value + 1")
            conn.execute("INSERT INTO applied VALUES (?)", (label,))
        return operation

    def s3_client_for(endpoint):
        config = Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1})
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", config=config
        )

    kind, where, bucket, cache_dir, step, result_file = sys.argv[1:7]
    GRACE = float(sys.argv[7])
    now = [1_000_000.0]
    armed = [False]

    def die(at):
        if armed[0] and step == at:
            os.kill(os.getpid(), signal.SIGKILL)

    Base = S3ObjectStore if kind == "s3" else LocalObjectStore

    class Store(Base):
        def put(self, key, body, **kw):
            snapshot = key == KEY
            die("compaction-before-put" if snapshot else "write-before-put")
            etag = super().put(key, body, **kw)
            die("compaction-after-put" if snapshot else "write-after-put")
            return etag

        def delete(self, key):
            super().delete(key)
            die("compaction-mid-delete")

    class Cache(DiskCache):
        def mark_dirty(self, key):
            super().mark_dirty(key)
            die("write-after-dirty")

        def mark_clean(self, key, state):
            entry = super().mark_clean(key, state)
            die("write-after-clean")
            return entry

    store = Store(s3_client_for(where), bucket) if kind == "s3" else Store(where)
    session = S3SQLiteSession(
        store,
        Cache(cache_dir, 1 << 24),
        log_policy=LogPolicy(
            compaction_entries=3, grace_seconds=GRACE, trust_seconds=GRACE / 2
        ),
        clock=lambda: now[0],
    )
    acknowledged = []

    def write(label):
        session.write(KEY, increment(label))
        acknowledged.append(label)
        with open(result_file, "w") as f:
            json.dump(acknowledged, f)

    # Two acknowledged writes, then (for compaction steps) a third that compacts and
    # a clock past the grace, so the next compaction deletes folded entries.
    write("a")
    write("b")
    if step.startswith("compaction"):
        write("c")  # entry 3: the first compaction (folds 1-3)
        write("d")
        write("e")
        now[0] += 2 * GRACE
        armed[0] = True
        write("f")  # entry 6: compacts again and deletes entries 1-3
    else:
        armed[0] = True
        write("c")
    print("survived", file=sys.stderr)
    """
)

WRITE_STEPS = ["write-after-dirty", "write-before-put", "write-after-put", "write-after-clean"]
COMPACTION_STEPS = ["compaction-before-put", "compaction-after-put", "compaction-mid-delete"]


def _stores(kind: str, moto_server: MotoServer, bucket: str, tmp_path: Path) -> ObjectStore:
    if kind == "s3":
        return S3ObjectStore(s3_client_for(moto_server.url), bucket)
    return LocalObjectStore(tmp_path / "objects")


@pytest.mark.parametrize("kind", ["s3", "local"])
@pytest.mark.parametrize("step", WRITE_STEPS + COMPACTION_STEPS)
def test_a_killed_process_loses_nothing_acknowledged(
    kind: str, step: str, moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    store = _stores(kind, moto_server, bucket, tmp_path)
    policy = LogPolicy(compaction_entries=3, grace_seconds=GRACE, trust_seconds=GRACE / 2)
    S3SQLiteSession(store, DiskCache(tmp_path / "setup", 1 << 24)).create(KEY, counter_db_bytes(0))
    cache_dir = tmp_path / "cache"
    result_file = tmp_path / "acknowledged.json"
    where = moto_server.url if kind == "s3" else str(tmp_path / "objects")
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            kind,
            where,
            bucket,
            str(cache_dir),
            step,
            str(result_file),
            str(GRACE),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    acknowledged = json.loads(result_file.read_text())
    in_flight = "c" if step.startswith("write") else "f"

    # A fresh instance sees every acknowledged write once, and the one in flight at
    # most once (a write whose entry landed happened, even if never acknowledged).
    fresh = S3SQLiteSession(store, DiskCache(tmp_path / "fresh", 1 << 24), log_policy=policy)
    seen = fresh.read(KEY, read_applied)
    assert seen in (acknowledged, [*acknowledged, in_flight])
    landed = seen == [*acknowledged, in_flight]
    if step in ("write-after-dirty", "write-before-put"):
        assert not landed
    if step in ("write-after-put", "compaction-before-put", "compaction-after-put"):
        assert landed

    # The restarted process serves exactly that: nothing dirty survived the kill.
    restarted = S3SQLiteSession(store, DiskCache(cache_dir, 1 << 24), log_policy=policy)
    assert list(restarted.cache.work_dir.iterdir()) == []
    entry = restarted.cache.peek(KEY)
    if entry is not None:
        image = FileImage(entry.path)
        try:
            assert checksum_of(image) == entry.state.checksum
        finally:
            image.close()
    assert restarted.read(KEY, read_applied) == seen

    # Both go on writing, and each sees the other's writes.
    restarted.write(KEY, increment("after-restart"))
    fresh.write(KEY, increment("fresh"))
    assert restarted.read(KEY, read_applied) == [*seen, "after-restart", "fresh"]
    assert fresh.read(KEY, read_applied) == [*seen, "after-restart", "fresh"]

    # The snapshot is always a complete database that opens on its own, at a position
    # whose entries are all still there or folded into it.
    snapshot = store.get(KEY)
    assert not isinstance(snapshot, type(None))
    body = snapshot.body  # type: ignore[union-attr]
    path = tmp_path / "snapshot.sqlite"
    path.write_bytes(body)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        in_snapshot = read_applied(conn)
    finally:
        conn.close()
    assert in_snapshot == seen[: len(in_snapshot)] or in_snapshot[: len(seen)] == seen
    metadata = snapshot.metadata  # type: ignore[union-attr]
    remaining = [
        int(o.key.rsplit("/", 1)[-1]) for o in store.list(log_prefix(KEY, metadata[META_LOG_ID]))
    ]
    snapshot_seq = int(metadata[META_SEQ])
    total = len(seen) + 2  # every write so far is one entry
    assert set(range(snapshot_seq + 1, total + 1)) <= set(remaining)
