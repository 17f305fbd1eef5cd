"""``S3SQLiteSession``: a SQLite database kept as a snapshot object and a page log.

The layout, the rules and why they hold are in docs/storage.md. In short:

* A write applies its operation to the cached file in place, finds the pages it
  changed from the rollback journal, and stores them as log entry ``N+1`` with
  ``If-None-Match: *``; only then does it return. Creating that entry is the
  compare-and-swap between all writers: a loser undoes its change from the journal,
  applies the winner's entry, and runs the operation again, a bounded number of times
  with jittered back-off, then ``WriteConflict``. Operations must therefore be
  functions of the database alone.
* A read asks for entry ``N+1``: "not found" means the copy is current (one request,
  no body); otherwise it applies the entries it lacks.
* Now and then a writer folds the log into the snapshot (compaction).

Everything works on an ``Image``: the cached file, or the same database in memory when
the cache cannot hold it. The logic here is written once for both.
"""

from __future__ import annotations

import hashlib
import logging
import random
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from storage import metrics
from storage.cache import CacheEntry, DiskCache, LogState
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
from storage.images import (
    Change,
    FileImage,
    Image,
    MemoryImage,
    apply_entry,
    check_image,
    checksum_of,
    disk_trouble,
)
from storage.objects import ANY_ETAG, NotModified, ObjectStore, StoredObject, normalise_etag
from storage.pagelog import (
    CLOSED_LOG,
    LogEntry,
    decode_entry,
    entry_key,
    is_closing,
    log_prefix,
    seq_of,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], T]

# The snapshot's metadata (docs/storage.md).
META_LOG_ID = "log-id"
META_SEQ = "log-seq"
META_CHECKSUM = "log-checksum"
META_FOLDS = "log-folds"  # "seq@time ..." of the latest compactions, oldest first
_KEPT_FOLDS = 16
# A delete that keeps losing the log's end to writers gives up after this many tries.
_CLOSE_ATTEMPTS = 64


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a write is re-applied after losing a race, and how long it waits."""

    attempts: int = 8
    base_delay: float = 0.01
    max_delay: float = 0.5

    def delay(self, attempt: int) -> float:
        # "Full jitter": spreads racing writers apart without a fixed rhythm.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


@dataclass(frozen=True, slots=True)
class LogPolicy:
    """When the log is folded into the snapshot, and how long a 404 can be trusted."""

    # Compact once the log holds this many entries beyond the snapshot: a cold read
    # then makes at most 1 + (this + 1) requests.
    compaction_entries: int = 31
    # Folded entries are deleted only this long after a snapshot covering them was
    # stored, so a copy checked within ``trust_seconds`` can trust "entry not found".
    grace_seconds: float = 24 * 3600
    trust_seconds: float = 12 * 3600

    def __post_init__(self) -> None:
        if self.compaction_entries < 1:
            raise ValueError("compaction_entries must be at least 1")
        if not 0 < self.trust_seconds < self.grace_seconds:
            raise ValueError("trust_seconds must be positive and below grace_seconds")


@dataclass(slots=True, weakref_slot=True)
class _KeyLock:
    """Held in a weak dictionary, so the lock of an idle key is forgotten."""

    lock: threading.Lock


@dataclass(slots=True)
class _Workspace:
    """One key's database, open for one read or write, with the state it is at."""

    key: str
    image: Image
    state: LogState
    cached: bool
    folds: tuple[tuple[int, float], ...]
    closer: ExitStack = field(default_factory=ExitStack)

    def close(self) -> None:
        if isinstance(self.image, FileImage):
            self.image.close()
        self.closer.close()


@dataclass(frozen=True, slots=True)
class _Compaction:
    key: str
    body: bytes
    state: LogState
    folds: tuple[tuple[int, float], ...]


class _LogClosed(Exception):
    """The log ends with a closing mark: its collection was deleted (and perhaps created
    again, with a new log)."""


class _Rebase(Exception):
    """The snapshot moved past the cached copy: load it instead (it is here already)."""

    def __init__(self, stored: StoredObject, sent: float) -> None:
        self.stored = stored
        self.sent = sent


def check_database(path: Path) -> None:
    """Raise ``CorruptDatabase`` unless ``path`` is a SQLite file that passes quick_check."""
    try:
        image = FileImage(path)
    except OSError as error:
        raise CorruptDatabase(f"the database cannot be read: {error}") from None
    try:
        check_image(image)
    finally:
        image.close()


