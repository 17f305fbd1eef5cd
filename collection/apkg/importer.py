"""Importing an Anki package (`.apkg` or `.colpkg`) into a learner's collection.

What Anki's importer (rslib `import_export/package/apkg/import`) does with scheduling
included, on our schema-11 collection:

- A note whose guid we already have is updated when the package's copy is newer
  (`mod`) and of the same note type, else skipped; never duplicated. Other notes are
  added, keeping the package's id when it is free (as Anki does, so the cards' "added"
  dates survive) and otherwise taking a fresh id from `now`, past every id in use.
- Note types are matched by id, then by `originalId` (Anki's mark on a copy it made),
  each only if the fields and templates still match; then, unlike Anki, by content
  (kind, field names, template texts), so a package's stock "Basic" lands on ours
  instead of making "Basic+". Otherwise the note type is added (a "+" is appended to
  a name already in use, as Anki does).
- Decks are matched by name ignoring case, or created with their missing parents;
  deck options groups are added under their id when that id is free.
- Cards of imported notes are added unless the note already has a card of that
  template; review day numbers are rebased onto our collection's day
  (`due - source_today + our_today`, Anki's `shift_collection_relative_dates`),
  intraday learning times are kept, and new cards take positions after our
  `nextPos` in their package order. Cards in filtered decks go back to their home
  deck first. Review log rows of added cards are added unless their id exists.
- Media files, given a `MediaSink` (the learner's media store), are handled as
  Anki's importer does (rslib `apkg/import/media.rs`): a file whose name the learner
  already has with the same content is not stored again; one with other content is
  stored as `name-<sha1 of its content>.ext` (Anki's `add_hash_suffix_to_file_stem`)
  and the references in the imported notes' fields are rewritten to that name
  (`replace_media_refs`: media and sound tags). Note type files (`_…`) and LaTeX
  images (`latex-…`) are never renamed: one the learner already has is kept. Unlike
  Anki, which copies only files the imported notes reference, every file the
  package lists is stored; names are checked (`safe_media_name`) and normalized as
  Anki normalizes them, and references in imported notes follow that normalization.
  Files with unsafe names or missing members are skipped and counted.

Everything is read and checked before the first write to `conn` (every media file
is read once, within the caps, before the plan is made); media are handed to the
sink after the plan is made and before the first write to `conn`. The result is a
function of (collection, package, `now`, the sink's files) alone, so re-running the
import on a fresher copy of the collection is safe, and importing a package twice
adds nothing. The caller commits (and rolls back on an exception).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from collection.apkg.archive import (
    ExtractedPackage,
    ImportLimits,
    MediaEntry,
    MediaReader,
    extract_package,
    open_media,
)
from collection.apkg.checks import SourceDeck
from collection.apkg.source import (
    MAX_CLOZE_ORD,
    CardRow,
    NoteRow,
    SourceCollection,
    open_source,
)
from collection.col import Col, mark_modified
from collection.decks import SEPARATOR, DeckIndex, name_key
from collection.enums import CardQueue, CardType, NotetypeKind
from collection.errors import FilteredDeck, MalformedPackage
from collection.fields import FIELD_SEPARATOR, sort_field_and_checksum
from collection.ids import ms
from collection.media import (
    MediaSink,
    hashed_media_name,
    is_static_media_name,
    replace_media_references,
    safe_media_name,
)
from collection.notes import take_new_positions
from collection.scheduler.card import restored_queue
from collection.scheduler.timing import sched_timing_for_collection
from collection.schema import DEFAULT_DCONF_ID, DEFAULT_DECK_ID

_DAY_MS: Final = 86_400_000


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did. `media_files_added`: files stored (new, or renamed because
    the learner has other content under that name); `media_files_skipped`: listed
    files with unsafe names or missing members, or all of them without a media sink."""

    notes_added: int = 0
    notes_updated: int = 0
    notes_skipped: int = 0
    cards_added: int = 0
    decks_added: int = 0
    note_types_added: int = 0
    revlog_added: int = 0
    media_files_added: int = 0
    media_files_skipped: int = 0


