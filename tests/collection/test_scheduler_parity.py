"""The scheduler against real Anki (the `anki` package) as the oracle.

Every card state below is answered with each of the four buttons, once by Anki
(through its v3 API, in a subprocess: see `scheduler_oracle.py`) and once by
`collection.scheduler.answer_card` from the same card row, deck preset, day and time.
Anki's fuzz is reproduced bit for bit, so the new card row, the revlog row, the
leech flags and the button labels must be *equal*: once with fuzz as Anki runs it and
once with fuzz off (Anki's test mode, `ANKI_TEST_MODE`), which pins down the unfuzzed
arithmetic separately. The one tolerance: an intraday `due` (and `mod`) use Anki's own
clock, read a moment after the answer time we pass, so they may be a second or two
later than ours.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from collection.enums import LOCAL_USN, CardQueue
from collection.scheduler import (
    CardState,
    DeckOptions,
    answer_card,
    constrained_fuzz_bounds,
    describe_next_states,
    next_states,
)
from collection.scheduler._rust import f32
from tests.collection.scheduler_oracle import OracleRun, run_oracles

pytestmark = pytest.mark.interop

RATINGS = (1, 2, 3, 4)

# Deck presets (deep-merged into Anki's defaults).
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # The non-default preset, plus graduating intervals that get fuzzed.
    "custom": {
        "new": {"delays": [1.0, 10.0, 60.0], "ints": [3, 6, 0]},
        "rev": {"hardFactor": 1.0, "ivlFct": 0.8, "ease4": 1.5, "maxIvl": 200},
        "lapse": {
            "delays": [10.0, 1440.0],
            "mult": 0.2,
            "minInt": 2,
            "leechFails": 4,
            "leechAction": 0,
        },
        "maxTaken": 20,
    },
    # Interday learning steps, no relearning steps, lapse fuzz, odd leech threshold.
    "interday": {
        "new": {"delays": [30.0, 1440.0, 2880.0], "ints": [7, 12, 0], "initialFactor": 2300},
        "rev": {"hardFactor": 1.5, "ivlFct": 1.1, "ease4": 1.2},
        "lapse": {"delays": [], "mult": 0.5, "minInt": 1, "leechFails": 3, "leechAction": 1},
    },
}

Case = dict[str, Any]


def _learning(preset: dict[str, Any]) -> list[float]:
    return list(preset.get("new", {}).get("delays", [1.0, 10.0]))


def _relearning(preset: dict[str, Any]) -> list[float]:
    return list(preset.get("lapse", {}).get("delays", [10.0]))


def _leech_fails(preset: dict[str, Any]) -> int:
    return int(preset.get("lapse", {}).get("leechFails", 8))


def card_states(preset: dict[str, Any]) -> dict[str, Case]:
    """Named card states (the columns the oracle sets) for one preset."""
    steps, relearn, leech = _learning(preset), _relearning(preset), _leech_fails(preset)
    states: dict[str, Case] = {"new": {"type": 0, "queue": 0, "due": 7}}
    for index in range(len(steps)):
        left = len(steps) - index
        name = f"learn step {index}"
        if steps[index] >= 1440:
            states[name] = {"type": 1, "queue": 3, "due_days": 0, "left": left, "reps": index + 1}
        else:
            states[name] = {"type": 1, "queue": 1, "due_secs": -30, "left": left, "reps": index + 1}
    review = {"type": 2, "queue": 2, "factor": 2500, "reps": 6}
    states |= {
        "review on time": review | {"ivl": 10, "due_days": 0},
        "review 3 days late": review | {"ivl": 10, "due_days": -3},
        "review 10 days late": review | {"ivl": 40, "factor": 2300, "due_days": -10},
        "review 2 days early": review | {"ivl": 10, "due_days": 2},
        "review ivl 1": review | {"ivl": 1, "due_days": 0},
        "review ivl 3": review | {"ivl": 3, "due_days": -1, "factor": 1400},
        "review minimum ease": review | {"ivl": 6, "factor": 1300, "due_days": 0, "lapses": 2},
        "review long": review | {"ivl": 180, "factor": 2700, "due_days": -5},
        "review at leech threshold": review
        | {"ivl": 20, "due_days": 0, "lapses": leech - 1, "factor": 2100},
        "review at second leech": review
        | {"ivl": 20, "due_days": 0, "lapses": leech + (leech + 1) // 2 - 1},
        "review after leech": review | {"ivl": 20, "due_days": 0, "lapses": leech},
    }
    relearning = {"type": 3, "ivl": 4, "factor": 2300, "lapses": 1, "reps": 9}
    for index in range(len(relearn)):
        left = len(relearn) - index
        name = f"relearn step {index}"
        if relearn[index] >= 1440:
            states[name] = relearning | {"queue": 3, "due_days": 0, "left": left}
        else:
            states[name] = relearning | {"queue": 1, "due_secs": -10, "left": left}
    if relearn:
        states["relearn long ivl"] = relearning | {
            "queue": 1,
            "due_secs": -10,
            "left": len(relearn),
            "ivl": 60,
        }
    return states


def _build_cases() -> dict[str, list[tuple[str, Case]]]:
    rng = random.Random(20240310)
    groups: dict[str, list[tuple[str, Case]]] = {}
    for preset_name, preset in PRESETS.items():
        cases = []
        for state_name, state in card_states(preset).items():
            for rating in RATINGS:
                card_id = rng.randrange(1_500_000_000_000, 1_700_000_000_000)
                case = state | {"rating": rating, "card_id": card_id, "taken_ms": 25_000}
                cases.append((f"{preset_name}: {state_name}, ease {rating}", case))
        groups[preset_name] = cases
    return groups


CASES = _build_cases()
CASE_IDS = [name for cases in CASES.values() for name, _ in cases]

# Many seeds, to pin down the random number generator itself.
RNG_CASES: list[Case] = [
    {
        "type": 2,
        "queue": 2,
        "ivl": ivl,
        "factor": 2500,
        "reps": reps,
        "due_days": 0,
        "rating": 3,
        "card_id": card_id,
        "taken_ms": 1000,
    }
    for ivl, reps, card_id in zip(
        [3, 8, 25, 100, 700] * 8,
        range(40),
        random.Random(7).sample(range(1_000_000_000_000, 1_800_000_000_000), 40),
        strict=True,
    )
] + [
    {
        "type": 1,
        "queue": 1,
        "due_secs": -5,
        "left": 1,
        "reps": reps,
        "rating": 2,
        "card_id": cid,
        "taken_ms": 1000,
    }
    for reps, cid in zip(
        range(40),
        random.Random(8).sample(range(1_000_000_000_000, 1_800_000_000_000), 40),
        strict=True,
    )
]


# Review cards across the whole range of intervals, for the button labels (s to y).
LABEL_CASES: list[Case] = [
    {
        "type": 2,
        "queue": 2,
        "ivl": ivl,
        "factor": factor,
        "reps": 3,
        "due_days": -late,
        "rating": 3,
        "card_id": 1_400_000_000_000 + ivl * 1009 + late,
        "taken_ms": 500,
    }
    for ivl, factor, late in [
        (2, 2500, 0),
        (5, 1300, 0),
        (9, 2500, 1),
        (11, 2500, 0),
        (12, 2500, 0),
        (17, 2100, 4),
        (23, 2500, 0),
        (29, 1800, 2),
        (30, 2500, 0),
        (44, 2500, 0),
        (70, 2900, 9),
        (121, 2500, 0),
        (146, 2500, 0),
        (200, 1700, 30),
        (290, 2500, 0),
        (365, 2500, 0),
        (730, 2100, 0),
        (1500, 2500, 12),
        (5000, 2500, 0),
        (20000, 2500, 0),
    ]
]

# A review card at the maximum interval whose fuzz factor (seed = id + reps) is a hair
# below 1: Anki's f32 arithmetic then schedules it one day *past* the maximum.
MAX_INTERVAL_CASES: list[Case] = [
    {
        "type": 2,
        "queue": 2,
        "ivl": 36_500,
        "factor": 2500,
        "reps": 6,
        "due_days": 0,
        "rating": rating,
        "card_id": card_id,
        "taken_ms": 500,
    }
    # card ids whose fuzz factor at 6 reps is above 0.9985
    for rating, card_id in zip(
        (2, 3, 4), (1_600_000_000_214, 1_600_000_002_216, 1_600_000_002_837), strict=True
    )
]

# Groups answered (with fuzz) after the presets' groups, in this order.
EXTRA_GROUPS = {"rng": RNG_CASES, "max interval": MAX_INTERVAL_CASES, "labels": LABEL_CASES}

Reply = dict[str, tuple[dict[str, Any], dict[str, Any]]]


def _request(extra_cases: bool) -> dict[str, Any]:
    groups = [
        {"dconf": PRESETS[name], "cases": [case for _, case in cases]}
        for name, cases in CASES.items()
    ]
    if extra_cases:
        groups += [{"dconf": {}, "cases": cases} for cases in EXTRA_GROUPS.values()]
    return {"mode": "answer", "groups": groups}


def _extra(reply: dict[str, Any], name: str) -> dict[str, Any]:
    group: dict[str, Any] = reply["groups"][len(CASES) + list(EXTRA_GROUPS).index(name)]
    return group


def _index(reply: dict[str, Any]) -> Reply:
    by_id = {}
    for name, group in zip(CASES, reply["groups"], strict=False):
        for (case_id, _), result in zip(CASES[name], group["results"], strict=True):
            by_id[case_id] = (group["dconf"], result)
    return by_id


def _next_local_hour() -> int:
    """The hour after this one, on the clock Anki uses (the local timezone)."""
    return (time.localtime().tm_hour + 1) % 24


@pytest.fixture(scope="module")
def anki_replies() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Anki as it runs; in its test mode (fuzz off); and with the day rolling over
    within the hour, so that more (re)learning delays reach into the next day. Three
    processes side by side."""
    near_rollover = _request(extra_cases=False) | {"rollover": _next_local_hour()}
    fuzzed, unfuzzed, near = run_oracles(
        OracleRun(_request(extra_cases=True), fuzz=True),
        OracleRun(_request(extra_cases=False), fuzz=False),
        OracleRun(near_rollover, fuzz=True),
    )
    return fuzzed, unfuzzed, near


