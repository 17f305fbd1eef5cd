"""Decks, kept the schema-11 way: one JSON object per deck in `col.decks`.

Names are human names with `::` between levels ("Spanish::Verbs"); a deck's parents
always exist, and names are unique ignoring case (Anki compares them with Unicode
case folding). The rules follow Anki's rslib/src/decks: names are NFC-normalised,
each component is trimmed of whitespace and ':', parents are created as needed (taking
the options group of the closest existing parent), and a deck whose parent already
exists takes that parent's spelling. Where Anki silently repairs a name ("blank"
components, a "+" suffix on duplicates, control characters dropped), we refuse it.

Read functions never write; write functions validate everything before their first
write, so an exception leaves the database as it was even without a rollback.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from collection.col import Col, server_usn
from collection.enums import GraveKind
from collection.errors import (
    DeckNotFound,
    DefaultDeckProtected,
    DuplicateDeck,
    FilteredDeck,
    InvalidDeckName,
    MalformedCollection,
)
from collection.ids import next_id
from collection.scheduler.card import restored_queue
from collection.scheduler.fsrs_states import FsrsConfig
from collection.scheduler.options import DeckOptions
from collection.schema import DEFAULT_DCONF_ID, DEFAULT_DECK_ID, new_deck

SEPARATOR: Final = "::"


@dataclass(frozen=True, slots=True)
class Deck:
    id: int
    name: str
    card_count: int  # cards in this deck and all its subdecks (like Anki's `deck:name`)
    filtered: bool = False


# --- names ---------------------------------------------------------------------------


def _trim_component(component: str) -> str:
    # Rust's `trim_matches(|c| c.is_whitespace() || c == ':')`.
    start, end = 0, len(component)
    while start < end and (component[start].isspace() or component[start] == ":"):
        start += 1
    while end > start and (component[end - 1].isspace() or component[end - 1] == ":"):
        end -= 1
    return component[start:end]


def normalize_deck_name(name: str) -> str:
    """The canonical form of a deck name typed by a person, or InvalidDeckName."""
    if not isinstance(name, str):
        raise InvalidDeckName("A deck name must be text.")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise InvalidDeckName("The deck name is not valid Unicode text.")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidDeckName(
            "Deck names cannot contain control characters such as tabs or line breaks."
        )
    components = [_trim_component(c) for c in unicodedata.normalize("NFC", name).split(SEPARATOR)]
    if not any(components):
        raise InvalidDeckName("The deck name is empty.")
    if not all(components):
        raise InvalidDeckName(
            f"{name.strip()!r} has an empty level: every part between '::' needs a name."
        )
    return SEPARATOR.join(components)


def name_key(name: str) -> tuple[str, ...]:
    """What deck names are compared by: their components, NFC and case-folded."""
    return tuple(unicodedata.normalize("NFC", name).casefold().split(SEPARATOR))


def _is_under(key: tuple[str, ...], ancestor: tuple[str, ...]) -> bool:
    return len(key) > len(ancestor) and key[: len(ancestor)] == ancestor


# --- the decks JSON --------------------------------------------------------------------


class _Placement(NamedTuple):
    name: str  # spelt like its existing parents
    parent_id: int | None  # the closest existing parent
    conf_id: int  # that parent's options group, or the default one
    missing: list[str]  # parents to create, innermost first (Anki's order)


class DeckIndex:
    """The decks of one `Col`, indexed by id and by name key (for this package's use)."""

    def __init__(self, col: Col) -> None:
        self.col = col
        self.by_id: dict[int, dict[str, Any]] = {}
        self.by_key: dict[tuple[str, ...], int] = {}
        for key, deck in col.decks.items():
            if not (key.isdigit() and isinstance(deck, dict) and isinstance(deck.get("name"), str)):
                raise MalformedCollection(f"col.decks holds a malformed deck under {key!r}.")
            self._index(int(key), deck)

    def _index(self, deck_id: int, deck: dict[str, Any]) -> None:
        self.by_id[deck_id] = deck
        self.by_key[name_key(deck["name"])] = deck_id

    def get(self, deck_id: int) -> dict[str, Any]:
        deck = self.by_id.get(deck_id)
        if deck is None:
            raise DeckNotFound(deck_id)
        return deck

    def find(self, name: str) -> int | None:
        return self.by_key.get(name_key(name))

    def descendants(self, deck_id: int) -> list[int]:
        """Ids of every deck below `deck_id`, sorted by name."""
        key = name_key(self.get(deck_id)["name"])
        return sorted(
            (i for k, i in self.by_key.items() if _is_under(k, key)),
            key=lambda i: name_key(self.by_id[i]["name"]),
        )

    def subtree(self, deck_id: int) -> list[int]:
        return [deck_id, *self.descendants(deck_id)]

    def first_existing_parent(self, name: str) -> int | None:
        components = name.split(SEPARATOR)
        for depth in range(len(components) - 1, 0, -1):
            found = self.find(SEPARATOR.join(components[:depth]))
            if found is not None:
                return found
        return None

    def add(self, name: str, conf_id: int, *, now: float) -> int:
        deck_id = next_id(self.by_id, now)
        deck = new_deck(deck_id, name, int(now))
        deck["usn"] = self.col.usn
        deck["conf"] = conf_id
        self.col.decks[str(deck_id)] = deck
        self._index(deck_id, deck)
        self.col.mark_changed("decks")
        return deck_id

    def rename(self, renames: dict[int, str], *, now: float) -> None:
        for deck_id in renames:
            self.by_key.pop(name_key(self.by_id[deck_id]["name"]), None)
        for deck_id, name in renames.items():
            deck = self.by_id[deck_id]
            deck.update(name=name, mod=int(now), usn=self.col.usn)
            self.by_key[name_key(name)] = deck_id
        self.col.mark_changed("decks")

    def remove(self, deck_ids: Iterable[int]) -> None:
        for deck_id in deck_ids:
            deck = self.by_id.pop(deck_id)
            self.by_key.pop(name_key(deck["name"]), None)
            del self.col.decks[str(deck_id)]
        self.col.mark_changed("decks")

    def place(self, name: str) -> _Placement:
        """Where a deck named `name` goes, following Anki's `match_or_create_parents`."""
        components = name.split(SEPARATOR)
        parent_id = self.first_existing_parent(name)
        conf_id, depth = DEFAULT_DCONF_ID, 0
        if parent_id is not None:
            parent = self.by_id[parent_id]
            if parent.get("dyn"):
                raise FilteredDeck(
                    f"{parent['name']!r} is a filtered deck, so it cannot contain other decks."
                )
            parent_components = str(parent["name"]).split(SEPARATOR)
            depth = len(parent_components)
            components[:depth] = parent_components
            conf_id = int(parent.get("conf", DEFAULT_DCONF_ID))
        missing = [SEPARATOR.join(components[:d]) for d in range(len(components) - 1, depth, -1)]
        return _Placement(SEPARATOR.join(components), parent_id, conf_id, missing)

    def view(self, deck_id: int, counts: dict[int, int]) -> Deck:
        deck = self.get(deck_id)
        total = sum(counts.get(i, 0) for i in self.subtree(deck_id))
        return Deck(deck_id, str(deck["name"]), total, bool(deck.get("dyn")))


def _card_counts(conn: sqlite3.Connection, deck_ids: list[int] | None = None) -> dict[int, int]:
    if deck_ids is None:
        rows = conn.execute("select did, count() from cards group by did")
    else:
        marks = ",".join("?" * len(deck_ids))
        rows = conn.execute(
            f"select did, count() from cards where did in ({marks}) group by did", deck_ids
        )
    return {int(did): int(n) for did, n in rows}


# --- reading -------------------------------------------------------------------------


def list_decks(conn: sqlite3.Connection) -> list[Deck]:
    """Every deck, parents before their children, sorted by name like Anki's deck list."""
    decks = DeckIndex(Col(conn))
    counts = _card_counts(conn)
    totals = dict.fromkeys(decks.by_id, 0)
    for deck_id in decks.by_id:
        direct = counts.get(deck_id, 0)
        components = name_key(decks.by_id[deck_id]["name"])
        for depth in range(1, len(components) + 1):
            holder = decks.by_key.get(components[:depth])
            if holder is not None:
                totals[holder] += direct
    ordered = sorted(decks.by_id, key=lambda i: name_key(decks.by_id[i]["name"]))
    return [
        Deck(i, str(decks.by_id[i]["name"]), totals[i], bool(decks.by_id[i].get("dyn")))
        for i in ordered
    ]


def get_deck(conn: sqlite3.Connection, deck_id: int) -> Deck:
    decks = DeckIndex(Col(conn))
    return decks.view(deck_id, _card_counts(conn, decks.subtree(deck_id)))


def get_current_deck(conn: sqlite3.Connection) -> Deck:
    """The selected deck (`curDeck`), or the default deck if that one no longer exists."""
    col = Col(conn)
    decks = DeckIndex(col)
    deck_id = current_deck_id(col, decks)
    return decks.view(deck_id, _card_counts(conn, decks.subtree(deck_id)))


def deck_preset(col: Col, deck: dict[str, Any]) -> dict[str, Any]:
    """The options group (`dconf` entry) of `deck`, or the default group's if that one
    is missing."""
    dconf = col.dconf.get(str(deck.get("conf", DEFAULT_DCONF_ID)))
    if not isinstance(dconf, dict):
        dconf = col.dconf.get(str(DEFAULT_DCONF_ID), {})
    return dconf if isinstance(dconf, dict) else {}


def deck_options(col: Col, deck: dict[str, Any]) -> DeckOptions:
    """The scheduling options of `deck`: its options group's, or the default group's if
    that one is missing."""
    return DeckOptions.from_dconf(deck_preset(col, deck))


def deck_fsrs(col: Col, deck: dict[str, Any]) -> FsrsConfig | None:
    """What FSRS schedules `deck`'s cards with, or None while the collection uses SM-2
    (`col.conf["fsrs"]`, the collection-wide switch)."""
    if col.conf.get("fsrs") is not True:
        return None
    return FsrsConfig.from_dconf(
        deck_preset(col, deck),
        short_term_with_steps=col.conf.get("fsrsShortTermWithStepsEnabled") is True,
    )


def current_deck_id(col: Col, decks: DeckIndex) -> int:
    try:
        current = int(col.conf.get("curDeck", DEFAULT_DECK_ID))
    except (TypeError, ValueError):
        current = DEFAULT_DECK_ID
    return current if current in decks.by_id else DEFAULT_DECK_ID


# --- writing -------------------------------------------------------------------------


def create_deck(conn: sqlite3.Connection, name: str, *, now: float) -> Deck:
    """Add a deck (and any missing parents of `A::B::C`); DuplicateDeck if it exists."""
    col = Col(conn)
    decks = DeckIndex(col)
    name = normalize_deck_name(name)
    existing = decks.find(name)
    if existing is not None:
        raise DuplicateDeck(decks.by_id[existing]["name"])
    place = decks.place(name)
    for parent in place.missing:
        decks.add(parent, place.conf_id, now=now)
    deck_id = decks.add(place.name, place.conf_id, now=now)
    col.save(now=now)
    return Deck(deck_id, place.name, 0)


def rename_deck(conn: sqlite3.Connection, deck_id: int, new_name: str, *, now: float) -> Deck:
    """Rename a deck and, with it, its subdecks (`Old::Child` becomes `New::Child`)."""
    col = Col(conn)
    decks = DeckIndex(col)
    deck = decks.get(deck_id)
    new_name = normalize_deck_name(new_name)
    old_name = str(deck["name"])
    old_key = name_key(old_name)
    if new_name != old_name:
        if _is_under(name_key(new_name), old_key):
            raise InvalidDeckName(f"{old_name!r} cannot be moved inside itself.")
        existing = decks.find(new_name)
        if existing is not None and existing != deck_id:
            raise DuplicateDeck(decks.by_id[existing]["name"])
        place = decks.place(new_name)
        if place.name != old_name:
            _move(decks, deck_id, place, now=now)
            col.save(now=now)
    return decks.view(deck_id, _card_counts(conn, decks.subtree(deck_id)))


def _move(decks: DeckIndex, deck_id: int, place: _Placement, *, now: float) -> None:
    """Rename a deck and its subdecks to `place`; DuplicateDeck before any change."""
    deck = decks.by_id[deck_id]
    depth = len(name_key(deck["name"]))
    renames = {deck_id: place.name}
    moving = set(decks.subtree(deck_id))
    for child_id in decks.descendants(deck_id):
        tail = str(decks.by_id[child_id]["name"]).split(SEPARATOR)[depth:]
        child_name = SEPARATOR.join([place.name, *tail])
        clash = decks.find(child_name)
        if clash is not None and clash not in moving:
            raise DuplicateDeck(decks.by_id[clash]["name"])
        renames[child_id] = child_name
    decks.rename(renames, now=now)
    if place.parent_id is not None and not deck.get("dyn"):
        # As in Anki, a deck renamed under an existing parent takes its options group.
        deck["conf"] = place.conf_id
    for parent in place.missing:
        decks.add(parent, place.conf_id, now=now)


def delete_deck(conn: sqlite3.Connection, deck_id: int, *, now: float) -> int:
    """Delete a deck, its subdecks and their cards; notes left without cards go too.

    Cards whose home deck is deleted go even if they sit in a filtered deck elsewhere
    (as Anki's Python code did); cards in a deleted filtered deck return home first.
    Graves are written for every card, note and deck, as Anki does for sync. Returns
    the number of cards deleted.
    """
    col = Col(conn)
    decks = DeckIndex(col)
    doomed = _deletable_subtree(decks, deck_id)
    filtered = [i for i in doomed if decks.by_id[i].get("dyn")]
    if filtered:
        _return_filtered_cards_home(conn, filtered, doomed, now=now)
    deleted = _delete_cards_and_notes(conn, doomed, usn=col.usn)
    conn.executemany(
        "insert into graves (usn, oid, type) values (?, ?, ?)",
        [(col.usn, i, GraveKind.DECK) for i in doomed],
    )
    decks.remove(doomed)
    _forget_deleted_decks(col, decks, doomed)
    col.save(now=now)
    return deleted


def _deletable_subtree(decks: DeckIndex, deck_id: int) -> list[int]:
    """The deck and its subdecks; DeckNotFound, or DefaultDeckProtected if the default
    deck is among them."""
    decks.get(deck_id)
    if deck_id == DEFAULT_DECK_ID:
        raise DefaultDeckProtected()
    doomed = decks.subtree(deck_id)
    if DEFAULT_DECK_ID in doomed:
        raise DefaultDeckProtected(
            "This deck contains the default deck, which cannot be deleted; "
            "move the default deck out first."
        )
    return doomed


def _delete_cards_and_notes(conn: sqlite3.Connection, doomed: list[int], *, usn: int) -> int:
    """Delete the cards whose deck or home deck is doomed, and the notes left without
    cards, with a grave (at `usn`) for each; the number of cards deleted."""
    marks = ",".join("?" * len(doomed))
    doomed_cards = f"(did in ({marks}) or odid in ({marks}))"
    params = (*doomed, *doomed)
    # Notes whose every card is doomed; found before the cards are gone.
    orphans = (
        f"id in (select nid from cards where {doomed_cards}) and not exists"
        f" (select 1 from cards c where c.nid = notes.id and not"
        f" (c.did in ({marks}) or c.odid in ({marks})))"
    )
    conn.execute(
        f"insert into graves (usn, oid, type) select ?, id, ? from notes where {orphans}",
        (usn, GraveKind.NOTE, *params, *params),
    )
    conn.execute(f"delete from notes where {orphans}", (*params, *params))
    conn.execute(
        f"insert into graves (usn, oid, type) select ?, id, ? from cards where {doomed_cards}",
        (usn, GraveKind.CARD, *params),
    )
    return int(conn.execute(f"delete from cards where {doomed_cards}", params).rowcount)


def _forget_deleted_decks(col: Col, decks: DeckIndex, doomed: list[int]) -> None:
    """Drop deleted decks from the collection config: the current deck (the default
    deck instead), the active decks, and per-deck settings."""
    conf = col.conf
    gone = set(doomed)
    if conf.get("curDeck") in gone:
        _select(col, decks, DEFAULT_DECK_ID)
    elif any(i in gone for i in conf.get("activeDecks", [])):
        conf["activeDecks"] = [i for i in conf["activeDecks"] if i not in gone]
        col.mark_changed("conf")
    # Per-deck settings Anki keeps in the collection config, e.g. `_deck_<id>_lastNotetype`.
    prefixes = tuple(f"_deck_{i}_" for i in doomed)
    stale = [key for key in conf if key.startswith(prefixes)]
    for key in stale:
        del conf[key]
    if stale:
        col.mark_changed("conf")


def _return_filtered_cards_home(
    conn: sqlite3.Connection, filtered: list[int], doomed: list[int], *, now: float
) -> None:
    """Anki's `remove_from_filtered_deck_restoring_queue` (v2/v3) for cards whose home
    deck survives: back to `odid`, `due` restored from `odue`, queue from the type."""
    f_marks = ",".join("?" * len(filtered))
    d_marks = ",".join("?" * len(doomed))
    rows = conn.execute(
        f"select id, odid, type, queue, due, odue from cards"
        f" where did in ({f_marks}) and odid != 0 and odid not in ({d_marks})",
        (*filtered, *doomed),
    ).fetchall()
    homecomings = []
    usn = server_usn(conn)
    for card_id, home, card_type, queue, due, odue in rows:
        due = odue if odue > 0 else due
        if queue >= 0:
            queue = restored_queue(card_type, due)
        homecomings.append((home, due, queue, int(now), usn, card_id))
    conn.executemany(
        "update cards set did = ?, odid = 0, due = ?, queue = ?, odue = 0, mod = ?, usn = ?"
        " where id = ?",
        homecomings,
    )


def return_cards_home(conn: sqlite3.Connection, filtered: list[int], *, now: float) -> None:
    """Send every card in the filtered decks `filtered` back to its home deck, as
    emptying them would (public for the package exporter)."""
    _return_filtered_cards_home(conn, filtered, [], now=now)


def set_current_deck(conn: sqlite3.Connection, deck_id: int, *, now: float) -> Deck:
    """Select a deck; like Anki, `activeDecks` becomes the deck and its subdecks."""
    col = Col(conn)
    decks = DeckIndex(col)
    decks.get(deck_id)
    _select(col, decks, deck_id)
    col.save(now=now)
    return decks.view(deck_id, _card_counts(conn, decks.subtree(deck_id)))


def _select(col: Col, decks: DeckIndex, deck_id: int) -> None:
    conf = col.conf
    active = decks.subtree(deck_id)
    if conf.get("curDeck") != deck_id or conf.get("activeDecks") != active:
        conf["curDeck"] = deck_id
        conf["activeDecks"] = active
        col.mark_changed("conf")
