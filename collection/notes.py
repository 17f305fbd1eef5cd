"""Notes of any note type, and the cards Anki generates for them.

Adding a note makes exactly the cards Anki would make (one per template whose question
shows a non-empty field; one per cloze number), all at one new-card position. Editing
a note adds the cards that newly have something to show, in the deck of the note's
other cards, and never deletes one (Anki leaves such cards for "Empty Cards").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from collection.col import Col, mark_modified, server_usn
from collection.decks import DeckIndex, current_deck_id
from collection.enums import CardQueue, CardType, GraveKind
from collection.errors import (
    FilteredDeck,
    InvalidField,
    NoCardsWouldBeMade,
    NoteNotFound,
    NoteTypeNotFound,
)
from collection.fields import (
    check_field_value,
    join_fields,
    sort_field_and_checksum,
    split_fields,
)
from collection.ids import guid64, next_row_id
from collection.positions import position_in_deck
from collection.render import card_ordinals, missing_card_reason
from collection.schema import DEFAULT_DECK_ID

_U32_RANGE: Final = 2**32  # Anki keeps `nextPos` as a u32
MAX_TAGS_CHARS: Final = 10_000


@dataclass(frozen=True, slots=True)
class NoteView:
    note_id: int
    notetype_id: int
    notetype_name: str
    fields: dict[str, str]  # in the note type's order
    tags: list[str]
    card_ids: list[int]
    modified: int


# --- note types ----------------------------------------------------------------------


def notetype_of(col: Col, notetype_id: int) -> dict[str, Any]:
    """The note type `notetype_id` of the collection; NoteTypeNotFound if there is none."""
    model = col.models.get(str(notetype_id))
    if not isinstance(model, dict):
        raise NoteTypeNotFound(notetype_id)
    return model


def field_names(notetype: Mapping[str, Any]) -> list[str]:
    """The note type's field names, in field order."""
    fields = sorted(notetype.get("flds") or [], key=lambda f: int(f.get("ord", 0)))
    return [str(f.get("name", "")) for f in fields]


# --- positions and tags --------------------------------------------------------------


def take_new_positions(col: Col, count: int = 1) -> int:
    """The first of `count` new-card positions, taken from `nextPos`, which moves on by
    `count` (nothing is written for 0).

    As in Anki (`get_and_update_next_card_position`), a `nextPos` that is not a whole
    number from 0 to 2**32 - 1 (a float, a string, a negative number, a boolean) reads
    as 0, and the stored value wraps around at 2**32.
    """
    stored = col.conf.get("nextPos")
    position = stored if type(stored) is int and 0 <= stored < _U32_RANGE else 0
    if count:
        col.conf["nextPos"] = (position + count) % _U32_RANGE
        col.mark_changed("conf")
    return position


def canonical_tags(col: Col, tags: Iterable[str]) -> list[str]:
    """Tags as Anki stores them on a note: split on whitespace, one of each regardless
    of case (a tag already registered keeps its registered case), sorted ignoring case;
    new ones are registered in the collection's tag list."""
    registry = col.tags
    registered = {name.casefold(): name for name in registry}
    chosen: dict[str, str] = {}
    for raw in tags:
        if not isinstance(raw, str):
            raise InvalidField("tags", "Tags must be text.")
        for tag in raw.split():
            key = tag.casefold()
            if key not in chosen:
                chosen[key] = registered.get(key, tag)
    for tag in chosen.values():
        if tag not in registry:
            registry[tag] = col.usn
            col.mark_changed("tags")
    result = sorted(chosen.values(), key=str.casefold)
    if len(" ".join(result)) > MAX_TAGS_CHARS:
        raise InvalidField("tags", f"The tags are longer than {MAX_TAGS_CHARS} characters.")
    return result


def _tags_column(tags: list[str]) -> str:
    return f" {' '.join(tags)} " if tags else ""


# --- reading -------------------------------------------------------------------------


def get_note(conn: sqlite3.Connection, note_id: int) -> NoteView:
    return _note_view(conn, Col(conn), note_id)


def _note_view(conn: sqlite3.Connection, col: Col, note_id: int) -> NoteView:
    row = conn.execute("select mid, flds, tags, mod from notes where id = ?", (note_id,)).fetchone()
    if row is None:
        raise NoteNotFound(note_id)
    mid, flds, tags, mod = int(row[0]), str(row[1]), str(row[2]), int(row[3])
    model = col.models.get(str(mid))
    names = field_names(model) if isinstance(model, dict) else []
    values = split_fields(flds)
    names += [f"Field {i + 1}" for i in range(len(names), len(values))]
    card_ids = [
        int(cid)
        for (cid,) in conn.execute(
            "select id from cards where nid = ? order by ord, id", (note_id,)
        )
    ]
    return NoteView(
        note_id=note_id,
        notetype_id=mid,
        notetype_name=str(model.get("name", "")) if isinstance(model, dict) else "",
        fields=dict(zip(names, values + [""] * (len(names) - len(values)), strict=True)),
        tags=tags.split(),
        card_ids=card_ids,
        modified=mod,
    )


