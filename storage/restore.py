"""Restoring a collection as of an earlier write (docs/storage.md, "Restore").

Every acknowledged write is a log entry ``N`` (``logs/K/{log-id}/{N:016d}``) and every
compaction a new version of the snapshot ``K``. In a versioned bucket a compaction's
deletion of folded entries leaves them as noncurrent versions, and a new snapshot
leaves the one it replaced, for the retention window. So the state at position ``N``
of a log can be rebuilt as long as the bucket still holds a snapshot version of that
log at some ``S <= N`` and a version of each entry ``S+1 ... N``:

* ``History`` lists what the store keeps of a key: the snapshot's versions (with the
  log and position each holds), its deletions, and every kept version of every entry.
* ``History.plan_position``, ``plan_time`` and ``plan_version`` choose the state to
  rebuild (a position, the newest write at or before a time, or one stored version) and
  the base snapshot and entries that rebuild it; ``RestoreRefused`` when the store no
  longer holds what that needs, or the position never existed.
* ``Restorer.rebuild`` downloads them and applies the entries with the session's own
  checks (``storage.pagelog.decode_entry``, ``storage.images.apply_entry``): a damaged
  or misplaced entry raises ``CorruptDatabase``; the result must pass SQLite's
  ``integrity_check``.
* ``Restorer.restore`` stores it through ``S3SQLiteSession.replace``: a new full-image
  entry at the end of the current log, so every instance sees it on its next read,
  nothing is overwritten, and the restore can itself be undone by restoring the
  position before it.

The store's versions are read through ``VersionedObjects``: ``S3Versions`` for a bucket,
and ``CurrentObjects`` for any other store (the local directory), which keeps no
versions, so only the current snapshot's position and the entries still present after
it can be restored there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from storage.errors import CorruptDatabase, ObjectNotFound
from storage.images import MemoryImage, apply_entry, check_image, checksum_of
from storage.objects import NotModified, ObjectStore, StoredObject, normalise_etag
from storage.pagelog import CLOSED_LOG, decode_entry, log_prefix, seq_of
from storage.s3 import SHA256_METADATA, S3ObjectStore, mapped_s3_errors
from storage.session import META_CHECKSUM, META_LOG_ID, META_SEQ, S3SQLiteSession

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

# HEADs of snapshot versions (their metadata names the log and position) in parallel.
_HEAD_WORKERS = 8


class RestoreRefused(ValueError):
    """The restore asked for cannot be done: an unknown position, time or version, or a
    state the store no longer keeps. Nothing was changed."""


class UnknownKey(RestoreRefused):
    """The key does not exist and the store keeps no history of it."""


# -- the store's versions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """One stored version of an object, or a delete marker.

    ``version_id`` is None on a store that keeps no versions: the object as it is now.
    ``last_modified`` is the store's own time of the write (S3: to the second).
    """

    key: str
    version_id: str | None
    last_modified: datetime
    size: int
    latest: bool
    delete_marker: bool = False


class VersionedObjects(Protocol):
    """What a restore reads besides the ``ObjectStore``: the versions it keeps."""

    @property
    def keeps_versions(self) -> bool: ...

    def describe(self) -> str:
        """One line on where the history comes from and what it keeps."""
        ...

    def versions(self, key: str) -> list[ObjectVersion]:
        """Every kept version of exactly ``key``, delete markers included, oldest first."""
        ...

    def versions_under(self, prefix: str) -> list[ObjectVersion]:
        """Every kept version of the objects directly under ``prefix`` (ending with
        ``/``), delete markers included: keys in order, each key's oldest first."""
        ...

    def get_version(self, version: ObjectVersion) -> StoredObject:
        """The bytes and metadata of ``version``; ``ObjectNotFound`` if it is gone."""
        ...

    def metadata_of(self, version: ObjectVersion) -> tuple[str, Mapping[str, str]]:
        """The ETag and user metadata of ``version``; ``ObjectNotFound`` if it is gone."""
        ...


