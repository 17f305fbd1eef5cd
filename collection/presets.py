"""Deck option presets (Anki's options groups, `col.dconf`): what a preset's options
are, changing some of them, creating, renaming and deleting presets, and giving a
deck (and its subdecks) a preset.

Options are read from and written into the preset's schema-11 JSON in place, so keys
this code does not know (written by newer Anki versions) are kept.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from collection.col import Col, mark_modified, mark_schema_modified
from collection.decks import DeckIndex
from collection.errors import DefaultPresetProtected, FilteredDeck, PresetNotFound
from collection.positions import insert_orders, resort_changed_decks
from collection.scheduler.fsrs import preset_params
from collection.schema import DEFAULT_DCONF_ID, default_deck_config

NEW_CARD_ORDERS: Final = {"random": 0, "sequential": 1}
LEECH_ACTIONS: Final = {"suspend": 0, "tag": 1}


@dataclass(frozen=True, slots=True)
class PresetOptions:
    """The options of a preset as Anki's deck options screen shows them (SM-2 and FSRS).

    Steps in minutes; intervals in days; ease and multipliers as factors (2.5, 1.3).
    """

    preset_id: int
    name: str
    new_per_day: int
    reviews_per_day: int
    learning_steps: list[float]
    relearning_steps: list[float]
    graduating_interval: int
    easy_interval: int
    new_card_order: str
    leech_threshold: int
    leech_action: str
    bury_new: bool
    bury_reviews: bool
    bury_interday_learning: bool
    maximum_interval: int
    starting_ease: float
    easy_bonus: float
    interval_modifier: float
    hard_interval: float
    new_interval: float
    desired_retention: float
    fsrs_params: list[float]
    easy_days: list[float]
    deck_ids: list[int]  # the decks using this preset


def _section(dconf: dict[str, Any], name: str) -> dict[str, Any]:
    value = dconf.get(name)
    if not isinstance(value, dict):
        value = dconf[name] = {}
    return value


def _options(dconf: dict[str, Any], deck_ids: list[int]) -> PresetOptions:
    defaults = default_deck_config()
    new = {**defaults["new"], **_section(dconf, "new")}
    rev = {**defaults["rev"], **_section(dconf, "rev")}
    lapse = {**defaults["lapse"], **_section(dconf, "lapse")}
    stored_ints = list(new.get("ints") or [])
    ints = stored_ints + [1, 4][len(stored_ints) :]
    order = {v: k for k, v in NEW_CARD_ORDERS.items()}.get(int(new.get("order", 1)), "sequential")
    action = {v: k for k, v in LEECH_ACTIONS.items()}.get(int(lapse.get("leechAction", 1)), "tag")
    return PresetOptions(
        preset_id=int(dconf["id"]),
        name=str(dconf.get("name", "")),
        new_per_day=int(new["perDay"]),
        reviews_per_day=int(rev["perDay"]),
        learning_steps=[float(s) for s in new["delays"]],
        relearning_steps=[float(s) for s in lapse["delays"]],
        graduating_interval=int(ints[0]),
        easy_interval=int(ints[1]),
        new_card_order=order,
        leech_threshold=int(lapse["leechFails"]),
        leech_action=action,
        bury_new=bool(new.get("bury", False)),
        bury_reviews=bool(rev.get("bury", False)),
        bury_interday_learning=bool(dconf.get("buryInterdayLearning", False)),
        maximum_interval=int(rev["maxIvl"]),
        starting_ease=int(new["initialFactor"]) / 1000,
        easy_bonus=float(rev["ease4"]),
        interval_modifier=float(rev["ivlFct"]),
        hard_interval=float(rev.get("hardFactor", 1.2)),
        new_interval=float(lapse["mult"]),
        desired_retention=float(dconf.get("desiredRetention", 0.9)),
        fsrs_params=preset_params(dconf),
        easy_days=[float(v) for v in dconf.get("easyDaysPercentages") or [1.0] * 7],
        deck_ids=deck_ids,
    )


def _apply(dconf: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Write the given options (PresetOptions field names) into the preset's JSON."""
    new, rev, lapse = _section(dconf, "new"), _section(dconf, "rev"), _section(dconf, "lapse")
    stored = list(new.get("ints") or [])
    ints = stored + [1, 4, 0][len(stored) :]
    writers: dict[str, Any] = {
        "name": lambda v: dconf.__setitem__("name", v),
        "new_per_day": lambda v: new.__setitem__("perDay", v),
        "reviews_per_day": lambda v: rev.__setitem__("perDay", v),
        "learning_steps": lambda v: new.__setitem__("delays", [float(s) for s in v]),
        "relearning_steps": lambda v: lapse.__setitem__("delays", [float(s) for s in v]),
        "graduating_interval": lambda v: ints.__setitem__(0, v),
        "easy_interval": lambda v: ints.__setitem__(1, v),
        "new_card_order": lambda v: new.__setitem__("order", NEW_CARD_ORDERS[v]),
        "leech_threshold": lambda v: lapse.__setitem__("leechFails", v),
        "leech_action": lambda v: lapse.__setitem__("leechAction", LEECH_ACTIONS[v]),
        "bury_new": lambda v: new.__setitem__("bury", v),
        "bury_reviews": lambda v: rev.__setitem__("bury", v),
        "bury_interday_learning": lambda v: dconf.__setitem__("buryInterdayLearning", v),
        "maximum_interval": lambda v: rev.__setitem__("maxIvl", v),
        "starting_ease": lambda v: new.__setitem__("initialFactor", round(v * 1000)),
        "easy_bonus": lambda v: rev.__setitem__("ease4", v),
        "interval_modifier": lambda v: rev.__setitem__("ivlFct", v),
        "hard_interval": lambda v: rev.__setitem__("hardFactor", v),
        "new_interval": lambda v: lapse.__setitem__("mult", v),
        "desired_retention": lambda v: dconf.__setitem__("desiredRetention", v),
        "fsrs_params": lambda v: _set_params(dconf, [float(p) for p in v]),
        "easy_days": lambda v: dconf.__setitem__("easyDaysPercentages", [float(d) for d in v]),
    }
    for name, value in changes.items():
        writers[name](value)
    if {"graduating_interval", "easy_interval"} & set(changes):
        new["ints"] = ints[:3]


