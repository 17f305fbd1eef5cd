"""Notes of the Basic note type and their cards, written the way Anki writes them.

A card is shown as the note's first two fields (`front`, `back`); fields are stored
exactly as given, HTML and Unicode included, byte for byte. Adding, editing and
deleting validate everything before the first write.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from collection.card_faces import CardFace, card_face, face_inputs, face_of
from collection.col import Col, mark_modified, server_usn
from collection.decks import DeckIndex, current_deck_id
from collection.enums import (
    GraveKind,
    NotetypeKind,
    OriginalStockKind,
)
from collection.errors import CardNotFound, FilteredDeck, InvalidField, NoteTypeMissing
from collection.fields import (
    check_field_value,
    join_fields,
    sort_field_and_checksum,
    split_fields,
)
from collection.notes import insert_new_card, insert_note, take_new_positions, write_note_fields
from collection.positions import position_in_deck
from collection.render import card_ordinals, question_text
from collection.scheduler.card import CARD_STATE_COLUMNS, CardState
from collection.scheduler.fsrs import ReviewEntry
from collection.schema import DEFAULT_DECK_ID
from collection.text import strip_html_preserving_media_filenames

BASIC_NAME: Final = "Basic"


class AddedCard(NamedTuple):
    card_id: int
    note_id: int


@dataclass(frozen=True, slots=True)
class CardView:
    card_id: int
    note_id: int
    deck_id: int
    deck_name: str | None  # None only if the card's deck is missing from the collection
    front: str
    back: str
    ord: int
    type: int
    queue: int
    due: int
    ivl: int
    factor: int
    reps: int
    lapses: int
    flags: int
    modified: int  # epoch seconds: the later of the card's and the note's `mod`


@dataclass(frozen=True, slots=True)
class CardSummary:
    card_id: int
    note_id: int
    front: str
    back: str
    modified: int
    question: str  # the rendered question as one line of text, as Anki's browser shows it


@dataclass(frozen=True, slots=True)
class CardPage:
    deck_id: int
    deck_name: str
    cards: tuple[CardSummary, ...]
    total: int
    page: int
    per_page: int
    total_pages: int  # 0 for an empty deck


# --- fields --------------------------------------------------------------------------


def validate_fields(front: str, back: str) -> None:
    """InvalidField unless both fields can be stored and the front shows something.

    The front is empty if nothing but whitespace is left once HTML is stripped the way
    Anki strips it (media file names count as content, so an image alone is fine).
    """
    check_field_value("front", front)
    check_field_value("back", back)
    if not strip_html_preserving_media_filenames(front).strip():
        raise InvalidField("front", "The front is empty; a card needs something to ask.")


def _split(flds: str) -> tuple[str, str]:
    fields = split_fields(flds)
    return fields[0], fields[1] if len(fields) > 1 else ""


# --- note types ----------------------------------------------------------------------


def _basic_model(col: Col) -> dict[str, Any]:
    """The note type cards are added with: "Basic", else the stock Basic under another
    name, else the current note type if it is a standard one with two fields."""

    def usable(model: Any) -> bool:
        return (
            isinstance(model, dict)
            and model.get("type", NotetypeKind.NORMAL) == NotetypeKind.NORMAL
            and len(model.get("flds") or []) >= 2
            and len(model.get("tmpls") or []) >= 1
        )

    models: list[dict[str, Any]] = [m for m in col.models.values() if usable(m)]
    current_id = str(col.conf.get("curModel"))
    choices: tuple[list[dict[str, Any]], ...] = (
        [m for m in models if m.get("name") == BASIC_NAME],
        [m for m in models if m.get("originalStockKind") == OriginalStockKind.BASIC],
        [m for m in models if str(m.get("id")) == current_id],
    )
    for choice in choices:
        if choice:
            return min(choice, key=lambda m: int(m["id"]))
    raise NoteTypeMissing()


# --- reading -------------------------------------------------------------------------

_STATE_COLUMNS: Final = ", ".join(CARD_STATE_COLUMNS)
_STATE_ASSIGNMENTS: Final = ", ".join(f"{c} = :{c}" for c in CARD_STATE_COLUMNS if c != "id")
_CARD_COLUMNS: Final = (
    "c.id, c.nid, c.did, n.flds, c.ord, c.type, c.queue, c.due, c.ivl, c.factor,"
    " c.reps, c.lapses, c.flags, max(c.mod, n.mod)"
)


def card_view(conn: sqlite3.Connection, decks: DeckIndex, card_id: int) -> CardView:
    """Card `card_id` as a learner sees it (its note's sides, its deck's name), with the
    decks of an operation already at hand; CardNotFound if there is no such card."""
    row = conn.execute(
        f"select {_CARD_COLUMNS} from cards c join notes n on n.id = c.nid where c.id = ?",
        (card_id,),
    ).fetchone()
    if row is None:
        raise CardNotFound(card_id)
    cid, nid, did, flds, *numbers, modified = row
    deck = decks.by_id.get(int(did))
    front, back = _split(str(flds))
    ord_, type_, queue, due, ivl, factor, reps, lapses, flags = (int(x) for x in numbers)
    return CardView(
        card_id=int(cid),
        note_id=int(nid),
        deck_id=int(did),
        deck_name=None if deck is None else str(deck["name"]),
        front=front,
        back=back,
        ord=ord_,
        type=type_,
        queue=queue,
        due=due,
        ivl=ivl,
        factor=factor,
        reps=reps,
        lapses=lapses,
        flags=flags,
        modified=int(modified),
    )


def card_state(conn: sqlite3.Connection, card_id: int) -> CardState:
    """The scheduling columns of card `card_id`; CardNotFound if there is no such card."""
    row = conn.execute(f"select {_STATE_COLUMNS} from cards where id = ?", (card_id,)).fetchone()
    if row is None:
        raise CardNotFound(card_id)
    return CardState.from_row(dict(zip(CARD_STATE_COLUMNS, row, strict=True)))


def review_history(conn: sqlite3.Connection, card_id: int) -> tuple[ReviewEntry, ...]:
    """The card's review log, oldest first, as FSRS reads it."""
    rows = conn.execute(
        "select id, ease, ivl, factor, type from revlog where cid = ? order by id", (card_id,)
    ).fetchall()
    return tuple(ReviewEntry(*row) for row in rows)


