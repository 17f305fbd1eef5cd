"""The collection inside an uploaded package, opened read-only and distrusted.

`open_source` refuses anything but a plain, intact Anki database (quick_check, no
triggers, views, virtual tables or generated columns), then reads the note types,
decks and deck options of either layout - schema 11 (JSON in `col`) or schema 18
(tables with protobuf blobs, see `schema18`) - into validated schema-11 dicts.
Notes, cards and review log rows are streamed with explicit column lists and checked
one by one; every problem is a `MalformedPackage`.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Final, NamedTuple

from collection.apkg import schema18
from collection.apkg.checks import (
    I32,
    SourceDeck,
    check_int,
    check_str,
    deck_name,
    is_int,
    load_json,
    malformed,
    normalize_deck_config,
    normalize_model,
    timing_config,
)
from collection.enums import CardQueue, CardType, RevlogKind
from collection.errors import MalformedPackage
from collection.fields import FIELD_SEPARATOR
from collection.schema import DEFAULT_DCONF_ID

_MAX_GUID_CHARS: Final = 1_000
_MAX_CARD_DATA_CHARS: Final = 65_536
# Anki allows cloze numbers up to 499 (card ords 0-498); anything else is not a card.
MAX_CLOZE_ORD: Final = 498
_CARD_TYPES: Final = frozenset(CardType)
_CARD_QUEUES: Final = frozenset(CardQueue)
_REVLOG_KINDS: Final = frozenset(RevlogKind)

_SCHEMA11_TABLES: Final = frozenset({"col", "notes", "cards", "revlog"})
_SCHEMA18_TABLES: Final = _SCHEMA11_TABLES | {
    "notetypes",
    "fields",
    "templates",
    "decks",
    "deck_config",
    "config",
}
_JSON_COLUMNS: Final = ("conf", "models", "decks", "dconf")
_VIRTUAL_TABLE: Final = re.compile(r"\s*create\s+virtual\b", re.IGNORECASE)


class NoteRow(NamedTuple):
    id: int
    guid: str
    mid: int
    mod: int
    tags: str
    fields: list[str]


class CardRow(NamedTuple):
    id: int
    nid: int
    did: int
    ord: int
    mod: int
    type: int
    queue: int
    due: int
    ivl: int
    factor: int
    reps: int
    lapses: int
    left: int
    odue: int
    odid: int
    flags: int
    data: str


class RevlogRow(NamedTuple):
    id: int
    cid: int
    ease: int
    ivl: int
    last_ivl: int
    factor: int
    time: int
    type: int


# --- the source collection -------------------------------------------------------------


def _unicase(a: str, b: str) -> int:
    """Anki's `unicase` collation (Unicode case-insensitive), needed to read schema 18."""
    ka, kb = a.casefold(), b.casefold()
    return (ka > kb) - (ka < kb)


