"""An object store on a local directory, with the same semantics as S3.

Writes are atomic (temporary file, fsync, rename), ETags are the quoted MD5 of the
bytes as S3 computes them for single-part uploads, and a lock file per key makes the
check-and-write of a conditional PUT atomic across threads and processes.

Keys map to files so that no key reaches outside the root or another key's file:
each ``/``-separated part of the key is one file name in which everything but
``a-z``, ``0-9``, ``.``, ``_`` and ``-`` is written as ``%XX`` (its UTF-8 bytes).
``%`` itself is encoded, so two keys never share a file; upper case, non-ASCII,
``\\`` and control characters are encoded, so a case-insensitive or
Unicode-normalising file system cannot merge two keys either. Keys made only of
those characters (every key the service writes today) keep their plain file names.
Keys that have no faithful file are refused with ``ValueError``: an empty key, a
leading ``/``, an empty, ``.`` or ``..`` part, a part whose name would be longer than
a file name may be, text that is not valid Unicode, and the store's own directories.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from storage import metrics
from storage.errors import ObjectNotFound, PreconditionFailed
from storage.objects import (
    ANY_ETAG,
    ListedObject,
    NotModified,
    ObjectInfo,
    StoredObject,
    normalise_etag,
)

_LOCK_DIR = ".locks"
_TMP_DIR = ".tmp"
# Each object's metadata, by the ETag of the version it belongs to: {etag: {name: value}}.
# It is written before the object, and keeps the previous version's too, so whichever
# version a crash leaves in place finds its own.
_META_DIR = ".meta"
# Characters that stand for themselves in a file name; every other one is %XX.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
_NAME_MAX_BYTES = 255  # the longest file name Linux and macOS allow


def md5_etag(body: bytes) -> str:
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'


def file_name(part: str) -> str:
    """The file name of one ``/``-separated part of a key (see the module doc)."""
    return "".join(
        c if c in _PLAIN else "".join(f"%{byte:02X}" for byte in c.encode("utf-8")) for c in part
    )


class LocalObjectStore:
    """Objects as files under ``root``; a key's slashes become directories."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        (self.root / _LOCK_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / _TMP_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / _META_DIR).mkdir(parents=True, exist_ok=True)

    def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject | NotModified:
        metrics.count_request()
        path = self._path(key)
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        etag = md5_etag(body)
        if if_none_match is not None and normalise_etag(if_none_match) == normalise_etag(etag):
            return NotModified(etag)
        metrics.count_received(len(body))
        return StoredObject(body=body, etag=etag, metadata=self._metadata(key, etag))

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        if if_none_match not in (None, ANY_ETAG):
            raise ValueError("put() accepts only if_none_match='*'")
        metrics.count_request(bytes_out=len(body))
        path = self._path(key)
        etag = md5_etag(body)
        with self._locked(key):
            current = self._current_etag(path)
            if if_match is not None or if_none_match is not None:
                if if_none_match is not None and current is not None:
                    raise PreconditionFailed(f"{key} already exists")
                if if_match is not None:
                    if current is None:
                        raise ObjectNotFound(key)
                    if normalise_etag(current) != normalise_etag(if_match):
                        raise PreconditionFailed(f"{key} changed since {if_match}")
            self._write_metadata(key, etag, dict(metadata or {}), current)
            self._write_atomically(path, body)
        return etag

    def head(self, key: str) -> ObjectInfo:
        metrics.count_request()
        try:
            body = self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        etag = md5_etag(body)
        return ObjectInfo(
            etag=etag,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            metadata=self._metadata(key, etag),
        )

    def delete(self, key: str) -> None:
        metrics.count_request()
        path = self._path(key)
        with self._locked(key):
            path.unlink(missing_ok=True)
            self._meta_path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> list[ListedObject]:
        if not prefix.endswith("/"):
            raise ValueError("list() takes a prefix ending with '/'")
        metrics.count_request()
        directory = self._path(prefix[:-1])
        try:
            children = list(directory.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for child in children:
            try:
                stat = child.stat()
            except FileNotFoundError:
                continue  # deleted while we looked
            if child.is_file():
                key = prefix + unquote(child.name)
                found.append(ListedObject(key=key, size=stat.st_size, last_modified=stat.st_mtime))
        return sorted(found, key=lambda o: o.key)

    def _meta_path(self, key: str) -> Path:
        relative = self._path(key).relative_to(self.root)
        return self.root / _META_DIR / relative

    def _metadata(self, key: str, etag: str) -> dict[str, str]:
        try:
            versions = json.loads(self._meta_path(key).read_text())
        except (FileNotFoundError, ValueError):
            return {}
        found = versions.get(normalise_etag(etag), {})
        return dict(found) if isinstance(found, dict) else {}

    def _write_metadata(
        self, key: str, etag: str, metadata: dict[str, str], current: str | None
    ) -> None:
        meta_path = self._meta_path(key)
        if not metadata and not meta_path.exists():
            return  # most objects have none: no second file to write
        versions: dict[str, dict[str, str]] = {}
        if current is not None:
            versions[normalise_etag(current)] = self._metadata(key, current)
        versions[normalise_etag(etag)] = metadata
        self._write_atomically(meta_path, json.dumps(versions).encode())

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid object key: {key!r}")
        if parts[0] in (_LOCK_DIR, _TMP_DIR, _META_DIR):
            raise ValueError(f"reserved object key: {key!r}")
        try:
            names = [file_name(part) for part in parts]
        except UnicodeEncodeError:
            raise ValueError(f"invalid object key (not valid Unicode): {key!r}") from None
        if any(len(name) > _NAME_MAX_BYTES for name in names):
            raise ValueError(f"object key has a part too long for a file name: {key!r}")
        return self.root.joinpath(*names)

    @staticmethod
    def _current_etag(path: Path) -> str | None:
        try:
            return md5_etag(path.read_bytes())
        except FileNotFoundError:
            return None

    def _write_atomically(self, path: Path, body: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root / _TMP_DIR)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        name = hashlib.sha256(key.encode()).hexdigest()
        with open(self.root / _LOCK_DIR / name, "a+b") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
