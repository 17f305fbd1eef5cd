"""An LRU cache of clean copies of stored objects on local disk (``/tmp`` on Lambda).

Invariant: every entry is a byte-for-byte copy of an object as the store holds (or
held) it under the entry's ETag. Files with unacknowledged changes live in the
private ``work/`` directory, are never looked up, and are wiped at start-up, so a
crash can never leave a dirty copy that is later served.

An entry's ETag is part of its file name, so installing a new version is one atomic
rename and the index can be rebuilt from the directory after a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.objects import normalise_etag

log = logging.getLogger(__name__)

_SUFFIX = ".entry"
_ENTRY_NAME = re.compile(
    r"^(?P<digest>[0-9a-f]{40})-(?P<etag>[A-Za-z0-9_-]{1,200})\.[0-9a-f]{8}\.entry$"
)
_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class CacheEntry:
    path: Path
    etag: str
    size: int


@dataclass(slots=True)
class _Slot:
    entry: CacheEntry
    pins: int = 0
    evict_when_unpinned: bool = False


def _digest(key: str) -> str:
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()


def _etag_token(etag: str) -> str:
    token = re.sub(r"[^A-Za-z0-9_-]", "_", normalise_etag(etag))
    return token[:200] or "_"


class DiskCache:
    """Clean copies keyed by object key, within a byte budget, least recently used out."""

    def __init__(self, directory: Path | str, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.directory = self._claim(Path(directory))
        self.work_dir = self.directory / "work"
        self._mutex = threading.Lock()
        self._slots: OrderedDict[str, _Slot] = OrderedDict()  # digest -> slot, LRU first
        self._bytes = 0
        self._recover()

    # -- start-up -------------------------------------------------------------

    def _claim(self, directory: Path) -> Path:
        """Take the directory for this process; a second process gets its own."""
        directory.mkdir(parents=True, exist_ok=True)
        self._owner_lock = open(directory / ".owner", "a+b")  # noqa: SIM115 (held for life)
        try:
            fcntl.flock(self._owner_lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._owner_lock.close()
            private = directory / f"process-{os.getpid()}"
            log.warning("cache directory %s is in use; using %s", directory, private)
            shutil.rmtree(private, ignore_errors=True)
            return self._claim(private)
        return directory

    def _recover(self) -> None:
        """Forget all unfinished work and rebuild the index from clean entries."""
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir.mkdir(parents=True)
        found: dict[str, list[tuple[float, Path, str]]] = {}
        for path in self.directory.iterdir():
            match = _ENTRY_NAME.match(path.name)
            if not match or not path.is_file():
                continue
            token = match["etag"]
            # Entries are written without fsync, so one that survived a power cut may be
            # torn. An MD5 ETag (any single-part upload without KMS) proves the bytes;
            # an entry under any other ETag cannot be checked, and is dropped.
            if not _MD5.match(token) or not self._matches_md5(path, token):
                log.warning("dropping cache entry %s: contents not proven by its ETag", path.name)
                path.unlink(missing_ok=True)
                continue
            found.setdefault(match["digest"], []).append((path.stat().st_mtime, path, token))
        survivors: list[tuple[float, str, Path, str]] = []
        for digest, versions in found.items():
            # Two versions of one key mean a crash between rename and unlink; each is a
            # clean copy of some version, and revalidation corrects a stale one.
            versions.sort()
            for _, stale, _ in versions[:-1]:
                stale.unlink(missing_ok=True)
            mtime, path, token = versions[-1]
            survivors.append((mtime, digest, path, token))
        for _, digest, path, token in sorted(survivors):
            size = path.stat().st_size
            self._slots[digest] = _Slot(CacheEntry(path=path, etag=f'"{token}"', size=size))
            self._bytes += size
        self._evict()

    @staticmethod
    def _matches_md5(path: Path, token: str) -> bool:
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest() == token

    # -- use ------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._slots)

    def peek(self, key: str) -> CacheEntry | None:
        """The entry for ``key``, if any, without touching its recency."""
        with self._mutex:
            slot = self._slots.get(_digest(key))
            return slot.entry if slot else None

    @contextlib.contextmanager
    def use(self, key: str) -> Iterator[CacheEntry | None]:
        """The entry for ``key`` (most recently used now), safe from eviction inside."""
        digest = _digest(key)
        with self._mutex:
            slot = self._slots.get(digest)
            if slot is not None:
                self._slots.move_to_end(digest)
                slot.pins += 1
        if slot is None:
            yield None
            return
        try:
            yield slot.entry
        finally:
            with self._mutex:
                slot.pins -= 1
                if slot.pins == 0:
                    self._release(slot)
                self._evict()

    def work_path(self) -> Path:
        """A fresh private path for a copy with changes not yet acknowledged."""
        return self.work_dir / f"{uuid.uuid4().hex}.sqlite"

    def install(self, key: str, source: Path, etag: str) -> bool:
        """Move ``source`` (a clean copy stored under ``etag``) in as the entry for ``key``.

        Returns False, leaving ``source`` where it is, when it cannot fit the budget.
        """
        size = source.stat().st_size
        if size > self.max_bytes:
            self.discard(key)
            return False
        digest = _digest(key)
        nonce = uuid.uuid4().hex[:8]
        target = self.directory / f"{digest}-{_etag_token(etag)}.{nonce}{_SUFFIX}"
        with self._mutex:
            os.replace(source, target)
            old = self._slots.pop(digest, None)
            self._slots[digest] = _Slot(CacheEntry(path=target, etag=etag, size=size))
            self._bytes += size
            if old is not None:
                self._bytes -= old.entry.size
                self._retire(old)
            self._evict()
        return True

    def discard(self, key: str) -> None:
        """Forget ``key``'s entry (it is stale or suspect)."""
        with self._mutex:
            slot = self._slots.pop(_digest(key), None)
            if slot is not None:
                self._bytes -= slot.entry.size
                self._retire(slot)

    def clear(self) -> None:
        with self._mutex:
            for digest in list(self._slots):
                slot = self._slots.pop(digest)
                self._bytes -= slot.entry.size
                self._retire(slot)

    # -- internals (called with the mutex held) -------------------------------

    def _retire(self, slot: _Slot) -> None:
        if slot.pins:
            slot.evict_when_unpinned = True
        else:
            slot.entry.path.unlink(missing_ok=True)

    def _release(self, slot: _Slot) -> None:
        if slot.evict_when_unpinned:
            slot.entry.path.unlink(missing_ok=True)

    def _evict(self) -> None:
        # The most recently used entry stays: it is the one a request is about to use.
        # While older entries are pinned the budget may be exceeded for a moment.
        for digest in list(self._slots)[:-1]:
            if self._bytes <= self.max_bytes:
                return
            slot = self._slots[digest]
            if slot.pins:
                continue
            del self._slots[digest]
            self._bytes -= slot.entry.size
            slot.entry.path.unlink(missing_ok=True)
