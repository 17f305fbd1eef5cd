"""A card's `data` column: the JSON object where Anki keeps the original new-card
position (`pos`), the last review time (`lrt`), custom data (`cd`) and, under FSRS,
the memory state (`s`, `d`), desired retention (`dr`) and decay."""

from __future__ import annotations

import json
from typing import Any, Final

from ._rust import f32
from .fsrs import MemoryState, round_places

# The keys Anki keeps, in the order it writes them; anything else is dropped when Anki
# rewrites the column.
CARD_DATA_KEYS: Final = ("pos", "s", "d", "dr", "decay", "lrt", "cd")
# What FSRS records; an SM-2 answer drops the first three, turning FSRS off all four.
FSRS_KEYS: Final = ("s", "d", "dr", "decay")
# Written as Anki writes an `f32` (the shortest decimal that reads back the same).
_F32_KEYS: Final = frozenset(FSRS_KEYS)


def parse_card_data(data: str) -> dict[str, Any]:
    """The column as a dict (empty when it is empty or not a JSON object)."""
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def with_memory(
    parsed: dict[str, Any], memory: MemoryState, desired_retention: float, decay: float
) -> dict[str, Any]:
    """`parsed` with an FSRS memory state, rounded as Anki stores it (`s` to 4 places,
    `d` to 3, `dr` to 2, `decay` to 3)."""
    return parsed | {
        "s": round_places(memory.stability, 4),
        "d": round_places(memory.difficulty, 3),
        "dr": round_places(desired_retention, 2),
        "decay": round_places(decay, 3),
    }


def card_data_json(parsed: dict[str, Any]) -> str:
    """The column's text: Anki's keys only, in Anki's order, empty custom data left out."""
    if parsed.get("cd") in ("", "{}"):
        parsed = {k: v for k, v in parsed.items() if k != "cd"}
    items = []
    for key in CARD_DATA_KEYS:
        if key not in parsed:
            continue
        value = parsed[key]
        if key in _F32_KEYS and isinstance(value, float):
            text = f32_text(value)
        else:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        items.append(f'"{key}":{text}')
    return "{" + ",".join(items) + "}"


def f32_text(value: float) -> str:
    """An `f32` as Anki's JSON writes it: the shortest decimal that reads back as the
    same `f32`, with a fraction even when whole (`10.0`)."""
    target = f32(value)
    text = repr(target)
    for digits in range(1, 10):
        candidate = f"{target:.{digits}g}"
        if f32(float(candidate)) == target:
            text = candidate
            break
    if "e" not in text and "." not in text and text not in ("inf", "-inf", "nan"):
        text += ".0"
    return text