def write_card_state(conn: sqlite3.Connection, card: CardState) -> None:
    """Write every scheduling column of `card` to its row (e.g. after an answer)."""
    conn.execute(f"update cards set {_STATE_ASSIGNMENTS} where id = :id", card.as_row())


def get_card(conn: sqlite3.Connection, card_id: int) -> CardView:
    return card_view(conn, DeckIndex(Col(conn)), card_id)


def get_card_and_face(conn: sqlite3.Connection, card_id: int) -> tuple[CardView, CardFace]:
    """Card `card_id` and the card rendered from its note type, in one read."""
    col = Col(conn)
    decks = DeckIndex(col)
    return card_view(conn, decks, card_id), card_face(conn, col, decks, card_id)


def list_deck_cards(
    conn: sqlite3.Connection, deck_id: int, page: int = 1, per_page: int = 10
) -> CardPage:
    """One page of the cards in a deck and its subdecks (as Anki's `deck:name` search
    finds them), oldest first (by card id). Pages count from 1; a page past the end is
    empty; `page` and `per_page` below 1 are treated as 1."""
    decks = DeckIndex(Col(conn))
    deck = decks.get(deck_id)
    ids = decks.subtree(deck_id)
    page, per_page = max(1, page), max(1, per_page)
    where = f"c.did in ({','.join('?' * len(ids))})"
    (total,) = conn.execute(f"select count() from cards c where {where}", ids).fetchone()
    rows = conn.execute(
        f"select c.id, c.nid, n.flds, max(c.mod, n.mod), n.mid, n.tags, c.ord, c.did, c.odid"
        f" from cards c join notes n on n.id = c.nid where {where} order by c.id limit ? offset ?",
        (*ids, per_page, (page - 1) * per_page),
    ).fetchall()
    col = decks.col
    cards = tuple(
        CardSummary(
            int(cid),
            int(nid),
            *_split(str(flds)),
            int(modified),
            question_text(
                face_of(*face_inputs(col, decks, mid, flds, tags, o, did, odid)).rendered
            ),
        )
        for cid, nid, flds, modified, mid, tags, o, did, odid in rows
    )
    return CardPage(
        deck_id=deck_id,
        deck_name=str(deck["name"]),
        cards=cards,
        total=int(total),
        page=page,
        per_page=per_page,
        total_pages=math.ceil(total / per_page),
    )


