"""Exporting the collection, or one deck and its subdecks, as an `.apkg` Anki imports.

The package is the legacy format every current Anki reads: a zip holding
`collection.anki2` (schema 11, which is our own layout), the media files as members
`0`, `1`, ... and `media`, the JSON map from member to file name (`{"0": "a.jpg"}`).
Like Anki's exporters with "include scheduling" on, it keeps the
cards' scheduling, the review log, the deck options groups of the exported decks and
the `col` row (its `crt` is what importers rebase review days on); sync state is
dropped (every `usn` is 0, no graves).

A deck export holds the cards of that deck and its subdecks (also those lent to a
filtered deck elsewhere, which go back home in the package, as Anki's exporter does
when the filtered deck is not exported), their notes, the note types they use, those
decks with their parents and options groups, and the review log of those cards.

Media, given a `MediaSource`, are what Anki's exporter gathers (rslib
`import_export/gather.rs`): the files the exported notes' fields reference (media and
sound tags, LaTeX images) and the `_` files of the exported note types' CSS and
templates, each a plain file name; a name the source does not have is left out.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import sqlite3
import tempfile
import time
import unicodedata
import zipfile
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from collection.col import Col
from collection.decks import DeckIndex, name_key, return_cards_home
from collection.media import (
    MediaSource,
    is_safe_name,
    note_media_references,
    notetype_media_references,
)
from collection.schema import DEFAULT_DCONF_ID, DEFAULT_DECK_ID

APP_NAME: Final = "Javumbo"
_MAX_NAME_CHARS: Final = 60
_CHUNK: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What the package holds."""

    notes: int
    cards: int
    decks: int
    note_types: int
    deck_configs: int
    revlog: int
    media_files: int = 0


def export_filename(deck_name: str | None, now: float) -> str:
    """A file name for a download, ASCII only: `Javumbo-Spanish-Verbs-2026-11-25.apkg`
    for the deck "Spanish::Verbs", `Javumbo-2026-11-25.apkg` for the whole collection."""
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    parts = [APP_NAME]
    if deck_name is not None:
        ascii_name = (
            unicodedata.normalize("NFKD", deck_name).encode("ascii", "ignore").decode("ascii")
        )
        slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-")[:_MAX_NAME_CHARS]
        parts.append(slug.strip("-") or "Deck")
    return "-".join([*parts, day]) + ".apkg"


def export_package(
    conn: sqlite3.Connection,
    out: BinaryIO | Path,
    *,
    deck_id: int | None = None,
    now: float,
    media: MediaSource | None = None,
) -> ExportSummary:
    """Write an `.apkg` of the collection on `conn` (read-only is enough), or of deck
    `deck_id` and its subdecks (DeckNotFound if there is none), to `out`, with the
    media files it references that `media` has (none without a source).

    The collection is copied with SQLite's backup API into a private temporary
    directory, pruned there, compacted with `VACUUM INTO` and zipped; `conn` is only
    read. Media files are read from the source one at a time, as they are zipped. The
    temporary directory is always removed.
    """
    if deck_id is not None:
        DeckIndex(Col(conn)).get(deck_id)
    workdir = Path(tempfile.mkdtemp(prefix="javumbo-export-"))
    try:
        work = workdir / "work.anki2"
        final = workdir / "collection.anki2"
        with closing(sqlite3.connect(work)) as copy:
            conn.backup(copy)
            copy.execute("pragma journal_mode = delete")
            copy.execute("pragma temp_store = memory")
            summary = _prepare(copy, deck_id, now=now)
            copy.commit()
            names = sorted(media_names(copy)) if media is not None else []
            copy.execute("vacuum into ?", (str(final),))
        files = _write_zip(final, out, now, names, media)
        return dataclasses.replace(summary, media_files=files)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def media_names(conn: sqlite3.Connection) -> set[str]:
    """The files Anki's exporter would include for the notes and note types on `conn`."""
    models = {int(k): m for k, m in Col(conn).models.items() if isinstance(m, dict)}
    names: set[str] = set()
    for mid, flds in conn.execute("select mid, flds from notes"):
        svg = bool(models.get(int(mid), {}).get("latexsvg"))
        names |= note_media_references(str(flds).split("\x1f"), svg)
    for model in models.values():
        names |= notetype_media_references(model)
    return {name for name in names if is_safe_name(name)}


