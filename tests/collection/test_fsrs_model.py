"""FSRS-6's memory model (collection/scheduler/fsrs.py) against real Anki with FSRS on:
each button's memory state, bit for bit, for new cards and for cards with a memory
state, reviewed the same day, a day later, on time and long overdue, with the default
parameters, custom FSRS-6 ones, FSRS-5 ones and out-of-range ones (clamped as Anki
does), at several desired retentions."""

from __future__ import annotations

import random
from typing import Any

import pytest

from collection.scheduler.fsrs import (
    DEFAULT_PARAMS,
    Fsrs,
    InvalidParams,
    MemoryState,
    card_decay,
    preset_params,
    revlog_factor,
    round_places,
)
from tests.collection.scheduler_oracle import run_oracle

pytestmark = pytest.mark.interop

FSRS5_PARAMS = [
    0.40255, 1.18385, 3.173, 15.69105, 7.1949, 0.5345, 1.4604, 0.0046, 1.54575, 0.1192,
    1.01925, 1.9395, 0.11, 0.29605, 2.2698, 0.2315, 2.9898, 0.51655, 0.6621,
]  # fmt: skip
_rng = random.Random(20261202)
PARAM_SETS = {
    "default": [],
    "custom": [round(p * _rng.uniform(0.8, 1.2), 4) for p in DEFAULT_PARAMS],
    "fsrs5": FSRS5_PARAMS,
    # w3, w7, w12, w17, w19 and w20 out of range: Anki clamps them.
    "clamped": [
        *DEFAULT_PARAMS[:3], 150.0, *DEFAULT_PARAMS[4:7], 0.9, *DEFAULT_PARAMS[8:12], 0.4,
        *DEFAULT_PARAMS[13:17], 2.5, DEFAULT_PARAMS[18], 0.95, 0.05,
    ],
}  # fmt: skip
RETENTIONS = (0.7, 0.8, 0.9, 0.95)


def _cases() -> list[dict[str, Any]]:
    cases = []
    for name, params in PARAM_SETS.items():
        for dr in RETENTIONS:
            cases.append({"name": name, "params": params, "dr": dr, "memory": None, "days": 0})
            for days in (0, 1, _rng.randint(2, 40), _rng.randint(100, 800)):
                stability = round(_rng.choice([_rng.uniform(0.05, 5), _rng.uniform(5, 2000)]), 4)
                difficulty = round(_rng.uniform(1, 10), 3)
                cases.append(
                    {
                        "name": name,
                        "params": params,
                        "dr": dr,
                        "memory": [stability, difficulty],
                        "days": days,
                    }
                )
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def anki() -> list[dict[str, Any]]:
    reply = run_oracle({"mode": "fsrs_states", "cases": CASES}, fuzz=False)
    results: list[dict[str, Any]] = reply["results"]
    return results


def _case_id(case: dict[str, Any]) -> str:
    memory = "new" if case["memory"] is None else "s{}-d{}".format(*case["memory"])
    return f"{case['name']}-dr{case['dr']}-{memory}-{case['days']}d"


@pytest.mark.parametrize("index", range(len(CASES)), ids=[_case_id(c) for c in CASES])
def test_each_button_s_memory_state_matches_anki(anki: list[dict[str, Any]], index: int) -> None:
    result = anki[index]
    case = result["case"]
    assert result["dconf"]["desiredRetention"] == pytest.approx(case["dr"])
    memory = None
    if case["memory"] is not None:
        stability, difficulty = case["memory"]
        memory = MemoryState(round_places(stability, 4), round_places(difficulty, 3))
        # What Anki reads back is the stored, rounded state we start from.
        assert result["read"] == [memory.stability, memory.difficulty]
    model = Fsrs(preset_params(result["dconf"]))
    ours = model.next_states(memory, case["dr"], case["days"])
    expected = [
        [b.memory.stability, b.memory.difficulty]
        for b in (ours.again, ours.hard, ours.good, ours.easy)
    ]
    assert result["buttons"] == expected


def test_intervals_reach_the_desired_retention() -> None:
    model = Fsrs()
    for stability in (0.5, 3.0, 42.0, 900.0):
        for dr in RETENTIONS:
            interval = model.next_interval(stability, dr)
            assert model.retrievability(interval, stability) == pytest.approx(dr, rel=1e-5)
    # At 0.9 the interval is the stability itself (that is what stability means).
    assert model.next_interval(10.0, 0.9) == pytest.approx(10.0, rel=1e-6)


def test_parameters_come_from_the_newest_field_set_and_count_is_checked() -> None:
    assert preset_params({"fsrsParams6": [], "fsrsParams5": FSRS5_PARAMS}) == FSRS5_PARAMS
    assert preset_params(
        {"fsrsParams6": list(DEFAULT_PARAMS), "fsrsParams5": FSRS5_PARAMS}
    ) == list(DEFAULT_PARAMS)
    assert preset_params({}) == []
    assert card_decay([]) == pytest.approx(0.1542)
    assert card_decay(FSRS5_PARAMS) == 0.5
    with pytest.raises(InvalidParams, match="not 5"):
        Fsrs([1.0] * 5)
    with pytest.raises(InvalidParams, match="finite"):
        Fsrs([float("nan")] * 21)
    # FSRS-4.5's 17 weights are accepted (converted as the crate converts them).
    assert (
        len(
            Fsrs(
                [
                    0.4,
                    0.6,
                    2.4,
                    5.8,
                    4.93,
                    0.94,
                    0.86,
                    0.01,
                    1.49,
                    0.14,
                    0.94,
                    2.18,
                    0.05,
                    0.34,
                    1.26,
                    0.29,
                    2.61,
                ]
            ).w
        )
        == 21
    )


def test_revlog_factor_is_the_shifted_difficulty() -> None:
    # Anki's revlog rows under FSRS: a new card's Again (d 6.4133) logs 701.
    assert revlog_factor(6.4133) == 701
    assert revlog_factor(1.0) == 100
    assert revlog_factor(10.0) == 1100