def import_package(
    conn: sqlite3.Connection,
    package: Path,
    *,
    now: float,
    limits: ImportLimits = ImportLimits(),  # noqa: B008 - immutable
    media: MediaSink | None = None,
) -> ImportSummary:
    """Merge the notes, cards, decks, note types, deck options and review history of an
    Anki package into the collection on `conn` (read-write; the caller commits), and
    its media files into `media`.

    Without `media`, media files are not imported, only counted as skipped. Raises
    NotAPackage, PackageTooLarge or MalformedPackage (`collection.errors`) before
    anything is written or stored. The package is unpacked in a private temporary
    directory that is always removed; media files are read from the package one at a
    time, as the sink takes them.
    """
    package = Path(package)
    workdir = Path(tempfile.mkdtemp(prefix="javumbo-import-"))
    try:
        extracted = extract_package(package, workdir, limits, media=media is not None)
        with open_source(extracted.collection) as source:
            plan = _Planner(conn, source, now).plan()
            media_plan = _MediaPlan.make(extracted, media)
            if media is not None and media_plan.to_store:
                with open_media(package, extracted.version, limits) as reader:
                    media.add_many(media_plan.files(reader))
            return _apply(conn, source, plan, media_plan, now=now)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class _MediaPlan:
    """Which package media files are stored under which names, and how references in
    imported notes change (Anki's `prepare_media` and `munge_media`)."""

    enabled: bool = False
    renames: dict[str, str] = field(default_factory=dict)  # package name -> stored name
    to_store: list[tuple[str, MediaEntry]] = field(default_factory=list)
    skipped: int = 0

    @classmethod
    def make(cls, extracted: ExtractedPackage, sink: MediaSink | None) -> _MediaPlan:
        if sink is None:
            return cls(skipped=extracted.media_skipped)
        plan = cls(enabled=True, skipped=extracted.media_skipped)
        stored: set[str] = set()
        for entry in extracted.media:
            name = entry.name
            existing = sink.sha1_of(name)
            if existing is not None and is_static_media_name(name):
                continue  # Anki keeps the learner's note type file or LaTeX image
            if existing is not None and existing.lower() != entry.sha1:
                name = hashed_media_name(name, entry.sha1)
                plan.renames[entry.name] = name
                existing = sink.sha1_of(name)
            if existing is not None and existing.lower() == entry.sha1:
                continue  # the learner has this file already
            if name not in stored:
                stored.add(name)
                plan.to_store.append((name, entry))
        return plan

    def files(self, read: MediaReader) -> Iterator[tuple[str, bytes]]:
        for name, entry in self.to_store:
            yield name, read(entry)

    def rename_reference(self, name: str) -> str | None:
        """The new name of a reference in an imported note's field, or None."""
        normalized = safe_media_name(name)
        if normalized is None:
            return None
        new = self.renames.get(normalized, normalized)
        return new if new != name else None

    def munge(self, fields: list[str]) -> list[str]:
        if not self.enabled:
            return fields
        return [replace_media_references(f, self.rename_reference) for f in fields]


# --- planning (reads only) --------------------------------------------------------------


class _Ids:
    """Anki keeps an imported object's id when it is free; ours must also not be in the
    future (Anki refuses those), else it is `now` in ms, bumped past every id in use."""

    def __init__(self, taken: set[int], now: float) -> None:
        self.taken = taken
        self.now_ms = ms(now)
        self.top = max(taken, default=0)

    def assign(self, wanted: int) -> int:
        if 0 < wanted <= self.now_ms + _DAY_MS and wanted not in self.taken:
            new = wanted
        else:
            new = max(self.now_ms, self.top + 1)
        self.taken.add(new)
        self.top = max(self.top, new)
        return new