# --- writing -------------------------------------------------------------------------


def _checked_values(notetype: Mapping[str, Any], given: Mapping[str, str]) -> dict[int, str]:
    """Field index -> value for each field in `given`, all checked before any write."""
    names = field_names(notetype)
    index = {name: i for i, name in enumerate(names)}
    values: dict[int, str] = {}
    for name, value in given.items():
        if name not in index:
            raise InvalidField(
                name,
                f"The note type {notetype.get('name')!r} has no field named {name!r};"
                f" its fields are {', '.join(repr(n) for n in names)}.",
            )
        check_field_value(name, value)
        values[index[name]] = value
    return values


def _template_deck(decks: DeckIndex, notetype: Mapping[str, Any], ord_: int) -> int | None:
    """The deck a standard note type's template sends its new cards to, if it names one
    that exists and is not filtered (Anki's "deck override")."""
    if int(notetype.get("type", 0)) != 0:
        return None
    templates = notetype.get("tmpls") or []
    if not 0 <= ord_ < len(templates):
        return None
    target = templates[ord_].get("did")
    if not isinstance(target, int) or target not in decks.by_id:
        return None
    return None if decks.by_id[target].get("dyn") else target


def _regular_deck(decks: DeckIndex, deck_id: int) -> int:
    deck = decks.get(deck_id)
    if deck.get("dyn"):
        raise FilteredDeck(
            f"{deck['name']!r} is a filtered deck; cards can only be added to regular decks."
        )
    return deck_id


def add_note(
    conn: sqlite3.Connection,
    notetype_id: int,
    fields: Mapping[str, str],
    *,
    deck_id: int | None = None,
    tags: Iterable[str] = (),
    now: float,
) -> NoteView:
    """Add a note of note type `notetype_id` and the cards Anki generates for it.

    Fields not given are empty. `deck_id` None means the current deck (or the default
    deck if that is filtered). NoCardsWouldBeMade (with the reason) if no card would
    show anything.
    """
    col = Col(conn)
    notetype = notetype_of(col, notetype_id)
    decks = DeckIndex(col)
    values = _checked_values(notetype, fields)
    note_fields = [values.get(i, "") for i in range(len(field_names(notetype)))]
    ordinals = card_ordinals(notetype, note_fields)
    if not ordinals:
        raise NoCardsWouldBeMade(missing_card_reason(notetype, note_fields))
    if deck_id is None:
        deck_id = current_deck_id(col, decks)
        if decks.get(deck_id).get("dyn"):
            deck_id = DEFAULT_DECK_ID
    deck_id = _regular_deck(decks, deck_id)
    note_tags = canonical_tags(col, tags)
    note_id = insert_note(conn, col, notetype, note_fields, note_tags, now=now)
    position = take_new_positions(col)
    for ord_ in ordinals:
        target = _template_deck(decks, notetype, ord_) or deck_id
        due = position_in_deck(col, decks.by_id[target], position)
        insert_new_card(conn, note_id, ord_, target, due, usn=col.usn, now=now)
    col.save(now=now)
    mark_modified(conn, now=now)
    return _note_view(conn, col, note_id)


def insert_note(
    conn: sqlite3.Connection,
    col: Col,
    notetype: Mapping[str, Any],
    fields: list[str],
    tags: list[str],
    *,
    now: float,
) -> int:
    """Insert a note row (new guid, Anki's `sfld` and `csum`); returns its id."""
    sort_field, checksum = sort_field_and_checksum(fields, int(notetype.get("sortf", 0)))
    note_id = next_row_id(conn, "notes", now)
    conn.execute(
        "insert into notes (id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '')",
        (
            note_id,
            guid64(),
            int(notetype["id"]),
            int(now),
            col.usn,
            _tags_column(tags),
            join_fields(fields),
            sort_field,
            checksum,
        ),
    )
    return note_id


def insert_new_card(
    conn: sqlite3.Connection,
    note_id: int,
    ord_: int,
    deck_id: int,
    position: int,
    *,
    usn: int,
    now: float,
) -> int:
    """Insert a new card of note `note_id` at new-card `position`, stamped with `usn`
    (the collection's, `Col.usn`); returns its id."""
    card_id = next_row_id(conn, "cards", now)
    conn.execute(
        "insert into cards (id, nid, did, ord, mod, usn, type, queue, due, ivl, factor,"
        " reps, lapses, left, odue, odid, flags, data)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, '')",
        (
            card_id,
            note_id,
            deck_id,
            ord_,
            int(now),
            usn,
            CardType.NEW,
            CardQueue.NEW,
            position,
        ),
    )
    return card_id


