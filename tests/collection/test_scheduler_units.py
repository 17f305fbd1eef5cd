"""Unit tests: Anki's own Rust unit tests for the scheduler, ported, and the details of
what an answer writes."""

from __future__ import annotations

import json
import sqlite3

import pytest

from collection.enums import CardQueue, CardType
from collection.scheduler import (
    CardState,
    DeckOptions,
    answer_button_time,
    answer_button_time_collapsible,
    answer_card,
    describe_next_states,
    fuzz_factor,
    fuzz_seed,
    learning_delay_with_fuzz,
    leech_threshold_met,
    next_states,
    updated_card_data,
    with_review_fuzz,
)
from collection.scheduler.states import ReviewState, _Context, _passing_review_intervals
from collection.scheduler.steps import LearningSteps
from collection.schema import default_deck_config

DAY = 86_400
NOW = 1_700_000_000.25
TODAY = 500
NEXT_DAY = 1_700_000_000 + 10 * 3600
USN = 42  # the collection's usn, carried by the card and revlog entry

# --- fuzz.rs ------------------------------------------------------------------------


def test_no_fuzz_just_rounds_and_clamps() -> None:
    assert with_review_fuzz(None, 1.5, 1, 100) == 2
    assert with_review_fuzz(None, 0.1, 1, 100) == 1
    assert with_review_fuzz(None, 101.0, 1, 100) == 100


@pytest.mark.parametrize(
    ("interval", "minimum", "maximum", "lower", "middle", "upper"),
    [
        # no fuzzing for an interval of 1-2.49
        (1.0, 1, 1000, 1, 1, 1),
        (2.49, 1, 1000, 2, 2, 2),
        # 1 day for intervals >= 2.5
        (2.5, 1, 1000, 2, 3, 4),
        # ... plus 0.15 for every day in the range 2.5-7
        (7.0, 1, 1000, 5, 7, 9),
        # ... plus 0.1 for every day in the range 7-20
        (17.0, 1, 1000, 14, 17, 20),
        # ... plus 0.05 for every day above 20
        (37.0, 1, 1000, 33, 37, 41),
        # ensure fuzz range of at least 2, if allowed
        (2.0, 2, 1000, 2, 2, 2),
        (2.0, 3, 1000, 3, 4, 4),
        (2.0, 3, 3, 3, 3, 3),
        # fuzz range transitions
        (6.9, 3, 1000, 5, 7, 9),
        (7.0, 3, 1000, 5, 7, 9),
        (7.1, 3, 1000, 5, 7, 9),
        (19.9, 3, 1000, 17, 20, 23),
        (20.0, 3, 1000, 17, 20, 23),
        (20.1, 3, 1000, 17, 20, 23),
        # respect limits and preserve uniform distribution of valid intervals
        (100.0, 101, 1000, 101, 105, 108),
        (100.0, 1, 99, 92, 96, 99),
        (100.0, 97, 103, 97, 100, 103),
    ],
)
def test_fuzz_like_anki(
    interval: float, minimum: int, maximum: int, lower: int, middle: int, upper: int
) -> None:
    assert with_review_fuzz(0.0, interval, minimum, maximum) == lower
    assert with_review_fuzz(0.5, interval, minimum, maximum) == middle
    assert with_review_fuzz(0.99, interval, minimum, maximum) == upper


# --- review.rs ------------------------------------------------------------------------


def test_leech_threshold_like_anki() -> None:
    met = [n for n in range(14) if leech_threshold_met(n, 3)]
    assert met == [3, 5, 7, 9, 11, 13]
    met = [n for n in range(14) if leech_threshold_met(n, 8)]
    assert met == [8, 12]
    assert not leech_threshold_met(0, 0)  # 0 means off
    assert [leech_threshold_met(n, 1) for n in range(4)] == [False, True, True, True]


def _context(factor: float | None, **options: float) -> _Context:
    return _Context.build(DeckOptions(**options), factor)  # type: ignore[arg-type]


