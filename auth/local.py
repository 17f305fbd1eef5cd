"""The local backend's users and auth state: one SQLite file in the data directory."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from auth.errors import UserExists, UserNotFound
from auth.users import (
    FAILURE_MEMORY_SECONDS,
    LoginFailures,
    SyncKey,
    SyncState,
    SyncStateConflict,
    User,
    failures_key,
    revoked_key,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_state (
    pk           TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_keys (
    key_hash      TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    device        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used     INTEGER NOT NULL,
    token_version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sync_keys_by_user ON sync_keys (username);
CREATE TABLE IF NOT EXISTS sync_states (
    username   TEXT PRIMARY KEY,
    session    TEXT NOT NULL,
    version    INTEGER NOT NULL,
    data       TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
"""

_SYNC_KEY_COLUMNS = "key_hash, username, device, created_at, last_used, token_version"


class LocalUserStore:
    """Implements ``UserRepository``, ``AuthStateStore``, ``SyncKeyStore`` and
    ``SyncStateStore`` on one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Password hashes live here: readable by this user only. SQLite gives its WAL
        # files the database file's permissions, so creating it first is enough.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            yield conn
        finally:
            conn.close()

    # -- users --------------------------------------------------------------------

    def get(self, username: str) -> User | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT username, name, password_hash, token_version, created_at"
                " FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        return User(*row) if row else None

    def create(self, user: User) -> None:
        with self._connect() as conn:
            try:
                conn.execute(
                    "INSERT INTO users (username, name, password_hash, token_version, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        user.username,
                        user.name,
                        user.password_hash,
                        user.token_version,
                        user.created_at or int(time.time()),
                    ),
                )
            except sqlite3.IntegrityError:
                raise UserExists(user.username) from None

    def update_password(self, username: str, password_hash: str, *, bump_version: bool) -> User:
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE users SET password_hash = ?, token_version = token_version + ?"
                " WHERE username = ?",
                (password_hash, int(bump_version), username),
            )
        if cursor.rowcount == 0:
            raise UserNotFound(username)
        user = self.get(username)
        assert user is not None
        return user

    def bump_token_version(self, username: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE users SET token_version = token_version + 1 WHERE username = ?",
                (username,),
            )

    def delete(self, username: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM users WHERE username = ?", (username,))

    # -- auth state -----------------------------------------------------------------

    def login_failures(self, username: str, *, now: float) -> LoginFailures:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT failures, locked_until FROM auth_state WHERE pk = ? AND expires_at > ?",
                (failures_key(username), now),
            ).fetchone()
        return LoginFailures(count=row[0], locked_until=row[1]) if row else LoginFailures(0, 0)

    def record_failure(self, username: str, *, now: float) -> int:
        key = failures_key(username)
        expires = int(now) + FAILURE_MEMORY_SECONDS
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM auth_state WHERE pk = ? AND expires_at <= ?", (key, now))
            conn.execute(
                "INSERT INTO auth_state (pk, failures, locked_until, expires_at)"
                " VALUES (?, 1, 0, ?)"
                " ON CONFLICT (pk) DO UPDATE SET failures = failures + 1, expires_at = ?",
                (key, expires, expires),
            )
            count = conn.execute("SELECT failures FROM auth_state WHERE pk = ?", (key,)).fetchone()
            conn.execute("COMMIT")
        return int(count[0])

    def lock(self, username: str, *, until: float, now: float) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE auth_state SET locked_until = ?, expires_at = MAX(expires_at, ?)"
                " WHERE pk = ?",
                (until, int(until) + 1, failures_key(username)),
            )

    def reset_failures(self, username: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM auth_state WHERE pk = ?", (failures_key(username),))

    def revoke(self, token_id: str, *, expires_at: int) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO auth_state (pk, expires_at) VALUES (?, ?)",
                (revoked_key(token_id), expires_at),
            )

    def is_revoked(self, token_id: str, *, now: float) -> bool:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM auth_state WHERE pk = ? AND expires_at > ?",
                (revoked_key(token_id), now),
            ).fetchone()
        return row is not None

    # -- sync host keys -------------------------------------------------------------

    def add_sync_key(self, key: SyncKey) -> None:
        with self._connect() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO sync_keys ({_SYNC_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key.key_hash,
                    key.username,
                    key.device,
                    key.created_at,
                    key.last_used,
                    key.token_version,
                ),
            )

    def get_sync_key(self, key_hash: str) -> SyncKey | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_SYNC_KEY_COLUMNS} FROM sync_keys WHERE key_hash = ?", (key_hash,)
            ).fetchone()
        return SyncKey(*row) if row else None

    def touch_sync_key(self, key_hash: str, *, now: int) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE sync_keys SET last_used = MAX(last_used, ?) WHERE key_hash = ?",
                (now, key_hash),
            )

    def list_sync_keys(self, username: str) -> list[SyncKey]:
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_SYNC_KEY_COLUMNS} FROM sync_keys WHERE username = ?"
                " ORDER BY created_at, key_hash",
                (username,),
            ).fetchall()
        return [SyncKey(*row) for row in rows]

    def delete_sync_key(self, username: str, key_hash: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "DELETE FROM sync_keys WHERE key_hash = ? AND username = ?", (key_hash, username)
            )

    def delete_sync_keys(self, username: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM sync_keys WHERE username = ?", (username,))

    # -- normal sync in progress ----------------------------------------------------

    def put_sync_state(self, state: SyncState) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sync_states (username, session, version, data, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (state.username, state.session, state.version, state.data, state.expires_at),
            )

    def get_sync_state(self, username: str, *, now: float) -> SyncState | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT username, session, version, data, expires_at FROM sync_states"
                " WHERE username = ? AND expires_at > ?",
                (username, now),
            ).fetchone()
        return SyncState(*row) if row else None

    def update_sync_state(self, state: SyncState, *, expected_version: int) -> None:
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE sync_states SET version = ?, data = ?, expires_at = ?"
                " WHERE username = ? AND session = ? AND version = ?",
                (
                    state.version,
                    state.data,
                    state.expires_at,
                    state.username,
                    state.session,
                    expected_version,
                ),
            )
        if cursor.rowcount != 1:
            raise SyncStateConflict(state.username)

    def delete_sync_state(self, username: str, session: str | None = None) -> None:
        with self._connect() as conn:
            if session is None:
                conn.execute("DELETE FROM sync_states WHERE username = ?", (username,))
            else:
                conn.execute(
                    "DELETE FROM sync_states WHERE username = ? AND session = ?",
                    (username, session),
                )