class S3Versions:
    """The versions a (versioned) S3 bucket keeps."""

    keeps_versions = True

    def __init__(self, store: S3ObjectStore) -> None:
        self.client: S3Client = store.client
        self.bucket = store.bucket

    def describe(self) -> str:
        with mapped_s3_errors("GET versioning", self.bucket):
            status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        if status == "Enabled":
            return (
                f"bucket {self.bucket}: versioned; older snapshots and folded entries are kept "
                "as noncurrent versions for the retention window"
            )
        return (
            f"bucket {self.bucket}: versioning is {status or 'not enabled'}; only the objects "
            "still present (and any versions kept before) can be restored"
        )

    def versions(self, key: str) -> list[ObjectVersion]:
        return [v for v in self._list(key, delimiter="/") if v.key == key]

    def versions_under(self, prefix: str) -> list[ObjectVersion]:
        if not prefix.endswith("/"):
            raise ValueError("versions_under() takes a prefix ending with '/'")
        return [v for v in self._list(prefix, delimiter="/") if "/" not in v.key[len(prefix) :]]

    def get_version(self, version: ObjectVersion) -> StoredObject:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": version.key}
        if version.version_id is not None:
            kwargs["VersionId"] = version.version_id
        with mapped_s3_errors("GET", version.key, expected=(ObjectNotFound,)):
            response = self.client.get_object(**kwargs)
            body = response["Body"].read()
        return StoredObject(body, response["ETag"], _user_metadata(response.get("Metadata", {})))

    def metadata_of(self, version: ObjectVersion) -> tuple[str, Mapping[str, str]]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": version.key}
        if version.version_id is not None:
            kwargs["VersionId"] = version.version_id
        with mapped_s3_errors("HEAD", version.key, expected=(ObjectNotFound,)):
            response = self.client.head_object(**kwargs)
        return response["ETag"], _user_metadata(response.get("Metadata", {}))

    def _list(self, prefix: str, *, delimiter: str | None) -> list[ObjectVersion]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter is not None:
            kwargs["Delimiter"] = delimiter
        # S3 lists each key's versions newest first, versions and delete markers apart;
        # `rank` keeps that order where two share a LastModified (kept to the second).
        found: list[tuple[ObjectVersion, int]] = []
        with mapped_s3_errors("LIST versions", prefix):
            for page in self.client.get_paginator("list_object_versions").paginate(**kwargs):
                for rank, item in enumerate(page.get("Versions", [])):
                    version = ObjectVersion(
                        key=item["Key"],
                        version_id=item["VersionId"],
                        last_modified=item["LastModified"].astimezone(UTC),
                        size=item["Size"],
                        latest=item["IsLatest"],
                    )
                    found.append((version, rank))
                for rank, marker in enumerate(page.get("DeleteMarkers", [])):
                    version = ObjectVersion(
                        key=marker["Key"],
                        version_id=marker["VersionId"],
                        last_modified=marker["LastModified"].astimezone(UTC),
                        size=0,
                        latest=marker["IsLatest"],
                        delete_marker=True,
                    )
                    found.append((version, rank))
        found.sort(
            key=lambda pair: (
                pair[0].key,
                pair[0].last_modified,
                pair[0].latest,
                pair[0].delete_marker,
                -pair[1],
            )
        )
        return [version for version, _ in found]


class CurrentObjects:
    """Any ``ObjectStore`` as a store that keeps no versions (the local directory):
    each object's one version is the object as it is now."""

    keeps_versions = False

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def describe(self) -> str:
        return (
            "this store keeps no versions: the history is the current snapshot and the log "
            "entries still present; no position before the snapshot's can be restored"
        )

    def versions(self, key: str) -> list[ObjectVersion]:
        parent, slash, _ = key.rpartition("/")
        if not slash:
            raise ValueError(f"not a key under a prefix: {key!r}")
        return [v for v in self.versions_under(parent + "/") if v.key == key]

    def versions_under(self, prefix: str) -> list[ObjectVersion]:
        return [
            ObjectVersion(
                key=listed.key,
                version_id=None,
                last_modified=datetime.fromtimestamp(listed.last_modified, UTC),
                size=listed.size,
                latest=True,
            )
            for listed in self.store.list(prefix)
        ]

    def get_version(self, version: ObjectVersion) -> StoredObject:
        stored = self.store.get(version.key)
        assert not isinstance(stored, NotModified)
        return stored

    def metadata_of(self, version: ObjectVersion) -> tuple[str, Mapping[str, str]]:
        info = self.store.head(version.key)
        return info.etag, info.metadata