def _set_params(dconf: dict[str, Any], params: list[float]) -> None:
    """FSRS parameters go where Anki keeps their version (FSRS-6: 21, FSRS-5: 19)."""
    dconf["fsrsParams6"] = params if len(params) in (0, 21) else []
    if len(params) == 19:
        dconf["fsrsParams5"] = params
    if len(params) == 17:
        dconf["fsrsWeights"] = params


OPTION_NAMES: Final = frozenset(
    f.name for f in fields(PresetOptions) if f.name not in ("preset_id", "deck_ids")
)


def _preset(col: Col, preset_id: int) -> dict[str, Any]:
    dconf = col.dconf.get(str(preset_id))
    if not isinstance(dconf, dict):
        raise PresetNotFound(preset_id)
    return dconf


def _decks_using(decks: DeckIndex, preset_id: int) -> list[int]:
    return sorted(
        deck_id
        for deck_id, deck in decks.by_id.items()
        if not deck.get("dyn") and int(deck.get("conf", DEFAULT_DCONF_ID)) == preset_id
    )


def _stamp(col: Col, entry: dict[str, Any], *, now: float) -> None:
    entry["mod"], entry["usn"] = int(now), col.usn


def _saved(conn: sqlite3.Connection, col: Col, *, now: float) -> None:
    col.save(now=now)
    mark_modified(conn, now=now)


def list_presets(conn: sqlite3.Connection) -> list[PresetOptions]:
    col = Col(conn)
    decks = DeckIndex(col)
    presets = [d for d in col.dconf.values() if isinstance(d, dict)]
    return [
        _options(d, _decks_using(decks, int(d["id"])))
        for d in sorted(presets, key=lambda d: int(d["id"]))
    ]


def get_preset(conn: sqlite3.Connection, preset_id: int) -> PresetOptions:
    col = Col(conn)
    return _options(_preset(col, preset_id), _decks_using(DeckIndex(col), preset_id))


def deck_preset_id(col: Col, decks: DeckIndex, deck_id: int) -> int:
    deck = decks.get(deck_id)  # DeckNotFound
    if deck.get("dyn"):
        raise FilteredDeck("A filtered deck has no options preset.")
    preset_id = int(deck.get("conf", DEFAULT_DCONF_ID))
    return preset_id if str(preset_id) in col.dconf else DEFAULT_DCONF_ID


