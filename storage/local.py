"""An object store on a local directory, with the same semantics as S3.

Writes are atomic (temporary file, fsync, rename), ETags are the quoted MD5 of the
bytes as S3 computes them for single-part uploads, and a lock file per key makes the
check-and-write of a conditional PUT atomic across threads and processes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage import metrics
from storage.objects import (
    ANY_ETAG,
    NotModified,
    ObjectInfo,
    ObjectNotFound,
    PreconditionFailed,
    StoredObject,
    normalise_etag,
)

_LOCK_DIR = ".locks"
_TMP_DIR = ".tmp"


def md5_etag(body: bytes) -> str:
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'


class LocalObjectStore:
    """Objects as files under ``root``; a key's slashes become directories."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        (self.root / _LOCK_DIR).mkdir(parents=True, exist_ok=True)
        (self.root / _TMP_DIR).mkdir(parents=True, exist_ok=True)

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
        return StoredObject(body=body, etag=etag)

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> str:
        if if_none_match not in (None, ANY_ETAG):
            raise ValueError("put() accepts only if_none_match='*'")
        metrics.count_request(bytes_out=len(body))
        path = self._path(key)
        with self._locked(key):
            if if_match is not None or if_none_match is not None:
                current = self._current_etag(path)
                if if_none_match is not None and current is not None:
                    raise PreconditionFailed(f"{key} already exists")
                if if_match is not None:
                    if current is None:
                        raise ObjectNotFound(key)
                    if normalise_etag(current) != normalise_etag(if_match):
                        raise PreconditionFailed(f"{key} changed since {if_match}")
            self._write_atomically(path, body)
        return md5_etag(body)

    def head(self, key: str) -> ObjectInfo:
        metrics.count_request()
        try:
            body = self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        return ObjectInfo(
            etag=md5_etag(body), size=len(body), sha256=hashlib.sha256(body).hexdigest()
        )

    def delete(self, key: str) -> None:
        metrics.count_request()
        path = self._path(key)
        with self._locked(key):
            path.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid object key: {key!r}")
        if parts[0] in (_LOCK_DIR, _TMP_DIR):
            raise ValueError(f"reserved object key: {key!r}")
        return self.root.joinpath(*parts)

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
