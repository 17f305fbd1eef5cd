"""Full sync: a client's uploaded collection (schema 18) checked and rewritten as the
schema-11 file Javumbo keeps.

Anki uploads its whole collection file after ``before_upload`` (graves cleared, no
``-1`` usns, ``scm`` set): the file is server-ready, so the rows are copied as they
are. Note types, decks and deck options live in protobuf blobs there; they become
schema-11 JSON key for key as Anki's own downgrade writes it (rslib ``schema11.rs``),
with the unknown keys each blob carries (its ``other`` field) put back in place.
Cards' ``data`` and every other column are copied byte for byte.

Nothing here trusts the upload: it is opened read-only with untrusted schema
features off, must pass ``PRAGMA integrity_check``, and must add up (one ``col`` row,
no card without its note, no note without its note type, a deck for every card);
otherwise ``UploadRefused`` says why, in a sentence the client shows.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Final

from collection.apkg.protobuf import Message
from collection.apkg.schema18 import _deck_config, _field, _template
from collection.col import dump_json
from collection.errors import ProtobufError
from collection.schema import create_collection

SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_UPLOAD_SCHEMA: Final = 18
_REQUIRED_TABLES: Final = (
    "col",
    "notes",
    "cards",
    "revlog",
    "graves",
    "notetypes",
    "fields",
    "templates",
    "decks",
    "deck_config",
    "config",
    "tags",
)
_REQ_KINDS: Final = ("none", "any", "all")
_OTHER: Final = 255

_NOTE_COLUMNS: Final = "id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data"
_CARD_COLUMNS: Final = (
    "id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses, left,"
    " odue, odid, flags, data"
)
_REVLOG_COLUMNS: Final = "id, cid, usn, ease, ivl, lastIvl, factor, time, type"

# Keys the schema-11 form writes itself: an `other` blob never overrides them.
_DECK_KEYS: Final = frozenset(
    {
        "usn", "revToday", "newLimit", "dyn", "reviewLimit", "newToday", "timeToday",
        "reviewLimitToday", "extendNew", "mod", "newLimitToday", "desc", "name",
        "lrnToday", "conf", "browserCollapsed", "extendRev", "id", "collapsed",
    }
)  # fmt: skip


class UploadRefused(Exception):
    """The upload cannot become the learner's collection; the message says why."""


def _refused(reason: str) -> UploadRefused:
    return UploadRefused(
        f"The collection you uploaded was not accepted: {reason}. Nothing was changed "
        "on the server. Use Tools > Check Database in Anki, then sync again."
    )


def _unicase(a: str, b: str) -> int:
    """Anki's `unicase` collation (Unicode case-insensitive), used by schema 18's indexes."""
    ka, kb = a.casefold(), b.casefold()
    return (ka > kb) - (ka < kb)


@contextmanager
def _open_upload(path: Path) -> Iterator[sqlite3.Connection]:
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        conn.create_collation("unicase", _unicase)
        conn.execute("pragma trusted_schema = off")
        conn.execute("pragma cell_size_check = on")
        conn.execute("pragma temp_store = memory")
        yield conn


def _other(config: Message) -> dict[str, Any]:
    """The unknown schema-11 keys a protobuf blob carries (its JSON ``other`` field)."""
    raw = config.string(_OTHER)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}  # as Anki does: an unreadable `other` is dropped
    return value if isinstance(value, dict) else {}


def _with_other(known: dict[str, Any], config: Message) -> dict[str, Any]:
    return {**known, **{k: v for k, v in _other(config).items() if k not in known}}


def _notetypes(conn: sqlite3.Connection) -> dict[str, Any]:
    fields: dict[int, list[dict[str, Any]]] = {}
    for ntid, ord_, name, blob in conn.execute(
        "select ntid, ord, name, config from fields order by ntid, ord"
    ):
        config = Message(blob)
        fields.setdefault(ntid, []).append(_with_other(_field(ord_, name, config), config))
    templates: dict[int, list[dict[str, Any]]] = {}
    for ntid, ord_, name, blob in conn.execute(
        "select ntid, ord, name, config from templates order by ntid, ord"
    ):
        config = Message(blob)
        templates.setdefault(ntid, []).append(_with_other(_template(ord_, name, config), config))
    models: dict[str, Any] = {}
    for ntid, name, mtime, usn, blob in conn.execute(
        "select id, name, mtime_secs, usn, config from notetypes order by id"
    ):
        c = Message(blob)
        model: dict[str, Any] = {
            "id": ntid,
            "name": name,
            "type": c.uint(1),
            "mod": mtime,
            "usn": usn,
            "sortf": c.uint(2),
            "did": c.int64(4) or None,
            "tmpls": templates.get(ntid, []),
            "flds": fields.get(ntid, []),
            "css": c.string(3),
            "latexPre": c.string(5),
            "latexPost": c.string(6),
            "latexsvg": c.flag(7),
            "req": [[r.uint(1), _REQ_KINDS[min(r.uint(2), 2)], r.uints(3)] for r in c.messages(8)],
        }
        if c.uint(9):
            model["originalStockKind"] = c.uint(9)
        if c.has(10):
            model["originalId"] = c.int64(10)
        if not model["flds"] or not model["tmpls"]:
            raise _refused(f"note type {name!r} has no fields or no card templates")
        models[str(ntid)] = _with_other(model, c)
    return models


