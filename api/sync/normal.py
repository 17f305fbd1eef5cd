"""Normal (incremental) sync, stateless across requests.

Anki's server keeps a sync open in memory, inside one transaction, from ``start`` to
``finish``. Here one sync's calls may land on different instances, so nothing lives
only in a process:

- **The state** (``SyncStateStore``, with the auth state: one per learner, an hour at
  most) holds the client's session key (the ``s`` of its header), ``server_usn``
  (``col.usn`` at ``start``), ``client_usn`` (``minUsn``), whether the client is
  newer, the collection's fingerprint at ``start`` (``mod``, ``usn``, ``scm`` and
  figures of the rows: see ``collection_fingerprint``), the server-chunk cursor
  (the last id sent of each table) and how many client calls are staged. Every
  update is conditional on the version read: a second device's ``start`` replaces
  the state, so the first one's next call gets 409 ("only one client can sync at
  once"), as does any call with another session's key or with no sync started.
- **Staged calls**: what the client sends (``applyGraves``, the client's part of
  ``applyChanges``, ``applyChunk``) is stored, in order, as compressed JSON under
  ``sync_staging/{learner}/{sync}/{seq}`` (expired by the bucket after a day).
- **The working copy**: the collection as ``start`` saw it with the staged calls
  applied (collection/sync/normal.py) answers what depends on the server's data
  (``applyChanges``' server changes, ``chunk``'s rows, ``sanityCheck2``'s counts). An
  instance keeps the copies it built, keyed by sync and staged count, and rebuilds
  one from the stored collection when it has none; a collection whose fingerprint
  moved (a web write) ends the sync with 409.
- **finish** is one conditional write of the collection: it checks the fingerprint,
  applies the staged calls with the same rules, stamps ``ls``, ``mod`` and the next
  usn, and only then are the state and the staged objects removed.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from api.core.names import PREFIX_SYNC_STAGING
from api.errors import SyncRefused
from api.sync.envelope import compress
from api.user_collection import UserCollection
from auth.users import SYNC_STATE_SECONDS, SyncState, SyncStateConflict, SyncStateStore
from collection.sync import normal
from collection.sync.meta import CollectionStamps, collection_stamps
from collection.usn import normalise_usns, pending_usn_tables
from storage.objects import ObjectNotFound, ObjectStore
from storage.transfers import learner_segment

log = logging.getLogger(__name__)

ONE_AT_A_TIME: Final = "only one client can sync at once"
COLLECTION_MOVED: Final = (
    "The collection changed on the server while this sync was running (in the web app "
    "or another device). Nothing was lost; sync again."
)
FULL_SYNC_REQUIRED: Final = (
    "A note type's fields or templates changed on both sides; a full sync is required."
)
# Working copies an instance keeps (a sync's next call usually lands where it was).
_MAX_COPIES: Final = 4


@dataclass(slots=True)
class Progress:
    """What a sync keeps between calls (``SyncState.data``)."""

    sync_id: str  # made at start: names the staged calls and working copies
    server_usn: int
    client_usn: int
    client_is_newer: bool
    fingerprint: list[int]  # collection_fingerprint at start
    staged: int = 0
    phase: str = "started"  # started, changes, chunks, applying, checked
    cursor: dict[str, int] = field(default_factory=dict)
    chunks_done: bool = False


class CollectionMoved(Exception):
    """The collection was written since ``start``: the sync cannot finish."""


class _Copies:
    """This instance's working copies, keyed by (learner, sync), with their staged count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._copies: OrderedDict[tuple[str, str], tuple[int, sqlite3.Connection]] = OrderedDict()

    def take(self, key: tuple[str, str], staged: int) -> sqlite3.Connection | None:
        with self._lock:
            entry = self._copies.pop(key, None)
        if entry is None:
            return None
        if entry[0] != staged:
            entry[1].close()
            return None
        return entry[1]

    def keep(self, key: tuple[str, str], staged: int, conn: sqlite3.Connection) -> None:
        with self._lock:
            old = self._copies.pop(key, None)
            self._copies[key] = (staged, conn)
            evicted = []
            while len(self._copies) > _MAX_COPIES:
                evicted.append(self._copies.popitem(last=False)[1][1])
        for doomed in [*(o[1] for o in [old] if o is not None and o[1] is not conn), *evicted]:
            doomed.close()

    def drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            entry = self._copies.pop(key, None)
        if entry is not None:
            entry[1].close()


