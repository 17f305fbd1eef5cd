"""Reading Anki's schema-18 tables (`collection.anki21b`) into schema-11 dicts.

Note types, decks and deck options live in their own tables there, with their
settings in protobuf blobs (messages from Anki's notetypes.proto, decks.proto and
deck_config.proto). The schema-11 JSON is built the way Anki's own downgrade does
(rslib `schema11.rs`), then validated like JSON read from a schema-11 package.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any, Final

from collection.apkg.checks import (
    SourceDeck,
    check_int,
    check_str,
    deck_name,
    load_json,
    malformed,
    normalize_deck_config,
    normalize_model,
    strip_separator,
)
from collection.apkg.protobuf import Message
from collection.errors import ProtobufError
from collection.schema import DEFAULT_DCONF_ID

_CONFIG_KEYS: Final = ("rollover", "creationOffset", "localOffset", "schedVer", "nextPos")
_REQ_KINDS: Final = ("none", "any", "all")
_LEECH_TAG_ONLY: Final = 1
_INSERT_RANDOM: Final = 1


def _blob(value: Any, what: str) -> Message:
    if not isinstance(value, bytes):
        raise malformed(f"{what} is not a protobuf blob")
    try:
        return Message(value)
    except ProtobufError as exc:
        raise malformed(f"{what} is not valid protobuf ({exc})") from exc


def _nonzero(value: int) -> int | None:
    return value or None


def read_config(conn: sqlite3.Connection) -> dict[str, Any]:
    marks = ",".join("?" * len(_CONFIG_KEYS))
    rows = conn.execute(f"select KEY, val from config where KEY in ({marks})", _CONFIG_KEYS)
    return {str(key): load_json(val, f"the {key} setting") for key, val in rows}


def _field(ord_: int, name: Any, config: Message) -> dict[str, Any]:
    return {
        "name": name,
        "ord": ord_,
        "sticky": config.flag(1),
        "rtl": config.flag(2),
        "font": config.string(3),
        "size": config.uint(4),
        "description": config.string(5),
        "plainText": config.flag(6),
        "collapsed": config.flag(7),
        "excludeFromSearch": config.flag(8),
        "id": config.int64(9) if config.has(9) else None,
        "tag": config.uint(10) if config.has(10) else None,
        "preventDeletion": config.flag(11),
    }


def _template(ord_: int, name: Any, config: Message) -> dict[str, Any]:
    return {
        "name": name,
        "ord": ord_,
        "qfmt": config.string(1),
        "afmt": config.string(2),
        "bqfmt": config.string(3),
        "bafmt": config.string(4),
        "did": _nonzero(config.int64(5)),
        "bfont": config.string(6),
        "bsize": config.uint(7),
        "id": config.int64(8) if config.has(8) else None,
    }


def read_notetypes(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    fields: dict[int, list[dict[str, Any]]] = defaultdict(list)
    templates: dict[int, list[dict[str, Any]]] = defaultdict(list)
    try:
        for ntid, ord_, name, blob in conn.execute(
            "select ntid, ord, name, config from fields order by ntid, ord"
        ):
            what = f"a field of note type {ntid!r}"
            fields[check_int(ntid, what)].append(
                _field(check_int(ord_, what), check_str(name, what), _blob(blob, what))
            )
        for ntid, ord_, name, blob in conn.execute(
            "select ntid, ord, name, config from templates order by ntid, ord"
        ):
            what = f"a template of note type {ntid!r}"
            templates[check_int(ntid, what)].append(
                _template(check_int(ord_, what), check_str(name, what), _blob(blob, what))
            )
        models: dict[int, dict[str, Any]] = {}
        for ntid, name, mtime, blob in conn.execute(
            "select id, name, mtime_secs, config from notetypes order by id"
        ):
            what = f"note type {ntid!r}"
            ntid = check_int(ntid, what)
            config = _blob(blob, what)
            for items in (fields[ntid], templates[ntid]):
                if [item["ord"] for item in items] != list(range(len(items))):
                    raise malformed(f"the fields or templates of {what} are not numbered 0, 1, ...")
            raw: dict[str, Any] = {
                "name": name,
                "type": config.uint(1),
                "mod": mtime,
                "sortf": config.uint(2),
                "did": _nonzero(config.int64(4)),
                "tmpls": templates[ntid],
                "flds": fields[ntid],
                "css": config.string(3),
                "latexPre": config.string(5),
                "latexPost": config.string(6),
                "latexsvg": config.flag(7),
                "req": [
                    [r.uint(1), _REQ_KINDS[min(r.uint(2), 2)], r.uints(3)]
                    for r in config.messages(8)
                ],
                "originalStockKind": config.uint(9),
            }
            if config.has(10):
                raw["originalId"] = config.int64(10)
            models[ntid] = normalize_model(raw, ntid)
    except ProtobufError as exc:
        raise malformed(f"a note type is not valid protobuf ({exc})") from exc
    return models


def read_decks(conn: sqlite3.Connection) -> dict[int, SourceDeck]:
    decks: dict[int, SourceDeck] = {}
    try:
        for did, name, kind in conn.execute("select id, name, kind from decks order by id"):
            what = f"deck {did!r}"
            did = check_int(did, what)
            container = _blob(kind, f"{what}'s settings")
            normal = container.message(1)
            conf_id = DEFAULT_DCONF_ID
            desc = ""
            if normal is not None:
                conf_id = normal.int64(1) or DEFAULT_DCONF_ID
                desc = normal.string(4)
            elif container.message(2) is None:
                raise malformed(f"{what} is neither a normal nor a filtered deck")
            decks[did] = SourceDeck(
                id=did,
                name=deck_name(strip_separator(check_str(name, what)), f"{what}'s name"),
                filtered=normal is None,
                conf_id=conf_id if conf_id > 0 else DEFAULT_DCONF_ID,
                desc=desc,
            )
    except ProtobufError as exc:
        raise malformed(f"a deck is not valid protobuf ({exc})") from exc
    return decks


def _deck_config(name: Any, mtime: Any, c: Message) -> dict[str, Any]:
    """DeckConfig.Config as schema-11 JSON, key for key as rslib's `DeckConfSchema11`."""
    return {
        "name": name,
        "mod": mtime,
        "maxTaken": c.uint(24),
        "autoplay": not c.flag(23),
        "timer": int(c.flag(25)),
        "replayq": not c.flag(26),
        "new": {
            "bury": c.flag(27),
            "delays": c.f32s(1),
            "initialFactor": round(c.f32(11) * 1000),
            "ints": [c.uint(18), c.uint(19), 0],
            "order": 0 if c.uint(20) == _INSERT_RANDOM else 1,
            "perDay": c.uint(9),
        },
        "rev": {
            "bury": c.flag(28),
            "ease4": c.f32(12),
            "ivlFct": c.f32(15),
            "maxIvl": c.uint(16),
            "perDay": c.uint(10),
            "hardFactor": c.f32(13),
        },
        "lapse": {
            "delays": c.f32s(2),
            "leechAction": 1 if c.uint(21) == _LEECH_TAG_ONLY else 0,
            "leechFails": c.uint(22),
            "minInt": c.uint(17),
            "mult": c.f32(14),
        },
        "newMix": c.uint(30),
        "newPerDayMinimum": c.uint(35),
        "interdayLearningMix": c.uint(31),
        "reviewOrder": c.uint(33),
        "newSortOrder": c.uint(32),
        "newGatherPriority": c.uint(34),
        "buryInterdayLearning": c.flag(29),
        "fsrsWeights": c.f32s(3),
        "fsrsParams5": c.f32s(5),
        "fsrsParams6": c.f32s(6),
        "desiredRetention": c.f32(37),
        "ignoreRevlogsBeforeDate": c.string(46),
        "easyDaysPercentages": c.f32s(4),
        "stopTimerOnAnswer": c.flag(38),
        "secondsToShowQuestion": c.f32(41),
        "secondsToShowAnswer": c.f32(42),
        "questionAction": c.uint(36),
        "answerAction": c.uint(43),
        "waitForAudio": c.flag(44),
        "sm2Retention": c.f32(40),
        "weightSearch": c.string(45),
    }


def read_deck_configs(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    configs: dict[int, dict[str, Any]] = {}
    try:
        for cid, name, mtime, blob in conn.execute(
            "select id, name, mtime_secs, config from deck_config order by id"
        ):
            what = f"deck options group {cid!r}"
            cid = check_int(cid, what)
            configs[cid] = normalize_deck_config(_deck_config(name, mtime, _blob(blob, what)), cid)
    except ProtobufError as exc:
        raise malformed(f"a deck options group is not valid protobuf ({exc})") from exc
    return configs
