"""The starter deck: an Anki package imported into every new learner's collection.

An instructor sets `JAVUMBO_STARTER_DECK` to the course deck; each collection is then
created with that deck already in it, in the same single conditional write that
creates an empty one, so a registration never leaves a collection half made.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from api.errors import StarterDeckInvalid
from collection.errors import CollectionError
from collection.schema import new_collection_bytes


class StarterDeck:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def checked(cls, path: Path) -> StarterDeck:
        """The starter deck at ``path``, proven importable by importing it once."""
        starter = cls(path)
        if not path.is_file():
            raise StarterDeckInvalid(f"JAVUMBO_STARTER_DECK={path}: no such file")
        try:
            starter.collection_bytes()
        except CollectionError as error:
            raise StarterDeckInvalid(
                f"JAVUMBO_STARTER_DECK={path} is not a usable Anki package: {error}"
            ) from error
        return starter

    def collection_bytes(self) -> bytes:
        """A new collection with the starter deck imported into it."""
        from collection.apkg import import_package  # only loaded when a deck is configured

        now = time.time()
        with tempfile.TemporaryDirectory(prefix="javumbo-starter-") as scratch:
            target = Path(scratch) / "collection.anki2"
            target.write_bytes(new_collection_bytes(now))
            conn = sqlite3.connect(target)
            try:
                import_package(conn, self.path, now=now)
                conn.commit()
            finally:
                conn.close()
            return target.read_bytes()
