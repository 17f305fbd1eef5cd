"""The LRU disk cache: budget, recency, pinning and recovery after a restart."""

from __future__ import annotations

import hashlib
from pathlib import Path

from storage.cache import DiskCache


def etag_of(body: bytes) -> str:
    return '"' + hashlib.md5(body).hexdigest() + '"'


def put(cache: DiskCache, key: str, body: bytes) -> bool:
    source = cache.work_path()
    source.write_bytes(body)
    return cache.install(key, source, etag_of(body))


def test_install_then_peek_gives_clean_copy_with_etag(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1000)
    assert put(cache, "k", b"hello")
    entry = cache.peek("k")
    assert entry is not None
    assert entry.path.read_bytes() == b"hello"
    assert entry.etag == etag_of(b"hello")
    assert cache.size_bytes == 5


def test_new_version_replaces_old_file(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1000)
    put(cache, "k", b"one")
    first = cache.peek("k")
    put(cache, "k", b"two!")
    second = cache.peek("k")
    assert first is not None and second is not None
    assert not first.path.exists()
    assert second.path.read_bytes() == b"two!"
    assert cache.size_bytes == 4
    assert len(cache) == 1


def test_least_recently_used_is_evicted_within_budget(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=30)
    for key in "abc":
        put(cache, key, key.encode() * 10)
    with cache.use("a"):  # a is now the most recently used
        pass
    put(cache, "d", b"d" * 10)
    assert cache.peek("b") is None
    assert {k for k in "acd" if cache.peek(k)} == {"a", "c", "d"}
    assert cache.size_bytes <= 30
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("*.entry"))
    assert on_disk == cache.size_bytes


def test_entry_larger_than_budget_is_not_cached(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=10)
    assert not put(cache, "big", b"x" * 11)
    assert cache.peek("big") is None
    assert cache.size_bytes == 0


def test_pinned_entry_survives_eviction_until_released(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=10)
    put(cache, "a", b"a" * 10)
    with cache.use("a") as entry:
        assert entry is not None
        put(cache, "b", b"b" * 10)
        assert entry.path.read_bytes() == b"a" * 10  # still readable while in use
    assert cache.size_bytes <= 10
    assert cache.peek("a") is None
    b = cache.peek("b")
    assert b is not None and b.path.read_bytes() == b"b" * 10


def test_discarded_entry_in_use_is_removed_when_released(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=100)
    put(cache, "a", b"aaaa")
    with cache.use("a") as entry:
        assert entry is not None
        cache.discard("a")
        assert entry.path.exists()
    assert not entry.path.exists()
    assert cache.peek("a") is None


def test_restart_recovers_clean_entries_and_wipes_work(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=100)
    put(cache, "a", b"alpha")
    put(cache, "b", b"beta")
    dirty = cache.work_path()
    dirty.write_bytes(b"uncommitted change")
    del cache  # releases the directory

    reopened = DiskCache(tmp_path, max_bytes=100)
    a = reopened.peek("a")
    assert a is not None and a.path.read_bytes() == b"alpha" and a.etag == etag_of(b"alpha")
    assert reopened.size_bytes == len(b"alpha") + len(b"beta")
    assert list(reopened.work_dir.iterdir()) == []


def test_restart_drops_entry_whose_bytes_do_not_match_etag(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=100)
    put(cache, "a", b"alpha")
    entry = cache.peek("a")
    assert entry is not None
    entry.path.write_bytes(b"tampered")
    del cache
    reopened = DiskCache(tmp_path, max_bytes=100)
    assert reopened.peek("a") is None
    assert not entry.path.exists()


def test_restart_drops_entry_whose_etag_cannot_prove_its_bytes(tmp_path: Path) -> None:
    # A multipart or KMS-encrypted object's ETag is not the MD5 of its bytes; an entry
    # under one could be torn by a power cut without anything to tell.
    cache = DiskCache(tmp_path, max_bytes=100)
    source = cache.work_path()
    source.write_bytes(b"alpha")
    assert cache.install("a", source, '"3858f62230ac3c915f300c664312c63f-2"')
    put(cache, "b", b"beta")
    del cache
    reopened = DiskCache(tmp_path, max_bytes=100)
    assert reopened.peek("a") is None
    assert reopened.peek("b") is not None
    assert reopened.size_bytes == len(b"beta")


def test_second_process_view_of_a_busy_directory_is_private(tmp_path: Path) -> None:
    first = DiskCache(tmp_path, max_bytes=100)
    second = DiskCache(tmp_path, max_bytes=100)
    assert second.directory != first.directory
    put(first, "a", b"alpha")
    assert second.peek("a") is None
