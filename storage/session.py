"""``S3SQLiteSession``: a SQLite database kept as one object, read and written safely.

Reads load the database through the disk cache, revalidating the cached copy with a
conditional GET (a 304 costs one request and no body), and open it read-only.

Writes apply an operation to a private copy, upload it with ``If-Match`` on the ETag
the copy was based on, and only then return. When someone else wrote first (412/409)
the stale copy is dropped, the fresh one loaded and the operation applied again, a
bounded number of times with jittered back-off, then ``WriteConflict``.
Operations must therefore be functions of the database alone: re-running one on a
fresher copy must be correct.
"""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.request import pathname2url

from storage import metrics
from storage.cache import CacheEntry, DiskCache
from storage.errors import (
    CorruptDatabase,
    DiskTrouble,
    ObjectExists,
    ObjectNotFound,
    PreconditionFailed,
    StorageError,
    StoreUnavailable,
    WriteConflict,
)
from storage.objects import ANY_ETAG, NotModified, ObjectStore, StoredObject

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], T]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a write is re-applied after losing a race, and how long it waits."""

    attempts: int = 8
    base_delay: float = 0.01
    max_delay: float = 0.5

    def delay(self, attempt: int) -> float:
        # "Full jitter": spreads racing writers apart without a fixed rhythm.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


@dataclass(slots=True, weakref_slot=True)
class _KeyLock:
    """Held in a weak dictionary, so the lock of an idle key is forgotten."""

    lock: threading.Lock


_SQLITE_HEADER = b"SQLite format 3\x00"


def check_database(path: Path) -> None:
    """Raise ``CorruptDatabase`` unless ``path`` is a SQLite file that passes quick_check."""
    with path.open("rb") as f:
        if f.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise CorruptDatabase("the stored object is not a SQLite database")
    try:
        conn = sqlite3.connect(_readonly_uri(path), uri=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    if problems != ["ok"]:
        raise CorruptDatabase("the database fails SQLite's quick_check: " + "; ".join(problems[:3]))


@contextmanager
def _disk_trouble() -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise DiskTrouble(str(error)) from error
    except sqlite3.OperationalError as error:
        message = str(error).lower()
        if "disk" in message or "full" in message or "i/o" in message:
            raise DiskTrouble(str(error)) from error
        raise


def check_database_bytes(body: bytes) -> None:
    """``check_database`` for bytes in memory."""
    if not body.startswith(_SQLITE_HEADER):
        raise CorruptDatabase("the stored object is not a SQLite database")
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(body)
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    finally:
        conn.close()
    if problems != ["ok"]:
        raise CorruptDatabase("the database fails SQLite's quick_check: " + "; ".join(problems[:3]))


def _run_in_memory(
    base: bytes, operation: Operation[T], *, readonly: bool
) -> tuple[T, bytes | None]:
    """Run ``operation`` on an in-memory copy; return its result and the new bytes if
    it changed anything."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(base)
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        result = operation(conn)
        if readonly:
            return result, None
        conn.commit()
        after = conn.serialize()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()
    return result, (after if after != base else None)


def _change_counter(path: Path) -> bytes:
    """SQLite's file change counter (header bytes 24-27), bumped by every commit."""
    with path.open("rb") as f:
        f.seek(24)
        return f.read(4)


def _readonly_uri(path: Path) -> str:
    # immutable=1: cache entries are never changed in place, so SQLite needs no locks
    # and never looks for a journal.
    return f"file:{pathname2url(str(path))}?mode=ro&immutable=1"


