"""A card's FSRS memory state computed from its review log (collection/scheduler/fsrs.py:
memory_state_from_history) against real Anki with FSRS on, for cards that have no
memory state stored: full histories, histories cut short, lapses, resets, cramming,
rescheduling, set due dates, FSRS-written rows and no usable history at all."""

from __future__ import annotations

import random
from typing import Any

import pytest

from collection.scheduler.fsrs import Fsrs, ReviewEntry, memory_state_from_history
from tests.collection.scheduler_oracle import run_oracle

pytestmark = pytest.mark.interop

LEARN, REVIEW, RELEARN, FILTERED, MANUAL, RESCHEDULED = 0, 1, 2, 3, 4, 5


def row(days_ago: float, ease: int, kind: int, ivl: int, factor: int = 0) -> dict[str, Any]:
    return {"days_ago": days_ago, "ease": ease, "kind": kind, "ivl": ivl, "factor": factor}


def card(kind: int = 2, ivl: int = 20, factor: int = 2350, reps: int = 5) -> dict[str, Any]:
    return {"type": kind, "ivl": ivl, "factor": factor, "reps": reps}


LEARNED_40_DAYS_AGO = [row(40, 3, LEARN, -600), row(39.99, 3, LEARN, 1)]
NAMED_CASES: dict[str, dict[str, Any]] = {
    "full history": {
        "card": card(),
        "revlog": [
            *LEARNED_40_DAYS_AGO,
            row(39, 3, REVIEW, 5, 2500),
            row(34, 2, REVIEW, 10, 2350),
            row(20, 3, REVIEW, 20, 2350),
        ],
    },
    "cut short": {
        "card": card(),
        "revlog": [
            row(39, 3, REVIEW, 5, 2500), row(34, 2, REVIEW, 10, 2350), row(20, 3, REVIEW, 20, 2350),
        ],
    },
    "one review only": {"card": card(), "revlog": [row(20, 3, REVIEW, 20, 2350)]},
    "no history": {"card": card(ivl=33, factor=2100), "revlog": []},
    "a lapse": {
        "card": card(ivl=3, factor=2300),
        "revlog": [
            *LEARNED_40_DAYS_AGO,
            row(38, 3, REVIEW, 6, 2500),
            row(30, 1, REVIEW, -600, 2300),
            row(29.99, 3, RELEARN, 3, 2300),
            row(26, 4, REVIEW, 3, 2450),
        ],
    },
    "reset then learned again": {
        "card": card(ivl=4),
        "revlog": [
            *LEARNED_40_DAYS_AGO,
            row(30, 3, REVIEW, 10, 2500),
            row(12, 0, MANUAL, 0, 0),
            row(11, 1, LEARN, -60),
            row(10.99, 3, LEARN, 1),
            row(9, 3, REVIEW, 4, 2500),
        ],
    },
    "reset, answered without learning": {
        "card": card(ivl=6),
        "revlog": [
            *LEARNED_40_DAYS_AGO,
            row(12, 0, MANUAL, 0, 0), row(8, 3, REVIEW, 6, 2500), row(2, 3, REVIEW, 6, 2500),
        ],
    },
    "reset, never answered since": {
        "card": card(kind=0, ivl=0, factor=0, reps=0),
        "revlog": [*LEARNED_40_DAYS_AGO, row(30, 3, REVIEW, 10, 2500), row(5, 0, MANUAL, 0, 0)],
    },
    "cramming and rescheduling": {
        "card": card(ivl=15),
        "revlog": [
            *LEARNED_40_DAYS_AGO,
            row(35, 3, FILTERED, 0, 0),
            row(33, 3, REVIEW, 8, 2500),
            row(25, 0, RESCHEDULED, 15, 2500),
            row(22, 0, MANUAL, 15, 2500),
            row(18, 4, REVIEW, 15, 2650),
        ],
    },
    "rows written by FSRS, cut short": {
        "card": card(ivl=30),
        "revlog": [
            row(60, 3, REVIEW, 12, 612), row(45, 3, REVIEW, 30, 598), row(15, 2, REVIEW, 30, 640),
        ],
    },
    "still learning": {
        "card": card(kind=1, ivl=0, factor=0, reps=2),
        "revlog": [row(0.02, 1, LEARN, -60), row(0.01, 3, LEARN, -600)],
    },
    "same-day answers": {
        "card": card(ivl=7),
        "revlog": [
            *LEARNED_40_DAYS_AGO,
            row(39.5, 3, REVIEW, 3, 2500),
            row(39.4, 2, REVIEW, 3, 2350),
            row(30, 3, REVIEW, 7, 2350),
        ],
    },
}  # fmt: skip


def _random_case(rng: random.Random) -> dict[str, Any]:
    days = 300.0
    revlog = []
    if rng.random() < 0.7:
        revlog += [row(days, rng.choice([1, 3]), LEARN, -60), row(days - 0.01, 3, LEARN, 1)]
    for _ in range(rng.randint(1, 7)):
        days -= rng.choice([0.2, 1, 3, 9, 25])
        kind = rng.choice([REVIEW, REVIEW, REVIEW, RELEARN, FILTERED, MANUAL, RESCHEDULED])
        ease = 0 if kind in (MANUAL, RESCHEDULED) else rng.randint(1, 4)
        factor = (
            0 if kind == FILTERED and rng.random() < 0.5 else rng.choice([1300, 2500, 2650, 700])
        )
        revlog.append(row(days, ease, kind, rng.choice([-600, 1, 4, 12, 40]), factor))
    return {
        "card": card(ivl=rng.randint(1, 60), factor=rng.choice([1300, 2500]), reps=len(revlog)),
        "revlog": revlog,
    }


_rng = random.Random(7)
CASES = [{"name": name, **case} for name, case in NAMED_CASES.items()] + [
    {"name": f"random {n}", **_random_case(_rng)} for n in range(150)
]


@pytest.fixture(scope="module")
def anki() -> list[dict[str, Any]]:
    reply = run_oracle({"mode": "fsrs_history", "cases": CASES}, fuzz=False)
    results: list[dict[str, Any]] = reply["results"]
    return results


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["name"] for c in CASES])
def test_memory_state_from_the_review_log_matches_anki(
    anki: list[dict[str, Any]], index: int
) -> None:
    result = anki[index]
    card_columns = result["case"]["card"]
    entries = [ReviewEntry(*r) for r in result["rows"]]
    ours = memory_state_from_history(
        Fsrs(),
        entries,
        card_type=card_columns["type"],
        card_ivl=card_columns["ivl"],
        card_reps=card_columns["reps"],
        card_factor=card_columns["factor"],
        next_day_at=result["next_day_at"],
    )
    assert (None if ours is None else [ours.stability, ours.difficulty]) == result["memory"]


def test_the_named_histories_cover_each_path(anki: list[dict[str, Any]]) -> None:
    by_name = {r["case"]["name"]: r["memory"] for r in anki}
    assert by_name["reset, never answered since"] is None
    assert by_name["full history"] != by_name["cut short"]
    assert all(by_name[name] is not None for name in ("one review only", "no history", "a lapse"))
