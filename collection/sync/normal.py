"""Normal (incremental) sync, the server's side: Anki's merge rules on a schema-11 file.

Pure functions of a connection and the client's data, so that the same calls give the
same result wherever they are applied: on a scratch copy (to answer the client and to
check the merged counts) and, once the client says ``finish``, on the stored
collection itself. Every row or object taken from the client is stamped with the
sync's ``server_usn``; a change the merge makes itself (a name made unique) is
stamped with the time given by the caller, never the clock.

The rules are Anki's (rslib ``sync/collection``): graves delete and are recorded;
note types, decks and deck options are replaced by a copy whose ``mod`` is not older,
and a note type whose number of fields or templates would change needs a full sync;
clashing deck and note type names get a ``+``; tags are registered (a new one takes
the case of a registered parent); config and ``crt`` come only from the newer side;
cards and notes are replaced unless the server's own copy is pending
(``usn >= client_usn``) and not older, and a note must have as many fields as its
note type; review entries are added, one whose id is taken by a different entry
moves to a free millisecond.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from collection.col import Col
from collection.enums import LOCAL_USN, GraveKind
from collection.fields import sort_field_and_checksum
from collection.usn import pending_usn_tables

CHUNK_SIZE: Final = 250
CHUNK_TABLES: Final = ("revlog", "cards", "notes")

NOTE_COLUMNS: Final = (
    "id",
    "guid",
    "mid",
    "mod",
    "usn",
    "tags",
    "flds",
    "sfld",
    "csum",
    "flags",
    "data",
)
CARD_COLUMNS: Final = (
    "id", "nid", "did", "ord", "mod", "usn", "type", "queue", "due", "ivl", "factor",
    "reps", "lapses", "left", "odue", "odid", "flags", "data",
)  # fmt: skip
REVLOG_COLUMNS: Final = ("id", "cid", "usn", "ease", "ivl", "lastIvl", "factor", "time", "type")
_COLUMNS: Final = {"notes": NOTE_COLUMNS, "cards": CARD_COLUMNS, "revlog": REVLOG_COLUMNS}
_USN_INDEX: Final = {"notes": 4, "cards": 5, "revlog": 2}
# Anki's ``invalid_char_for_field`` and tag separators (a space or an ideographic space).
_FIELD_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TAG_SEPARATOR: Final = re.compile("[ \u3000]")
_GRAVE_KINDS: Final = {"cards": GraveKind.CARD, "notes": GraveKind.NOTE, "decks": GraveKind.DECK}


class SyncDataInvalid(ValueError):
    """What the client sent cannot be applied (malformed, or names a missing note type)."""


class FullSyncRequired(Exception):
    """The merge would change a note type's shape: only a full sync can carry that."""


def is_pending(usn: int, pending_usn: int) -> bool:
    """Anki's ``Usn::is_pending_sync``: changed since the other side last saw it."""
    return usn == LOCAL_USN if pending_usn == LOCAL_USN else usn >= pending_usn


def collection_fingerprint(conn: sqlite3.Connection) -> list[int]:
    """What moves whenever the collection is written: ``col.mod``, ``usn`` and
    ``scm``, and figures of the rows (review entries, graves, the cards' and notes'
    modification times), so that a write which forgot to stamp ``col.mod`` is seen
    too. Costs a scan of ``cards`` and ``notes``."""
    row = conn.execute(
        "select mod, usn, scm,"
        " (select count() from revlog), (select coalesce(max(id), 0) from revlog),"
        " (select count() from graves), (select count() from cards),"
        " (select coalesce(sum(mod), 0) from cards), (select count() from notes),"
        " (select coalesce(sum(mod), 0) from notes)"
        " from col"
    ).fetchone()
    return [int(value) for value in row]


# -- graves --------------------------------------------------------------------------