@pytest.fixture(scope="module")
def anki_fuzzed(anki_replies: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    return anki_replies[0]


@pytest.fixture(scope="module")
def fuzzed(anki_fuzzed: dict[str, Any]) -> Reply:
    return _index(anki_fuzzed)


@pytest.fixture(scope="module")
def unfuzzed(anki_replies: tuple[dict[str, Any], ...]) -> Reply:
    return _index(anki_replies[1])


@pytest.fixture(scope="module")
def near_rollover(anki_replies: tuple[dict[str, Any], ...]) -> Reply:
    return _index(anki_replies[2])


CARD_FIELDS = ("id", "nid", "did", "type", "queue", "ivl", "factor", "reps", "lapses", "left")
EXACT_FIELDS = (*CARD_FIELDS, "odue", "odid", "usn", "data")


def _ours(dconf: dict[str, Any], result: dict[str, Any], *, fuzz: bool):
    card = CardState.from_row(result["before"])
    today, next_day_at = result["timing_before"]
    return answer_card(
        card,
        DeckOptions.from_dconf(dconf),
        result["case"]["rating"],
        result["answered_ms"] / 1000,
        today,
        result["case"]["taken_ms"],
        next_day_at=next_day_at,
        usn=LOCAL_USN,  # the oracle is a client: its own changes are pending (-1)
        fuzz=fuzz,
    )


def assert_same_as_anki(dconf: dict[str, Any], result: dict[str, Any], *, fuzz: bool) -> None:
    ours = _ours(dconf, result, fuzz=fuzz)
    anki_card, anki_revlog = result["after"], result["revlog"]
    our_card = ours.card.as_row()

    assert {k: our_card[k] for k in EXACT_FIELDS} == {k: anki_card[k] for k in EXACT_FIELDS}
    # Anki stamps intraday due times and `mod` with its own clock, read just after
    # the answer time we pass in.
    clock_slack = result["after_secs"] - result["answered_ms"] // 1000
    if anki_card["queue"] == CardQueue.LEARN:
        assert 0 <= anki_card["due"] - our_card["due"] <= clock_slack
    else:
        assert our_card["due"] == anki_card["due"]
    assert 0 <= anki_card["mod"] - our_card["mod"] <= clock_slack

    assert ours.revlog.as_row() == anki_revlog
    assert ours.leech == ("leech" in result["tags"])
    assert ours.suspend == (anki_card["queue"] == CardQueue.SUSPENDED)


def assert_same_labels(dconf: dict[str, Any], result: dict[str, Any], *, fuzz: bool) -> None:
    card = CardState.from_row(result["before"])
    today, next_day_at = result["timing_before"]
    states = next_states(card, DeckOptions.from_dconf(dconf), today, fuzz=fuzz)
    labels = describe_next_states(states, result["label_time"], next_day_at, collapse_secs=1200)
    assert list(labels) == result["labels"]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_answer_matches_anki(fuzzed: Reply, case_id: str) -> None:
    dconf, result = fuzzed[case_id]
    assert_same_as_anki(dconf, result, fuzz=True)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_answer_matches_anki_without_fuzz(unfuzzed: Reply, case_id: str) -> None:
    dconf, result = unfuzzed[case_id]
    assert_same_as_anki(dconf, result, fuzz=False)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_answer_matches_anki_near_the_rollover(near_rollover: Reply, case_id: str) -> None:
    dconf, result = near_rollover[case_id]
    assert_same_as_anki(dconf, result, fuzz=True)
    assert_same_labels(dconf, result, fuzz=True)


def test_near_the_rollover_short_steps_become_interday(near_rollover: Reply) -> None:
    """Sanity check of the set-up: delays of an hour now reach into the next day."""
    _, result = near_rollover["custom: learn step 1, ease 3"]  # the 60-minute step
    assert result["timing_before"][1] - result["answered_ms"] // 1000 <= 3600
    assert (result["after"]["queue"], result["revlog"]["ivl"]) == (3, 1)


# The labels depend on the card state, not the button pressed: one case per state.
@pytest.mark.parametrize("case_id", CASE_IDS[:: len(RATINGS)])
def test_labels_match_anki(fuzzed: Reply, case_id: str) -> None:
    dconf, result = fuzzed[case_id]
    assert_same_labels(dconf, result, fuzz=True)


@pytest.mark.parametrize("case_id", CASE_IDS[:: len(RATINGS)])
def test_labels_match_anki_without_fuzz(unfuzzed: Reply, case_id: str) -> None:
    dconf, result = unfuzzed[case_id]
    assert_same_labels(dconf, result, fuzz=False)


def test_labels_match_anki_over_the_range_of_intervals(anki_fuzzed: dict[str, Any]) -> None:
    group = _extra(anki_fuzzed, "labels")
    for result in group["results"]:
        assert_same_labels(group["dconf"], result, fuzz=True)
        assert_same_as_anki(group["dconf"], result, fuzz=True)
    shown = {label for result in group["results"] for label in result["labels"]}
    assert {"y", "mo", "d", "m"} <= {label.lstrip("<0123456789.") for label in shown}


def test_fuzz_random_numbers_match_anki_for_many_seeds(anki_fuzzed: dict[str, Any]) -> None:
    group = _extra(anki_fuzzed, "rng")
    mismatches = []
    for result in group["results"]:
        ours = _ours(group["dconf"], result, fuzz=True)
        anki_card = result["after"]
        if anki_card["queue"] == CardQueue.LEARN:
            slack = result["after_secs"] - result["answered_ms"] // 1000
            same = 0 <= anki_card["due"] - ours.card.due <= slack
        else:
            same = ours.card.ivl == anki_card["ivl"]
        if not same:
            mismatches.append((result["case"], anki_card, ours.card))
    assert mismatches == []


def test_fuzz_can_pass_the_maximum_interval_by_a_day_like_anki(
    anki_fuzzed: dict[str, Any],
) -> None:
    group = _extra(anki_fuzzed, "max interval")
    for result in group["results"]:
        assert result["after"]["ivl"] == 36_501
        assert_same_as_anki(group["dconf"], result, fuzz=True)


def test_anki_hard_intervals_lie_in_our_fuzz_range(fuzzed: Reply) -> None:
    """Independently of the random numbers: Anki's fuzzed Hard interval for a review
    card lies within the range `constrained_fuzz_bounds` gives for the raw interval."""
    checked = 0
    for case_id in CASE_IDS:
        dconf, result = fuzzed[case_id]
        case = result["case"]
        if case["type"] != 2 or case["rating"] != 2:
            continue
        options = DeckOptions.from_dconf(dconf)
        ivl = case["ivl"]
        raw = f32(f32(max(ivl, 1) * f32(options.hard_factor)) * f32(options.ivl_fct))
        minimum = ivl + 1 if f32(options.hard_factor) > 1 else 1
        lower, upper = constrained_fuzz_bounds(raw, min(minimum, options.max_ivl), options.max_ivl)
        assert lower <= result["after"]["ivl"] <= upper, case_id
        checked += 1
    assert checked >= 20