# --- writing -------------------------------------------------------------------------


def add_card(
    conn: sqlite3.Connection, front: str, back: str, deck_id: int | None = None, *, now: float
) -> AddedCard:
    """Add a Basic note and its one card, new, at the end of the new queue.

    `deck_id` None means the current deck (or the default deck if the current deck is a
    filtered one); an explicit filtered deck is refused, as in Anki.
    """
    validate_fields(front, back)
    col = Col(conn)
    decks = DeckIndex(col)
    if deck_id is None:
        deck_id = current_deck_id(col, decks)
        if decks.get(deck_id).get("dyn"):
            deck_id = DEFAULT_DECK_ID
    deck = decks.get(deck_id)
    if deck.get("dyn"):
        raise FilteredDeck(
            f"{deck['name']!r} is a filtered deck; cards can only be added to regular decks."
        )
    model = _basic_model(col)
    fields = [front, back] + [""] * (len(model["flds"]) - 2)
    note_id = insert_note(conn, col, model, fields, [], now=now)
    position = position_in_deck(col, deck, take_new_positions(col))
    ordinals = card_ordinals(model, fields) or [0]
    card_ids = [
        insert_new_card(conn, note_id, o, deck_id, position, usn=col.usn, now=now) for o in ordinals
    ]
    col.save(now=now)
    return AddedCard(card_ids[0], note_id)


def update_card(
    conn: sqlite3.Connection, card_id: int, front: str, back: str, *, now: float
) -> CardView:
    """Replace the front and back of a card's note (other fields of the note are kept).

    Writes nothing if both are unchanged, as Anki does.
    """
    validate_fields(front, back)
    col = Col(conn)
    decks = DeckIndex(col)
    row = conn.execute(
        "select n.id, n.mid, n.flds from cards c join notes n on n.id = c.nid where c.id = ?",
        (card_id,),
    ).fetchone()
    if row is None:
        raise CardNotFound(card_id)
    note_id, model_id, flds = int(row[0]), int(row[1]), str(row[2])
    fields = split_fields(flds)
    if len(fields) < 2 and back:
        raise InvalidField("back", "This card's note type has no field for a back.")
    fields[0] = front
    if len(fields) > 1:
        fields[1] = back
    if fields != split_fields(flds):
        model = col.models.get(str(model_id)) or {}
        if model:
            write_note_fields(conn, col, note_id, model, fields, now=now)
            col.save(now=now)
        else:  # a note whose type is missing: store the fields, generate nothing
            sort_field, checksum = sort_field_and_checksum(fields, 0)
            conn.execute(
                "update notes set flds = ?, sfld = ?, csum = ?, mod = ?, usn = ? where id = ?",
                (join_fields(fields), sort_field, checksum, int(now), col.usn, note_id),
            )
            mark_modified(conn, now=now)
        conn.execute("update cards set mod = ?, usn = ? where id = ?", (int(now), col.usn, card_id))
    return card_view(conn, decks, card_id)


def delete_card(conn: sqlite3.Connection, card_id: int, *, now: float) -> None:
    """Delete a card, and its note if no other card is left; graves for both, as Anki."""
    row = conn.execute("select nid from cards where id = ?", (card_id,)).fetchone()
    if row is None:
        raise CardNotFound(card_id)
    note_id = int(row[0])
    conn.execute("delete from cards where id = ?", (card_id,))
    usn = server_usn(conn)
    graves = [(usn, card_id, GraveKind.CARD)]
    if conn.execute("select 1 from cards where nid = ? limit 1", (note_id,)).fetchone() is None:
        conn.execute("delete from notes where id = ?", (note_id,))
        graves.append((usn, note_id, GraveKind.NOTE))
    conn.executemany("insert into graves (usn, oid, type) values (?, ?, ?)", graves)
    mark_modified(conn, now=now)
