"""The collection a store holds now: its snapshot with every log entry applied.

The snapshot object alone may trail the newest writes by up to the compaction
interval, so tests that check what was stored read it as a fresh instance would.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from storage.cache import DiskCache
from storage.objects import ObjectStore
from storage.s3 import S3ObjectStore
from storage.session import S3SQLiteSession


def stored_collection(store: ObjectStore, key: str) -> bytes:
    """The current database of ``key``, read through a session with an empty cache."""
    with tempfile.TemporaryDirectory() as directory:
        session = S3SQLiteSession(store, DiskCache(Path(directory), max_bytes=1 << 30))
        return session.read(key, lambda conn: bytes(conn.serialize()))


def stored_collection_s3(client: Any, bucket: str, key: str) -> bytes:
    return stored_collection(S3ObjectStore(client, bucket), key)


def open_bytes(body: bytes) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.deserialize(body)
    return conn