class S3SQLiteSession:
    """SQLite databases stored as whole objects, cached on disk, written conditionally."""

    def __init__(
        self,
        store: ObjectStore,
        cache: DiskCache,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.retry = retry or RetryPolicy()
        self._locks: weakref.WeakValueDictionary[str, _KeyLock] = weakref.WeakValueDictionary()
        self._locks_mutex = threading.Lock()
        self._checked_at: dict[str, float] = {}

    # -- public API -----------------------------------------------------------

    def revalidate(self, key: str) -> float:
        """Bring the cached copy of ``key`` up to date; return when the check started.

        A ``read`` given ``current_since`` at or before that moment need not check again
        (see ``read``). Raises like ``read``.
        """
        with self._exclusive(key):
            started = time.time()
            self._refresh(key, revalidate=True)
            self._checked_at[key] = started
            return started

    def read(self, key: str, operation: Operation[T], *, current_since: float | None = None) -> T:
        """Run ``operation`` on a read-only connection to the current version of ``key``.

        ``current_since``: a moment (``time.time()``) the caller needs the data to be
        current as of, typically when its request arrived; if this process has already
        checked the copy since then (``revalidate``), the read sends no request at all.
        Raises ``ObjectNotFound``, ``CorruptDatabase`` or ``StoreUnavailable``.
        """
        with self._exclusive(key):
            checked = self._checked_at.get(key)
            fresh = (
                current_since is not None
                and checked is not None
                and checked >= current_since
                and self.cache.peek(key) is not None
            )
            fetched = None if fresh else self._refresh(key, revalidate=True)
            with self.cache.use(key) as entry:
                if entry is not None:
                    return self._run_readonly(entry.path, operation)
            # Not cached (bigger than the budget, or the disk is unusable): from memory.
            body = fetched if fetched is not None else self._fetch(key).body
            result, _ = _run_in_memory(body, operation, readonly=True)
            return result

    def write(self, key: str, operation: Operation[T]) -> T:
        """Apply ``operation`` and store the result; return only once it is stored.

        Raises ``WriteConflict`` when other writers won every attempt,
        ``ObjectNotFound``, ``CorruptDatabase`` or ``StoreUnavailable``; in each case
        nothing was changed. An exception from ``operation`` rolls back and propagates.
        """
        with self._exclusive(key):
            for attempt in range(self.retry.attempts):
                if attempt:
                    time.sleep(self.retry.delay(attempt))
                # The first attempt trusts the cache: a stale copy is found out by the PUT.
                self._refresh(key, revalidate=attempt > 0)
                try:
                    return self._apply_and_upload(key, operation)
                except PreconditionFailed:
                    log.info("write to %s lost a race (attempt %d); reloading", key, attempt + 1)
                    if (stats := metrics.current()) is not None:
                        stats.conflicts_retried += 1
                    self.cache.discard(key)
            raise WriteConflict(
                f"{key} kept changing underneath {self.retry.attempts} attempts; try again"
            )

    def create(self, key: str, body: bytes) -> None:
        """Store ``body`` as a new object; never overwrite (``If-None-Match: *``)."""
        with self._exclusive(key):
            try:
                etag = self.store.put(key, body, if_none_match=ANY_ETAG)
            except PreconditionFailed:
                raise ObjectExists(key) from None
            path = self.cache.work_path()
            path.write_bytes(body)
            if not self.cache.install(key, path, etag):
                path.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        with self._exclusive(key):
            self.store.delete(key)
            self.cache.discard(key)

    # -- internals --------------------------------------------------------------

    @contextmanager
    def _exclusive(self, key: str) -> Iterator[None]:
        """One reader or writer per key inside this process; other keys run in parallel."""
        with self._locks_mutex:
            holder = self._locks.get(key)
            if holder is None:
                holder = _KeyLock(threading.Lock())
                self._locks[key] = holder
        with holder.lock:
            yield

    def _refresh(self, key: str, *, revalidate: bool) -> bytes | None:
        """Make the cache hold the current version of ``key``.

        Returns the fetched bytes when they could not be cached (too big for the budget,
        or the local disk failed), None when the cache holds the current version.
        """
        cached = self.cache.peek(key)
        stats = metrics.current()
        if cached is not None and not revalidate:
            if stats is not None:
                stats.saw_cache("hit")
                stats.database_bytes = cached.size
            return None
        try:
            result = self.store.get(key, if_none_match=cached.etag if cached else None)
        except ObjectNotFound:
            self.cache.discard(key)
            raise
        if isinstance(result, NotModified):
            if stats is not None and cached is not None:
                stats.saw_cache("revalidated")
                stats.database_bytes = cached.size
            return None
        if stats is not None:
            stats.saw_cache("miss")
            stats.database_bytes = len(result.body)
        path = self.cache.work_path()
        try:
            path.write_bytes(result.body)
            check_database(path)
            if self.cache.install(key, path, result.etag):
                return None
        except OSError as error:
            log.warning("disk cache unusable (%s); serving %s uncached", error, key)
            check_database_bytes(result.body)
        finally:
            path.unlink(missing_ok=True)
        self.cache.discard(key)
        return result.body

    def _fetch(self, key: str) -> StoredObject:
        result = self.store.get(key)
        assert not isinstance(result, NotModified)
        check_database_bytes(result.body)
        return result

    @contextmanager
    def _private_copy(self, key: str) -> Iterator[tuple[Path, str]]:
        """A private file holding the current version of ``key``, and its ETag."""
        path = self.cache.work_path()
        try:
            with self.cache.use(key) as entry:
                if entry is not None:
                    with _disk_trouble():
                        shutil.copyfile(entry.path, path)
                    etag = entry.etag
            if entry is None:
                result = self._fetch(key)
                with _disk_trouble():
                    path.write_bytes(result.body)
                etag = result.etag
            yield path, etag
        finally:
            path.unlink(missing_ok=True)

    def _apply_and_upload(self, key: str, operation: Operation[T]) -> T:
        try:
            with self._private_copy(key) as (path, base_etag):
                return self._apply_on_file(key, path, base_etag, operation)
        except DiskTrouble as trouble:
            log.warning("local disk unusable (%s); writing %s without the cache", trouble, key)
            return self._apply_in_memory(key, operation)

    def _apply_on_file(self, key: str, path: Path, base_etag: str, operation: Operation[T]) -> T:
        with _disk_trouble():
            before = _change_counter(path)
            conn = sqlite3.connect(path)
            try:
                # The private copy is scratch until S3 holds it: a crash loses nothing
                # (work files are wiped at start-up, and a cache entry whose bytes its
                # ETag cannot prove is dropped), so skip the journal file and the fsyncs.
                conn.execute("PRAGMA journal_mode=MEMORY")
                conn.execute("PRAGMA synchronous=OFF")
                result = operation(conn)
                conn.commit()
                # Never let an operation leave the file in WAL mode: the object must be
                # one self-contained file.
                conn.execute("PRAGMA journal_mode=DELETE")
            except BaseException:
                conn.rollback()
                raise
            finally:
                conn.close()
            if _change_counter(path) == before:
                return result
            body = path.read_bytes()
        self._count_bytes(body)
        etag = self._upload(key, body, base_etag)
        try:
            self.cache.install(key, path, etag)
        except OSError:
            self.cache.discard(key)  # stored safely; only the cache could not keep it
        return result

    def _apply_in_memory(self, key: str, operation: Operation[T]) -> T:
        with self.cache.use(key) as entry:
            cached = (entry.path.read_bytes(), entry.etag) if entry is not None else None
        if cached is None:
            stored = self._fetch(key)
            cached = (stored.body, stored.etag)
        base, base_etag = cached
        result, body = _run_in_memory(base, operation, readonly=False)
        if body is None:
            return result
        self._count_bytes(body)
        self._upload(key, body, base_etag)
        self.cache.discard(key)
        return result

    @staticmethod
    def _count_bytes(body: bytes) -> None:
        if (stats := metrics.current()) is not None:
            stats.database_bytes = len(body)

    def _upload(self, key: str, body: bytes, base_etag: str) -> str:
        try:
            return self.store.put(key, body, if_match=base_etag)
        except PreconditionFailed:
            # A retried PUT whose first attempt was applied but whose answer was lost
            # sees its own write as "someone else's". Recognise it, or the operation
            # would be applied twice.
            if (etag := self._landed(key, body)) is not None:
                return etag
            raise
        except StoreUnavailable:
            # A timeout or a dropped connection leaves the outcome unknown: the PUT may
            # have been applied. Look before reporting a failure that did not happen.
            if (etag := self._landed(key, body)) is not None:
                return etag
            raise

    def _landed(self, key: str, body: bytes) -> str | None:
        """The ETag of ``key`` if it now holds exactly ``body`` (our own write)."""
        try:
            current = self.store.head(key)
        except StorageError:
            return None
        if current.sha256 == hashlib.sha256(body).hexdigest():
            log.info("write to %s had landed; its answer was lost on the way", key)
            return current.etag
        return None

    @staticmethod
    def _run_readonly(path: Path, operation: Operation[T]) -> T:
        conn = sqlite3.connect(_readonly_uri(path), uri=True)
        try:
            return operation(conn)
        finally:
            conn.close()


__all__ = [
    "CacheEntry",
    "RetryPolicy",
    "S3SQLiteSession",
    "check_database",
]
