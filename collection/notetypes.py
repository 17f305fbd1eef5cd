"""The collection's note types, as a client needs them to add notes."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from collection.col import Col
from collection.enums import NotetypeKind
from collection.notes import field_names


@dataclass(frozen=True, slots=True)
class TemplateView:
    name: str
    question: str  # the question format (`qfmt`)
    answer: str  # the answer format (`afmt`)


@dataclass(frozen=True, slots=True)
class NotetypeView:
    notetype_id: int
    name: str
    kind: Literal["standard", "cloze"]
    fields: list[str]
    templates: list[TemplateView]
    css: str


def notetype_view(model: dict[str, Any]) -> NotetypeView:
    templates = sorted(model.get("tmpls") or [], key=lambda t: int(t.get("ord", 0)))
    cloze = int(model.get("type", NotetypeKind.NORMAL)) == NotetypeKind.CLOZE
    return NotetypeView(
        notetype_id=int(model["id"]),
        name=str(model.get("name", "")),
        kind="cloze" if cloze else "standard",
        fields=field_names(model),
        templates=[
            TemplateView(str(t.get("name", "")), str(t.get("qfmt", "")), str(t.get("afmt", "")))
            for t in templates
        ],
        css=str(model.get("css", "")),
    )


def list_notetypes(conn: sqlite3.Connection) -> list[NotetypeView]:
    """Every note type of the collection, by name."""
    models = [m for m in Col(conn).models.values() if isinstance(m, dict) and "id" in m]
    return sorted(
        (notetype_view(m) for m in models), key=lambda v: (v.name.casefold(), v.notetype_id)
    )