def get_deck_options(conn: sqlite3.Connection, deck_id: int) -> PresetOptions:
    col = Col(conn)
    decks = DeckIndex(col)
    return get_preset(conn, deck_preset_id(col, decks, deck_id))


def update_preset(
    conn: sqlite3.Connection, preset_id: int, changes: Mapping[str, Any], *, now: float
) -> PresetOptions:
    """Change some options of a preset (names as in PresetOptions); the rest is kept."""
    unknown = set(changes) - OPTION_NAMES
    if unknown:
        raise ValueError(f"unknown options: {', '.join(sorted(unknown))}")
    col = Col(conn)
    dconf = _preset(col, preset_id)
    decks = DeckIndex(col)
    before = insert_orders(col, decks)
    _apply(dconf, changes)
    _stamp(col, dconf, now=now)
    col.mark_changed("dconf")
    resort_changed_decks(conn, col, before, insert_orders(col, decks), now=now)
    _saved(conn, col, now=now)
    return get_preset(conn, preset_id)


def update_deck_options(
    conn: sqlite3.Connection, deck_id: int, changes: Mapping[str, Any], *, now: float
) -> PresetOptions:
    """Change options of the preset `deck_id` uses (shared with its other decks)."""
    col = Col(conn)
    return update_preset(conn, deck_preset_id(col, DeckIndex(col), deck_id), changes, now=now)


def create_preset(
    conn: sqlite3.Connection, name: str, changes: Mapping[str, Any], *, now: float
) -> PresetOptions:
    """A new preset with Anki's default options (and any given), under a new id."""
    col = Col(conn)
    preset_id = max([int(time.time() * 1000), *(int(k) + 1 for k in col.dconf)])
    dconf = default_deck_config() | {"id": preset_id, "name": name}
    col.dconf[str(preset_id)] = dconf
    _apply(dconf, changes)
    _stamp(col, dconf, now=now)
    col.mark_changed("dconf")
    _saved(conn, col, now=now)
    return get_preset(conn, preset_id)


def delete_preset(conn: sqlite3.Connection, preset_id: int, *, now: float) -> None:
    """Delete a preset; its decks fall back to the default preset, as in Anki (which
    then asks for a full sync: deleting a preset changes the collection's schema)."""
    if preset_id == DEFAULT_DCONF_ID:
        raise DefaultPresetProtected("The default options preset cannot be deleted.")
    col = Col(conn)
    _preset(col, preset_id)
    decks = DeckIndex(col)
    before = insert_orders(col, decks)
    for deck_id in _decks_using(decks, preset_id):
        deck = decks.by_id[deck_id]
        deck["conf"] = DEFAULT_DCONF_ID
        _stamp(col, deck, now=now)
    del col.dconf[str(preset_id)]
    col.mark_changed("dconf", "decks")
    resort_changed_decks(conn, col, before, insert_orders(col, decks), now=now)
    col.save(now=now)
    mark_schema_modified(conn, now=now)


def assign_preset(
    conn: sqlite3.Connection,
    deck_id: int,
    preset_id: int,
    *,
    include_subdecks: bool,
    now: float,
) -> PresetOptions:
    """Give a deck (and, if asked, its subdecks) a preset."""
    col = Col(conn)
    _preset(col, preset_id)
    decks = DeckIndex(col)
    deck_preset_id(col, decks, deck_id)  # a normal deck that exists
    targets = decks.subtree(deck_id) if include_subdecks else [deck_id]
    before = insert_orders(col, decks)
    for target in targets:
        deck = decks.by_id.get(target)
        if deck is None or deck.get("dyn"):
            continue
        deck["conf"] = preset_id
        _stamp(col, deck, now=now)
    col.mark_changed("decks")
    resort_changed_decks(conn, col, before, insert_orders(col, decks), now=now)
    _saved(conn, col, now=now)
    return get_preset(conn, preset_id)


__all__ = [
    "LEECH_ACTIONS",
    "NEW_CARD_ORDERS",
    "OPTION_NAMES",
    "PresetOptions",
    "assign_preset",
    "create_preset",
    "delete_preset",
    "get_deck_options",
    "get_preset",
    "list_presets",
    "update_deck_options",
    "update_preset",
]
