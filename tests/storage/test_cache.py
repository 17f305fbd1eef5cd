"""The LRU disk cache: budget, recency, pinning, dirty marks and recovery after a restart.

Entries are real databases at a log position (a ``LogState``): at start-up an entry is
kept only if its state file is there (it was clean) and its pages match the state's
checksum (it was not torn).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from storage.cache import DiskCache, LogState
from storage.images import MemoryImage, checksum_of
from tests.storage.conftest import counter_db_bytes

PAGE = 4096


def database(value: int, *, padding_kib: int = 0) -> bytes:
    return counter_db_bytes(value, padding_kib=padding_kib)


def state_of(body: bytes, *, seq: int = 0, log_id: str = "log-a") -> LogState:
    image = MemoryImage(body)
    return LogState(
        snapshot_etag='"etag"',
        log_id=log_id,
        snapshot_seq=0,
        seq=seq,
        checksum=checksum_of(image),
        page_size=image.page_size,
        checked_at=1000.0,
    )


def put(cache: DiskCache, key: str, body: bytes, *, seq: int = 0) -> LogState | None:
    """Install ``body`` as ``key``'s entry; its state, or None if it did not fit."""
    source = cache.work_path()
    source.write_bytes(body)
    state = state_of(body, seq=seq)
    if cache.install(key, source, state) is None:
        source.unlink()
        return None
    return state


def state_files(cache: DiskCache) -> list[Path]:
    return sorted(cache.directory.glob("*.state"))


def test_install_then_peek_gives_the_file_and_its_state(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=100_000)
    body = database(7)
    state = put(cache, "k", body)

    entry = cache.peek("k")
    assert entry is not None and state is not None
    assert entry.path.read_bytes() == body
    assert entry.state == state
    assert cache.size_bytes == entry.size == len(body)
    assert json.loads(entry.path.with_suffix(".state").read_text())["checksum"] == state.checksum


def test_a_new_install_replaces_the_old_file(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1_000_000)
    put(cache, "k", database(1))
    first = cache.peek("k")
    bigger = database(2, padding_kib=20)
    put(cache, "k", bigger, seq=5)
    second = cache.peek("k")

    assert first is not None and second is not None
    assert not first.path.exists() and not first.path.with_suffix(".state").exists()
    assert second.path.read_bytes() == bigger and second.state.seq == 5
    assert cache.size_bytes == len(bigger)
    assert len(cache) == 1


def test_the_least_recently_used_entry_is_evicted_within_the_budget(tmp_path: Path) -> None:
    size = len(database(0))
    cache = DiskCache(tmp_path, max_bytes=3 * size)
    for value, key in enumerate("abc"):
        put(cache, key, database(value))
    with cache.use("a"):  # a is now the most recently used
        pass
    put(cache, "d", database(9))

    assert cache.peek("b") is None
    assert {k for k in "acd" if cache.peek(k)} == {"a", "c", "d"}
    assert cache.size_bytes <= cache.max_bytes
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("*.entry"))
    assert on_disk == cache.size_bytes
    assert len(state_files(cache)) == 3


def test_an_entry_larger_than_the_budget_is_not_cached(tmp_path: Path) -> None:
    body = database(0)
    cache = DiskCache(tmp_path, max_bytes=len(body) - 1)
    assert not cache.fits(len(body))
    assert put(cache, "big", body) is None
    assert cache.peek("big") is None
    assert cache.size_bytes == 0


def test_a_pinned_entry_survives_eviction_until_released(tmp_path: Path) -> None:
    a, b = database(1), database(2)
    cache = DiskCache(tmp_path, max_bytes=len(a))
    put(cache, "a", a)
    with cache.use("a") as entry:
        assert entry is not None
        put(cache, "b", b)
        assert entry.path.read_bytes() == a  # still readable while in use
    assert cache.size_bytes <= cache.max_bytes
    assert cache.peek("a") is None and not entry.path.exists()
    kept = cache.peek("b")
    assert kept is not None and kept.path.read_bytes() == b


def test_a_discarded_entry_in_use_is_removed_when_released(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=100_000)
    put(cache, "a", database(1))
    with cache.use("a") as entry:
        assert entry is not None
        cache.discard("a")
        assert entry.path.exists()
    assert not entry.path.exists()
    assert cache.peek("a") is None
    assert state_files(cache) == []


