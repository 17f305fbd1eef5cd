"""The signed-in learner's collection: the only one a request can reach."""

from __future__ import annotations

import contextvars
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from api.core.names import PREFIX_COLLECTIONS as PREFIX
from collection.schema import new_collection_bytes
from storage.errors import ObjectExists
from storage.objects import ObjectNotFound
from storage.session import S3SQLiteSession

log = logging.getLogger(__name__)

T = TypeVar("T")

# Revalidations started ahead of a request's reads. Threads start on first use only.
_prefetches = ThreadPoolExecutor(max_workers=8, thread_name_prefix="collection-prefetch")


SUFFIX = ".anki2"
# Appended to the key of a username that cannot have its plain key (see collection_key).
ESCAPED_SUFFIX = ".anki2.escaped"


def collection_key(username: str) -> str:
    """The object key of a learner's collection, for any username whatsoever.

    The rule, so that collections written by the original backend are found where
    they are and yet no username can reach outside ``user_dbs/`` or another's object:

    * ``user_dbs/{username}.anki2``, exactly, whenever that key is safe: the username
      has no control character (U+0000-U+001F, U+007F) and none of the key's
      ``/``-separated parts is empty, ``.`` or ``..``. That is every username our
      registration accepts and almost every name the original backend did: "bob",
      "Maria José", "a@b.c", "Ana/Lab1" (the key ``user_dbs/Ana/Lab1.anki2``). S3
      keeps such a key as it is; the local store keeps it under its root.
    * otherwise ``user_dbs/{escaped}.anki2.escaped``, where ``escaped`` is the username
      with ``%``, ``/`` and every control character written as ``%XX`` (UTF-8): one
      part, never ``.`` or ``..``, so it stays directly under ``user_dbs/`` even for
      something that resolves ``..`` or collapses ``//`` (a proxy, a sync to disk).
      "../etc" gets ``user_dbs/..%2Fetc.anki2.escaped``. Such a learner starts with an
      empty collection; an object the original backend wrote under the plain key is
      not read, and an operator copies it across if it is wanted.

    No two usernames share a key: each form is injective (percent-encoding can be
    undone because ``%`` itself is encoded), and the two forms never meet because
    every plain key ends in ``.anki2`` and no escaped key does.
    """
    plain = f"{PREFIX}{username}{SUFFIX}"
    if _is_safe_name(username):
        return plain
    return f"{PREFIX}{_escape(username)}{ESCAPED_SUFFIX}"


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or char == "\x7f"


def _is_safe_name(username: str) -> bool:
    if any(_is_control(c) for c in username):
        return False
    parts = f"{username}{SUFFIX}".split("/")
    return all(part not in ("", ".", "..") for part in parts)


def _escape(username: str) -> str:
    return "".join(
        "".join(f"%{byte:02X}" for byte in c.encode("utf-8")) if c in "%/" or _is_control(c) else c
        for c in username
    )


def start_revalidation(session: S3SQLiteSession, key: str) -> Future[float]:
    """Start bringing the cached copy of ``key`` up to date, in the background.

    It runs in the caller's context, so its store request counts toward the caller's
    request. Its outcome is only ever waited for, never raised (``UserCollection``):
    when it fails, the read after it checks for itself and meets the error there.
    """
    return _prefetches.submit(contextvars.copy_context().run, session.revalidate, key)


class UserCollection:
    """Reads and writes one learner's collection through ``S3SQLiteSession``.

    A collection that does not exist yet (its creation at registration failed) is
    created on first use, so the account is never stuck.

    ``current_since``: the moment (``time.time()``) reads must be current as of, the
    request's arrival; a check this process made since then is trusted, so a read
    after ``prefetch`` (a ``start_revalidation`` begun for the request) sends nothing.
    """

    def __init__(
        self,
        session: S3SQLiteSession,
        username: str,
        new_collection: Callable[[], bytes] = new_collection_bytes,
        *,
        current_since: float | None = None,
        prefetch: Future[float] | None = None,
        before_create: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.username = username
        self.key = collection_key(username)
        # What a new learner starts with: an empty collection, or the starter deck's.
        self.new_collection = new_collection
        self.current_since = current_since
        self._prefetch = prefetch
        # Run before a first collection is created (the starter deck's media files).
        self.before_create = before_create

    def read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        self._settle_prefetch()
        try:
            return self.session.read(self.key, operation, current_since=self.current_since)
        except ObjectNotFound:
            self.ensure_exists()
            return self.session.read(self.key, operation, current_since=self.current_since)

    def write(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        self._settle_prefetch()
        try:
            return self.session.write(self.key, operation)
        except ObjectNotFound:
            self.ensure_exists()
            return self.session.write(self.key, operation)

    def ensure_exists(self) -> None:
        """Create the learner's first collection unless one exists; never overwrite."""
        if self.before_create is not None:
            self.before_create()  # idempotent: a lost race to create stores nothing new
        try:
            self.session.create(self.key, self.new_collection())
        except ObjectExists:
            pass
        else:
            log.info("created the collection of %s", self.username)

    def delete(self) -> None:
        self.session.delete(self.key)

    def _settle_prefetch(self) -> None:
        """Let the request's revalidation finish before the first read or write, so it
        is not followed by a second; cancel it if no thread has taken it up yet (all
        busy), for then the read checks sooner on its own."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None and not prefetch.cancel():
            wait([prefetch])  # never raises: its errors are left to the read