_copies = _Copies()


def staging_prefix(username: str, sync_id: str) -> str:
    """Where one sync's staged calls live (``sync_id``: made by ``start``, never the
    client's session key, which a client may use again)."""
    return f"{PREFIX_SYNC_STAGING}{learner_segment(username)}/{sync_id}/"


class NormalSync:
    """One learner's normal sync, as seen by one call (``session_key``: the header's ``s``)."""

    def __init__(
        self,
        collection: UserCollection,
        states: SyncStateStore,
        store: ObjectStore,
        session_key: str,
        *,
        chunk_max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.collection = collection
        self.username = collection.username
        self.states = states
        self.store = store
        self.session_key = session_key
        self.chunk_max_bytes = chunk_max_bytes
        self.clock = clock

    # -- the calls ------------------------------------------------------------------

    def call(self, method: str, request: Any) -> Any:
        """Answer ``method``; any failure ends this sync (state and staged calls gone)."""
        try:
            if method == "start":
                return self.start(request)
            if method == "applyGraves":
                return self.apply_graves(request)
            if method == "applyChanges":
                return self.apply_changes(request)
            if method == "chunk":
                return self.chunk()
            if method == "applyChunk":
                return self.apply_chunk(request)
            if method == "sanityCheck2":
                return self.sanity_check(request)
            if method == "finish":
                return self.finish()
            if method == "abort":
                self.end()
                return None
            raise SyncRefused(404, f"unknown sync method {method!r}")
        except BaseException:
            self.end()
            raise

    def start(self, request: Any) -> Any:
        if not isinstance(request, dict):
            raise SyncRefused(400, "start needs a JSON object")
        min_usn, newer = request.get("minUsn"), request.get("lnewer")
        if type(min_usn) is not int or not isinstance(newer, bool):
            raise SyncRefused(400, "start needs minUsn and lnewer")
        discard(self.states, self.store, self.username)
        # Rows written the old way (usn -1) get a real usn first, in their own write.
        if self.collection.read(pending_usn_tables):
            self.collection.write(normalise_usns)

        def read(
            conn: sqlite3.Connection,
        ) -> tuple[CollectionStamps, list[int], dict[str, list[int]]]:
            return (
                collection_stamps(conn),
                normal.collection_fingerprint(conn),
                normal.pending_graves(conn, min_usn),
            )

        stamps, fingerprint, graves = self.collection.read(read)
        progress = Progress(
            sync_id=secrets.token_hex(16),
            server_usn=stamps.usn,
            client_usn=min_usn,
            client_is_newer=newer,
            fingerprint=fingerprint,
        )
        state = SyncState(
            username=self.username,
            session=self.session_key,
            version=0,
            data=_dump(progress),
            expires_at=self._expiry(),
        )
        self.states.put_sync_state(state)
        legacy = request.get("graves")
        if legacy is not None:  # older clients send their deletions with start
            self._stage(state, progress, "graves", legacy)
        return graves

    def apply_graves(self, request: Any) -> None:
        state, progress = self._state()
        self._stage(state, progress, "graves", _field(request, "chunk"))

    def apply_changes(self, request: Any) -> Any:
        state, progress = self._state()
        changes = _field(request, "changes")
        conn = self._working_copy(progress)
        answer = normal.local_changes(
            conn, progress.client_usn, include_config=not progress.client_is_newer
        )
        progress.phase = "changes"
        self._stage(state, progress, "changes", changes, conn=conn)
        return answer

    def chunk(self) -> Any:
        state, progress = self._state()
        conn = self._working_copy(progress)
        try:
            found = normal.server_chunk(
                conn, progress.client_usn, progress.cursor, max_bytes=self.chunk_max_bytes
            )
        except BaseException:
            conn.close()
            raise
        _copies.keep(self._key(progress), progress.staged, conn)
        progress.cursor = found.cursor
        progress.chunks_done = found.done
        progress.phase = "chunks"
        self._save(state, progress)
        return found.value

    def apply_chunk(self, request: Any) -> None:
        state, progress = self._state()
        chunk = _field(request, "chunk")
        conn = self._working_copy(progress)
        progress.phase = "applying"
        self._stage(state, progress, "chunk", chunk, conn=conn)

    def sanity_check(self, request: Any) -> Any:
        state, progress = self._state()
        client = _field(request, "client")
        # The collection must still be the one the sync started from.
        if self.collection.read(normal.collection_fingerprint) != progress.fingerprint:
            raise SyncRefused(409, COLLECTION_MOVED)
        conn = self._working_copy(progress)
        try:
            server = normal.sanity_counts(conn)
        except BaseException:
            conn.close()
            raise
        _copies.keep(self._key(progress), progress.staged, conn)
        if isinstance(client, list) and client:
            client = [[0, 0, 0], *client[1:]]
        if isinstance(client, list) and len(client) == 8:
            client[4] = 0  # graves are not compared (older clients duplicate them)
        if server is not None:
            server[4] = 0
        ok = server is not None and client == server
        if not ok:
            log.info("sync sanity check failed for %s: %s / %s", self.username, client, server)
            self.end(progress)
            return {"status": "bad", "c": client, "s": server}
        progress.phase = "checked"
        self._save(state, progress)
        return {"status": "ok", "c": client, "s": server}

    def finish(self) -> int:
        _, progress = self._state()
        calls = [self._load(progress, seq) for seq in range(1, progress.staged + 1)]
        now_ms = int(self.clock() * 1000)

        def merge(conn: sqlite3.Connection) -> int:
            if normal.collection_fingerprint(conn) != progress.fingerprint:
                raise CollectionMoved(self.username)
            for call in calls:
                _apply(conn, call, progress)
            normal.finish(conn, progress.server_usn, now_ms)
            return now_ms

        try:
            result = self.collection.write(merge)
        except CollectionMoved:
            # A write's first try runs on this instance's copy as it last saw it (a
            # stale copy only loses the race to store the change): a fingerprint that
            # differs there may be the copy trailing, not the collection moving. Only
            # a copy brought up to date can tell.
            self.collection.session.revalidate(self.collection.key)
            try:
                result = self.collection.write(merge)
            except CollectionMoved:
                raise SyncRefused(409, COLLECTION_MOVED) from None
        self.end(progress)
        return result

    def end(self, progress: Progress | None = None) -> None:
        """Forget this sync (its state if still its own, its staged calls, its copy)."""
        if progress is None:
            state = self.states.get_sync_state(self.username, now=self.clock())
            if state is None or state.session != self.session_key:
                return
            progress = _progress(state)
        _copies.drop(self._key(progress))
        try:
            self.states.delete_sync_state(self.username, self.session_key)
        finally:
            _delete_staged(self.store, self._prefix(progress))

    def _key(self, progress: Progress) -> tuple[str, str]:
        return (self.username, progress.sync_id)

    def _prefix(self, progress: Progress) -> str:
        return staging_prefix(self.username, progress.sync_id)

    # -- state and staging ----------------------------------------------------------

    def _expiry(self) -> int:
        return int(self.clock()) + SYNC_STATE_SECONDS

    def _state(self) -> tuple[SyncState, Progress]:
        state = self.states.get_sync_state(self.username, now=self.clock())
        if state is None or state.session != self.session_key:
            # No sync started, or another device's: Anki's server answers 409 too.
            raise _Foreign()
        return state, _progress(state)

    def _save(self, state: SyncState, progress: Progress) -> SyncState:
        new = SyncState(
            username=state.username,
            session=state.session,
            version=state.version + 1,
            data=_dump(progress),
            expires_at=self._expiry(),
        )
        try:
            self.states.update_sync_state(new, expected_version=state.version)
        except SyncStateConflict:
            raise _Foreign() from None
        return new

    def _stage(
        self,
        state: SyncState,
        progress: Progress,
        kind: str,
        body: Any,
        *,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Store the client's call as the next staged one, apply it to the working copy
        (``conn``, when one is at hand), then count it in the state."""
        call = {"kind": kind, "body": body, "now": int(self.clock())}
        if conn is not None:
            try:
                _apply(conn, call, progress)
            except BaseException:
                conn.close()
                raise
        seq = progress.staged + 1
        data = json.dumps(call, separators=(",", ":"), ensure_ascii=False).encode()
        self.store.put(f"{self._prefix(progress)}{seq:06d}", compress(data))
        progress.staged = seq
        self._save(state, progress)
        if conn is not None:
            _copies.keep(self._key(progress), seq, conn)

    def _load(self, progress: Progress, seq: int) -> dict[str, Any]:
        import zstandard

        try:
            stored = self.store.get(f"{self._prefix(progress)}{seq:06d}")
        except ObjectNotFound:
            raise SyncRefused(409, "this sync's earlier calls are gone; sync again") from None
        body = getattr(stored, "body", b"")
        value: dict[str, Any] = json.loads(zstandard.ZstdDecompressor().decompress(body))
        return value

    def _working_copy(self, progress: Progress) -> sqlite3.Connection:
        """The collection as ``start`` saw it with every staged call applied: this
        instance's copy, or one rebuilt from the stored collection."""
        conn = _copies.take(self._key(progress), progress.staged)
        if conn is not None:
            return conn

        def copy(db: sqlite3.Connection) -> tuple[list[int], bytes]:
            return normal.collection_fingerprint(db), db.serialize()

        fingerprint, data = self.collection.read(copy)
        if fingerprint != progress.fingerprint:
            raise SyncRefused(409, COLLECTION_MOVED)
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        try:
            conn.deserialize(data)
            for seq in range(1, progress.staged + 1):
                _apply(conn, self._load(progress, seq), progress)
        except BaseException:
            conn.close()
            raise
        return conn


class _Foreign(SyncRefused):
    """No sync of this session: another device's is running, or none was started."""

    def __init__(self) -> None:
        super().__init__(409, ONE_AT_A_TIME)


def _apply(conn: sqlite3.Connection, call: dict[str, Any], progress: Progress) -> None:
    kind, body = call.get("kind"), call.get("body")
    try:
        if kind == "graves":
            normal.apply_graves(conn, body, progress.server_usn)
        elif kind == "changes":
            normal.apply_changes(conn, body, progress.server_usn, now=int(call.get("now", 0)))
        elif kind == "chunk":
            normal.apply_chunk(conn, body, progress.client_usn, progress.server_usn)
        else:
            raise SyncRefused(500, f"unknown staged call {kind!r}")
    except normal.FullSyncRequired:
        raise SyncRefused(400, FULL_SYNC_REQUIRED) from None
    except normal.SyncDataInvalid as exc:
        raise SyncRefused(400, f"the sync data cannot be applied: {exc}") from None


def _field(request: Any, name: str) -> Any:
    if not isinstance(request, dict) or name not in request:
        raise SyncRefused(400, f"the request needs {name!r}")
    return request[name]


def _dump(progress: Progress) -> str:
    return json.dumps(asdict(progress), separators=(",", ":"))


def _delete_staged(store: ObjectStore, prefix: str) -> None:
    try:
        for listed in store.list(prefix):
            store.delete(listed.key)
    except Exception:  # the bucket expires them anyway
        log.warning("could not delete the staged sync calls under %s", prefix, exc_info=True)


def discard(states: SyncStateStore, store: ObjectStore, username: str) -> None:
    """End the learner's sync in progress, whoever runs it (a new ``start``, ``meta``,
    a full upload or download), with its staged calls."""
    state = states.get_sync_state(username, now=time.time())
    if state is None:
        return
    states.delete_sync_state(username)
    try:
        progress = _progress(state)
    except (TypeError, ValueError):
        return
    _copies.drop((username, progress.sync_id))
    _delete_staged(store, staging_prefix(username, progress.sync_id))


def _progress(state: SyncState) -> Progress:
    return Progress(**json.loads(state.data))
