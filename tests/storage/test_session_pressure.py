"""Cache pressure: a budget smaller than the working set, and a disk that refuses writes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.storage.conftest import (
    KEY,
    SessionRig,
    counter_db_bytes,
    increment,
    read_applied,
    read_counter,
)
from tests.support.moto_server import MotoServer
from tests.support.stored import open_bytes, stored_collection

MakeRig = Callable[..., SessionRig]
ROOT = Path(__file__).resolve().parents[2]


def test_budget_smaller_than_the_working_set_still_serves_correct_data(
    make_rig: MakeRig,
) -> None:
    rig = make_rig()
    keys = [f"user_dbs/learner-{i}.anki2" for i in range(4)]
    for key in keys:
        rig.session.create(key, counter_db_bytes(padding_kib=60))
    # Room for one collection only: every other request evicts.
    rig.session.cache.max_bytes = int(len(counter_db_bytes(padding_kib=60)) * 1.5)
    expected = dict.fromkeys(keys, 0)
    for round_ in range(5):
        for key in keys:
            assert rig.session.write(key, increment(f"{key}-{round_}")) == expected[key] + 1
            expected[key] += 1
            assert rig.session.read(key, read_counter) == expected[key]
    for key in keys:
        assert rig.session.read(key, read_counter) == 5
        assert len(rig.session.read(key, read_applied)) == 5
    assert rig.session.cache.size_bytes <= rig.session.cache.max_bytes
    assert len(rig.session.cache) == 1


def test_collection_bigger_than_the_budget_is_served_from_memory(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.session.cache.max_bytes = 10_000
    rig.session.create(KEY, counter_db_bytes(padding_kib=100))
    assert len(rig.session.cache) == 0
    assert rig.session.write(KEY, increment("big")) == 1
    assert rig.session.read(KEY, read_applied) == ["big"]
    assert len(rig.session.cache) == 0
    assert list(rig.session.cache.work_dir.iterdir()) == []


# The child may not write any file over 16 KiB: a disk as good as full for collections.
CHILD = textwrap.dedent(
    """
    import json, logging, resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writing past the limit: an OSError
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from storage.cache import DiskCache
    from storage.s3 import S3ObjectStore
    from storage.session import S3SQLiteSession
    from tests.conftest import s3_client_for
    from tests.storage.conftest import KEY, increment, read_applied, read_counter

    endpoint, bucket, cache_dir = sys.argv[1:4]
    session = S3SQLiteSession(
        S3ObjectStore(s3_client_for(endpoint), bucket), DiskCache(cache_dir, 1 << 24)
    )
    before = session.read(KEY, read_counter)
    after = session.write(KEY, increment("disk-full"))
    seen = session.read(KEY, read_applied)
    cached = len(session.cache)
    print(json.dumps({"before": before, "after": after, "seen": seen, "cached": cached}))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE semantics")
def test_full_disk_degrades_to_uncached_operation(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    from storage.s3 import S3ObjectStore
    from tests.conftest import s3_client_for

    store = S3ObjectStore(s3_client_for(moto_server.url), bucket)
    store.put(KEY, counter_db_bytes(padding_kib=64))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, moto_server.url, bucket, str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result == {"before": 0, "after": 1, "seen": ["disk-full"], "cached": 0}
    assert "in memory" in child.stderr
    assert "Traceback" not in child.stderr
    assert read_applied(open_bytes(stored_collection(store, KEY))) == ["disk-full"]
