"""Ids and guids the way Anki makes them: epoch milliseconds, bumped past existing ids."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable
from typing import Final, Literal

# Anki's base91 alphabet: printable ASCII minus quotes, backslash and separators.
BASE91_ALPHABET: Final = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_`{|}~"
)

IdTable = Literal["notes", "cards", "revlog"]


def ms(now: float) -> int:
    """Epoch seconds as integer milliseconds."""
    return int(now * 1000)


def next_id(existing: Iterable[int], now: float) -> int:
    """`max(now in ms, largest existing id + 1)`: unique and increasing for equal `now`."""
    return max(ms(now), max(existing, default=0) + 1)


def free_row_id(conn: sqlite3.Connection, table: IdTable, wanted: int) -> int:
    """`wanted`, or one past the largest id of `table` if that is `wanted` or later: an
    id no row has, after every id in use (one indexed probe of the primary key)."""
    (top,) = conn.execute(f"select max(id) from {table} where id >= ?", (wanted,)).fetchone()
    return wanted if top is None else int(top) + 1


def next_row_id(conn: sqlite3.Connection, table: IdTable, now: float) -> int:
    """A new row's id in `table`: `now` in ms, bumped past every id in use."""
    return free_row_id(conn, table, ms(now))


def base91(num: int) -> str:
    digits = []
    while num:
        num, digit = divmod(num, len(BASE91_ALPHABET))
        digits.append(BASE91_ALPHABET[digit])
    return "".join(reversed(digits))


def guid64() -> str:
    """A random 64-bit number in Anki's base91: at most 10 characters (usually exactly 10).

    Random rather than derived from `now`: a guid identifies a note across collections.
    """
    while True:
        guid = base91(secrets.randbits(64))
        if guid:
            return guid
