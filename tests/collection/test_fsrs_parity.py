"""Answering with FSRS on against real Anki (the `anki` package) as the oracle.

As the SM-2 parity suite (test_scheduler_parity.py): every card state is answered
with each button by Anki, through its v3 API in a subprocess, and by
`collection.scheduler.answer_card` with `fsrs=` from the same row, preset, day and
time; the new card row (its `data`: memory state, desired retention, decay, last
review), the revlog row (the difficulty as its factor) and the button labels must be
equal, with Anki's fuzz and without it. Presets: Anki's defaults, custom steps and
maximum interval, no steps at all (short-term scheduling), FSRS-6 and FSRS-5
parameters of the learner's own, and desired retentions from 0.7 to 0.95; cards:
new, learning, review on time, late and long overdue, with and without a stored
memory state, relearning.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from collection.enums import LOCAL_USN, CardQueue
from collection.scheduler import CardState, DeckOptions, answer_card, describe_next_states
from collection.scheduler.fsrs_states import FsrsConfig, fsrs_next_states
from tests.collection.scheduler_oracle import OracleRun, run_oracles
from tests.collection.test_fsrs_model import FSRS5_PARAMS, PARAM_SETS

pytestmark = pytest.mark.interop

RATINGS = (1, 2, 3, 4)

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "custom steps, dr 0.8": {
        "desiredRetention": 0.8,
        "new": {"delays": [1.0, 10.0, 60.0]},
        "rev": {"maxIvl": 200},
        "lapse": {"delays": [10.0, 1440.0], "leechFails": 4, "leechAction": 0},
    },
    "no steps, dr 0.95": {
        "desiredRetention": 0.95,
        "new": {"delays": []},
        "lapse": {"delays": []},
    },
    "own FSRS-6 parameters, dr 0.7": {
        "desiredRetention": 0.7,
        "fsrsParams6": PARAM_SETS["custom"],
        "rev": {"maxIvl": 3650},
    },
    "FSRS-5 parameters, interday steps": {
        "fsrsParams5": FSRS5_PARAMS,
        "new": {"delays": [30.0, 1440.0]},
        "lapse": {"delays": []},
    },
}

Case = dict[str, Any]


def card_states(preset: dict[str, Any]) -> dict[str, Case]:
    steps = list(preset.get("new", {}).get("delays", [1.0, 10.0]))
    relearn = list(preset.get("lapse", {}).get("delays", [10.0]))
    states: dict[str, Case] = {"new": {"type": 0, "queue": 0, "due": 3}}
    for index, step in enumerate(steps):
        left = len(steps) - index
        # A learning card: the memory state its first answers gave it, today.
        learning = {"type": 1, "left": left, "reps": index + 1, "memory": [2.3065, 2.118]}
        if step >= 1440:
            states[f"learn step {index}"] = learning | {
                "queue": 3, "due_days": 0, "lrt_days_ago": 1,
            }  # fmt: skip
        else:
            states[f"learn step {index}"] = learning | {
                "queue": 1, "due_secs": -30, "lrt_days_ago": 0,
            }  # fmt: skip

    def review(ivl: int, due_days: int, lrt_days_ago: int, memory: Any, **more: Any) -> Case:
        base = {"type": 2, "queue": 2, "factor": 2500, "reps": 6, "ivl": ivl}
        return base | {
            "due_days": due_days, "lrt_days_ago": lrt_days_ago, "memory": memory, **more,
        }  # fmt: skip

    states |= {
        "review on time": review(10, 0, 10, [10.0, 5.0]),
        "review 3 days late": review(10, -3, 13, [9.1234, 6.2]),
        "review long overdue": review(40, -200, 240, [35.5, 7.8]),
        "review answered early": review(30, 12, 18, [41.0, 3.3]),
        "review same day": review(5, 0, 0, [5.0, 4.4]),
        "review low stability": review(2, 0, 2, [0.4, 9.0]),
        "review long": review(180, -5, 185, [150.0, 2.5]),
        "review without memory state": review(25, -2, 27, None, factor=2300),
        "review at leech threshold": review(20, 0, 20, [20.0, 8.0], lapses=7),
    }
    relearning = {"type": 3, "ivl": 4, "factor": 2300, "lapses": 1, "reps": 9, "memory": [3.2, 7.1]}
    for index, step in enumerate(relearn):
        left = len(relearn) - index
        if step >= 1440:
            states[f"relearn step {index}"] = relearning | {
                "queue": 3, "due_days": 0, "left": left, "lrt_days_ago": 1,
            }  # fmt: skip
        else:
            states[f"relearn step {index}"] = relearning | {
                "queue": 1, "due_secs": -10, "left": left, "lrt_days_ago": 0,
            }  # fmt: skip
    return states


def _build_cases() -> dict[str, list[tuple[str, Case]]]:
    rng = random.Random(20261202)
    groups: dict[str, list[tuple[str, Case]]] = {}
    for preset_name, preset in PRESETS.items():
        cases = []
        for state_name, state in card_states(preset).items():
            for rating in RATINGS:
                card_id = rng.randrange(1_500_000_000_000, 1_700_000_000_000)
                case = state | {"rating": rating, "card_id": card_id, "taken_ms": 8_000}
                cases.append((f"{preset_name}: {state_name}, ease {rating}", case))
        groups[preset_name] = cases
    return groups


CASES = _build_cases()
CASE_IDS = [name for cases in CASES.values() for name, _ in cases]
Reply = dict[str, tuple[dict[str, Any], dict[str, Any]]]


def _request() -> dict[str, Any]:
    groups = [
        {"dconf": PRESETS[name], "cases": [case for _, case in cases]}
        for name, cases in CASES.items()
    ]
    return {"mode": "answer", "groups": groups, "fsrs": True}


def _index(reply: dict[str, Any]) -> Reply:
    by_id = {}
    for name, group in zip(CASES, reply["groups"], strict=True):
        for (case_id, _), result in zip(CASES[name], group["results"], strict=True):
            by_id[case_id] = (group["dconf"], result)
    return by_id


@pytest.fixture(scope="module")
def replies() -> tuple[Reply, Reply]:
    fuzzed, unfuzzed = run_oracles(
        OracleRun(_request(), fuzz=True), OracleRun(_request(), fuzz=False)
    )
    return _index(fuzzed), _index(unfuzzed)


EXACT_FIELDS = (
    "id",
    "type",
    "queue",
    "ivl",
    "factor",
    "reps",
    "lapses",
    "left",
    "odue",
    "odid",
    "usn",
    "data",
)


def assert_same_as_anki(dconf: dict[str, Any], result: dict[str, Any], *, fuzz: bool) -> None:
    card = CardState.from_row(result["before"])
    today, next_day_at = result["timing_before"]
    options = DeckOptions.from_dconf(dconf)
    config = FsrsConfig.from_dconf(dconf)
    ours = answer_card(
        card, options, result["case"]["rating"], result["answered_ms"] / 1000, today,
        result["case"]["taken_ms"], next_day_at=next_day_at, usn=LOCAL_USN, fuzz=fuzz,
        fsrs=config,
    )  # fmt: skip
    anki_card, our_card = result["after"], ours.card.as_row()
    assert {k: our_card[k] for k in EXACT_FIELDS} == {k: anki_card[k] for k in EXACT_FIELDS}
    clock_slack = result["after_secs"] - result["answered_ms"] // 1000
    if anki_card["queue"] == CardQueue.LEARN:
        assert 0 <= anki_card["due"] - our_card["due"] <= clock_slack
    else:
        assert our_card["due"] == anki_card["due"]
    assert ours.revlog.as_row() == result["revlog"]
    assert ours.leech == ("leech" in result["tags"])

    states = fsrs_next_states(
        card, options, today, config=config, next_day_at=next_day_at, fuzz=fuzz
    )
    labels = describe_next_states(states, result["label_time"], next_day_at, collapse_secs=1200)
    assert list(labels) == result["labels"]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_answer_matches_anki(replies: tuple[Reply, Reply], case_id: str) -> None:
    dconf, result = replies[0][case_id]
    assert_same_as_anki(dconf, result, fuzz=True)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_answer_matches_anki_without_fuzz(replies: tuple[Reply, Reply], case_id: str) -> None:
    dconf, result = replies[1][case_id]
    assert_same_as_anki(dconf, result, fuzz=False)
