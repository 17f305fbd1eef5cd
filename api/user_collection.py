"""The signed-in learner's collection: the only one a request can reach."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from collection.schema import new_collection_bytes
from storage.objects import ObjectNotFound
from storage.session import CollectionExists, S3SQLiteSession

log = logging.getLogger(__name__)

T = TypeVar("T")


def collection_key(username: str) -> str:
    return f"user_dbs/{username}.anki2"


class UserCollection:
    """Reads and writes one learner's collection through ``S3SQLiteSession``.

    A collection that does not exist yet (its creation at registration failed) is
    created on first use, so the account is never stuck.
    """

    def __init__(self, session: S3SQLiteSession, username: str) -> None:
        self.session = session
        self.username = username
        self.key = collection_key(username)

    def read(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return self.session.read(self.key, operation)
        except ObjectNotFound:
            self.ensure_exists()
            return self.session.read(self.key, operation)

    def write(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return self.session.write(self.key, operation)
        except ObjectNotFound:
            self.ensure_exists()
            return self.session.write(self.key, operation)

    def ensure_exists(self) -> None:
        """Create an empty collection unless one exists; never overwrite."""
        try:
            self.session.create(self.key, new_collection_bytes())
        except CollectionExists:
            pass
        else:
            log.info("created the collection of %s", self.username)

    def delete(self) -> None:
        self.session.delete(self.key)
