"""The starter deck: an Anki package imported into every new learner's collection.

An instructor sets `JAVUMBO_STARTER_DECK` to the course deck; each collection is then
created with that deck already in it, in the same single conditional write that
creates an empty one, so a registration never leaves a collection half made. The
deck's media files are unpacked once at start-up into a private directory and stored
with each new learner's media before the collection is created (api/deps.py).
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from api.errors import StarterDeckInvalid
from collection.errors import CollectionError
from collection.schema import new_collection_bytes


class _Unpacked:
    """A `MediaSink` that keeps the package's media files in a private directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.names: list[str] = []

    def sha1_of(self, name: str) -> str | None:
        return None  # a new learner has no files: nothing clashes

    def add_many(self, files: Iterable[tuple[str, bytes]]) -> None:
        for name, data in files:
            (self.directory / str(len(self.names))).write_bytes(data)
            self.names.append(name)


class StarterDeck:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._media: _Unpacked | None = None

    @classmethod
    def checked(cls, path: Path) -> StarterDeck:
        """The starter deck at ``path``, proven importable by importing it once."""
        starter = cls(path)
        if not path.is_file():
            raise StarterDeckInvalid(f"JAVUMBO_STARTER_DECK={path}: no such file")
        try:
            starter.unpack_media()
        except CollectionError as error:
            raise StarterDeckInvalid(
                f"JAVUMBO_STARTER_DECK={path} is not a usable Anki package: {error}"
            ) from error
        return starter

    def collection_bytes(self) -> bytes:
        """A new collection with the starter deck imported into it."""
        return self._imported(media=None)

    def unpack_media(self) -> None:
        """Import the deck once (proving it importable) and keep its media files."""
        directory = Path(tempfile.mkdtemp(prefix="javumbo-starter-media-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        unpacked = _Unpacked(directory)
        self._imported(media=unpacked)
        self._media = unpacked

    def media_files(self) -> Iterator[tuple[str, bytes]]:
        """The deck's media files, read one at a time (none before `unpack_media`)."""
        if self._media is None:
            return
        for index, name in enumerate(self._media.names):
            yield name, (self._media.directory / str(index)).read_bytes()

    def _imported(self, *, media: _Unpacked | None) -> bytes:
        from collection.apkg import import_package  # only loaded when a deck is configured

        now = time.time()
        with tempfile.TemporaryDirectory(prefix="javumbo-starter-") as scratch:
            target = Path(scratch) / "collection.anki2"
            target.write_bytes(new_collection_bytes(now))
            conn = sqlite3.connect(target)
            try:
                import_package(conn, self.path, now=now, media=media)
                conn.commit()
            finally:
                conn.close()
            return target.read_bytes()