@dataclass
class _Plan:
    col: Col
    model_ids: dict[int, int]  # package note type -> ours
    new_models: dict[int, dict[str, Any]]  # package note type -> the one to add
    notes_to_add: dict[int, int] = field(default_factory=dict)  # package note -> new id
    notes_to_update: dict[int, int] = field(default_factory=dict)  # package note -> ours
    note_ids: dict[int, int] = field(default_factory=dict)  # package note -> ours (all)
    note_models: dict[int, int] = field(default_factory=dict)  # package note -> package mid
    notes_skipped: int = 0
    cards: dict[int, int] = field(default_factory=dict)  # package card -> new id
    positions: dict[int, int] = field(default_factory=dict)  # new-card position -> ours
    deck_ids: dict[int, int] = field(default_factory=dict)  # package deck -> ours
    decks_added: int = 0
    note_types_added: int = 0
    day_shift: int = 0  # source_today - our_today
    v1_source: bool = False


def _fields_match(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> bool:
    """rslib `is_match`: by id when both sides have one, else by name."""
    if len(ours) != len(theirs):
        return False
    for a, b in zip(ours, theirs, strict=True):
        if isinstance(a.get("id"), int) and isinstance(b.get("id"), int):
            if a["id"] != b["id"]:
                return False
        elif a.get("name") != b.get("name"):
            return False
    return True


def _equal_schema(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    return (
        ours.get("type", NotetypeKind.NORMAL) == theirs["type"]
        and _fields_match(ours.get("flds") or [], theirs["flds"])
        and _fields_match(ours.get("tmpls") or [], theirs["tmpls"])
    )


def _same_content(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    try:
        return (
            ours.get("type", NotetypeKind.NORMAL) == theirs["type"]
            and [f["name"] for f in ours["flds"]] == [f["name"] for f in theirs["flds"]]
            and [(t["qfmt"], t["afmt"]) for t in ours["tmpls"]]
            == [(t["qfmt"], t["afmt"]) for t in theirs["tmpls"]]
        )
    except (KeyError, TypeError):
        return False


def _valid_ord(model: dict[str, Any], ord_: int) -> bool:
    if model["type"] == NotetypeKind.CLOZE:
        return ord_ <= MAX_CLOZE_ORD
    return ord_ < len(model["tmpls"])


def home_deck(card: CardRow, source: SourceCollection) -> int:
    """The package deck a card belongs in: its home deck if it sits in a filtered one
    (else the filtered deck, which becomes a normal one), as Anki does."""
    if card.odid and (card.odid in source.decks or card.odid == DEFAULT_DECK_ID):
        return card.odid
    return card.did


def restore_from_filtered(card: CardRow, home: int) -> CardRow:
    """rslib `remove_from_filtered_deck_restoring_queue`, with `home` as the deck."""
    if card.odid == 0:
        return card
    due = card.odue if card.odue else card.due
    queue = card.queue
    if queue >= 0:
        queue = restored_queue(card.type, due)
    return card._replace(did=home, odid=0, odue=0, due=due, queue=queue)


def plan_v1(source: SourceCollection) -> bool:
    return source.timing.get("schedVer") == 1


class _Planner:
    def __init__(self, conn: sqlite3.Connection, source: SourceCollection, now: float) -> None:
        self.conn = conn
        self.source = source
        self.now = now
        self.col = Col(conn)
        self.decks = DeckIndex(self.col)

    def plan(self) -> _Plan:
        model_ids, new_models = self._match_models()
        plan = _Plan(self.col, model_ids, new_models)
        plan.v1_source = plan_v1(self.source)
        self._plan_notes(plan)
        used_decks = self._plan_cards(plan)
        for _ in self.source.revlog():
            pass  # checked now, so that nothing can fail once writing has started
        self._plan_decks(plan, used_decks)
        self._add_models(plan)
        ours = sched_timing_for_collection(self._our_crt(), self.col.conf, self.now)
        plan.day_shift = self._source_today() - ours.days_elapsed
        return plan

    def _source_today(self) -> int:
        """The package collection's day number now, as Anki computes it on import."""
        source = self.source
        if plan_v1(source):
            # The v1 scheduler counted whole days since creation (`sched_timing_today_v1`).
            return max(0, int(self.now - source.crt) // 86_400)
        return sched_timing_for_collection(source.crt, source.timing, self.now).days_elapsed

    def _our_crt(self) -> int:
        (crt,) = self.conn.execute("select crt from col").fetchone()
        return int(crt)

    # --- note types

    def _match_models(self) -> tuple[dict[int, int], dict[int, dict[str, Any]]]:
        ours: dict[int, dict[str, Any]] = {
            int(k): m for k, m in self.col.models.items() if isinstance(m, dict) and k.isdigit()
        }
        ids = _Ids(set(ours), self.now)
        names = {str(m.get("name", "")).casefold() for m in ours.values()}
        mapping: dict[int, int] = {}
        new: dict[int, dict[str, Any]] = {}
        for mid, theirs in sorted(self.source.models.items()):
            same_id = ours.get(mid)
            earlier = [
                i
                for i, m in sorted(ours.items())
                if m.get("originalId") == mid and _equal_schema(m, theirs)
            ]
            if same_id is not None and _equal_schema(same_id, theirs):
                earlier = [mid]
            if earlier:
                mapping[mid] = earlier[0]
                self._update_model(earlier[0], ours[earlier[0]], theirs, names)
                continue
            alike = [i for i, m in sorted(ours.items()) if _same_content(m, theirs)]
            if alike:
                named = [i for i in alike if str(ours[i].get("name")) == theirs["name"]]
                mapping[mid] = (named or alike)[0]
                continue
            model = dict(theirs)
            model["id"] = ids.assign(mid)
            if model["id"] != mid:
                model["originalId"] = mid
            while model["name"].casefold() in names:
                model["name"] += "+"
            names.add(model["name"].casefold())
            model["usn"] = self.col.usn
            model.setdefault("tags", [])
            model.setdefault("vers", [])
            mapping[mid] = model["id"]
            new[mid] = model
        return mapping, new

    def _update_model(
        self, target: int, ours: dict[str, Any], theirs: dict[str, Any], names: set[str]
    ) -> None:
        """Anki's `update_notetypes` = if newer: a newer copy of a note type with the
        same fields and templates replaces ours (names, templates, styling)."""
        mod = ours.get("mod")
        if isinstance(mod, int) and theirs["mod"] <= mod:
            return
        model = {**theirs, "id": target, "usn": self.col.usn, "tags": [], "vers": []}
        if "originalId" in ours:
            model["originalId"] = ours["originalId"]
        old_name = str(ours.get("name", "")).casefold()
        names.discard(old_name)
        while model["name"].casefold() in names:
            model["name"] += "+"
        names.add(model["name"].casefold())
        self.col.models[str(target)] = model
        self.col.mark_changed("models")

    def _add_models(self, plan: _Plan) -> None:
        used = {plan.note_models[n] for n in plan.notes_to_add}
        for mid in sorted(used & set(plan.new_models)):
            model = plan.new_models[mid]
            self.col.models[str(model["id"])] = model
            self.col.mark_changed("models")
            plan.note_types_added += 1

    # --- notes

    def _plan_notes(self, plan: _Plan) -> None:
        ours = {
            str(guid): (int(nid), int(mid), int(mod))
            for nid, guid, mid, mod in self.conn.execute("select id, guid, mid, mod from notes")
        }
        ids = _Ids({n for n, _, _ in ours.values()}, self.now)
        seen: set[str] = set()
        for note in self.source.notes():
            if note.guid in seen:
                plan.notes_skipped += 1  # a second note with one guid: Anki keeps one
                continue
            seen.add(note.guid)
            mid = plan.model_ids[note.mid]
            existing = ours.get(note.guid)
            if existing is None:
                target = plan.notes_to_add[note.id] = ids.assign(note.id)
            else:
                target, existing_mid, existing_mod = existing
                if existing_mid != mid:
                    plan.notes_skipped += 1  # another note type now: Anki calls it a conflict
                    continue
                if note.mod > existing_mod:
                    plan.notes_to_update[note.id] = target
                else:
                    plan.notes_skipped += 1
            plan.note_ids[note.id] = target
            plan.note_models[note.id] = note.mid

    # --- cards

    def _plan_cards(self, plan: _Plan) -> set[int]:
        existing = set(self.conn.execute("select nid, ord from cards"))
        ids = _Ids({int(cid) for (cid,) in self.conn.execute("select id from cards")}, self.now)
        used_decks: set[int] = set()
        positions: set[int] = set()
        for card in self.source.cards():
            target_nid = plan.note_ids.get(card.nid)
            if target_nid is None:
                continue
            if not _valid_ord(self.source.models[plan.note_models[card.nid]], card.ord):
                continue  # Anki's check would delete such a card
            if (target_nid, card.ord) in existing:
                continue
            existing.add((target_nid, card.ord))
            card = restore_from_filtered(card, home_deck(card, self.source))
            used_decks.add(card.did)
            if card.type == CardType.NEW:
                positions.add(card.due)
            plan.cards[card.id] = ids.assign(card.id)
        start = take_new_positions(self.col, len(positions))
        for index, position in enumerate(sorted(positions)):
            plan.positions[position] = start + index
        return used_decks

    # --- decks

    def _plan_decks(self, plan: _Plan, used: set[int]) -> None:
        by_key = {name_key(d.name): d for d in self.source.decks.values()}
        wanted: dict[int, SourceDeck] = {}
        for did in used:
            deck = self.source.decks.get(did)
            if deck is None:
                plan.deck_ids[did] = DEFAULT_DECK_ID  # Anki's check puts such cards there
                continue
            wanted[did] = deck
            components = deck.name.split(SEPARATOR)
            for depth in range(1, len(components)):
                parent = by_key.get(name_key(SEPARATOR.join(components[:depth])))
                if parent is not None:
                    wanted[parent.id] = parent
        renamed: list[tuple[str, str]] = []
        # Parents before children, as Anki imports them.
        for deck in sorted(wanted.values(), key=lambda d: (len(k := name_key(d.name)), k)):
            plan.deck_ids[deck.id] = self._place_deck(plan, deck, renamed)

    def _conf_id(self, conf_id: int) -> int:
        """Our options group for a package deck's: ours if we have that id, else the
        package's added under its id (Anki's `add_deck_config_if_unique`)."""
        dconf = self.col.dconf
        if str(conf_id) in dconf:
            return conf_id
        theirs = self.source.dconf.get(conf_id)
        if theirs is None:
            return DEFAULT_DCONF_ID
        dconf[str(conf_id)] = {**theirs, "usn": self.col.usn}
        self.col.mark_changed("dconf")
        return conf_id

    def _place_deck(self, plan: _Plan, deck: SourceDeck, renamed: list[tuple[str, str]]) -> int:
        name = deck.name
        for old, new in renamed:
            name = _reparent(name, old, new)
        for _ in range(100):
            existing = self.decks.find(name)
            if existing is not None and not self.decks.by_id[existing].get("dyn"):
                self._update_deck(existing, deck)
                return existing
            try:
                if existing is not None:
                    raise FilteredDeck(name)
                place = self.decks.place(name)
            except FilteredDeck:
                # Anki makes a normal deck beside the filtered one, named with a suffix.
                filtered = existing or self.decks.first_existing_parent(name)
                if filtered is None:
                    raise
                old = str(self.decks.by_id[filtered]["name"])
                new = f"{old} {int(self.now)}"
                renamed.append((old, new))
                name = _reparent(name, old, new)
                continue
            conf_id = self._conf_id(deck.conf_id) if not deck.filtered else DEFAULT_DCONF_ID
            for parent in place.missing:
                self.decks.add(parent, place.conf_id, now=self.now)
            deck_id = self.decks.add(place.name, conf_id, now=self.now)
            self.decks.by_id[deck_id]["desc"] = deck.desc
            plan.decks_added += len(place.missing) + 1
            return deck_id
        raise MalformedPackage(f"The deck {deck.name!r} could not be placed in the collection.")

    def _update_deck(self, deck_id: int, theirs: SourceDeck) -> None:
        """rslib `update_normal_with_other`: description and options group, if set."""
        ours = self.decks.by_id[deck_id]
        changed = False
        if theirs.desc and ours.get("desc") != theirs.desc:
            ours["desc"] = theirs.desc
            changed = True
        if not theirs.filtered and theirs.conf_id != DEFAULT_DCONF_ID:
            conf_id = self._conf_id(theirs.conf_id)
            if ours.get("conf") != conf_id:
                ours["conf"] = conf_id
                changed = True
        if changed:
            ours.update(mod=int(self.now), usn=self.col.usn)
            self.col.mark_changed("decks")


def _reparent(name: str, old: str, new: str) -> str:
    """`name` with its leading deck levels `old` replaced by `new` (compared like names)."""
    depth = len(name_key(old))
    if name_key(name)[:depth] != name_key(old):
        return name
    return SEPARATOR.join([new, *name.split(SEPARATOR)[depth:]])


# --- writing -----------------------------------------------------------------------------


def _clean_field(text: str, normalize: bool) -> str:
    """rslib `normalize_field`: no ASCII control characters but tab and newline; NFC."""
    if any((ord(c) < 0x20 and c not in "\t\n") or c == "\x7f" for c in text):
        text = "".join(c for c in text if not ((ord(c) < 0x20 and c not in "\t\n") or c == "\x7f"))
    return unicodedata.normalize("NFC", text) if normalize else text


def _fit_fields(fields: list[str], count: int) -> list[str]:
    """rslib `fix_field_count`: pad with empty fields, or merge extras into the last."""
    fields = list(fields)
    while len(fields) < count:
        fields.append("")
    while len(fields) > max(count, 1):
        last = fields.pop()
        fields[-1] += f"; {last}"
    return fields


def _canonical_tags(tags: str, normalize: bool) -> str:
    seen: set[str] = set()
    kept = []
    for tag in (unicodedata.normalize("NFC", tags) if normalize else tags).split():
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            kept.append(tag)
    return f" {' '.join(kept)} " if kept else ""


def _note_values(
    note: NoteRow, model: dict[str, Any], normalize: bool
) -> tuple[str, str, str, int]:
    fields = [_clean_field(f, normalize) for f in _fit_fields(note.fields, len(model["flds"]))]
    sort_field, checksum = sort_field_and_checksum(fields, int(model.get("sortf", 0)))
    return FIELD_SEPARATOR.join(fields), _canonical_tags(note.tags, normalize), sort_field, checksum


def _shift(card: CardRow, plan: _Plan) -> CardRow:
    learning = (CardQueue.LEARN, CardQueue.DAY_LEARN)
    if plan.v1_source and card.type == CardType.REVIEW and card.queue in learning:
        card = card._replace(type=CardType.RELEARN)  # v1 kept relearning cards as type 2
    due = card.due
    if card.queue in (CardQueue.REVIEW, CardQueue.DAY_LEARN) or card.type == CardType.REVIEW:
        due -= plan.day_shift
    elif card.type == CardType.NEW:
        due = plan.positions.get(due, due)
    return card._replace(due=due)


def _apply(
    conn: sqlite3.Connection,
    source: SourceCollection,
    plan: _Plan,
    media: _MediaPlan,
    *,
    now: float,
) -> ImportSummary:
    added, updated = _write_notes(conn, source, plan, media)
    cards_added = _write_cards(conn, source, plan)
    revlog_added = _write_revlog(conn, source, plan)
    if plan.col.changed:
        plan.col.save(now=now)
    elif added or updated or cards_added or revlog_added:
        mark_modified(conn, now=now)
    return ImportSummary(
        notes_added=added,
        notes_updated=updated,
        notes_skipped=plan.notes_skipped,
        cards_added=cards_added,
        decks_added=plan.decks_added,
        note_types_added=plan.note_types_added,
        revlog_added=revlog_added,
        media_files_added=len(media.to_store),
        media_files_skipped=media.skipped,
    )


def _write_notes(
    conn: sqlite3.Connection, source: SourceCollection, plan: _Plan, media: _MediaPlan
) -> tuple[int, int]:
    """Add the planned new notes and update the planned newer ones; (added, updated)."""
    models = plan.col.models
    normalize = plan.col.conf.get("normalize_note_text", True) is not False
    registered = {str(tag).casefold() for tag in plan.col.tags}
    added = updated = 0
    for note in source.notes():
        target = plan.notes_to_add.get(note.id)
        updating = target is None
        if updating:
            target = plan.notes_to_update.get(note.id)
            if target is None:
                continue
        mid = plan.model_ids[note.mid]
        note = note._replace(fields=media.munge(note.fields))
        flds, tags, sort_field, checksum = _note_values(note, models[str(mid)], normalize)
        _register_tags(plan.col, tags, registered)
        if updating:
            conn.execute(
                "update notes set flds = ?, sfld = ?, csum = ?, tags = ?, mod = ?, usn = ?"
                " where id = ?",
                (flds, sort_field, checksum, tags, note.mod, plan.col.usn, target),
            )
            updated += 1
        else:
            conn.execute(
                "insert into notes (id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '')",
                (target, note.guid, mid, note.mod, plan.col.usn, tags, flds, sort_field, checksum),
            )
            added += 1
    return added, updated


def _register_tags(col: Col, tags: str, registered: set[str]) -> None:
    """Add an imported note's tags that the collection does not know (in any case) to
    its tag registry, at the collection's usn, as Anki's `canonify_note_tags` does."""
    for tag in tags.split():
        if tag.casefold() not in registered:
            registered.add(tag.casefold())
            col.tags[tag] = col.usn
            col.mark_changed("tags")


_CARD_INSERT: Final = (
    f"insert into cards (usn, {', '.join(CardRow._fields)})"
    f" values (:usn, {', '.join(':' + name for name in CardRow._fields)})"
)


def _write_cards(conn: sqlite3.Connection, source: SourceCollection, plan: _Plan) -> int:
    """Add the planned cards: home from filtered decks, under our ids, notes and decks,
    review days rebased and new-card positions after ours; the number added."""
    added = 0
    for row in source.cards():
        target = plan.cards.get(row.id)
        if target is None:
            continue
        card = _shift(restore_from_filtered(row, home_deck(row, source)), plan)
        card = card._replace(
            id=target,
            nid=plan.note_ids[card.nid],
            did=plan.deck_ids.get(card.did, DEFAULT_DECK_ID),
        )
        conn.execute(_CARD_INSERT, {**card._asdict(), "usn": plan.col.usn})
        added += 1
    return added


def _write_revlog(conn: sqlite3.Connection, source: SourceCollection, plan: _Plan) -> int:
    """Add the review log of the added cards, but no entry whose id is taken (as Anki
    does); the number added."""
    added = 0
    for entry in source.revlog():
        cid = plan.cards.get(entry.cid)
        if cid is None:
            continue
        added += conn.execute(
            "insert or ignore into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.id, cid, plan.col.usn, entry.ease, entry.ivl, entry.last_ivl, entry.factor,
             entry.time, entry.type),
        ).rowcount  # fmt: skip
    return added
