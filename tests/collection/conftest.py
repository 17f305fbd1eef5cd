"""Fixtures for the collection domain: fresh schema-11 collections and Anki copies."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collection.schema import create_collection

# A fixed clock in the past: Anki's check treats ids later than tomorrow as invalid.
NOW = datetime(2024, 3, 10, 15, 30, 12, 345_000, tzinfo=UTC).timestamp()


def dump(conn: sqlite3.Connection) -> str:
    """Everything in the database, including uncommitted changes on `conn`."""
    return "\n".join(conn.iterdump())


@pytest.fixture
def col_path(tmp_path: Path) -> Path:
    path = tmp_path / "collection.anki2"
    with closing(sqlite3.connect(path)) as conn:
        create_collection(conn, now=NOW)
    return path


@pytest.fixture
def conn(col_path: Path) -> Iterator[sqlite3.Connection]:
    """A read-write connection as the storage session gives it: nothing committed yet."""
    with closing(sqlite3.connect(col_path)) as connection:
        yield connection


@contextmanager
def readonly(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection like the session's reads: read-only and immutable."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)) as connection:
        yield connection


AnkiOpener = Callable[[sqlite3.Connection], Any]


@pytest.fixture
def open_in_anki(col_path: Path, tmp_path: Path) -> Iterator[AnkiOpener]:
    """Commit `conn` and open a copy with the real Anki (opening upgrades the file)."""
    from anki.collection import Collection

    opened: list[Collection] = []

    def opener(conn: sqlite3.Connection) -> Collection:
        conn.commit()
        copy = tmp_path / f"anki-{uuid.uuid4().hex}.anki2"
        shutil.copyfile(col_path, copy)
        col = Collection(str(copy))
        opened.append(col)
        return col

    yield opener
    for col in opened:
        col.close()