def check_database_bytes(body: bytes) -> None:
    """``check_database`` for bytes in memory."""
    try:
        image = MemoryImage(body)
    except ValueError:
        raise CorruptDatabase("the stored object is not a SQLite database") from None
    check_image(image)


def _parse_folds(text: str) -> tuple[tuple[int, float], ...]:
    folds = []
    for item in text.split():
        seq, _, at = item.partition("@")
        folds.append((int(seq), float(at)))
    return tuple(folds)


def _format_folds(folds: tuple[tuple[int, float], ...]) -> str:
    return " ".join(f"{seq}@{at:.3f}" for seq, at in folds[-_KEPT_FOLDS:])


class S3SQLiteSession:
    """SQLite databases stored as a snapshot and a page log, cached on disk."""

    def __init__(
        self,
        store: ObjectStore,
        cache: DiskCache,
        *,
        retry: RetryPolicy | None = None,
        log_policy: LogPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.cache = cache
        self.retry = retry or RetryPolicy()
        self.policy = log_policy or LogPolicy()
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[str, _KeyLock] = weakref.WeakValueDictionary()
        self._locks_mutex = threading.Lock()
        # The latest compactions of each log (key, log id) this process has seen.
        self._folds: dict[tuple[str, str], tuple[tuple[int, float], ...]] = {}

    # -- public API -----------------------------------------------------------

    def revalidate(self, key: str) -> float:
        """Bring the cached copy of ``key`` up to date; return a moment it was current at.

        A ``read`` given ``current_since`` at or before that moment need not check again.
        Raises like ``read``.
        """
        with self._exclusive(key), self._open(key, catch_up=True) as ws:
            return ws.state.checked_at

    def read(self, key: str, operation: Operation[T], *, current_since: float | None = None) -> T:
        """Run ``operation`` on a read-only connection to the current version of ``key``.

        ``current_since``: a moment (``time.time()``) the data must be current as of,
        typically when the caller's request arrived; if the copy was found current at
        or after it (``revalidate``), the read sends no request at all.
        Raises ``ObjectNotFound``, ``CorruptDatabase`` or ``StoreUnavailable``.
        """
        with self._exclusive(key):
            entry = self.cache.peek(key)
            fresh = (
                current_since is not None
                and entry is not None
                and entry.state.checked_at >= current_since
            )
            with self._open(key, catch_up=not fresh) as ws:
                return ws.image.read(operation)

    def write(self, key: str, operation: Operation[T]) -> T:
        """Apply ``operation`` and store the pages it changed; return once stored.

        Raises ``WriteConflict`` when other writers won every attempt,
        ``ObjectNotFound``, ``CorruptDatabase`` or ``StoreUnavailable``; in each case
        nothing was changed. An exception from ``operation`` rolls back and propagates.
        """

        def change(image: Image, state: LogState) -> tuple[T, Change | None]:
            return image.write(operation, state.checksum)

        return self._change(key, change)

    def replace(self, key: str, body: bytes) -> None:
        """Make ``body`` (a whole database) the current version of ``key``, as a new
        write: the log keeps what it replaced (a restore, a full replacement)."""
        check_database_bytes(body)

        def change(image: Image, state: LogState) -> tuple[None, Change | None]:
            return None, _replacement(image, body)

        self._change(key, change)

    def create(self, key: str, body: bytes) -> None:
        """Store ``body`` as a new database; never overwrite (``If-None-Match: *``)."""
        check_database_bytes(body)
        image = MemoryImage(body)
        checksum = checksum_of(image)
        metadata = {META_LOG_ID: uuid.uuid4().hex, META_SEQ: "0", META_CHECKSUM: str(checksum)}
        with self._exclusive(key):
            sent = self.clock()
            try:
                etag = self.store.put(key, body, if_none_match=ANY_ETAG, metadata=metadata)
            except PreconditionFailed:
                raise ObjectExists(key) from None
            state = _state_of(StoredObject(body, etag, metadata), image, checksum, sent)
            try:
                self._install(key, body, state)
            except OSError:
                self.cache.discard(key)  # stored safely; only the cache could not keep it

    def delete(self, key: str) -> None:
        """Remove the database; its log is closed and emptied of data.

        The log's entries are not deleted: a copy elsewhere checked within
        ``trust_seconds`` would take the missing entry for "current" and serve (or
        write to) a collection that is gone. Instead the log's end and every entry it
        holds become the closing mark, which such a copy meets with its next request.
        """
        with self._exclusive(key):
            self.cache.discard(key)
            try:
                info = self.store.head(key)
            except ObjectNotFound:
                return
            log_id = info.metadata.get(META_LOG_ID) or _legacy_log_id(info.etag)
            self._close_log(key, log_id, int(info.metadata.get(META_SEQ, "0")))
            # Last: until the snapshot is gone, a retried delete finds the log again.
            self.store.delete(key)
            self._folds.pop((key, log_id), None)

    def compact(self, key: str) -> bool:
        """Fold the whole log into the snapshot now; False if there was nothing to fold."""
        with self._exclusive(key), self._open(key, catch_up=True) as ws:
            if ws.state.seq == ws.state.snapshot_seq:
                return False
            job = _Compaction(key, ws.image.to_bytes(), ws.state, ws.folds)
        self._compact(job)
        return True

    def _close_log(self, key: str, log_id: str, snapshot_seq: int) -> None:
        prefix = log_prefix(key, log_id)
        named = (seq_of(_name(listed.key)) for listed in self.store.list(prefix))
        seqs = {seq for seq in named if seq is not None}
        end = max(seqs | {snapshot_seq})
        for _ in range(_CLOSE_ATTEMPTS):
            try:
                self.store.put(entry_key(key, log_id, end + 1), CLOSED_LOG, if_none_match=ANY_ETAG)
                break
            except PreconditionFailed:
                # A writer took that position first; its write goes with the collection.
                end += 1
                seqs.add(end)
        else:
            raise WriteConflict(f"{key} kept changing while it was being deleted; try again")
        for seq in sorted(seqs):
            self.store.put(entry_key(key, log_id, seq), CLOSED_LOG)

    # -- opening a workspace ------------------------------------------------------

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

    @contextmanager
    def _open(self, key: str, *, catch_up: bool, memory: bool = False) -> Iterator[_Workspace]:
        ws = self._open_workspace(key, catch_up=catch_up, memory=memory)
        try:
            yield ws
        finally:
            ws.close()

    def _open_workspace(self, key: str, *, catch_up: bool, memory: bool) -> _Workspace:
        stats = metrics.current()
        prefetched: tuple[StoredObject, float] | None = None
        if not memory and (ws := self._open_cached(key)) is not None:
            try:
                if self._catch_up(ws, force=catch_up):
                    if stats is not None:
                        stats.saw_cache("revalidated")
                elif stats is not None:
                    stats.saw_cache("hit")
                if stats is not None:
                    stats.database_bytes = ws.image.page_count() * ws.image.page_size
                return ws
            except _Rebase as rebase:
                prefetched = (rebase.stored, rebase.sent)
                ws.close()
                self.cache.discard(key)
            except _LogClosed:
                # Deleted since: the snapshot tells whether it was created again.
                ws.close()
                self.cache.discard(key)
            except (CorruptDatabase, DiskTrouble) as error:
                # The copy may be what is wrong: start again from the stored snapshot.
                log.warning("cached copy of %s unusable (%s); loading it afresh", key, error)
                ws.close()
                self.cache.discard(key)
            except BaseException:
                ws.close()
                raise
        ws = self._load(key, memory=memory, prefetched=prefetched)
        try:
            self._catch_up(ws, force=True)
        except BaseException as error:
            ws.close()
            if ws.cached:
                self.cache.discard(key)
            if isinstance(error, _LogClosed):
                # The snapshot's own log is closed: a delete stopped before its end.
                raise ObjectNotFound(key) from None
            raise
        if stats is not None:
            stats.saw_cache("miss")
            stats.database_bytes = ws.image.page_count() * ws.image.page_size
        return ws

    def _open_cached(self, key: str) -> _Workspace | None:
        closer = ExitStack()
        entry: CacheEntry | None = closer.enter_context(self.cache.use(key))
        if entry is None:
            closer.close()
            return None
        try:
            image = FileImage(entry.path)
        except (OSError, CorruptDatabase) as error:
            log.warning("cached copy of %s unreadable (%s); dropping it", key, error)
            closer.close()
            self.cache.discard(key)
            return None
        folds = self._folds.get((key, entry.state.log_id), ())
        return _Workspace(key, image, entry.state, cached=True, folds=folds, closer=closer)

    def _load(
        self, key: str, *, memory: bool, prefetched: tuple[StoredObject, float] | None
    ) -> _Workspace:
        """The snapshot, checked, in the cache if it fits there, else in memory."""
        if prefetched is None:
            sent = self.clock()
            try:
                stored = self.store.get(key)
            except ObjectNotFound:
                self.cache.discard(key)
                raise
            assert not isinstance(stored, NotModified)
        else:
            stored, sent = prefetched
        try:
            image = MemoryImage(stored.body)
        except ValueError:
            raise CorruptDatabase("the stored object is not a SQLite database") from None
        check_image(image)
        checksum = checksum_of(image)
        state = _state_of(stored, image, checksum, sent)
        folds = _parse_folds(stored.metadata.get(META_FOLDS, ""))
        self._folds[key, state.log_id] = folds
        if not memory and self.cache.fits(len(stored.body)):
            try:
                entry = self._install(key, stored.body, state)
            except OSError as error:
                log.warning("disk cache unusable (%s); working on %s in memory", error, key)
                entry = None
            if entry is not None and (ws := self._open_cached(key)) is not None:
                return ws
        return _Workspace(key, image, state, cached=False, folds=folds)

    def _install(self, key: str, body: bytes, state: LogState) -> CacheEntry | None:
        path = self.cache.work_path()
        try:
            path.write_bytes(body)
            return self.cache.install(key, path, state)
        finally:
            path.unlink(missing_ok=True)

    # -- catching up with the log ------------------------------------------------

    def _catch_up(self, ws: _Workspace, *, force: bool) -> bool:
        """Apply the entries ``ws`` lacks; False if it was trusted without asking."""
        age = self.clock() - ws.state.checked_at
        if not force and age < self.policy.trust_seconds:
            return False
        if age >= self.policy.trust_seconds:
            self._check_snapshot(ws)
        dirty = False
        while True:
            seq = ws.state.seq + 1
            sent = self.clock()
            try:
                stored = self.store.get(entry_key(ws.key, ws.state.log_id, seq))
            except ObjectNotFound:
                ws.state = replace(ws.state, checked_at=sent)
                if ws.cached:
                    self.cache.mark_clean(ws.key, ws.state)
                return True
            except BaseException:
                if ws.cached and dirty:
                    self.cache.mark_clean(ws.key, ws.state)  # every entry so far applied
                raise
            assert not isinstance(stored, NotModified)
            if is_closing(stored.body):
                if ws.cached and dirty:
                    self.cache.mark_clean(ws.key, ws.state)
                raise _LogClosed
            # A failure from here on leaves the copy dirty: the caller drops it.
            entry = decode_entry(stored.body, expected_seq=seq)
            if ws.cached and not dirty:
                self.cache.mark_dirty(ws.key)
                dirty = True
            with disk_trouble():
                checksum = apply_entry(ws.image, entry, ws.state.checksum)
            ws.state = ws.state.advanced(seq=seq, checksum=checksum)

    def _check_snapshot(self, ws: _Workspace) -> None:
        """For a copy too old to trust "not found": has the snapshot moved past it?"""
        sent = self.clock()
        try:
            result = self.store.get(ws.key, if_none_match=ws.state.snapshot_etag)
        except ObjectNotFound:
            self.cache.discard(ws.key)
            raise
        if isinstance(result, NotModified):
            ws.state = replace(ws.state, checked_at=sent)
            return
        log_id = result.metadata.get(META_LOG_ID) or _legacy_log_id(result.etag)
        seq = int(result.metadata.get(META_SEQ, "0"))
        if log_id != ws.state.log_id or seq > ws.state.seq:
            raise _Rebase(result, sent)
        ws.folds = _parse_folds(result.metadata.get(META_FOLDS, ""))
        self._folds[ws.key, log_id] = ws.folds
        ws.state = replace(ws.state, snapshot_etag=result.etag, snapshot_seq=seq, checked_at=sent)

    # -- writing -------------------------------------------------------------------

    def _change(self, key: str, make: Callable[[Image, LogState], tuple[T, Change | None]]) -> T:
        compaction: _Compaction | None = None
        memory = False
        with self._exclusive(key):
            for attempt in range(self.retry.attempts):
                if attempt:
                    time.sleep(self.retry.delay(attempt))
                try:
                    with self._open(key, catch_up=attempt > 0, memory=memory) as ws:
                        stored, result = self._try_change(ws, make)
                        if stored and self._compaction_due(ws):
                            compaction = _Compaction(key, ws.image.to_bytes(), ws.state, ws.folds)
                except DiskTrouble as trouble:
                    if memory:
                        raise StoreUnavailable(f"cannot work on {key}: {trouble}") from None
                    log.warning("local disk unusable (%s); writing %s in memory", trouble, key)
                    memory = True
                    self.cache.discard(key)
                    continue
                if stored:
                    break
                log.info("write to %s lost a race (attempt %d); catching up", key, attempt + 1)
                if (stats := metrics.current()) is not None:
                    stats.conflicts_retried += 1
            else:
                raise WriteConflict(
                    f"{key} kept changing underneath {self.retry.attempts} attempts; try again"
                )
        if compaction is not None:
            self._compact(compaction)
        return result

    def _try_change(
        self, ws: _Workspace, make: Callable[[Image, LogState], tuple[T, Change | None]]
    ) -> tuple[bool, T]:
        """Run the change and append it; (False, _) if another writer took the position."""
        if ws.cached:
            self.cache.mark_dirty(ws.key)
        try:
            with disk_trouble():
                result, change = make(ws.image, ws.state)
        except BaseException:
            # SQLite rolled the file back; it holds the state it held.
            if ws.cached:
                self.cache.mark_clean(ws.key, ws.state)
            raise
        if change is None:
            if ws.cached:
                self.cache.mark_clean(ws.key, ws.state)
            return True, result
        entry = LogEntry(
            seq=ws.state.seq + 1,
            page_size=ws.image.page_size,
            page_count=change.page_count,
            pages=change.pages,
            checksum_before=ws.state.checksum,
            checksum_after=change.checksum_after,
            full_image=change.full_image,
        )
        body = entry.encode()
        try:
            sent = self._append(entry_key(ws.key, ws.state.log_id, entry.seq), body)
        except PreconditionFailed:
            self._undo(ws, change)
            return False, result
        except BaseException:
            self._undo(ws, change)
            raise
        ws.state = ws.state.advanced(seq=entry.seq, checksum=change.checksum_after, checked_at=sent)
        if ws.cached:
            self.cache.mark_clean(ws.key, ws.state)
        return True, result

    def _undo(self, ws: _Workspace, change: Change) -> None:
        try:
            with disk_trouble():
                ws.image.undo(change)
        except DiskTrouble as error:
            log.warning("could not undo a change to %s (%s); dropping the copy", ws.key, error)
            if ws.cached:
                self.cache.discard(ws.key)
            return
        if ws.cached:
            self.cache.mark_clean(ws.key, ws.state)

    def _append(self, key: str, body: bytes) -> float:
        """Create log entry ``key``; return a moment before it existed."""
        sent = self.clock()
        if (stats := metrics.current()) is not None:
            stats.log_bytes += len(body)
        try:
            self.store.put(key, body, if_none_match=ANY_ETAG)
        except PreconditionFailed:
            # A retried PUT whose first attempt was applied but whose answer was lost
            # sees its own entry as "someone else's". Recognise it, or the operation
            # would be applied twice.
            if self._landed(key, body):
                return sent
            raise
        except StoreUnavailable:
            # A timeout or a dropped connection leaves the outcome unknown: the PUT may
            # have been applied. Look before reporting a failure that did not happen.
            landed = self._landed(key, body)
            if landed:
                return sent
            if landed is False:
                # Another writer's entry holds the position: a lost race, as a 412 is.
                raise PreconditionFailed(f"{key} holds another writer's entry") from None
            raise
        return sent

    def _landed(self, key: str, body: bytes) -> bool | None:
        """Whether ``key`` holds exactly ``body`` (our own entry): False if it holds
        another, None if it holds nothing or the HEAD failed."""
        try:
            current = self.store.head(key)
        except StorageError:
            return None
        if current.sha256 == hashlib.sha256(body).hexdigest():
            log.info("append to %s had landed; its answer was lost on the way", key)
            return True
        return False

    # -- compaction ------------------------------------------------------------------

    def _compaction_due(self, ws: _Workspace) -> bool:
        return ws.state.seq - ws.state.snapshot_seq >= self.policy.compaction_entries

    def _compact(self, job: _Compaction) -> None:
        """Store ``job.body`` (the state at ``job.state.seq``) as the snapshot, then
        delete the entries folded long enough ago. Never fails the write that asked."""
        now = self.clock()
        state = job.state
        folds = (*job.folds, (state.seq, now))
        metadata = {
            META_LOG_ID: state.log_id,
            META_SEQ: str(state.seq),
            META_CHECKSUM: str(state.checksum),
            META_FOLDS: _format_folds(folds),
        }
        if (stats := metrics.current()) is not None:
            stats.compacted_bytes += len(job.body)
        try:
            etag = self.store.put(
                job.key, job.body, if_match=state.snapshot_etag, metadata=metadata
            )
        except PreconditionFailed:
            # Someone else compacted (or restored): learn where the snapshot is now.
            self._learn_snapshot(job.key, state)
            return
        except StorageError as error:
            log.warning("compaction of %s failed (%s); the next write tries again", job.key, error)
            return
        log.info("compacted %s at entry %d", job.key, state.seq)
        with self._exclusive(job.key):
            self._folds[job.key, state.log_id] = folds
            entry = self.cache.peek(job.key)
            if (
                entry is not None
                and entry.state.log_id == state.log_id
                and entry.state.snapshot_etag == state.snapshot_etag
            ):
                self.cache.mark_clean(
                    job.key, replace(entry.state, snapshot_etag=etag, snapshot_seq=state.seq)
                )
        self._delete_folded(job.key, state.log_id, folds, now)

    def _learn_snapshot(self, key: str, state: LogState) -> None:
        try:
            info = self.store.head(key)
        except StorageError:
            return
        if (info.metadata.get(META_LOG_ID) or _legacy_log_id(info.etag)) != state.log_id:
            return
        seq = int(info.metadata.get(META_SEQ, "0"))
        with self._exclusive(key):
            self._folds[key, state.log_id] = _parse_folds(info.metadata.get(META_FOLDS, ""))
            entry = self.cache.peek(key)
            if entry is not None and entry.state.log_id == state.log_id and seq <= entry.state.seq:
                self.cache.mark_clean(
                    key, replace(entry.state, snapshot_etag=info.etag, snapshot_seq=seq)
                )

    def _delete_folded(
        self, key: str, log_id: str, folds: tuple[tuple[int, float], ...], now: float
    ) -> None:
        """Delete the entries a snapshot covered at least ``grace_seconds`` ago."""
        old_enough = [seq for seq, at in folds if at <= now - self.policy.grace_seconds]
        if not old_enough:
            return
        upto = max(old_enough)
        try:
            for listed in self.store.list(log_prefix(key, log_id)):
                seq = seq_of(_name(listed.key))
                if seq is not None and seq <= upto:
                    self.store.delete(listed.key)
        except StorageError as error:
            log.warning("could not delete folded entries of %s (%s)", key, error)


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def _legacy_log_id(etag: str) -> str:
    # A snapshot without metadata (written before the log existed): every instance
    # names its log the same way.
    return "etag-" + normalise_etag(etag)


def _state_of(stored: StoredObject, image: Image, checksum: int, sent: float) -> LogState:
    metadata: Mapping[str, str] = stored.metadata
    recorded = metadata.get(META_CHECKSUM)
    if recorded is not None and recorded != str(checksum):
        raise CorruptDatabase("the stored snapshot does not match its recorded checksum")
    seq = int(metadata.get(META_SEQ, "0"))
    return LogState(
        snapshot_etag=stored.etag,
        log_id=metadata.get(META_LOG_ID) or _legacy_log_id(stored.etag),
        snapshot_seq=seq,
        seq=seq,
        checksum=checksum,
        page_size=image.page_size,
        checked_at=sent,
    )


def _replacement(image: Image, body: bytes) -> Change:
    """Replace ``image`` with the database ``body``, as a change logged in full."""
    new = MemoryImage(body)
    count_before = image.page_count()
    originals = (
        {n: image.read_page(n) for n in range(1, count_before + 1)}
        if isinstance(image, MemoryImage)
        else {}
    )
    if new.page_size != image.page_size:
        raise CorruptDatabase("the replacement has another page size than the database")
    pages = {n: new.read_page(n) for n in range(1, new.page_count() + 1)}
    image.write_pages(pages, new.page_count())
    return Change(
        pages=pages,
        page_count=new.page_count(),
        checksum_after=checksum_of(new),
        full_image=True,
        originals=originals,
        page_count_before=count_before,
    )


__all__ = [
    "CacheEntry",
    "LogPolicy",
    "RetryPolicy",
    "S3SQLiteSession",
    "check_database",
    "check_database_bytes",
]