def pending_graves(conn: sqlite3.Connection, client_usn: int) -> dict[str, list[int]]:
    """The server's deletions the client has not seen (``start``'s answer)."""
    found: dict[str, list[int]] = {"cards": [], "notes": [], "decks": []}
    kinds = {int(kind): name for name, kind in _GRAVE_KINDS.items()}
    query = "select distinct oid, type from graves where " + (
        "usn = ?" if client_usn == LOCAL_USN else "usn >= ?"
    )
    for oid, kind in conn.execute(query + " order by oid", (client_usn,)):
        name = kinds.get(int(kind))
        if name is not None:
            found[name].append(int(oid))
    return found


def apply_graves(conn: sqlite3.Connection, graves: Any, usn: int) -> None:
    """Delete what the client deleted and record the graves at ``usn``."""
    if not isinstance(graves, dict):
        raise SyncDataInvalid("graves must be an object")
    ids = {name: _ids(graves.get(name) or []) for name in ("notes", "cards", "decks")}
    for name in ("notes", "cards"):
        conn.executemany(f"delete from {name} where id = ?", [(i,) for i in ids[name]])
    col = Col(conn)
    if ids["decks"]:
        decks = col.decks
        for did in ids["decks"]:
            decks.pop(str(did), None)
        col.mark_changed("decks")
        _save_columns(col)
    for name in ("notes", "cards", "decks"):
        kind = int(_GRAVE_KINDS[name])
        for oid in ids[name]:
            conn.execute("delete from graves where oid = ? and type = ?", (oid, kind))
            conn.execute("insert into graves (usn, oid, type) values (?, ?, ?)", (usn, oid, kind))


def _ids(values: Any) -> list[int]:
    if not isinstance(values, list):
        raise SyncDataInvalid("grave ids must be a list")
    out = []
    for value in values:
        # Old AnkiMobile versions send ids as strings.
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if type(value) is not int:
            raise SyncDataInvalid("grave ids must be integers")
        out.append(value)
    return out


# -- note types, decks, options, tags, config ----------------------------------------


def local_changes(
    conn: sqlite3.Connection, client_usn: int, *, include_config: bool
) -> dict[str, Any]:
    """The server's changed note types, decks, deck options and tags (and its config
    and ``crt`` when it is the newer side): ``applyChanges``' answer."""
    col = Col(conn)

    def pending(objects: dict[str, Any]) -> list[Any]:
        return [
            value
            for _, value in sorted(objects.items(), key=lambda item: _int_key(item[0]))
            if isinstance(value, dict) and is_pending(int(value.get("usn", 0)), client_usn)
        ]

    changes: dict[str, Any] = {
        "models": pending(col.models),
        "decks": [pending(col.decks), pending(col.dconf)],
        "tags": [tag for tag, usn in col.tags.items() if is_pending(int(usn), client_usn)],
    }
    if include_config:
        changes["conf"] = col.conf
        changes["crt"] = col.crt
    return changes


