"""Create a brand-new Anki collection in the legacy schema-11 (`.anki2`) layout."""

import json
import secrets
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Final

from collection.enums import NotetypeKind, OriginalStockKind

SCHEMA_VERSION: Final = 11
DEFAULT_DECK_ID: Final = 1
DEFAULT_DCONF_ID: Final = 1
ROLLOVER_HOUR: Final = 4

_DAY_SECS: Final = 86_400

# Same tables and indexes as Anki's rslib/src/storage/schema11.sql. One statement per
# entry: `executescript` would commit first and break the single transaction.
_SCHEMA: Final = (
    """
    create table col (
        id     integer primary key,
        crt    integer not null,
        mod    integer not null,
        scm    integer not null,
        ver    integer not null,
        dty    integer not null,
        usn    integer not null,
        ls     integer not null,
        conf   text    not null,
        models text    not null,
        decks  text    not null,
        dconf  text    not null,
        tags   text    not null
    )
    """,
    # sfld is deliberately typed integer so that numeric sort fields sort numerically.
    """
    create table notes (
        id    integer primary key,
        guid  text    not null,
        mid   integer not null,
        mod   integer not null,
        usn   integer not null,
        tags  text    not null,
        flds  text    not null,
        sfld  integer not null,
        csum  integer not null,
        flags integer not null,
        data  text    not null
    )
    """,
    """
    create table cards (
        id     integer primary key,
        nid    integer not null,
        did    integer not null,
        ord    integer not null,
        mod    integer not null,
        usn    integer not null,
        type   integer not null,
        queue  integer not null,
        due    integer not null,
        ivl    integer not null,
        factor integer not null,
        reps   integer not null,
        lapses integer not null,
        left   integer not null,
        odue   integer not null,
        odid   integer not null,
        flags  integer not null,
        data   text    not null
    )
    """,
    """
    create table revlog (
        id      integer primary key,
        cid     integer not null,
        usn     integer not null,
        ease    integer not null,
        ivl     integer not null,
        lastIvl integer not null,
        factor  integer not null,
        time    integer not null,
        type    integer not null
    )
    """,
    """
    create table graves (
        usn  integer not null,
        oid  integer not null,
        type integer not null
    )
    """,
    "create index ix_notes_usn on notes (usn)",
    "create index ix_cards_usn on cards (usn)",
    "create index ix_revlog_usn on revlog (usn)",
    "create index ix_cards_nid on cards (nid)",
    "create index ix_cards_sched on cards (did, queue, due)",
    "create index ix_revlog_cid on revlog (cid)",
    "create index ix_notes_csum on notes (csum)",
)

_BASIC_CSS: Final = """\
.card {
    font-family: arial;
    font-size: 20px;
    line-height: 1.5;
    text-align: center;
    color: black;
    background-color: white;
}
"""

_LATEX_PRE: Final = """\
\\documentclass[12pt]{article}
\\special{papersize=3in,5in}
\\usepackage[utf8]{inputenc}
\\usepackage{amssymb,amsmath}
\\pagestyle{empty}
\\setlength{\\parindent}{0in}
\\begin{document}
"""

_LATEX_POST: Final = "\\end{document}"


def _random_id() -> int:
    """A random signed 64-bit id, as Anki assigns to note-type fields and templates."""
    return int.from_bytes(secrets.token_bytes(8), "big", signed=True)


