"""The `col` row: its JSON columns, read lazily and written back with `col.mod`.

A `Col` lives for one operation (one call chain on one connection): each JSON column is
parsed at most once and written back only if it changed. It is deliberately not cached
across operations: the caller rolls back on errors, which would silently make any
cached copy stale (and `sqlite3.Connection` cannot be weakly referenced anyway).

The usn rule: this package writes collections as a sync *server* does, so every row and
JSON object it adds or changes (notes, cards, revlog, graves; note types, decks, deck
options and tags in the `col` row) carries the collection's current `col.usn`
(`server_usn`, `Col.usn`), never -1, which on a client means "not sent yet". Changes
to the shape of the collection (a note type's fields or templates, replacing the whole
collection) also move `col.scm` (`mark_schema_modified`).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Literal

from collection.errors import MalformedCollection
from collection.ids import ms

JsonColumn = Literal["conf", "models", "decks", "dconf", "tags"]


def dump_json(value: Any) -> str:
    # Compact, like the serde_json Anki itself writes; non-ASCII kept as UTF-8.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Col:
    """The JSON columns of one connection's `col` row, for one operation."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._parsed: dict[JsonColumn, dict[str, Any]] = {}
        self._changed: set[JsonColumn] = set()
        self._crt: int | None = None
        self._usn: int | None = None

    @property
    def crt(self) -> int:
        """`col.crt`: when the collection was created (epoch seconds), read once."""
        if self._crt is None:
            (crt,) = self.conn.execute("select crt from col").fetchone()
            self._crt = int(crt)
        return self._crt

    @property
    def usn(self) -> int:
        """`col.usn`, read once: the usn of everything this operation writes."""
        if self._usn is None:
            self._usn = server_usn(self.conn)
        return self._usn

    @property
    def conf(self) -> dict[str, Any]:
        return self._get("conf")

    @property
    def models(self) -> dict[str, Any]:
        return self._get("models")

    @property
    def decks(self) -> dict[str, Any]:
        return self._get("decks")

    @property
    def dconf(self) -> dict[str, Any]:
        return self._get("dconf")

    @property
    def tags(self) -> dict[str, Any]:
        """The tag registry of a schema-11 file: `{tag: usn}`."""
        return self._get("tags")

    def mark_changed(self, *columns: JsonColumn) -> None:
        """Record that the parsed value of `columns` was mutated and must be saved."""
        for column in columns:
            if column not in self._parsed:
                raise ValueError(f"col.{column} was never read, so it cannot have changed")
            self._changed.add(column)

    @property
    def changed(self) -> bool:
        return bool(self._changed)

    def save(self, *, now: float) -> None:
        """Write the changed columns back and stamp `col.mod` (ms); no-op if unchanged."""
        if not self._changed:
            return
        columns = sorted(self._changed)
        assignments = "".join(f"{column} = ?, " for column in columns)
        values = [dump_json(self._parsed[column]) for column in columns]
        self.conn.execute(f"update col set {assignments}mod = ?", (*values, ms(now)))
        self._changed.clear()

    def _get(self, column: JsonColumn) -> dict[str, Any]:
        parsed = self._parsed.get(column)
        if parsed is None:
            parsed = self._parsed[column] = _load(self.conn, column)
        return parsed


def server_usn(conn: sqlite3.Connection) -> int:
    """The usn every change written here carries: the collection's current `col.usn`.

    A sync server stamps what it changes with its own usn (Anki's `Collection::usn()`
    on a server), so that the next sync sends it to every client; `col.usn` moves on
    only when a sync finishes. Never -1: that marks a client's own unsent change, and
    a server holding one fails the sync's sanity check.
    """
    try:
        row = conn.execute("select usn from col").fetchone()
    except sqlite3.OperationalError as exc:
        raise MalformedCollection(f"This is not an Anki collection: {exc}.") from exc
    if row is None:
        raise MalformedCollection("The collection has no col row.")
    return int(row[0])


def mark_modified(conn: sqlite3.Connection, *, now: float) -> None:
    """Stamp `col.mod` (ms), as Anki does after any change to the collection."""
    conn.execute("update col set mod = ?", (ms(now),))


def mark_schema_modified(conn: sqlite3.Connection, *, now: float) -> None:
    """Stamp `col.scm` and `col.mod` (ms): the collection changed shape, so the next
    sync of every client must be a full one (Anki's `set_schema_modified`).

    Due after changing an existing note type's fields or templates, or replacing the
    whole collection; not after adding a note type, deck or options group.
    """
    stamp = ms(now)
    conn.execute("update col set scm = ?, mod = ?", (stamp, stamp))


def _load(conn: sqlite3.Connection, column: JsonColumn) -> dict[str, Any]:
    try:
        rows = conn.execute(f"select {column} from col").fetchall()
    except sqlite3.OperationalError as exc:
        raise MalformedCollection(f"This is not an Anki collection: {exc}.") from exc
    if len(rows) != 1:
        raise MalformedCollection(f"The collection has {len(rows)} col rows instead of one.")
    try:
        value = json.loads(rows[0][0])
    except (TypeError, ValueError) as exc:
        raise MalformedCollection(f"col.{column} is not valid JSON: {exc}.") from exc
    if not isinstance(value, dict):
        raise MalformedCollection(f"col.{column} is not a JSON object.")
    return value