def _write_zip(
    collection: Path,
    out: BinaryIO | Path,
    now: float,
    names: list[str],
    media: MediaSource | None,
) -> int:
    """Zip the collection and the media files `media` has of `names`; how many it had."""
    stamp = max(time.gmtime(now)[:6], (1980, 1, 1, 0, 0, 0))  # zip dates start in 1980

    def member(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
        return info

    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        with (
            open(collection, "rb") as source,
            archive.open(member("collection.anki2"), "w", force_zip64=True) as dest,
        ):
            shutil.copyfileobj(source, dest, _CHUNK)
        listed: dict[str, str] = {}
        for name in names:
            data = None if media is None else media.read(name)
            if data is None:
                continue
            number = str(len(listed))
            archive.writestr(member(number), data)
            listed[number] = name
        archive.writestr(member("media"), json.dumps(listed, ensure_ascii=False))
    return len(listed)


def _ids(values: Any) -> str:
    return ",".join(str(int(v)) for v in values)


def _prepare(copy: sqlite3.Connection, deck_id: int | None, *, now: float) -> ExportSummary:
    """Prune the copy to what the package holds and drop its sync state."""
    col = Col(copy)
    if deck_id is not None:
        _prune_to_deck(copy, col, deck_id, now=now)
    for table in ("notes", "cards", "revlog"):
        copy.execute(f"update {table} set usn = 0 where usn != 0")
    copy.execute("delete from graves")
    for column in ("models", "decks", "dconf"):
        for item in getattr(col, column).values():
            if isinstance(item, dict):
                item["usn"] = 0
        col.mark_changed(column)
    col.save(now=now)
    copy.execute("update col set usn = 0, ls = 0")

    def count(table: str) -> int:
        (n,) = copy.execute(f"select count() from {table}").fetchone()
        return int(n)

    return ExportSummary(
        notes=count("notes"),
        cards=count("cards"),
        decks=len(col.decks),
        note_types=len(col.models),
        deck_configs=len(col.dconf),
        revlog=count("revlog"),
    )


def _prune_to_deck(copy: sqlite3.Connection, col: Col, deck_id: int, *, now: float) -> None:
    decks = DeckIndex(col)
    subtree = decks.subtree(deck_id)
    marks = _ids(subtree)
    copy.execute(f"delete from cards where did not in ({marks}) and odid not in ({marks})")
    # Cards lent to filtered decks go home, as Anki's exporter does when the filtered
    # deck is not part of the package; the filtered decks themselves are left out.
    return_cards_home(copy, [i for i, d in decks.by_id.items() if d.get("dyn")], now=now)
    copy.execute("delete from notes where id not in (select nid from cards)")
    copy.execute("delete from revlog where cid not in (select id from cards)")

    used_decks = {int(d) for (d,) in copy.execute("select distinct did from cards")}
    keep = {i for i in subtree if not decks.by_id[i].get("dyn")} | used_decks
    keep &= set(decks.by_id)
    for kept in list(keep):
        components = name_key(decks.by_id[kept]["name"])
        for depth in range(1, len(components)):
            parent = decks.by_key.get(components[:depth])
            if parent is not None:
                keep.add(parent)
    keep.add(DEFAULT_DECK_ID)  # every collection has a default deck
    for key in [k for k in col.decks if int(k) not in keep]:
        del col.decks[key]

    used_models = {int(m) for (m,) in copy.execute("select distinct mid from notes")}
    conf = col.conf
    if not used_models:
        current = str(conf.get("curModel"))
        used_models = {int(current) if current in col.models else min(map(int, col.models))}
    for key in [k for k in col.models if int(k) not in used_models]:
        del col.models[key]

    used_confs = {DEFAULT_DCONF_ID} | {
        int(d.get("conf", DEFAULT_DCONF_ID)) for d in col.decks.values() if not d.get("dyn")
    }
    for key in [k for k in col.dconf if int(k) not in used_confs]:
        del col.dconf[key]

    current_deck = deck_id if not decks.by_id[deck_id].get("dyn") else DEFAULT_DECK_ID
    conf["curDeck"] = current_deck
    conf["activeDecks"] = [current_deck]
    if str(conf.get("curModel")) not in col.models:
        conf["curModel"] = min(int(k) for k in col.models)
    for key in [k for k in conf if k.startswith("_deck_")]:
        if not any(key.startswith(f"_deck_{i}_") for i in keep):
            del conf[key]
    copy.execute("update col set tags = '{}'")
    col.mark_changed("conf")