def versions_of(store: ObjectStore) -> VersionedObjects:
    """The versions ``store`` keeps: a bucket's, or none."""
    if isinstance(store, S3ObjectStore):
        return S3Versions(store)
    return CurrentObjects(store)


def _user_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k != SHA256_METADATA}


# -- the history of a key ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotVersion:
    """A version of the snapshot: the state at position ``seq`` of log ``log_id``."""

    version: ObjectVersion
    log_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class EntryVersion:
    """A kept version of log entry ``seq``: one acknowledged write.

    ``folded``: the entry itself was deleted (a compaction folded it into a snapshot);
    this is the version the bucket keeps of it.
    """

    log_id: str
    seq: int
    version: ObjectVersion
    folded: bool


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a key's history, for people: what happened when."""

    at: datetime
    kind: str  # "snapshot", "write" or "deleted"
    log_id: str
    seq: int | None
    version_id: str | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """How to rebuild the state at position ``seq`` of log ``log_id``: the snapshot
    version ``base`` with ``entries`` applied in order."""

    key: str
    log_id: str
    seq: int
    at: datetime  # when that state was reached (the store's time of its last write)
    base: SnapshotVersion
    entries: tuple[EntryVersion, ...]

    def describe(self) -> str:
        base = f"snapshot at position {self.base.seq}"
        if self.base.version.version_id is not None:
            base += f" (version {self.base.version.version_id})"
        if self.entries:
            first, last = self.entries[0].seq, self.entries[-1].seq
            span = f"entry {first}" if first == last else f"entries {first}-{last}"
            base += f" and {span}"
        written = format_time(self.at)
        return f"position {self.seq} of log {self.log_id} (written {written}), from {base}"