def _day_limit(message: Message | None) -> dict[str, int] | None:
    return None if message is None else {"limit": message.uint(1), "today": message.uint(2)}


def _decks(conn: sqlite3.Connection) -> dict[str, Any]:
    decks: dict[str, Any] = {}
    for did, name, mtime, usn, common_blob, kind_blob in conn.execute(
        "select id, name, mtime_secs, usn, common, kind from decks order by id"
    ):
        common, kind = Message(common_blob), Message(kind_blob)
        day = common.uint(3)
        deck: dict[str, Any] = {
            "id": did,
            "mod": mtime,
            # Schema 18 separates the levels of a deck's name with \x1f.
            "name": str(name).replace("\x1f", "::"),
            "usn": usn,
            "lrnToday": [day, common.int32(6)],
            "revToday": [day, common.int32(5)],
            "newToday": [day, common.int32(4)],
            "timeToday": [day, common.int32(7)],
            "collapsed": common.flag(1),
            "browserCollapsed": common.flag(2),
        }
        normal, filtered = kind.message(1), kind.message(2)
        if normal is not None:
            deck["desc"] = normal.string(4)
            if normal.flag(5):
                deck["md"] = True
            deck["dyn"] = 0
            deck.update(
                conf=normal.int64(1),
                extendNew=normal.uint(2),
                extendRev=normal.uint(3),
                reviewLimit=normal.uint(6) if normal.has(6) else None,
                newLimit=normal.uint(7) if normal.has(7) else None,
                reviewLimitToday=_day_limit(normal.message(8)),
                newLimitToday=_day_limit(normal.message(9)),
            )
            if normal.has(10):
                deck["desiredRetention"] = normal.f32(10)
        elif filtered is not None:
            deck["desc"] = ""
            deck["dyn"] = 1
            delays = filtered.f32s(3)
            deck.update(
                resched=filtered.flag(1),
                terms=[[t.string(1), t.uint(2), t.uint(3)] for t in filtered.messages(2)],
                separate=True,
                delays=delays or None,
                previewDelay=filtered.uint(4),
                previewAgainSecs=filtered.uint(7),
                previewHardSecs=filtered.uint(5),
                previewGoodSecs=filtered.uint(6),
            )
        else:
            raise _refused(f"deck {did} is neither a normal nor a filtered deck")
        other = {k: v for k, v in _other(common).items() if k not in _DECK_KEYS}
        decks[str(did)] = {**deck, **{k: v for k, v in other.items() if k not in deck}}
    return decks


def _deck_configs(conn: sqlite3.Connection) -> dict[str, Any]:
    configs: dict[str, Any] = {}
    for cid, name, mtime, usn, blob in conn.execute(
        "select id, name, mtime_secs, usn, config from deck_config order by id"
    ):
        c = Message(blob)
        conf = {"id": cid, **_deck_config(name, mtime, c), "usn": usn, "dyn": False}
        configs[str(cid)] = _with_other(conf, c)
    return configs


def _config(conn: sqlite3.Connection) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    for key, val in conn.execute("select KEY, val from config order by KEY"):
        try:
            conf[str(key)] = json.loads(val)
        except (TypeError, ValueError):
            raise _refused(f"the setting {key!r} is not JSON") from None
    return conf


def _tags(conn: sqlite3.Connection) -> dict[str, int]:
    return {str(tag): int(usn) for tag, usn in conn.execute("select tag, usn from tags")}


