"""The baseline: the naive S3-SQLite pattern, served by the same app.

`NaiveSession` stands in for `S3SQLiteSession` and does what a first attempt at "SQLite
in S3" does: every call downloads the whole object (an unconditional GET; no cache, no
ETags), opens it with sqlite3, runs the same domain function, and uploads the whole file
back with an unconditional PUT, reads included. Everything else (uvicorn, FastAPI, the
routes, authentication, the S3 client and its configuration) is the real app's, so the
comparison isolates the storage design.

It is also unsafe: two writers that download the same version both upload, and the
first upload is lost (the concurrent-writers scenario counts the lost cards). Creating a
collection at registration keeps `If-None-Match: *`, as it is outside what is measured.

`uvicorn bench.naive:app` serves it.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from api.core.config import Settings, get_settings
from api.main import LazyServices, build_accounts, build_object_store, create_app
from api.services import Services
from storage.errors import ObjectExists
from storage.media import MediaStore
from storage.objects import ANY_ETAG, NotModified, ObjectStore, PreconditionFailed

T = TypeVar("T")


class NaiveSession:
    """Download, open, run, upload: on every call, for every call."""

    def __init__(self, store: ObjectStore, workdir: Path) -> None:
        self.store = store
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)

    def _download(self, key: str) -> Path:
        """The whole object, unconditionally, into a private file."""
        result = self.store.get(key)
        assert not isinstance(result, NotModified)
        fd, name = tempfile.mkstemp(dir=self.workdir, suffix=".anki2")
        with open(fd, "wb") as f:
            f.write(result.body)
        return Path(name)

    def revalidate(self, key: str) -> float:
        """Nothing to bring up to date: every call downloads the object anyway."""
        return time.time()

    def read(
        self,
        key: str,
        operation: Callable[[sqlite3.Connection], T],
        *,
        current_since: float | None = None,
    ) -> T:
        # The naive pattern does not tell reads from writes: it syncs the file back
        # after every request ("download and upload on every request"), and trusts no
        # earlier check (`current_since` is ignored).
        return self.write(key, operation)

    def write(self, key: str, operation: Callable[[sqlite3.Connection], T]) -> T:
        path = self._download(key)
        try:
            conn = sqlite3.connect(path)
            try:
                value = operation(conn)
                conn.commit()
                conn.execute("PRAGMA journal_mode=DELETE")
            except BaseException:
                conn.rollback()
                raise
            finally:
                conn.close()
            self.store.put(key, path.read_bytes())  # unconditional: last writer wins
            return value
        finally:
            path.unlink(missing_ok=True)

    def create(self, key: str, body: bytes) -> None:
        try:
            self.store.put(key, body, if_none_match=ANY_ETAG)
        except PreconditionFailed:
            raise ObjectExists(key) from None

    def delete(self, key: str) -> None:
        self.store.delete(key)


def naive_services(settings: Settings) -> Services:
    store = build_object_store(settings)
    session = NaiveSession(store, settings.cache_dir / "naive")
    return Services(  # type: ignore[arg-type]
        session=session, accounts=build_accounts(settings), media=MediaStore(store)
    )


def _naive_app() -> object:
    settings = get_settings()
    app = create_app(settings)
    app.state.services = LazyServices(lambda: naive_services(settings))
    return app


app = _naive_app()
