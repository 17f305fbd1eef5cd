"""An LRU cache of collections on local disk (``/tmp`` on Lambda), each at a known
position of its page log (docs/storage.md).

Invariant: an entry that is not marked *dirty* is, page for page (free pages aside),
the stored database at the log position its state records. A writer marks the entry
dirty before it changes the file in place, and clean again once the change is stored
(or undone). The mark is the absence of the entry's state file, so a crash in between
leaves an entry without a state, which the next start-up drops: a copy with
unacknowledged changes is never served.

An entry is two files: ``{digest}.{nonce}.entry`` (the database) and
``{digest}.{nonce}.state`` (its ``LogState`` as JSON, replaced atomically).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from storage.errors import StorageError
from storage.images import FileImage, checksum_of

log = logging.getLogger(__name__)

_ENTRY = ".entry"
_STATE = ".state"
_ENTRY_NAME = re.compile(r"^(?P<digest>[0-9a-f]{40})\.(?P<nonce>[0-9a-f]{16})\.entry$")


@dataclass(frozen=True, slots=True)
class LogState:
    """Where a copy stands: the snapshot it descends from and the log position it holds.

    ``checked_at`` is a moment (``time.time()``) at which entry ``seq + 1`` did not
    exist yet: before the request that found it missing, or before the append of
    entry ``seq`` itself.
    """

    snapshot_etag: str
    log_id: str
    snapshot_seq: int
    seq: int
    checksum: int
    page_size: int
    checked_at: float

    def advanced(self, *, seq: int, checksum: int, checked_at: float | None = None) -> LogState:
        return replace(
            self,
            seq=seq,
            checksum=checksum,
            checked_at=self.checked_at if checked_at is None else checked_at,
        )


@dataclass(frozen=True, slots=True)
class CacheEntry:
    path: Path
    state: LogState
    size: int


@dataclass(slots=True)
class _Slot:
    entry: CacheEntry
    pins: int = 0
    evict_when_unpinned: bool = False


def _digest(key: str) -> str:
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()


def _state_path(entry_path: Path) -> Path:
    return entry_path.with_suffix(_STATE)


def _holds(path: Path, state: LogState) -> bool:
    """Whether the file is a database of ``state``'s page size and checksum."""
    try:
        image = FileImage(path)
    except (OSError, StorageError):
        return False
    try:
        return image.page_size == state.page_size and checksum_of(image) == state.checksum
    except (OSError, StorageError, IndexError):
        return False
    finally:
        image.close()


def _read_state(path: Path) -> LogState | None:
    try:
        return LogState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


class DiskCache:
    """Collections keyed by object key, within a byte budget, least recently used out."""

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
        """Forget unfinished work and keep only entries that prove their state."""
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir.mkdir(parents=True)
        found: dict[str, list[tuple[float, Path, LogState]]] = {}
        for path in self.directory.iterdir():
            if path.suffix == _STATE and not path.with_suffix(_ENTRY).exists():
                path.unlink(missing_ok=True)
                continue
            match = _ENTRY_NAME.match(path.name)
            if not match or not path.is_file():
                continue
            state = _read_state(_state_path(path))
            # No state: the entry was dirty when the process stopped. A state the file
            # does not match: torn by a power cut (entries are written without fsync).
            if state is None or not _holds(path, state):
                log.warning("dropping cache entry %s: its state is unproven", path.name)
                self._unlink(path)
                continue
            found.setdefault(match["digest"], []).append((path.stat().st_mtime, path, state))
        survivors: list[tuple[float, str, Path, LogState]] = []
        for digest, versions in found.items():
            versions.sort(key=lambda v: (v[2].seq, v[0]))
            for _, stale, _ in versions[:-1]:
                self._unlink(stale)
            mtime, path, state = versions[-1]
            survivors.append((mtime, digest, path, state))
        for _, digest, path, state in sorted(survivors, key=lambda s: s[0]):
            size = path.stat().st_size
            self._slots[digest] = _Slot(CacheEntry(path=path, state=state, size=size))
            self._bytes += size
        self._evict()

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
        """A fresh private path for a file that is not an entry (yet)."""
        return self.work_dir / f"{uuid.uuid4().hex}.sqlite"

    def fits(self, size: int) -> bool:
        return size <= self.max_bytes

    def install(self, key: str, source: Path, state: LogState) -> CacheEntry | None:
        """Move ``source`` (the stored database at ``state``) in as the entry for ``key``.

        Returns None, leaving ``source`` where it is, when it cannot fit the budget.
        """
        size = source.stat().st_size
        if not self.fits(size):
            self.discard(key)
            return None
        digest = _digest(key)
        target = self.directory / f"{digest}.{uuid.uuid4().hex[:16]}{_ENTRY}"
        self._write_state(target, state)
        os.replace(source, target)
        entry = CacheEntry(path=target, state=state, size=size)
        with self._mutex:
            old = self._slots.pop(digest, None)
            self._slots[digest] = _Slot(entry)
            self._bytes += size
            if old is not None:
                self._bytes -= old.entry.size
                self._retire(old)
            self._evict()
        return entry

    def mark_dirty(self, key: str) -> None:
        """The entry's file is about to change: until ``mark_clean``, a crash drops it."""
        entry = self.peek(key)
        if entry is not None:
            _state_path(entry.path).unlink(missing_ok=True)

    def mark_clean(self, key: str, state: LogState) -> CacheEntry | None:
        """The entry's file holds ``state`` again (changed and stored, or undone).

        If the disk refuses even the state's small file, the entry cannot prove its
        state and is dropped: None, as for an entry that is gone.
        """
        digest = _digest(key)
        with self._mutex:
            slot = self._slots.get(digest)
            if slot is None:
                return None
            path = slot.entry.path
        try:
            self._write_state(path, state)
        except OSError as error:
            log.warning("cannot record the state of %s (%s); dropping its copy", key, error)
            with self._mutex:
                slot = self._slots.get(digest)
                if slot is not None and slot.entry.path == path:
                    del self._slots[digest]
                    self._bytes -= slot.entry.size
                    self._retire(slot)
            return None
        size = path.stat().st_size
        with self._mutex:
            slot = self._slots.get(digest)
            if slot is None or slot.entry.path != path:
                return None
            self._bytes += size - slot.entry.size
            slot.entry = CacheEntry(path=path, state=state, size=size)
            self._evict()
            return slot.entry

    def discard(self, key: str) -> None:
        """Forget ``key``'s entry (it is stale, dirty or suspect)."""
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

    # -- internals ------------------------------------------------------------

    def _write_state(self, entry_path: Path, state: LogState) -> None:
        scratch = self.work_path().with_suffix(".json")
        try:
            scratch.write_text(json.dumps(asdict(state)))
            os.replace(scratch, _state_path(entry_path))
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise

    @staticmethod
    def _unlink(entry_path: Path) -> None:
        _state_path(entry_path).unlink(missing_ok=True)
        entry_path.unlink(missing_ok=True)

    # (called with the mutex held)

    def _retire(self, slot: _Slot) -> None:
        if slot.pins:
            slot.evict_when_unpinned = True
        else:
            self._unlink(slot.entry.path)

    def _release(self, slot: _Slot) -> None:
        if slot.evict_when_unpinned:
            self._unlink(slot.entry.path)

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
            self._unlink(slot.entry.path)
