"""Deck presets made in real Anki for the oracle tests (Anki's legacy dict API)."""

from __future__ import annotations

from typing import Any

from anki.collection import Collection


def add_preset(col: Collection, name: str, changes: dict[str, Any]) -> int:
    """A new preset of Anki's defaults with `changes` (sections such as `new` or `rev`
    merged key by key, other keys replaced); its id."""
    preset = col.decks.add_config(name)
    for key, value in changes.items():
        if isinstance(value, dict):
            preset[key].update(value)
        else:
            preset[key] = value
    col.decks.update_config(preset)
    return int(preset["id"])