def test_extreme_multipliers_like_anki() -> None:
    state = ReviewState(scheduled_days=1, elapsed_days=1, ease_factor=1.3, lapses=0)
    assert _passing_review_intervals(state, _context(0.0)) == (2, 3, 4)
    # a silly multiplier must not underflow
    assert _passing_review_intervals(state, _context(0.0, ivl_fct=0.1)) == (2, 3, 4)
    assert _passing_review_intervals(state, _context(0.99, ivl_fct=0.1)) == (2, 4, 6)
    # the maximum is respected no matter what
    assert _passing_review_intervals(state, _context(0.99, ivl_fct=10.0, max_ivl=5)) == (5, 5, 5)


def test_low_hard_multiplier_does_not_pull_good_down_like_anki() -> None:
    state = ReviewState(scheduled_days=2, elapsed_days=2, ease_factor=1.3, lapses=0)
    assert _passing_review_intervals(state, _context(0.0, hard_factor=0.1)) == (1, 3, 4)


# --- steps.rs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "remaining", "again", "hard", "good"),
    [
        # with one step, hard is 50% more than again ...
        ((10.0,), 1, 600, 900, None),
        # ... but at most a day more
        ((3 * DAY / 60,), 1, 3 * DAY, 4 * DAY, None),
        ((1.0, 10.0), 2, 60, 330, 600),
        ((1.0, 10.0), 1, 60, 600, None),
        ((1.0, 10.0, 100.0), 3, 60, 330, 600),
        ((1.0, 10.0, 100.0), 2, 60, 600, 6000),
        ((1.0, 10.0, 100.0), 1, 60, 6000, None),
        # v2's "steps today" in the thousands is ignored
        ((1.0, 10.0), 1002, 60, 330, 600),
        # the average of a 1-day and a 2-day step rounds to whole days
        ((1440.0, 2880.0), 2, DAY, 2 * DAY, 2 * DAY),
    ],
)
def test_step_delays_like_anki(
    steps: tuple[float, ...], remaining: int, again: int, hard: int, good: int | None
) -> None:
    learning = LearningSteps(steps)
    assert learning.again_delay_secs() == again
    assert learning.hard_delay_secs(remaining) == hard
    assert learning.good_delay_secs(remaining) == good


def test_no_steps() -> None:
    steps = LearningSteps(())
    assert steps.again_delay_secs() is None
    assert steps.hard_delay_secs(0) is None
    assert steps.good_delay_secs(0) is None
    assert steps.remaining_for_failed() == 0


# --- timespan.rs ----------------------------------------------------------------------

MONTH = 30.417 * DAY


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (30, "30s"),
        (70, "1m"),
        (1.1 * MONTH, "1.1mo"),
        (59, "59s"),
        (60, "1m"),
        (330, "6m"),
        (3599, "60m"),
        (3600, "1h"),
        (5400, "1.5h"),
        (DAY - 1, "24h"),
        (DAY, "1d"),
        (30 * DAY, "30d"),
        (31 * DAY, "1mo"),
        (44 * DAY, "1.4mo"),
        (364 * DAY, "12mo"),
        (365 * DAY, "1y"),
        (400 * DAY, "1.1y"),
        (36_500 * DAY, "100y"),
    ],
)
def test_answer_button_time(seconds: float, label: str) -> None:
    assert answer_button_time(seconds) == label


def test_collapsible_labels() -> None:
    assert answer_button_time_collapsible(0, 1200) == "(end)"
    assert answer_button_time_collapsible(600, 1200) == "<10m"
    assert answer_button_time_collapsible(600) == "10m"
    assert answer_button_time_collapsible(1200, 1200) == "20m"


def test_describe_next_states_for_a_new_card() -> None:
    card = CardState(id=1_700_000_000_000, nid=1, did=1, due=3)
    states = next_states(card, DeckOptions(), TODAY, fuzz=False)
    assert describe_next_states(states, NOW, NEXT_DAY) == ("1m", "6m", "10m", "4d")
    assert describe_next_states(states, NOW, NEXT_DAY, collapse_secs=1200) == (
        "<1m",
        "<6m",
        "<10m",
        "4d",
    )
    # ten minutes before the rollover, a 10-minute step is shown as a day
    late = NEXT_DAY - 599
    assert describe_next_states(states, late, NEXT_DAY) == ("1m", "6m", "1d", "4d")