def test_mark_clean_records_the_new_state_and_size(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1_000_000)
    put(cache, "k", database(1))
    entry = cache.peek("k")
    assert entry is not None
    cache.mark_dirty("k")
    assert not entry.path.with_suffix(".state").exists()
    grown = database(5, padding_kib=12)
    entry.path.write_bytes(grown)
    new_state = state_of(grown, seq=3)

    marked = cache.mark_clean("k", new_state)

    assert marked is not None and marked.state == new_state and marked.size == len(grown)
    assert cache.size_bytes == len(grown)
    del cache
    reopened = DiskCache(tmp_path, max_bytes=1_000_000)
    recovered = reopened.peek("k")
    assert recovered is not None and recovered.state == new_state


def test_an_entry_whose_state_cannot_be_recorded_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DiskCache(tmp_path, max_bytes=100_000)
    state = put(cache, "k", database(1))
    assert state is not None
    entry = cache.peek("k")
    assert entry is not None
    cache.mark_dirty("k")

    def refuse(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "_write_state", refuse)
    assert cache.mark_clean("k", replace(state, seq=1)) is None
    assert cache.peek("k") is None and not entry.path.exists()
    assert cache.size_bytes == 0


def test_a_restart_recovers_clean_entries_and_wipes_unfinished_work(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1_000_000)
    a, b = database(1), database(2, padding_kib=8)
    state_a = put(cache, "a", a, seq=4)
    put(cache, "b", b)
    (tmp_path / f"{'0' * 40}.{'0' * 16}.state").write_text("{}")  # an orphan state file
    scratch = cache.work_path()
    scratch.write_bytes(b"an unfinished download")
    del cache  # releases the directory

    reopened = DiskCache(tmp_path, max_bytes=1_000_000)
    entry = reopened.peek("a")
    assert entry is not None and entry.path.read_bytes() == a and entry.state == state_a
    assert reopened.size_bytes == len(a) + len(b)
    assert list(reopened.work_dir.iterdir()) == []
    assert len(state_files(reopened)) == 2


def test_a_restart_drops_an_entry_left_dirty(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=100_000)
    put(cache, "a", database(1))
    put(cache, "b", database(2))
    cache.mark_dirty("a")  # a write was changing it in place when the process stopped
    dirty = cache.peek("a")
    assert dirty is not None
    del cache

    reopened = DiskCache(tmp_path, max_bytes=100_000)
    assert reopened.peek("a") is None and not dirty.path.exists()
    assert reopened.peek("b") is not None
    assert reopened.size_bytes == len(database(2))


def test_a_restart_drops_an_entry_whose_pages_do_not_match_its_state(tmp_path: Path) -> None:
    # Entries are written without fsync: a power cut can tear one under a clean state.
    cache = DiskCache(tmp_path, max_bytes=100_000)
    put(cache, "a", database(1))
    entry = cache.peek("a")
    assert entry is not None
    torn = bytearray(entry.path.read_bytes())
    torn[PAGE + 100] ^= 0xFF  # a byte of page 2
    entry.path.write_bytes(bytes(torn))
    del cache

    reopened = DiskCache(tmp_path, max_bytes=100_000)
    assert reopened.peek("a") is None
    assert not entry.path.exists() and not entry.path.with_suffix(".state").exists()


def test_a_restart_keeps_the_newest_of_two_entries_for_a_key(tmp_path: Path) -> None:
    # A process stopped between installing a new version and retiring the old one.
    cache = DiskCache(tmp_path, max_bytes=1_000_000)
    state = put(cache, "k", database(1), seq=2)
    old = cache.peek("k")
    assert old is not None and state is not None
    digest, _, _ = old.path.name.split(".")
    newer = old.path.with_name(f"{digest}.{'f' * 16}.entry")
    shutil.copyfile(old.path, newer)
    newer.with_suffix(".state").write_text(
        json.dumps({**json.loads(old.path.with_suffix(".state").read_text()), "seq": 3})
    )
    del cache

    reopened = DiskCache(tmp_path, max_bytes=1_000_000)
    kept = reopened.peek("k")
    assert kept is not None and kept.path == newer and kept.state == replace(state, seq=3)
    assert not old.path.exists()
    assert len(reopened) == 1


def test_a_second_process_gets_a_private_directory(tmp_path: Path) -> None:
    first = DiskCache(tmp_path, max_bytes=100_000)
    second = DiskCache(tmp_path, max_bytes=100_000)
    assert second.directory != first.directory
    put(first, "a", database(1))
    assert second.peek("a") is None