@dataclass(frozen=True)
class History:
    """What the store keeps of one key (see the module doc)."""

    key: str
    keeps_versions: bool
    note: str
    snapshots: tuple[SnapshotVersion, ...]  # the snapshot's versions, oldest first
    deletions: tuple[ObjectVersion, ...]  # delete markers of the snapshot, oldest first
    entries: Mapping[str, Mapping[int, EntryVersion]]  # log id -> seq -> entry
    current: SnapshotVersion | None  # None: the collection is deleted (or never was)

    @property
    def exists(self) -> bool:
        return bool(self.snapshots or self.deletions or any(self.entries.values()))

    def logs(self) -> list[str]:
        """The logs of the key, the oldest (by its first kept snapshot) first."""
        seen: dict[str, None] = {}
        for snapshot in self.snapshots:
            seen.setdefault(snapshot.log_id)
        return list(seen)

    def head(self, log_id: str) -> int | None:
        """The last position of ``log_id`` the store knows of."""
        seqs = [s.seq for s in self.snapshots if s.log_id == log_id]
        seqs.extend(self.entries.get(log_id, {}))
        return max(seqs, default=None)

    def restorable(self, log_id: str) -> list[tuple[int, int]]:
        """The ranges of positions of ``log_id`` that can be rebuilt, in order."""
        present = self.entries.get(log_id, {})
        ranges: list[tuple[int, int]] = []
        for base in sorted({s.seq for s in self.snapshots if s.log_id == log_id}):
            end = base
            while end + 1 in present:
                end += 1
            if ranges and base <= ranges[-1][1] + 1:
                ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
            else:
                ranges.append((base, end))
        return ranges

    def events(self) -> list[Event]:
        """Everything kept, in the order it happened (ties broken per log, then position)."""
        order = {log_id: index for index, log_id in enumerate(self.logs())}
        keyed: list[tuple[tuple[datetime, int, float, int], Event]] = []
        for snapshot in self.snapshots:
            current = snapshot is self.current
            note = "current" if current else ""
            if snapshot.seq == 0:
                note = ("created, " + note).rstrip(", ")
            keyed.append(
                (
                    (snapshot.version.last_modified, order[snapshot.log_id], snapshot.seq, 1),
                    Event(
                        snapshot.version.last_modified,
                        "snapshot",
                        snapshot.log_id,
                        snapshot.seq,
                        snapshot.version.version_id,
                        note,
                    ),
                )
            )
        for log_id, entries in self.entries.items():
            for entry in entries.values():
                keyed.append(
                    (
                        (entry.version.last_modified, order.get(log_id, -1), entry.seq, 0),
                        Event(
                            entry.version.last_modified,
                            "write",
                            log_id,
                            entry.seq,
                            entry.version.version_id,
                            "folded, kept as a version" if entry.folded else "",
                        ),
                    )
                )
        for marker in self.deletions:
            log_id = self._log_before(marker)
            keyed.append(
                (
                    (marker.last_modified, order.get(log_id, -1), float("inf"), 2),
                    Event(marker.last_modified, "deleted", log_id, None, marker.version_id),
                )
            )
        keyed.sort(key=lambda pair: pair[0])
        return [event for _, event in keyed]

    # -- choosing what to rebuild ------------------------------------------------------

    def plan_position(self, seq: int, *, log_id: str | None = None) -> Plan:
        """The state at position ``seq`` of ``log_id`` (default: the current log)."""
        log_id = log_id or self._current_log()
        head = self.head(log_id)
        if head is None:
            raise RestoreRefused(f"{self.key} has no log {log_id}")
        if seq < 0 or seq > head:
            raise RestoreRefused(
                f"position {seq} does not exist: the log of {self.key} ends at position {head}"
            )
        bases = [s for s in self.snapshots if s.log_id == log_id and s.seq <= seq]
        if not bases:
            raise RestoreRefused(
                f"position {seq} of {self.key} can no longer be restored: no snapshot at or "
                f"before it is kept. {self._restorable_text(log_id)}"
            )
        top = max(s.seq for s in bases)
        base = [s for s in bases if s.seq == top][-1]  # the newest version at that position
        present = self.entries.get(log_id, {})
        missing = [n for n in range(base.seq + 1, seq + 1) if n not in present]
        if missing:
            raise RestoreRefused(
                f"position {seq} of {self.key} can no longer be restored: entry {missing[0]} "
                f"is not kept any more. {self._restorable_text(log_id)}"
            )
        entries = tuple(present[n] for n in range(base.seq + 1, seq + 1))
        at = entries[-1].version.last_modified if entries else base.version.last_modified
        return Plan(self.key, log_id, seq, at, base, entries)

    def plan_time(self, when: datetime) -> Plan:
        """The state after the newest write whose time is at or before ``when``.

        The log is the one the snapshot belonged to at ``when``; S3 keeps times to the
        second, so every write within the second ``when`` names is included.
        """
        if when.tzinfo is None:
            raise ValueError("plan_time() takes an aware datetime")
        log_id = self._log_at(when)
        candidates = [
            s.seq for s in self.snapshots if s.log_id == log_id and s.version.last_modified <= when
        ]
        candidates.extend(
            e.seq for e in self.entries.get(log_id, {}).values() if e.version.last_modified <= when
        )
        if not candidates:
            raise RestoreRefused(
                f"{self.key} has no write at or before {format_time(when)} that is still kept. "
                + self._restorable_text(log_id)
            )
        return self.plan_position(max(candidates), log_id=log_id)

    def plan_version(self, version_id: str) -> Plan:
        """The state a stored version holds: a snapshot version, or an entry version
        (the state right after that write)."""
        if not self.keeps_versions:
            raise RestoreRefused(f"this store keeps no versions: {self.note}")
        for snapshot in self.snapshots:
            if snapshot.version.version_id == version_id:
                return Plan(
                    self.key,
                    snapshot.log_id,
                    snapshot.seq,
                    snapshot.version.last_modified,
                    snapshot,
                    (),
                )
        for log_id, entries in self.entries.items():
            for entry in entries.values():
                if entry.version.version_id == version_id:
                    return self.plan_position(entry.seq, log_id=log_id)
        raise RestoreRefused(f"{self.key} has no kept version {version_id}")

    def _current_log(self) -> str:
        if self.current is not None:
            return self.current.log_id
        if self.deletions:
            raise RestoreRefused(
                f"{self.key} was deleted at {format_time(self.deletions[-1].last_modified)}; "
                "give a time or a version of its history"
            )
        raise RestoreRefused(f"{self.key} does not exist")

    def _log_at(self, when: datetime) -> str:
        """The log the key's newest snapshot event at or before ``when`` belongs to."""
        # Within one second (S3's resolution) the current version is the newest.
        events: list[tuple[datetime, bool, int, SnapshotVersion | None]] = [
            (s.version.last_modified, s.version.latest, 0, s) for s in self.snapshots
        ]
        events.extend((m.last_modified, m.latest, 1, None) for m in self.deletions)
        events.sort(key=lambda event: event[:3])
        before = [event for event in events if event[0] <= when]
        if before:
            latest = before[-1][3]
            if latest is None:
                raise RestoreRefused(
                    f"{self.key} did not exist at {format_time(when)} (it was deleted)"
                )
            return latest.log_id
        # No snapshot that old is kept; a store without versions may still hold entries
        # written before its current snapshot (and refuses them as unrestorable).
        if self.current is not None and not self.keeps_versions:
            return self.current.log_id
        if events:
            raise RestoreRefused(
                f"{self.key} has nothing kept from before {format_time(events[0][0])}; "
                f"{format_time(when)} is earlier"
            )
        raise RestoreRefused(f"{self.key} does not exist")

    def _log_before(self, marker: ObjectVersion) -> str:
        older = [s for s in self.snapshots if s.version.last_modified <= marker.last_modified]
        return older[-1].log_id if older else ""

    def _restorable_text(self, log_id: str) -> str:
        ranges = self.restorable(log_id)
        if not ranges:
            return "Nothing of it can be restored."
        spans = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
        return f"Restorable positions: {spans}."


