"""A process killed between its local commit and the upload leaves nothing to serve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from storage.cache import DiskCache
from storage.s3 import S3ObjectStore
from storage.session import S3SQLiteSession
from tests.conftest import s3_client_for
from tests.storage.conftest import KEY, counter_db_bytes, read_applied
from tests.support.moto_server import MotoServer

# The child commits the change locally, then is SIGKILLed just as it would upload.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from storage.cache import DiskCache
    from storage.s3 import S3ObjectStore
    from storage.session import S3SQLiteSession
    from tests.conftest import s3_client_for
    from tests.storage.conftest import KEY, increment

    endpoint, bucket, cache_dir = sys.argv[1:4]

    class DiesBeforeUpload(S3ObjectStore):
        def put(self, key, body, **conditions):
            os.kill(os.getpid(), signal.SIGKILL)

    session = S3SQLiteSession(
        DiesBeforeUpload(s3_client_for(endpoint), bucket), DiskCache(cache_dir, 1 << 24)
    )
    session.read(KEY, lambda conn: None)  # a warm, clean cache entry first
    session.write(KEY, increment("never-acknowledged"))
    """
)


def test_killed_writer_leaves_no_dirty_copy(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    store = S3ObjectStore(s3_client_for(moto_server.url), bucket)
    store.put(KEY, counter_db_bytes(0))
    cache_dir = tmp_path / "cache"

    child = subprocess.run(
        [sys.executable, "-c", CHILD, moto_server.url, bucket, str(cache_dir)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    work_files = list((cache_dir / "work").iterdir())
    assert work_files, "the child should have died holding a committed local copy"

    restarted = S3SQLiteSession(store, DiskCache(cache_dir, 1 << 24))
    assert list(restarted.cache.work_dir.iterdir()) == []
    entry = restarted.cache.peek(KEY)
    assert entry is not None
    assert entry.path.read_bytes() == counter_db_bytes(0) or entry.path.read_bytes() == (
        store.get(KEY).body  # type: ignore[union-attr]
    )
    assert restarted.read(KEY, read_applied) == []


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL semantics")
def test_restart_serves_what_s3_holds(moto_server: MotoServer, bucket: str, tmp_path: Path) -> None:
    store = S3ObjectStore(s3_client_for(moto_server.url), bucket)
    session = S3SQLiteSession(store, DiskCache(tmp_path / "cache", 1 << 24))
    session.create(KEY, counter_db_bytes(0))
    del session
    # Someone else writes while this instance is down.
    other = S3SQLiteSession(store, DiskCache(tmp_path / "other", 1 << 24))
    from tests.storage.conftest import increment

    other.write(KEY, increment("while-down"))

    restarted = S3SQLiteSession(store, DiskCache(tmp_path / "cache", 1 << 24))
    assert restarted.read(KEY, read_applied) == ["while-down"]
