"""What a sync's ``meta`` call reports of a collection."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CollectionStamps:
    modified: int  # col.mod, ms
    schema: int  # col.scm, ms
    usn: int  # col.usn
    empty: bool  # no cards at all


def collection_stamps(conn: sqlite3.Connection) -> CollectionStamps:
    mod, scm, usn = conn.execute("select mod, scm, usn from col").fetchone()
    empty = conn.execute("select 1 from cards limit 1").fetchone() is None
    return CollectionStamps(int(mod), int(scm), int(usn), empty)


def bump_usn(conn: sqlite3.Connection) -> None:
    """What Anki's server does to its collection before a full download: ``usn + 1``,
    so that changes it makes later are newer than anything the client received."""
    conn.execute("update col set usn = usn + 1")
