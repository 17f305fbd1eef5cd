"""A card as its note type shows it: the rendered question and answer, and their text.

`CardFace.rendered` is what Anki's `card.question()` / `card.answer()` give; `front`
and `back` are what a client that shows plain text can display: for a Basic note its
two fields as stored (what such clients always showed), for every other card the
question and the answer's own part (after `<hr id=answer>`) as one line of text each.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from collection.col import Col
from collection.decks import DeckIndex
from collection.enums import NotetypeKind, OriginalStockKind
from collection.errors import CardNotFound
from collection.fields import split_fields
from collection.render import RenderedCard, answer_text, question_text, render_card


@dataclass(frozen=True, slots=True)
class CardFace:
    rendered: RenderedCard
    front: str
    back: str


def is_basic(notetype: dict[str, Any]) -> bool:
    """The stock Basic note type (under any name), or one called Basic shaped like it."""
    if int(notetype.get("type", NotetypeKind.NORMAL)) != NotetypeKind.NORMAL:
        return False
    if notetype.get("originalStockKind") == OriginalStockKind.BASIC:
        return True
    return notetype.get("name") == "Basic" and len(notetype.get("tmpls") or []) == 1


def face_of(notetype: dict[str, Any], flds: str, ord_: int, tags: str, deck_name: str) -> CardFace:
    fields = split_fields(flds)
    rendered = render_card(notetype, fields, ord_, tags=tags, deck_name=deck_name)
    if is_basic(notetype):
        return CardFace(rendered, fields[0], fields[1] if len(fields) > 1 else "")
    return CardFace(rendered, question_text(rendered), answer_text(rendered))


_MISSING_NOTETYPE: dict[str, Any] = {
    "id": 0,
    "name": "(missing note type)",
    "type": NotetypeKind.NORMAL,
    "flds": [{"name": "Front", "ord": 0}, {"name": "Back", "ord": 1}],
    "tmpls": [
        {
            "name": "Card 1",
            "ord": 0,
            "qfmt": "{{Front}}",
            "afmt": "{{FrontSide}}<hr id=answer>{{Back}}",
        }
    ],
    "css": "",
    "originalStockKind": OriginalStockKind.BASIC,
}


def card_face(conn: sqlite3.Connection, col: Col, decks: DeckIndex, card_id: int) -> CardFace:
    """Card `card_id` rendered from its note type; CardNotFound if there is none.

    A note whose note type is missing (a damaged collection) shows its first two fields.
    """
    row = conn.execute(
        "select n.mid, n.flds, n.tags, c.ord, c.did, c.odid from cards c"
        " join notes n on n.id = c.nid where c.id = ?",
        (card_id,),
    ).fetchone()
    if row is None:
        raise CardNotFound(card_id)
    return face_of(*face_inputs(col, decks, *row))


def face_inputs(
    col: Col, decks: DeckIndex, mid: int, flds: str, tags: str, ord_: int, did: int, odid: int
) -> tuple[dict[str, Any], str, int, str, str]:
    """`face_of`'s arguments from a card's row: its note type (a stand-in showing the
    first two fields if the note type is missing) and its home deck's name."""
    notetype = col.models.get(str(mid))
    if not isinstance(notetype, dict):
        notetype = _MISSING_NOTETYPE
    deck = decks.by_id.get(int(odid) or int(did)) or decks.by_id.get(int(did))
    deck_name = str(deck["name"]) if deck else ""
    return notetype, str(flds), int(ord_), str(tags), deck_name