def load_history(versions: VersionedObjects, key: str) -> History:
    """Read what ``versions`` keeps of ``key`` (a LIST of the snapshot's versions, a HEAD
    of each, and a LIST of each of its logs)."""
    kept = versions.versions(key)
    markers = tuple(v for v in kept if v.delete_marker)
    objects = [v for v in kept if not v.delete_marker]
    with ThreadPoolExecutor(max_workers=_HEAD_WORKERS) as pool:
        heads = list(pool.map(lambda v: _snapshot_of(versions, v), objects))
    snapshots = tuple(s for s in heads if s is not None)
    latest = [s for s in snapshots if s.version.latest]
    current = latest[-1] if latest else None
    entries: dict[str, dict[int, EntryVersion]] = {}
    for log_id in dict.fromkeys(s.log_id for s in snapshots):
        entries[log_id] = _entries_of(versions.versions_under(log_prefix(key, log_id)), log_id)
    return History(
        key=key,
        keeps_versions=versions.keeps_versions,
        note=versions.describe(),
        snapshots=snapshots,
        deletions=markers,
        entries=entries,
        current=current,
    )


def _snapshot_of(versions: VersionedObjects, version: ObjectVersion) -> SnapshotVersion | None:
    try:
        etag, metadata = versions.metadata_of(version)
    except ObjectNotFound:
        return None  # expired (or, on a store without versions, deleted) meanwhile
    # A snapshot without metadata predates the log: position 0 of the log named after its
    # ETag, as the session names it.
    log_id = metadata.get(META_LOG_ID) or "etag-" + normalise_etag(etag)
    try:
        seq = int(metadata.get(META_SEQ, "0"))
    except ValueError:
        raise CorruptDatabase(f"snapshot version {version.version_id} has a bad position") from None
    return SnapshotVersion(version=version, log_id=log_id, seq=seq)


def _entries_of(kept: Iterable[ObjectVersion], log_id: str) -> dict[int, EntryVersion]:
    by_key: dict[str, list[ObjectVersion]] = {}
    for version in kept:
        by_key.setdefault(version.key, []).append(version)
    entries: dict[int, EntryVersion] = {}
    for key, history in by_key.items():
        seq = seq_of(key.rsplit("/", 1)[-1])
        # A deleted collection's log holds the closing mark over its entries: a version
        # of that exact size is the mark, never an entry (an entry's header is larger).
        bodies = [v for v in history if not v.delete_marker and v.size != len(CLOSED_LOG)]
        if seq is None or not bodies:
            continue
        # An entry is written once (If-None-Match: *): its first version (they are
        # oldest first) is the write; a later one is a deletion or the closing mark.
        folded = history[-1].delete_marker or history[-1].size == len(CLOSED_LOG)
        entries[seq] = EntryVersion(log_id=log_id, seq=seq, version=bodies[0], folded=folded)
    return dict(sorted(entries.items()))


