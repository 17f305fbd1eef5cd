"""What only the local directory store needs: safe keys and cross-process atomicity."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from storage.local import LocalObjectStore
from storage.objects import PreconditionFailed, StoredObject


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", ".locks/x"])
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    store = LocalObjectStore(tmp_path)
    with pytest.raises(ValueError, match="key"):
        store.put(key, b"x")
    assert not (tmp_path.parent / "x").exists()


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    for i in range(5):
        store.put("user_dbs/a.anki2", str(i).encode())
    assert [p.name for p in (tmp_path / ".tmp").iterdir()] == []
    assert (tmp_path / "user_dbs" / "a.anki2").read_bytes() == b"4"


def _increment(root: str, times: int) -> int:
    """Read-modify-write a counter with If-Match, retrying lost races."""
    store = LocalObjectStore(root)
    done = 0
    while done < times:
        current = store.get("counter")
        assert isinstance(current, StoredObject)
        try:
            store.put("counter", str(int(current.body) + 1).encode(), if_match=current.etag)
        except PreconditionFailed:
            continue
        done += 1
    return done


def test_if_match_holds_across_processes(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.put("counter", b"0")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        acknowledged = sum(pool.starmap(_increment, [(str(tmp_path), 30)] * 4))
    final = store.get("counter")
    assert isinstance(final, StoredObject)
    assert int(final.body) == acknowledged == 120