# --- options --------------------------------------------------------------------------


def test_options_from_the_default_preset_are_ankis_defaults() -> None:
    assert DeckOptions.from_dconf(default_deck_config()) == DeckOptions()
    assert DeckOptions.from_dconf({}) == DeckOptions()


def test_options_from_a_custom_preset() -> None:
    dconf = default_deck_config()
    dconf["new"] |= {"delays": [1, 10, 60], "ints": [3, 6, 0], "initialFactor": 2300}
    dconf["rev"] |= {"hardFactor": 1.0, "ivlFct": 0.8, "ease4": 1.5, "maxIvl": 200}
    dconf["lapse"] |= {"delays": [10, 1440], "mult": 0.2, "minInt": 2, "leechFails": 4}
    dconf["lapse"]["leechAction"] = 0
    dconf["maxTaken"] = 20
    options = DeckOptions.from_dconf(dconf)
    assert options.learn_steps == (1.0, 10.0, 60.0)
    assert (options.graduating_ivl, options.easy_ivl, options.initial_factor) == (3, 6, 2300)
    assert (options.hard_factor, options.ivl_fct, options.easy_bonus) == (1.0, 0.8, 1.5)
    assert options.max_ivl == 200
    assert options.relearn_steps == (10.0, 1440.0)
    assert (options.lapse_mult, options.min_ivl) == (0.2, 2)
    assert (options.leech_fails, options.leech_action, options.max_taken) == (4, 0, 20)


# --- card rows and data ---------------------------------------------------------------


def test_card_state_from_a_sqlite_row() -> None:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    row = conn.execute(
        "select 5 as id, 6 as nid, 1 as did, 0 as ord, 2 as type, 2 as queue, 510 as due,"
        " 10 as ivl, 2500 as factor, 7 as reps, 1 as lapses, 0 as left, 0 as odue,"
        " 0 as odid, 99 as mod, 3 as usn, 0 as flags, '{}' as data"
    ).fetchone()
    card = CardState.from_row(row)
    assert card == CardState(
        id=5, nid=6, did=1, type=2, queue=2, due=510, ivl=10, factor=2500, reps=7,
        lapses=1, left=0, mod=99, usn=3, data="{}",
    )  # fmt: skip
    assert CardState.from_row(card.as_row()) == card


def test_card_data_is_rewritten_like_anki() -> None:
    data = '{"cd":"{\\"x\\":1}","foo":1,"pos":5,"lrt":3,"s":1.5,"d":5.0,"dr":0.9}'
    assert updated_card_data(data, original_position=None, answered_at=42) == (
        '{"pos":5,"lrt":42,"cd":"{\\"x\\":1}"}'
    )
    assert updated_card_data("", original_position=7, answered_at=42) == '{"pos":7,"lrt":42}'
    assert updated_card_data("not json", original_position=None, answered_at=1) == '{"lrt":1}'
    assert updated_card_data('{"cd":""}', original_position=None, answered_at=1) == '{"lrt":1}'


# --- the random numbers -----------------------------------------------------------------


def test_random_numbers_reproduce_ankis() -> None:
    # Observed from Anki 26.09 for card 1795628491427: learning delays after its 1st and
    # 2nd answers (60 s and 600 s steps) and its Good interval at reps 3 (raw 13.75 days).
    card_id = 1_795_628_491_427
    assert learning_delay_with_fuzz(card_id, 0, 60) == 61
    assert learning_delay_with_fuzz(card_id, 1, 600) == 684
    assert with_review_fuzz(fuzz_factor(fuzz_seed(card_id, 3)), 13.75, 1, 36500) == 15
    assert learning_delay_with_fuzz(card_id, 0, 60, fuzz=False) == 60
    # delays too short for a whole second of fuzz are left alone
    assert learning_delay_with_fuzz(card_id, 0, 3) == 3