# -- rebuilding and restoring ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rebuilt:
    plan: Plan
    body: bytes
    checksum: int


@dataclass(frozen=True, slots=True)
class Restored:
    plan: Plan
    log_id: str  # the log the restore was appended to (the current one)
    position: int  # where that log ends now: the restore, unless others wrote since


class Restorer:
    """Rebuilds and restores the collections of one session's store."""

    def __init__(self, session: S3SQLiteSession, versions: VersionedObjects | None = None) -> None:
        self.session = session
        self.versions = versions if versions is not None else versions_of(session.store)

    def history(self, key: str) -> History:
        history = load_history(self.versions, key)
        if not history.exists:
            raise UnknownKey(f"{key} does not exist and has no kept history")
        return history

    def rebuild(self, plan: Plan) -> Rebuilt:
        """The database at ``plan``'s position, checked; ``CorruptDatabase`` if a kept
        object is damaged, ``RestoreRefused`` if one went away since it was listed."""
        base = self._get(plan.base.version)
        if base.metadata.get(META_LOG_ID, plan.base.log_id) != plan.base.log_id or int(
            base.metadata.get(META_SEQ, "0")
        ) != (plan.base.seq):
            raise RestoreRefused(f"the snapshot of {plan.key} changed meanwhile; try again")
        try:
            image = MemoryImage(base.body)
        except ValueError:
            raise CorruptDatabase(
                f"snapshot version {plan.base.version.version_id} is not a SQLite database"
            ) from None
        check_image(image)
        checksum = checksum_of(image)
        recorded = base.metadata.get(META_CHECKSUM)
        if recorded is not None and recorded != str(checksum):
            raise CorruptDatabase(
                f"snapshot version {plan.base.version.version_id} does not match its checksum"
            )
        for kept in plan.entries:
            entry = decode_entry(self._get(kept.version).body, expected_seq=kept.seq)
            checksum = apply_entry(image, entry, checksum)
        body = image.to_bytes()
        integrity_check(body)
        return Rebuilt(plan=plan, body=body, checksum=checksum)

    def restore(self, rebuilt: Rebuilt) -> Restored:
        """Make ``rebuilt`` the current state of its key, as a new write (a full-image
        entry appended to the current log)."""
        key = rebuilt.plan.key
        try:
            self.session.replace(key, rebuilt.body)
        except ObjectNotFound:
            raise RestoreRefused(
                f"{key} does not exist now (deleted); a deleted collection is not restored"
            ) from None
        info = self.session.store.head(key)
        log_id = info.metadata.get(META_LOG_ID) or "etag-" + normalise_etag(info.etag)
        listed = self.session.store.list(log_prefix(key, log_id))
        seqs = [seq_of(item.key.rsplit("/", 1)[-1]) for item in listed]
        position = max((s for s in seqs if s is not None), default=0)
        return Restored(plan=rebuilt.plan, log_id=log_id, position=position)

    def _get(self, version: ObjectVersion) -> StoredObject:
        try:
            return self.versions.get_version(version)
        except ObjectNotFound:
            raise RestoreRefused(
                f"{version.key} (version {version.version_id}) is no longer kept; try again"
            ) from None


def integrity_check(body: bytes) -> None:
    """``CorruptDatabase`` unless ``body`` passes SQLite's full ``integrity_check``."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(body)
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    finally:
        conn.close()
    if problems != ["ok"]:
        raise CorruptDatabase(
            "the rebuilt database fails SQLite's integrity_check: " + "; ".join(problems[:3])
        )


def format_time(moment: datetime) -> str:
    """A time as ISO 8601 in UTC, exactly as kept (``--at`` reads it back unchanged)."""
    return moment.astimezone(UTC).isoformat()


__all__ = [
    "CurrentObjects",
    "EntryVersion",
    "Event",
    "History",
    "ObjectVersion",
    "Plan",
    "Rebuilt",
    "RestoreRefused",
    "Restored",
    "Restorer",
    "S3Versions",
    "SnapshotVersion",
    "UnknownKey",
    "VersionedObjects",
    "format_time",
    "integrity_check",
    "load_history",
    "versions_of",
]