class SourceCollection:
    """The package's collection: small tables parsed up front, rows streamed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        tables = self._check_database()
        rows = conn.execute("select ver, crt from col").fetchall()
        if len(rows) != 1:
            raise malformed(f"it has {len(rows)} collection rows instead of one")
        ver = check_int(rows[0][0], "the schema version")
        self.crt = check_int(rows[0][1], "the creation time", I32 * 4)
        conf: dict[str, Any]
        if "notetypes" in tables:
            if not 15 <= ver <= 18 or not tables >= _SCHEMA18_TABLES:
                raise malformed(f"its schema (version {ver}) is not one Anki writes")
            conf = schema18.read_config(conn)
            self.models = schema18.read_notetypes(conn)
            self.decks = schema18.read_decks(conn)
            self.dconf = schema18.read_deck_configs(conn)
        else:
            if ver != 11 or not tables >= _SCHEMA11_TABLES:
                raise malformed(f"its schema (version {ver}) is not one Anki writes")
            conf = self._read_schema11()
        self.timing = timing_config(conf)

    def _check_database(self) -> set[str]:
        (result,) = self.conn.execute("pragma quick_check").fetchone()
        if result != "ok":
            raise malformed(f"SQLite's check failed ({str(result)[:200]})")
        tables: set[str] = set()
        for kind, name, sql in self.conn.execute("select type, name, sql from sqlite_master"):
            if kind in ("trigger", "view"):
                raise MalformedPackage(
                    f"The package's collection contains a {kind} ({name!r}); Anki collections"
                    " have none, so it was refused."
                )
            if isinstance(sql, str) and _VIRTUAL_TABLE.match(sql):
                raise MalformedPackage(
                    f"The package's collection contains a virtual table ({name!r}); refused."
                )
            if kind == "table" and isinstance(name, str):
                tables.add(name)
        for table in sorted(tables & _SCHEMA18_TABLES):
            # Generated columns would run SQL expressions on every read.
            for column in self.conn.execute(f"pragma table_xinfo({table})"):
                if column[6] != 0:
                    raise MalformedPackage(
                        f"The package's collection has a computed column in {table}; refused."
                    )
        return tables

    def _read_schema11(self) -> dict[str, Any]:
        row = self.conn.execute("select conf, models, decks, dconf from col").fetchone()
        values: list[dict[str, Any]] = []
        for raw, column in zip(row, _JSON_COLUMNS, strict=True):
            value = load_json(raw, f"col.{column}")
            if not isinstance(value, dict):
                raise malformed(f"col.{column} is not a JSON object")
            values.append(value)
        conf, models, decks, dconf = values
        self.models = {
            mid: normalize_model(raw, mid) for mid, raw in _by_int_key(models, "note type")
        }
        self.decks = {did: _schema11_deck(raw, did) for did, raw in _by_int_key(decks, "deck")}
        self.dconf = {
            cid: normalize_deck_config(raw, cid)
            for cid, raw in _by_int_key(dconf, "deck options group")
            if not (isinstance(raw, dict) and raw.get("dyn"))
        }
        return conf

    # --- rows --------------------------------------------------------------------------

    def notes(self) -> Iterator[NoteRow]:
        """Every note, by id; fields split, nothing else changed."""
        query = "select id, guid, mid, mod, tags, flds from notes order by id"
        for nid, guid, mid, mod, tags, flds in _rows(self.conn, query):
            what = f"note {nid!r}"
            nid = check_int(nid, "a note id")
            guid = check_str(guid, f"{what}'s guid")
            if not 0 < len(guid) <= _MAX_GUID_CHARS:
                raise malformed(f"{what} has a guid of {len(guid)} characters")
            mid = check_int(mid, f"{what}'s note type")
            if mid not in self.models:
                raise malformed(f"{what} uses note type {mid}, which is not in the package")
            yield NoteRow(
                nid,
                guid,
                mid,
                check_int(mod, f"{what}'s modification time"),
                check_str(tags, f"{what}'s tags"),
                check_str(flds, f"{what}'s fields").split(FIELD_SEPARATOR),
            )

    def cards(self) -> Iterator[CardRow]:
        query = (
            "select id, nid, did, ord, mod, type, queue, due, ivl, factor, reps, lapses, left,"
            " odue, odid, flags, data from cards order by id"
        )
        for row in _rows(self.conn, query):
            what = f"card {row[0]!r}"
            cid, nid, did, ord_, mod = (
                check_int(v, f"{what}'s {k}")
                for v, k in zip(row[:5], ("id", "note", "deck", "template", "mtime"), strict=True)
            )
            ctype, queue = check_int(row[5], f"{what}'s type"), check_int(row[6], f"{what}'s queue")
            if not (ctype in _CARD_TYPES and queue in _CARD_QUEUES and 0 <= ord_ < 65_536):
                raise malformed(f"{what} has type {ctype}, queue {queue}, ord {ord_}")
            due, ivl, factor, reps, lapses, left, odue = (
                check_int(v, f"{what}'s {k}", I32)
                for v, k in zip(
                    row[7:14],
                    ("due", "interval", "ease", "reviews", "lapses", "steps left", "odue"),
                    strict=True,
                )
            )
            odid = check_int(row[14], f"{what}'s original deck")
            flags = check_int(row[15], f"{what}'s flags")
            if not 0 <= flags <= 255:
                raise malformed(f"{what} has flags {flags}")
            yield CardRow(
                cid, nid, did, ord_, mod, ctype, queue, due, ivl, factor, reps, lapses, left,
                odue, odid, flags, _card_data(row[16]),
            )  # fmt: skip

    def revlog(self) -> Iterator[RevlogRow]:
        query = "select id, cid, ease, ivl, lastIvl, factor, time, type from revlog order by id"
        for row in _rows(self.conn, query):
            what = f"review log entry {row[0]!r}"
            rid, cid = check_int(row[0], "a review id"), check_int(row[1], f"{what}'s card")
            ease, ivl, last_ivl, factor, taken, kind = (
                check_int(v, f"{what}'s {k}", I32)
                for v, k in zip(
                    row[2:], ("ease", "ivl", "lastIvl", "factor", "time", "type"), strict=True
                )
            )
            if not (0 <= ease <= 4 and kind in _REVLOG_KINDS):
                raise malformed(f"{what} has ease {ease} and type {kind}")
            yield RevlogRow(rid, cid, ease, ivl, last_ivl, factor, taken, kind)


def _by_int_key(values: dict[str, Any], what: str) -> Iterator[tuple[int, Any]]:
    for key, raw in sorted(values.items()):
        try:
            ident = int(key)
        except ValueError:
            raise malformed(f"a {what} has the id {key!r}") from None
        if not is_int(ident) or ident == 0:
            raise malformed(f"a {what} has the id {key!r}")
        # Anki tolerates string ids ("id": "123"); only a different number is wrong.
        if isinstance(raw, dict) and "id" in raw and str(raw["id"]) != key:
            raise malformed(f"{what} {key} says its id is {raw['id']!r}")
        yield ident, raw


def _schema11_deck(raw: Any, deck_id: int) -> SourceDeck:
    what = f"deck {deck_id}"
    if not isinstance(raw, dict):
        raise malformed(f"{what} is not an object")
    conf = raw.get("conf", DEFAULT_DCONF_ID)
    desc = raw.get("desc", "")
    return SourceDeck(
        id=deck_id,
        name=deck_name(raw.get("name"), f"{what}'s name"),
        filtered=bool(raw.get("dyn")),
        conf_id=conf if is_int(conf) and conf > 0 else DEFAULT_DCONF_ID,
        desc=desc if isinstance(desc, str) else "",
    )


def _card_data(raw: Any) -> str:
    """Anki's card `data` (a JSON object), or "" when it is anything else."""
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_CARD_DATA_CHARS:
        return ""
    try:
        return raw if isinstance(json.loads(raw), dict) else ""
    except (ValueError, RecursionError):
        return ""


def _rows(conn: sqlite3.Connection, query: str) -> Iterator[tuple[Any, ...]]:
    try:
        yield from conn.execute(query)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        raise malformed(f"reading it failed ({exc})") from exc


@contextmanager
def open_source(path: Path) -> Iterator[SourceCollection]:
    """Open the extracted database read-only and immutable, check it, and read it."""
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        try:
            conn.create_collation("unicase", _unicase)
            conn.execute("pragma trusted_schema = off")
            conn.execute("pragma cell_size_check = on")
            # Sorting spills go to memory, never to a temporary file outside our directory.
            conn.execute("pragma temp_store = memory")
            source = SourceCollection(conn)
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise MalformedPackage(
                f"The package's collection is not a readable SQLite database ({exc})."
            ) from exc
        yield source
