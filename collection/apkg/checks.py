"""Checking what a package's collection holds, and reshaping it into clean schema-11
dicts: only known keys, each of the expected type. Every problem is a
`MalformedPackage` naming what is wrong."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

from collection.decks import SEPARATOR, normalize_deck_name
from collection.enums import NotetypeKind
from collection.errors import InvalidDeckName, MalformedPackage
from collection.schema import default_deck_config

I32: Final = 2**31
I64: Final = 2**63
_MAX_TEMPLATES: Final = 1_000
_MAX_FIELDS: Final = 1_000
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

_LATEX_PRE_DEFAULT: Final = (
    "\\documentclass[12pt]{article}\n\\special{papersize=3in,5in}\n"
    "\\usepackage[utf8]{inputenc}\n\\usepackage{amssymb,amsmath}\n\\pagestyle{empty}\n"
    "\\setlength{\\parindent}{0in}\n\\begin{document}\n"
)
_LATEX_POST_DEFAULT: Final = "\\end{document}"


@dataclass(frozen=True, slots=True)
class SourceDeck:
    id: int
    name: str  # "A::B", normalised like a deck name typed in Javumbo
    filtered: bool
    conf_id: int
    desc: str


# --- checking values ---------------------------------------------------------------


def malformed(what: str) -> MalformedPackage:
    return MalformedPackage(f"The package's collection is damaged: {what}.")


def is_int(value: Any, bound: int = I64) -> TypeGuard[int]:
    return type(value) is int and -bound <= value < bound


def check_int(value: Any, what: str, bound: int = I64) -> int:
    if not is_int(value, bound):
        raise malformed(f"{what} is not an integer in range")
    return int(value)


def check_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise malformed(f"{what} is not text")
    return value


def load_json(raw: Any, what: str) -> Any:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise malformed(f"{what} is not UTF-8 text") from exc
    if not isinstance(raw, str):
        raise malformed(f"{what} is not JSON text")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise malformed(f"{what} is not valid JSON") from exc
    # JSON can spell a lone surrogate ("\ud800"), which no UTF-8 text can hold: it
    # would only fail later, when the value is written into our collection.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and _SURROGATE.search(item):
            raise malformed(f"{what} holds text that is not valid Unicode")
    return value


def deck_name(raw: Any, what: str) -> str:
    """A package deck name in Javumbo's canonical form (Anki's normalisation rules)."""
    name = check_str(raw, what)
    try:
        return normalize_deck_name(name)
    except InvalidDeckName as exc:
        raise malformed(f"{what} ({name!r}) is not a usable deck name: {exc}") from exc


# --- note types ----------------------------------------------------------------------


def _opt_int(value: Any) -> int | None:
    return int(value) if is_int(value) else None


def _text(raw: dict[str, Any], key: str, default: str = "") -> str:
    value = raw.get(key, default)
    return value if isinstance(value, str) else default


def _flag(raw: dict[str, Any], key: str, default: bool = False) -> bool:
    value = raw.get(key, default)
    return value if isinstance(value, bool) else default


def _number(raw: dict[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    return int(value) if is_int(value, I32) else default


def _unique_names(items: list[dict[str, Any]], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        key = unicodedata.normalize("NFC", item["name"]).casefold()
        if key in seen:
            raise malformed(f"{what} {item['name']!r} appears twice")
        seen.add(key)


def _normalize_field(raw: Any, ord_: int, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise malformed(f"{what} is not an object")
    name = check_str(raw.get("name"), f"{what}'s name")
    if not name.strip():
        raise malformed(f"{what} has no name")
    return {
        "name": name,
        "ord": ord_,
        "sticky": _flag(raw, "sticky"),
        "rtl": _flag(raw, "rtl"),
        "font": _text(raw, "font", "Arial"),
        "size": _number(raw, "size", 20),
        "description": _text(raw, "description"),
        "plainText": _flag(raw, "plainText"),
        "collapsed": _flag(raw, "collapsed"),
        "excludeFromSearch": _flag(raw, "excludeFromSearch"),
        "id": _opt_int(raw.get("id")),
        "tag": _opt_int(raw.get("tag")),
        "preventDeletion": _flag(raw, "preventDeletion"),
    }


def _normalize_template(raw: Any, ord_: int, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise malformed(f"{what} is not an object")
    name = check_str(raw.get("name"), f"{what}'s name")
    return {
        "name": name,
        "ord": ord_,
        "qfmt": check_str(raw.get("qfmt"), f"{what}'s front template"),
        "afmt": check_str(raw.get("afmt"), f"{what}'s back template"),
        "bqfmt": _text(raw, "bqfmt"),
        "bafmt": _text(raw, "bafmt"),
        "did": _opt_int(raw.get("did")) or None,
        "bfont": _text(raw, "bfont"),
        "bsize": _number(raw, "bsize", 0),
        "id": _opt_int(raw.get("id")),
    }


def _normalize_req(raw: Any) -> list[list[Any]] | None:
    if not isinstance(raw, list):
        return None
    out: list[list[Any]] = []
    for item in raw:
        if not (
            isinstance(item, list)
            and len(item) == 3
            and is_int(item[0], I32)
            and item[1] in ("none", "any", "all")
            and isinstance(item[2], list)
            and all(is_int(x, I32) for x in item[2])
        ):
            return None
        out.append([item[0], item[1], list(item[2])])
    return out


def normalize_model(raw: Any, model_id: int) -> dict[str, Any]:
    """A schema-11 note type holding only known keys, each of the expected type."""
    what = f"note type {model_id}"
    if not isinstance(raw, dict):
        raise malformed(f"{what} is not an object")
    name = check_str(raw.get("name"), f"{what}'s name").strip()
    if not name:
        raise malformed(f"{what} has no name")
    kind = raw.get("type", NotetypeKind.NORMAL)
    if kind not in (NotetypeKind.NORMAL, NotetypeKind.CLOZE) or isinstance(kind, bool):
        raise malformed(f"{what} has an unknown kind {kind!r}")
    raw_fields, raw_templates = raw.get("flds"), raw.get("tmpls")
    if not isinstance(raw_fields, list) or not 0 < len(raw_fields) <= _MAX_FIELDS:
        raise malformed(f"{what} has no fields")
    if not isinstance(raw_templates, list) or not 0 < len(raw_templates) <= _MAX_TEMPLATES:
        raise malformed(f"{what} has no card templates")
    fields = [_normalize_field(f, i, f"a field of {what}") for i, f in enumerate(raw_fields)]
    templates = [
        _normalize_template(t, i, f"a template of {what}") for i, t in enumerate(raw_templates)
    ]
    _unique_names(fields, f"in {what}, the field")
    _unique_names(templates, f"in {what}, the template")
    sort_index = raw.get("sortf", 0)
    model: dict[str, Any] = {
        "id": model_id,
        "name": name,
        "type": kind,
        "mod": max(0, _number(raw, "mod", 0)),
        "usn": 0,
        "sortf": sort_index if is_int(sort_index) and 0 <= sort_index < len(fields) else 0,
        "did": _opt_int(raw.get("did")) or None,
        "tmpls": templates,
        "flds": fields,
        "css": _text(raw, "css"),
        "latexPre": _text(raw, "latexPre", _LATEX_PRE_DEFAULT),
        "latexPost": _text(raw, "latexPost", _LATEX_POST_DEFAULT),
        "latexsvg": _flag(raw, "latexsvg"),
    }
    req = _normalize_req(raw.get("req"))
    if req is not None:
        model["req"] = req
    for key in ("originalStockKind", "originalId"):
        value = raw.get(key)
        if is_int(value):
            model[key] = value
    return model


# --- deck options ----------------------------------------------------------------------


def _finite_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (isinstance(value, int) or math.isfinite(value))
    )


def _overlay(template: Any, value: Any) -> Any:
    """`value` where it has the type of `template`, else `template`, recursively."""
    if isinstance(template, dict):
        if not isinstance(value, dict):
            return template
        return {k: _overlay(t, value[k]) if k in value else t for k, t in template.items()}
    if isinstance(template, bool):
        return value if isinstance(value, bool) else template
    if isinstance(template, int):
        return value if is_int(value, I32) else template
    if isinstance(template, float):
        return float(value) if _finite_number(value) and abs(value) < I32 else template
    if isinstance(template, str):
        return value if isinstance(value, str) else template
    if isinstance(template, list):
        if isinstance(value, list) and len(value) <= 1_000 and all(map(_finite_number, value)):
            return list(value)
        return template
    return template


def normalize_deck_config(raw: Any, conf_id: int) -> dict[str, Any]:
    """A schema-11 deck options group: Anki's keys, with the package's values where
    they have the right type."""
    if not isinstance(raw, dict):
        raise malformed(f"deck options group {conf_id} is not an object")
    conf: dict[str, Any] = _overlay(default_deck_config(), raw)
    name = raw.get("name")
    conf.update(
        id=conf_id,
        name=name.strip() if isinstance(name, str) and name.strip() else f"Options {conf_id}",
        mod=max(0, _number(raw, "mod", 0)),
        usn=0,
        dyn=False,
    )
    return conf


# --- timing ----------------------------------------------------------------------------


def timing_config(conf: dict[str, Any]) -> dict[str, int]:
    """The collection settings that decide its day numbers, where they are sane."""
    out: dict[str, int] = {}
    rollover = conf.get("rollover")
    if is_int(rollover) and 0 <= rollover <= 23:
        out["rollover"] = rollover
    for key in ("creationOffset", "localOffset"):
        value = conf.get(key)
        if is_int(value) and -1440 <= value <= 1440:
            out[key] = value
    sched = conf.get("schedVer")
    if is_int(sched):
        out["schedVer"] = sched
    return out


def strip_separator(name: str) -> str:
    """Schema 18 keeps deck names with U+001F between levels; schema 11 uses '::'."""
    return name.replace("\x1f", SEPARATOR)