def update_note(
    conn: sqlite3.Connection,
    note_id: int,
    *,
    fields: Mapping[str, str] | None = None,
    tags: Iterable[str] | None = None,
    now: float,
) -> NoteView:
    """Change some fields (by name) and/or replace the tags of a note; then add the cards
    that now have something to show. Writes nothing if nothing changes, as Anki."""
    col = Col(conn)
    row = conn.execute("select mid, flds, tags from notes where id = ?", (note_id,)).fetchone()
    if row is None:
        raise NoteNotFound(note_id)
    notetype = notetype_of(col, int(row[0]))
    values = _checked_values(notetype, fields or {})
    current = split_fields(str(row[1]))
    wanted = current + [""] * (len(field_names(notetype)) - len(current))
    for index, value in values.items():
        wanted[index] = value
    new_tags = None if tags is None else _tags_column(canonical_tags(col, tags))
    changed = wanted != current or (new_tags is not None and new_tags != str(row[2]))
    if changed:
        write_note_fields(conn, col, note_id, notetype, wanted, tags=new_tags, now=now)
    col.save(now=now)
    return _note_view(conn, col, note_id)


def write_note_fields(
    conn: sqlite3.Connection,
    col: Col,
    note_id: int,
    notetype: Mapping[str, Any],
    fields: list[str],
    *,
    tags: str | None = None,
    now: float,
) -> list[int]:
    """Store a note's new fields (and tags), stamp it, and generate its missing cards;
    returns the ids of the cards added."""
    sort_field, checksum = sort_field_and_checksum(fields, int(notetype.get("sortf", 0)))
    mod = int(now)
    conn.execute(
        "update notes set flds = ?, sfld = ?, csum = ?, mod = ?, usn = ?,"
        " tags = coalesce(?, tags) where id = ?",
        (join_fields(fields), sort_field, checksum, mod, col.usn, tags, note_id),
    )
    added = _add_missing_cards(conn, col, note_id, notetype, fields, now=now)
    mark_modified(conn, now=now)
    return added


def _add_missing_cards(
    conn: sqlite3.Connection,
    col: Col,
    note_id: int,
    notetype: Mapping[str, Any],
    fields: list[str],
    *,
    now: float,
) -> list[int]:
    """Cards for the ordinals the fields now generate that the note lacks: in the deck
    of its first card (its home deck if lent to a filtered one), at the position of a
    new card it has, else at the next new position, as Anki's card generation does."""
    existing = conn.execute(
        "select ord, did, odid, type, case when odid != 0 then odue else due end from cards"
        " where nid = ? order by ord, id",
        (note_id,),
    ).fetchall()
    have = {int(r[0]) for r in existing}
    missing = [o for o in card_ordinals(dict(notetype), fields) if o not in have]
    if not missing:
        return []
    decks = DeckIndex(col)
    home = DEFAULT_DECK_ID
    if existing:
        did, odid = int(existing[0][1]), int(existing[0][2])
        home = odid or did
    if home not in decks.by_id or decks.by_id[home].get("dyn"):
        home = DEFAULT_DECK_ID
    new_due = next((int(r[4]) for r in existing if int(r[3]) == CardType.NEW), None)
    position = take_new_positions(col) if new_due is None else new_due
    added: list[int] = []
    for o in missing:
        target = _template_deck(decks, notetype, o) or home
        due = (
            new_due if new_due is not None else position_in_deck(col, decks.by_id[target], position)
        )
        added.append(insert_new_card(conn, note_id, o, target, due, usn=col.usn, now=now))
    return added


def delete_note(conn: sqlite3.Connection, note_id: int, *, now: float) -> None:
    """Delete a note and all its cards, leaving graves as Anki does (media stay)."""
    if conn.execute("select 1 from notes where id = ?", (note_id,)).fetchone() is None:
        raise NoteNotFound(note_id)
    card_ids = [int(c) for (c,) in conn.execute("select id from cards where nid = ?", (note_id,))]
    conn.execute("delete from cards where nid = ?", (note_id,))
    conn.execute("delete from notes where id = ?", (note_id,))
    usn = server_usn(conn)
    graves = [(usn, cid, GraveKind.CARD) for cid in card_ids]
    graves.append((usn, note_id, GraveKind.NOTE))
    conn.executemany("insert into graves (usn, oid, type) values (?, ?, ?)", graves)
    mark_modified(conn, now=now)