def test_fuzz_seed_wraps_like_a_u64() -> None:
    assert fuzz_seed(-1, 1) == 0
    assert fuzz_seed(5, 7) == 12
    assert 0.0 <= fuzz_factor(fuzz_seed(-1, 1)) < 1.0


# --- answering ------------------------------------------------------------------------


def _answer(card: CardState, ease: int, options: DeckOptions | None = None, **kw: object):
    args: dict = {"next_day_at": NEXT_DAY, "usn": USN, "fuzz": False} | kw
    return answer_card(card, options or DeckOptions(), ease, NOW, TODAY, 5_000, **args)


def test_new_card_good() -> None:
    card = CardState(id=11, nid=2, did=1, due=9, data="{}")
    result = _answer(card, 3)
    assert (result.card.type, result.card.queue, result.card.left) == (CardType.LEARN, 1, 1)
    assert result.card.due == 1_700_000_000 + 600
    assert (result.card.ivl, result.card.factor, result.card.reps) == (0, 0, 1)
    assert (result.card.mod, result.card.usn) == (1_700_000_000, USN)
    assert json.loads(result.card.data) == {"pos": 9, "lrt": 1_700_000_000}
    revlog = result.revlog.as_row()
    assert revlog == {
        "id": 1_700_000_000_250,
        "cid": 11,
        "usn": USN,
        "ease": 3,
        "ivl": -600,
        "lastIvl": 0,
        "factor": 0,
        "time": 5_000,
        "type": 0,
    }


def test_learning_step_reaching_past_the_rollover_becomes_interday() -> None:
    card = CardState(id=11, nid=2, did=1, type=CardType.LEARN, queue=CardQueue.LEARN, left=2)
    result = _answer(card, 3, next_day_at=int(NOW) + 300)
    assert (result.card.queue, result.card.due, result.card.left) == (CardQueue.DAY_LEARN, 501, 1)
    assert (result.revlog.ivl, result.revlog.last_ivl) == (1, -60)


def test_day_long_steps_are_interday() -> None:
    options = DeckOptions(learn_steps=(1440.0, 4320.0))
    card = CardState(id=11, nid=2, did=1, type=CardType.LEARN, queue=CardQueue.DAY_LEARN, left=2)
    result = _answer(card, 3, options)
    assert (result.card.queue, result.card.due) == (CardQueue.DAY_LEARN, TODAY + 3)
    assert (result.revlog.ivl, result.revlog.last_ivl) == (3, 1)


def test_review_lapse_into_relearning_and_leech_suspend() -> None:
    options = DeckOptions(leech_fails=4, leech_action=0, lapse_mult=0.5, min_ivl=3)
    card = CardState(
        id=11, nid=2, did=1, type=CardType.REVIEW, queue=CardQueue.REVIEW, due=TODAY,
        ivl=20, factor=1400, reps=30, lapses=3,
    )  # fmt: skip
    result = _answer(card, 1, options)
    assert result.leech and result.suspend
    assert (result.card.type, result.card.queue) == (CardType.RELEARN, CardQueue.SUSPENDED)
    assert (result.card.ivl, result.card.factor, result.card.lapses) == (10, 1300, 4)
    assert (result.revlog.ivl, result.revlog.last_ivl, result.revlog.factor) == (-600, 20, 1300)
    assert result.revlog.type == 1


def test_time_taken_is_capped() -> None:
    card = CardState(id=11, nid=2, did=1)
    options = DeckOptions(max_taken=20)
    answered = answer_card(card, options, 3, NOW, TODAY, 75_000, next_day_at=NEXT_DAY, usn=USN)
    assert answered.revlog.time == (20_000)


def test_bad_input_is_refused() -> None:
    card = CardState(id=11, nid=2, did=1, type=CardType.NEW, queue=CardQueue.NEW)
    with pytest.raises(ValueError, match="ease"):
        _answer(card, 5)
    with pytest.raises(ValueError, match="filtered"):
        _answer(CardState(id=11, nid=2, did=5, odid=1), 3)
