"""Fixtures for storage tests: every object store, and a session over HTTP to moto."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from storage.cache import DiskCache
from storage.local import LocalObjectStore
from storage.objects import ObjectStore
from storage.s3 import S3ObjectStore
from storage.session import RetryPolicy, S3SQLiteSession
from tests.conftest import s3_client_for
from tests.support.moto_server import MotoServer
from tests.support.s3_log import S3RequestLog

KEY = "user_dbs/alice.anki2"


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """Each object store the service has, for tests every backend must pass (the contract)."""
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="contract")
        yield S3ObjectStore(client, "contract")


def counter_db_bytes(value: int = 0, *, padding_kib: int = 0) -> bytes:
    """A small SQLite database holding one counter and a log of applied changes,
    padded with about `padding_kib` KiB of filler where sizes should be realistic."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db.sqlite"
        conn = sqlite3.connect(path)
        conn.executescript(
            "CREATE TABLE counter (value INTEGER NOT NULL);"
            "CREATE TABLE applied (label TEXT NOT NULL);"
        )
        conn.execute("INSERT INTO counter VALUES (?)", (value,))
        if padding_kib:
            conn.execute("CREATE TABLE padding (blob BLOB)")
            conn.executemany("INSERT INTO padding VALUES (?)", [(b"x" * 1000,)] * padding_kib)
        conn.commit()
        conn.close()
        return path.read_bytes()


def increment(label: str) -> Callable[[sqlite3.Connection], int]:
    def operation(conn: sqlite3.Connection) -> int:
        conn.execute("UPDATE counter SET value = value + 1")
        conn.execute("INSERT INTO applied VALUES (?)", (label,))
        return int(conn.execute("SELECT value FROM counter").fetchone()[0])

    return operation


def read_counter(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM counter").fetchone()[0])


def read_applied(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT label FROM applied ORDER BY rowid")]


@dataclass
class SessionRig:
    session: S3SQLiteSession
    log: S3RequestLog
    store: S3ObjectStore


@pytest.fixture
def make_rig(moto_server: MotoServer, bucket: str, tmp_path: Path) -> Callable[..., SessionRig]:
    """Build sessions (each with its own cache) on one bucket, optionally via a proxy."""
    count = 0

    def make(endpoint: str | None = None, attempts: int = 8, http_attempts: int = 1) -> SessionRig:
        nonlocal count
        count += 1
        client = s3_client_for(endpoint or moto_server.url, http_attempts)
        log = S3RequestLog().attach(client)
        store = S3ObjectStore(client, bucket)
        cache = DiskCache(tmp_path / f"cache-{count}", max_bytes=64 * 1024 * 1024)
        session = S3SQLiteSession(store, cache, retry=RetryPolicy(attempts=attempts))
        return SessionRig(session=session, log=log, store=store)

    return make