def _int_key(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        return 0


def apply_changes(conn: sqlite3.Connection, changes: Any, usn: int, *, now: int) -> None:
    """Merge the client's note types, decks, options, tags and config (``now``: epoch
    seconds, the modification time of a renamed object)."""
    if not isinstance(changes, dict):
        raise SyncDataInvalid("changes must be an object")
    col = Col(conn)
    models = _objects(changes.get("models") or [], "models")
    decks_and_config = changes.get("decks") or [[], []]
    if not isinstance(decks_and_config, list) or len(decks_and_config) != 2:
        raise SyncDataInvalid("decks must be [decks, deck options]")
    decks = _objects(decks_and_config[0] or [], "decks")
    dconf = _objects(decks_and_config[1] or [], "deck options")
    tags = changes.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise SyncDataInvalid("tags must be a list of strings")

    for notetype in models:
        existing = col.models.get(str(notetype["id"]))
        if existing is not None:
            if _mod(existing) > _mod(notetype):
                continue
            if len(existing.get("flds") or []) != len(notetype.get("flds") or []) or len(
                existing.get("tmpls") or []
            ) != len(notetype.get("tmpls") or []):
                raise FullSyncRequired("notetype schema changed")
        merged = dict(notetype, usn=usn)
        _unique_name(col.models, merged, usn, now)
        col.models[str(notetype["id"])] = merged
        col.mark_changed("models")

    for deck in decks:
        existing = col.decks.get(str(deck["id"]))
        if existing is not None and _mod(existing) > _mod(deck):
            continue
        merged = dict(deck, usn=usn)
        _unique_name(col.decks, merged, usn, now)
        col.decks[str(deck["id"])] = merged
        col.mark_changed("decks")

    for conf in dconf:
        existing = col.dconf.get(str(conf["id"]))
        if existing is not None and _mod(existing) > _mod(conf):
            continue
        col.dconf[str(conf["id"])] = dict(conf, usn=usn)
        col.mark_changed("dconf")

    if tags:
        known = {tag.casefold(): tag for tag in col.tags}
        for tag in tags:
            if tag.casefold() not in known:
                tag = _adjusted_case_for_parents(tag, known)
                col.tags[tag] = usn
                known[tag.casefold()] = tag
                col.mark_changed("tags")

    crt = changes.get("crt")
    if crt is not None:
        if type(crt) is not int:
            raise SyncDataInvalid("crt must be an integer")
        conn.execute("update col set crt = ?", (crt,))
    new_conf = changes.get("conf")
    if new_conf is not None:
        if not isinstance(new_conf, dict):
            raise SyncDataInvalid("conf must be an object")
        col.conf.clear()
        col.conf.update(new_conf)
        col.mark_changed("conf")
    _save_columns(col)


def _adjusted_case_for_parents(tag: str, known: dict[str, str]) -> str:
    """Anki's ``adjusted_case_for_parents``: a new tag takes the case of its nearest
    registered parent (``known``: the registered tags by their case-folded name)."""
    parts = tag.split("::")
    for count in range(len(parts) - 1, 0, -1):
        parent = known.get("::".join(parts[:count]).casefold())
        if parent is not None:
            return "::".join([parent, *parts[parent.count("::") + 1 :]])
    return tag


def _objects(values: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(values, list):
        raise SyncDataInvalid(f"{what} must be a list")
    for value in values:
        if not isinstance(value, dict) or type(value.get("id")) is not int:
            raise SyncDataInvalid(f"each of the {what} must be an object with an id")
        if not isinstance(value.get("name", ""), str):
            raise SyncDataInvalid(f"each of the {what} must have a name")
    return values


def _mod(value: dict[str, Any]) -> int:
    mod = value.get("mod", 0)
    return int(mod) if isinstance(mod, int | float) else 0


def _unique_name(objects: dict[str, Any], obj: dict[str, Any], usn: int, now: int) -> None:
    """Anki's ``ensure_*_name_unique``: while another object has the name (ignoring
    case), add ``+`` and mark the object modified."""
    taken = {
        str(other.get("name", "")).casefold()
        for key, other in objects.items()
        if isinstance(other, dict) and key != str(obj["id"])
    }
    name = str(obj.get("name", ""))
    while name.casefold() in taken:
        name += "+"
        obj["mod"] = now
        obj["usn"] = usn
    obj["name"] = name


def _save_columns(col: Col) -> None:
    """Write back the changed JSON columns without touching ``col.mod`` (the sync
    sets it when it finishes)."""
    if not col.changed:
        return
    (mod,) = col.conn.execute("select mod from col").fetchone()
    col.save(now=0)
    col.conn.execute("update col set mod = ?", (mod,))


# -- cards, notes, review log ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chunk:
    value: dict[str, Any]  # the chunk as sent: {"done", "revlog"?, "cards"?, "notes"?}
    cursor: dict[str, int]  # the last id sent of each table
    done: bool


def server_chunk(
    conn: sqlite3.Connection,
    client_usn: int,
    cursor: dict[str, int],
    *,
    max_bytes: int,
    limit: int = CHUNK_SIZE,
) -> Chunk:
    """The next pending rows (``usn >= client_usn``) after ``cursor``, taken a row of
    each table in turn as Anki does, at most ``limit`` of them and about ``max_bytes``
    of JSON (always at least one row)."""
    where = "usn = ?" if client_usn == LOCAL_USN else "usn >= ?"
    candidates: dict[str, list[list[Any]]] = {}
    for table in CHUNK_TABLES:
        columns = ", ".join(f'"{c}"' for c in _COLUMNS[table])
        rows = conn.execute(
            f"select {columns} from {table} where {where} and id > ? order by id limit ?",
            (client_usn, cursor.get(table, -(2**63)), limit + 1),
        ).fetchall()
        candidates[table] = [_row_out(table, row) for row in rows]
    taken: dict[str, list[list[Any]]] = {table: [] for table in CHUNK_TABLES}
    new_cursor = dict(cursor)
    count = size = 0
    full = False
    while not full:
        moved = False
        for table in CHUNK_TABLES:
            queue = candidates[table]
            if not queue:
                continue
            row_size = len(json.dumps(queue[0], ensure_ascii=False)) + 1
            if count >= limit or (count and size + row_size > max_bytes):
                full = True
                break
            row = queue.pop(0)
            taken[table].append(row)
            new_cursor[table] = int(row[0])
            count += 1
            size += row_size
            moved = True
        if not moved:
            break
    done = not any(candidates[table] for table in CHUNK_TABLES)
    if done:
        # Nothing was left over from the rows read; more may lie beyond what was read.
        for table in CHUNK_TABLES:
            more = conn.execute(
                f"select 1 from {table} where {where} and id > ? limit 1",
                (client_usn, new_cursor.get(table, -(2**63))),
            ).fetchone()
            if more:
                done = False
    value: dict[str, Any] = {"done": done}
    for table in CHUNK_TABLES:
        if taken[table]:
            value[table] = taken[table]
    return Chunk(value, new_cursor, done)


def _row_out(table: str, row: tuple[Any, ...]) -> list[Any]:
    out = list(row)
    if table == "notes":
        out[7] = ""  # sfld and csum travel empty: the receiver computes them
        out[8] = ""
    return out


def apply_chunk(conn: sqlite3.Connection, chunk: Any, client_usn: int, usn: int) -> None:
    """Merge the client's rows: review entries added, cards and notes replaced unless
    the server's copy is pending and not older; everything stamped with ``usn``."""
    if not isinstance(chunk, dict):
        raise SyncDataInvalid("a chunk must be an object")
    _merge_revlog(conn, _rows(chunk.get("revlog") or [], "revlog"), usn)
    for table in ("cards", "notes"):
        rows = _rows(chunk.get(table) or [], table)
        if table == "notes":
            rows = _prepare_notes(conn, rows)
        _merge_rows(conn, table, rows, client_usn, usn)


def _rows(values: Any, table: str) -> list[list[Any]]:
    width = len(_COLUMNS[table])
    if not isinstance(values, list):
        raise SyncDataInvalid(f"{table} must be a list of rows")
    for row in values:
        if not isinstance(row, list) or len(row) != width or type(row[0]) is not int:
            raise SyncDataInvalid(f"each row of {table} must have {width} values")
        for value in row:
            if not isinstance(value, int | float | str) or isinstance(value, bool):
                raise SyncDataInvalid(f"a row of {table} holds a value of the wrong type")
    return values


def _merge_revlog(conn: sqlite3.Connection, rows: list[list[Any]], usn: int) -> None:
    incoming = {int(row[0]) for row in rows}
    placeholders = ", ".join("?" * len(REVLOG_COLUMNS))
    for row in rows:
        row = [*row]
        row[2] = usn
        existing = conn.execute(
            "select cid, ease, ivl, lastIvl, factor, time, type from revlog where id = ?",
            (row[0],),
        ).fetchone()
        if existing is not None:
            if list(existing) == [row[1], *row[3:]]:
                continue
            row[0] = _free_revlog_id(conn, int(row[0]), incoming)
        conn.execute(f"insert into revlog values ({placeholders})", row)


def _free_revlog_id(conn: sqlite3.Connection, original: int, incoming: set[int]) -> int:
    second, millis = divmod(original, 1000)
    for delta in range(1, 1000):
        candidate = second * 1000 + (millis + delta) % 1000
        if (
            candidate not in incoming
            and not conn.execute("select 1 from revlog where id = ?", (candidate,)).fetchone()
        ):
            return candidate
    raise SyncDataInvalid(f"no free review log id remains near {original}")


def _prepare_notes(conn: sqlite3.Connection, rows: list[list[Any]]) -> list[list[Any]]:
    """Anki's ``prepare_for_update`` on a note from a client: its note type must exist
    and have as many fields (at least one); ASCII control characters other than
    newline and tab are dropped from the fields; tags are spaced as Anki stores them;
    the sort field and checksum are computed here."""
    models = Col(conn).models
    out = []
    for row in rows:
        notetype = models.get(str(row[2]))
        if not isinstance(notetype, dict):
            raise SyncDataInvalid(f"note {row[0]} has no note type")
        fields = [_FIELD_CONTROL.sub("", field) for field in str(row[6]).split("\x1f")]
        expected = max(len(notetype.get("flds") or []), 1)
        if len(fields) != expected:
            raise SyncDataInvalid(f"note {row[0]} has {len(fields)} fields, expected {expected}")
        tags = _TAG_SEPARATOR.split(str(row[5]))
        spaced = " ".join(tag for tag in tags if tag)
        sort_field, checksum = sort_field_and_checksum(fields, int(notetype.get("sortf", 0)))
        tags_out = f" {spaced} " if spaced else ""
        out.append([*row[:5], tags_out, "\x1f".join(fields), sort_field, checksum, *row[9:]])
    return out


def _merge_rows(
    conn: sqlite3.Connection, table: str, rows: Iterable[list[Any]], client_usn: int, usn: int
) -> None:
    columns = _COLUMNS[table]
    names = ", ".join(f'"{c}"' for c in columns)
    placeholders = ", ".join("?" * len(columns))
    for row in rows:
        existing = conn.execute(f"select usn, mod from {table} where id = ?", (row[0],)).fetchone()
        mod = int(row[3 if table == "notes" else 4])
        if existing is not None and is_pending(int(existing[0]), client_usn) and existing[1] >= mod:
            continue  # the server's own change is pending and not older
        row = [*row]
        row[_USN_INDEX[table]] = usn
        conn.execute(f"insert or replace into {table} ({names}) values ({placeholders})", row)


# -- sanity check and finish ----------------------------------------------------------


def sanity_counts(conn: sqlite3.Connection) -> list[Any] | None:
    """Anki's sanity-check figures (due counts left at zero), or None when a row or
    object still has usn -1, which fails the check."""
    if pending_usn_tables(conn):
        return None
    counts: list[Any] = [[0, 0, 0]]
    for table in ("cards", "notes", "revlog", "graves"):
        (count,) = conn.execute(f"select count() from {table}").fetchone()
        counts.append(int(count))
    col = Col(conn)
    counts += [len(col.models), len(col.decks), len(col.dconf)]
    return counts


def finish(conn: sqlite3.Connection, server_usn: int, now_ms: int) -> None:
    """Close the sync as Anki's server does: last sync and modification time ``now``,
    and the usn moved past everything this sync stamped."""
    conn.execute("update col set ls = ?, mod = ?, usn = ?", (now_ms, now_ms, server_usn + 1))
