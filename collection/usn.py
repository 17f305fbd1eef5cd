"""Turning the -1 usns of collections written before the server usn rule into real ones.

Everything this package writes now carries the collection's `col.usn`
(`collection.col.server_usn`). Collections written earlier, by this package or by the
original backend, hold rows with usn -1, which a sync server must not keep: its clients
would never be sent them, and the sync's sanity check fails on any -1 row.
`normalise_usns` gives them the current server usn, once.

Call it at the start of a sync (before the server reads what it has to send, and before
a full download hands the file out); it costs next to nothing when there is nothing to
fix, so it can run on every sync. It is not called on ordinary writes, which never
create a -1 row. Cost with nothing to fix: one indexed lookup each in `cards`, `notes`
and `revlog` (`ix_*_usn`), a scan of `graves` (which has no usn index), and a
substring test of the four JSON columns, which are parsed only if they contain "-1".
Nothing is written then, so no write transaction is opened.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final

from collection.col import dump_json, server_usn
from collection.enums import LOCAL_USN
from collection.errors import MalformedCollection

_TABLES: Final = ("cards", "notes", "revlog", "graves")
_OBJECT_COLUMNS: Final = ("models", "decks", "dconf")  # {id: {..., "usn": n}}
_TAGS_COLUMN: Final = "tags"  # {tag: usn}


def pending_usn_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables and `col` JSON columns that still hold a -1 usn (reads only)."""
    found = [
        table
        for table in _TABLES
        if conn.execute(f"select 1 from {table} where usn = ? limit 1", (LOCAL_USN,)).fetchone()
    ]
    for column, value in _json_columns(conn).items():
        if _pending_keys(column, value):
            found.append(f"col.{column}")
    return found


def normalise_usns(conn: sqlite3.Connection) -> int:
    """Give every row and JSON entry with usn -1 the collection's current `col.usn`;
    the number of rows and entries changed (0: nothing was written).

    Leaves `col.mod` alone: only sync bookkeeping changes, not the learner's data. The
    caller commits.
    """
    usn = server_usn(conn)
    fixed = 0
    for table in _TABLES:
        # Checked first so that a collection with nothing to fix is only read.
        if conn.execute(f"select 1 from {table} where usn = ? limit 1", (LOCAL_USN,)).fetchone():
            fixed += conn.execute(
                f"update {table} set usn = ? where usn = ?", (usn, LOCAL_USN)
            ).rowcount
    for column, value in _json_columns(conn).items():
        keys = _pending_keys(column, value)
        if not keys:
            continue
        for key in keys:
            if column == _TAGS_COLUMN:
                value[key] = usn
            else:
                value[key]["usn"] = usn
        conn.execute(f"update col set {column} = ?", (dump_json(value),))
        fixed += len(keys)
    return fixed


def _json_columns(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """The JSON columns that may hold a -1 usn, parsed; those whose text has no "-1"
    anywhere cannot, and are skipped unparsed."""
    columns = (*_OBJECT_COLUMNS, _TAGS_COLUMN)
    tests = ", ".join(f"instr({c}, '-1') > 0" for c in columns)
    row = conn.execute(f"select {tests} from col").fetchone()
    if row is None:
        raise MalformedCollection("The collection has no col row.")
    parsed: dict[str, dict[str, Any]] = {}
    for column, maybe in zip(columns, row, strict=True):
        if not maybe:
            continue
        (text,) = conn.execute(f"select {column} from col").fetchone()
        try:
            value = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise MalformedCollection(f"col.{column} is not valid JSON: {exc}.") from exc
        if not isinstance(value, dict):
            raise MalformedCollection(f"col.{column} is not a JSON object.")
        parsed[column] = value
    return parsed


def _pending_keys(column: str, value: dict[str, Any]) -> list[str]:
    if column == _TAGS_COLUMN:
        return [tag for tag, usn in value.items() if _is_pending(usn)]
    return [
        key
        for key, entry in value.items()
        if isinstance(entry, dict) and _is_pending(entry.get("usn"))
    ]


def _is_pending(usn: Any) -> bool:
    return type(usn) in (int, float) and usn == LOCAL_USN