def _check(conn: sqlite3.Connection) -> None:
    names = {row[0] for row in conn.execute("select name from sqlite_master where type='table'")}
    missing = [t for t in _REQUIRED_TABLES if t not in names]
    if missing:
        raise _refused(f"it is not an Anki collection (no {', '.join(missing)} table)")
    problems = [row[0] for row in conn.execute("pragma integrity_check(5)")]
    if problems != ["ok"]:
        raise _refused(f"the database is damaged ({'; '.join(map(str, problems))})")
    rows = conn.execute("select ver from col").fetchall()
    if len(rows) != 1:
        raise _refused(f"it has {len(rows)} collection rows instead of one")
    if rows[0][0] != _UPLOAD_SCHEMA:
        raise _refused(f"it is of schema version {rows[0][0]}, not {_UPLOAD_SCHEMA}")
    counts = {
        "cards whose note is missing": (
            "select count() from cards where nid not in (select id from notes)"
        ),
        "notes whose note type is missing": (
            "select count() from notes where mid not in (select id from notetypes)"
        ),
        "cards in a deck that is missing": (
            "select count() from cards where did not in (select id from decks)"
        ),
        "review log entries that are not numbers": (
            "select count() from revlog where typeof(id) != 'integer'"
        ),
    }
    for what, query in counts.items():
        (count,) = conn.execute(query).fetchone()
        if count:
            raise _refused(f"it has {count} {what}")
    if conn.execute("select 1 from decks where id = 1").fetchone() is None:
        raise _refused("it has no Default deck")


def schema11_from_upload(data: bytes, *, now: float | None = None) -> bytes:
    """The schema-11 collection file equivalent to the uploaded schema-18 ``data``;
    ``UploadRefused`` (nothing written anywhere) if it is empty, not SQLite, damaged
    or does not add up."""
    if not data:
        raise _refused("it was empty")
    if not data.startswith(SQLITE_MAGIC):
        raise _refused("it is not a SQLite database")
    with tempfile.TemporaryDirectory(prefix="javumbo-upload-") as tmp:
        source_path = Path(tmp) / "upload.anki2"
        source_path.write_bytes(data)
        target_path = Path(tmp) / "collection.anki2"
        try:
            with _open_upload(source_path) as source:
                _check(source)
                col_row = source.execute("select crt, mod, scm, dty, usn, ls from col").fetchone()
                models, decks = _notetypes(source), _decks(source)
                dconf, conf, tags = _deck_configs(source), _config(source), _tags(source)
                with closing(
                    sqlite3.connect(target_path.resolve().as_uri(), uri=True, isolation_level=None)
                ) as target:
                    create_collection(target, now=now)
                    _copy(source_path, target, col_row, models, decks, dconf, conf, tags)
        except ProtobufError as exc:
            raise _refused(f"a note type, deck or options group is unreadable ({exc})") from exc
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise _refused(f"it could not be read ({exc})") from exc
        return target_path.read_bytes()


def _copy(
    source_path: Path,
    target: sqlite3.Connection,
    col_row: tuple[Any, ...],
    models: dict[str, Any],
    decks: dict[str, Any],
    dconf: dict[str, Any],
    conf: dict[str, Any],
    tags: dict[str, int],
) -> None:
    uri = source_path.resolve().as_uri() + "?mode=ro&immutable=1"
    target.execute("pragma trusted_schema = off")
    target.execute("attach database ? as up", (uri,))
    try:
        target.execute("begin")
        target.execute(f"insert into notes ({_NOTE_COLUMNS}) select {_NOTE_COLUMNS} from up.notes")
        target.execute(f"insert into cards ({_CARD_COLUMNS}) select {_CARD_COLUMNS} from up.cards")
        target.execute(
            f"insert into revlog ({_REVLOG_COLUMNS}) select {_REVLOG_COLUMNS} from up.revlog"
        )
        target.execute("insert into graves (usn, oid, type) select usn, oid, type from up.graves")
        crt, mod, scm, dty, usn, ls = col_row
        target.execute(
            "update col set crt = ?, mod = ?, scm = ?, dty = ?, usn = ?, ls = ?,"
            " conf = ?, models = ?, decks = ?, dconf = ?, tags = ?",
            (
                crt,
                mod,
                scm,
                dty,
                usn,
                ls,
                dump_json(conf),
                dump_json(models),
                dump_json(decks),
                dump_json(dconf),
                dump_json(tags),
            ),
        )
        target.execute("commit")
    except BaseException:
        if target.in_transaction:
            target.execute("rollback")
        raise
    finally:
        target.execute("detach database up")