def day_start(now: float, rollover_hour: int = ROLLOVER_HOUR) -> int:
    """Epoch seconds of the most recent rollover (UTC) at or before `now`.

    Before the rollover hour the day still belongs to the previous calendar day, as in Anki.
    """
    rollover = rollover_hour * 3600
    return int((now - rollover) // _DAY_SECS) * _DAY_SECS + rollover


def default_collection_config(model_id: int) -> dict[str, Any]:
    return {
        "activeDecks": [DEFAULT_DECK_ID],
        "curDeck": DEFAULT_DECK_ID,
        "newSpread": 0,
        "collapseTime": 1200,
        "timeLim": 0,
        "estTimes": True,
        "dueCounts": True,
        "curModel": model_id,
        "nextPos": 1,
        "sortType": "noteFld",
        "sortBackwards": False,
        "addToCur": True,
        "dayLearnFirst": False,
        "schedVer": 2,
        # The v3 scheduler, the only one since Anki 23.10; without it Anki reports v2.
        "sched2021": True,
        "rollover": ROLLOVER_HOUR,
        "creationOffset": 0,
    }


def default_deck_config() -> dict[str, Any]:
    return {
        "id": DEFAULT_DCONF_ID,
        "mod": 0,
        "name": "Default",
        "usn": 0,
        "maxTaken": 60,
        "autoplay": True,
        "timer": 0,
        "replayq": True,
        "new": {
            "bury": False,
            "delays": [1.0, 10.0],
            "initialFactor": 2500,
            "ints": [1, 4, 0],
            "order": 1,
            "perDay": 20,
        },
        "rev": {
            "bury": False,
            "ease4": 1.3,
            "ivlFct": 1.0,
            "maxIvl": 36500,
            "perDay": 200,
            "hardFactor": 1.2,
        },
        "lapse": {
            "delays": [10.0],
            "leechAction": 1,
            "leechFails": 8,
            "minInt": 1,
            "mult": 0.0,
        },
        "dyn": False,
        "newMix": 0,
        "newPerDayMinimum": 0,
        "interdayLearningMix": 0,
        "reviewOrder": 0,
        "newSortOrder": 0,
        "newGatherPriority": 0,
        "buryInterdayLearning": False,
        "fsrsWeights": [],
        "fsrsParams5": [],
        "fsrsParams6": [],
        "desiredRetention": 0.9,
        "ignoreRevlogsBeforeDate": "",
        "easyDaysPercentages": [1.0] * 7,
        "stopTimerOnAnswer": False,
        "secondsToShowQuestion": 0.0,
        "secondsToShowAnswer": 0.0,
        "questionAction": 0,
        "answerAction": 0,
        "waitForAudio": True,
        "sm2Retention": 0.9,
        "weightSearch": "",
    }


def new_deck(deck_id: int, name: str, now: int) -> dict[str, Any]:
    return {
        "id": deck_id,
        "mod": now,
        "name": name,
        "usn": 0,
        "lrnToday": [0, 0],
        "revToday": [0, 0],
        "newToday": [0, 0],
        "timeToday": [0, 0],
        # Anki creates normal decks collapsed in both the deck list and the browser.
        "collapsed": True,
        "browserCollapsed": True,
        "desc": "",
        "dyn": 0,
        "conf": DEFAULT_DCONF_ID,
        "extendNew": 0,
        "extendRev": 0,
        "reviewLimit": None,
        "newLimit": None,
        "reviewLimitToday": None,
        "newLimitToday": None,
        "desiredRetention": None,
    }


def _field(name: str, ord_: int, tag: int | None = None, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "ord": ord_,
        "sticky": False,
        "rtl": False,
        "font": "Arial",
        "size": 20,
        "description": "",
        "plainText": False,
        "collapsed": False,
        "excludeFromSearch": False,
        "id": _random_id(),
        "tag": tag,
        "preventDeletion": required,
    }


_CLOZE_CSS: Final = (
    _BASIC_CSS
    + """\
.cloze {
    font-weight: bold;
    color: blue;
}
.nightMode .cloze {
    color: lightblue;
}
"""
)
_ANSWER: Final = "{{FrontSide}}\n\n<hr id=answer>\n\n"


def _template(name: str, ord_: int, qfmt: str, afmt: str) -> dict[str, Any]:
    return {
        "name": name,
        "ord": ord_,
        "qfmt": qfmt,
        "afmt": afmt,
        "bqfmt": "",
        "bafmt": "",
        "did": None,
        "bfont": "",
        "bsize": 0,
        "id": _random_id(),
    }


def _note_type(
    model_id: int,
    now: int,
    *,
    name: str,
    kind: OriginalStockKind,
    fields: tuple[str, ...],
    templates: list[dict[str, Any]],
    req: list[list[Any]],
    cloze: bool = False,
) -> dict[str, Any]:
    return {
        "id": model_id,
        "name": name,
        "type": NotetypeKind.CLOZE if cloze else NotetypeKind.NORMAL,
        "mod": now,
        "usn": 0,
        "sortf": 0,
        "did": DEFAULT_DECK_ID,
        "tmpls": templates,
        # Anki tags the stock Cloze fields (0, 1) and keeps Text from being deleted.
        "flds": [
            _field(f, i, i if cloze else None, cloze and i == 0) for i, f in enumerate(fields)
        ],
        "css": _CLOZE_CSS if cloze else _BASIC_CSS,
        "latexPre": _LATEX_PRE,
        "latexPost": _LATEX_POST,
        "latexsvg": False,
        "req": req,
        # Marks the stock note type it is (used by Anki's "restore defaults").
        "originalStockKind": kind,
        # Keys from the legacy Python defaults; current Anki carries them through untouched.
        "tags": [],
        "vers": [],
    }


def basic_note_type(model_id: int, now: int) -> dict[str, Any]:
    return _note_type(
        model_id,
        now,
        name="Basic",
        kind=OriginalStockKind.BASIC,
        fields=("Front", "Back"),
        templates=[_template("Card 1", 0, "{{Front}}", _ANSWER + "{{Back}}")],
        req=[[0, "any", [0]]],
    )


def stock_note_types(first_id: int, now: int) -> list[dict[str, Any]]:
    """The note types a new Anki collection has (Image Occlusion aside, which needs
    Anki's own scripts), with ids from `first_id` on, Basic first."""
    card1 = _template("Card 1", 0, "{{Front}}", _ANSWER + "{{Back}}")
    return [
        basic_note_type(first_id, now),
        _note_type(
            first_id + 1,
            now,
            name="Basic (and reversed card)",
            kind=OriginalStockKind.BASIC_AND_REVERSED,
            fields=("Front", "Back"),
            templates=[card1, _template("Card 2", 1, "{{Back}}", _ANSWER + "{{Front}}")],
            req=[[0, "any", [0]], [1, "any", [1]]],
        ),
        _note_type(
            first_id + 2,
            now,
            name="Basic (optional reversed card)",
            kind=OriginalStockKind.BASIC_OPTIONAL_REVERSED,
            fields=("Front", "Back", "Add Reverse"),
            templates=[
                {**card1, "id": _random_id()},
                _template(
                    "Card 2", 1, "{{#Add Reverse}}{{Back}}{{/Add Reverse}}", _ANSWER + "{{Front}}"
                ),
            ],
            req=[[0, "any", [0]], [1, "all", [1, 2]]],
        ),
        _note_type(
            first_id + 3,
            now,
            name="Basic (type in the answer)",
            kind=OriginalStockKind.BASIC_TYPING,
            fields=("Front", "Back"),
            templates=[
                _template(
                    "Card 1",
                    0,
                    "{{Front}}\n\n{{type:Back}}",
                    "{{Front}}\n\n<hr id=answer>\n\n{{type:Back}}",
                )
            ],
            req=[[0, "any", [0, 1]]],
        ),
        _note_type(
            first_id + 4,
            now,
            name="Cloze",
            kind=OriginalStockKind.CLOZE,
            fields=("Text", "Back Extra"),
            templates=[
                _template("Cloze", 0, "{{cloze:Text}}", "{{cloze:Text}}<br>\n{{Back Extra}}")
            ],
            req=[[0, "any", [0]]],
            cloze=True,
        ),
    ]


def _ensure_rollback_journal(conn: sqlite3.Connection) -> None:
    (mode,) = conn.execute("pragma journal_mode").fetchone()
    if str(mode).lower() != "delete":
        (mode,) = conn.execute("pragma journal_mode = delete").fetchone()
    # In-memory databases can only report "memory"; anything else must not be WAL.
    if str(mode).lower() == "wal":
        raise sqlite3.OperationalError("could not switch the collection out of WAL mode")


def create_collection(conn: sqlite3.Connection, *, now: float | None = None) -> None:
    """Lay out an empty schema-11 collection on `conn` in one transaction, then commit."""
    if conn.in_transaction:
        raise ValueError("create_collection needs a connection with no open transaction")
    if conn.execute("select 1 from sqlite_master where name = 'col'").fetchone():
        raise ValueError("the database already holds an Anki collection")

    stamp = time.time() if now is None else now
    now_s = int(stamp)
    now_ms = int(stamp * 1000)
    model_id = now_ms

    _ensure_rollback_journal(conn)
    # Only takes effect on a still-empty file, like Anki's own `pragma page_size`.
    conn.execute("pragma page_size = 4096")

    conn.execute("begin exclusive")
    try:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(
            "insert into col (id, crt, mod, scm, ver, dty, usn, ls,"
            " conf, models, decks, dconf, tags)"
            " values (1, ?, ?, ?, ?, 0, 0, 0, ?, ?, ?, ?, '{}')",
            (
                day_start(stamp),
                now_ms,
                now_ms,
                SCHEMA_VERSION,
                json.dumps(default_collection_config(model_id)),
                json.dumps({str(m["id"]): m for m in stock_note_types(model_id, now_s)}),
                json.dumps({str(DEFAULT_DECK_ID): new_deck(DEFAULT_DECK_ID, "Default", now_s)}),
                json.dumps({str(DEFAULT_DCONF_ID): default_deck_config()}),
            ),
        )
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def new_collection_bytes(now: float | None = None) -> bytes:
    """Build a fresh collection in a temporary file and return the file's bytes."""
    with tempfile.TemporaryDirectory(prefix="javumbo-collection-") as tmp:
        path = Path(tmp) / "collection.anki2"
        with closing(sqlite3.connect(path)) as conn:
            create_collection(conn, now=now)
        leftovers = sorted(p.name for p in Path(tmp).iterdir() if p != path)
        if leftovers:
            raise RuntimeError(f"SQLite left sidecar files behind: {leftovers}")
        return path.read_bytes()
