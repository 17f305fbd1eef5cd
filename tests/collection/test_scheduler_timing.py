"""Day numbering: Anki's own timing tests (rslib `scheduler/timing.rs`), properties,
and real Anki's `sched.today` in several timezones."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collection.scheduler import (
    is_learning_due,
    learn_ahead_cutoff,
    learn_ahead_secs,
    sched_timing_for_collection,
    sched_timing_today,
)
from tests.collection.scheduler_oracle import OracleRun, run_oracles

MDT_WEST = 6 * 60
MST_WEST = 7 * 60


def stamp(minutes_west: int, *args: int) -> int:
    """Epoch seconds of a wall-clock time at a fixed offset (minutes west of UTC)."""
    tz = timezone(timedelta(minutes=-minutes_west))
    return int(datetime(*args, tzinfo=tz).timestamp())


def days_elapsed(
    crt: int,
    now: float,
    rollover_hour: int,
    utc_offset_minutes_west: int = 0,
    creation_offset_minutes_west: int | None = None,
) -> int:
    """Today's day number (Anki's `col.sched.today`)."""
    return sched_timing_today(
        crt, now, rollover_hour, utc_offset_minutes_west, creation_offset_minutes_west
    ).days_elapsed


def next_day_at(now: float, rollover_hour: int, utc_offset_minutes_west: int) -> int:
    """Epoch seconds of the first rollover strictly after `now`."""
    return sched_timing_today(0, now, rollover_hour, utc_offset_minutes_west).next_day_at


def elap(start: int, end: int, start_west: int, end_west: int, rollover: int) -> int:
    return days_elapsed(start, end, rollover, end_west, creation_offset_minutes_west=start_west)


# --- Anki's unit tests, ported ------------------------------------------------------


@pytest.mark.parametrize("local_west", [0, 300, -600, -330])
def test_days_elapsed_like_anki(local_west: int) -> None:
    crt = stamp(local_west, 2019, 12, 1, 2, 0, 0)
    # days can't be negative
    assert elap(crt, crt, local_west, local_west, 4) == 0
    assert elap(crt, crt - 86_400, local_west, local_west, 4) == 0
    # 2am the next day is still the same day
    assert elap(crt, crt + 24 * 3600, local_west, local_west, 4) == 0
    # day rolls over at 4am
    assert elap(crt, crt + 26 * 3600, local_west, local_west, 4) == 1
    # the longest extra delay is +23, or 19 hours past the 4 hour default
    assert elap(crt, crt + (26 + 18) * 3600, local_west, local_west, 23) == 0
    assert elap(crt, crt + (26 + 19) * 3600, local_west, local_west, 23) == 1


def test_days_elapsed_across_a_dst_change() -> None:
    # a collection created at midnight in MDT, the current time being MST
    crt = stamp(MDT_WEST, 2018, 8, 6, 0, 0, 0)
    now = stamp(MST_WEST, 2019, 12, 26, 20, 0, 0)
    assert elap(crt, now, MDT_WEST, MST_WEST, 4) == 507
    assert elap(crt, now, MDT_WEST, MDT_WEST, 4) == 507

    # created at 3am on the 6th: day 1 starts at 4am on the 7th, day 3 on the 9th
    crt = stamp(MDT_WEST, 2018, 8, 6, 3, 0, 0)
    assert elap(crt, stamp(MST_WEST, 2018, 8, 9, 1, 59, 59), MDT_WEST, MST_WEST, 4) == 2
    assert elap(crt, stamp(MST_WEST, 2018, 8, 9, 3, 59, 59), MDT_WEST, MST_WEST, 4) == 2
    assert elap(crt, stamp(MST_WEST, 2018, 8, 9, 4, 0, 0), MDT_WEST, MST_WEST, 4) == 3


HOURS_OF_INTEREST = (0, 1, 4, 12, 22, 23)


@pytest.mark.parametrize("creation_hour", HOURS_OF_INTEREST)
def test_days_elapsed_hour_combinations_like_anki(creation_hour: int) -> None:
    crt = stamp(MDT_WEST, 2018, 8, 6, creation_hour, 0, 0)
    for current_day in range(4):
        for current_hour in HOURS_OF_INTEREST:
            for rollover in HOURS_OF_INTEREST:
                now = stamp(MDT_WEST, 2018, 8, 6 + current_day, current_hour, 0, 0)
                expected = max(current_day, 1) - 1 if current_hour < rollover else current_day
                assert elap(crt, now, MDT_WEST, MDT_WEST, rollover) == expected


@pytest.mark.parametrize("west", [0, 300, -600])
def test_next_day_at_like_anki(west: int) -> None:
    # before the rollover, the next day starts later the same day
    now = stamp(west, 2019, 1, 3, 2, 0, 0)
    assert next_day_at(now, 4, west) == stamp(west, 2019, 1, 3, 4, 0, 0)
    # at and after the rollover, it is the next day
    assert next_day_at(stamp(west, 2019, 1, 3, 4, 0, 0), 4, west) == stamp(west, 2019, 1, 4, 4)
    assert next_day_at(stamp(west, 2019, 1, 3, 7, 0, 0), 4, west) == stamp(west, 2019, 1, 4, 4)


def test_issue_example_utc_minus_5() -> None:
    # UTC-5 is stored as +300 minutes west; its 4am is 09:00 UTC.
    crt = stamp(0, 2024, 1, 1, 9, 0, 0)
    assert days_elapsed(crt, stamp(0, 2024, 1, 2, 8, 59, 59), 4, 300) == 0
    assert days_elapsed(crt, stamp(0, 2024, 1, 2, 9, 0, 0), 4, 300) == 1
    assert days_elapsed(crt, stamp(0, 2024, 1, 2, 9, 0, 0), 4, 0) == 1
    assert days_elapsed(crt, stamp(0, 2024, 1, 2, 3, 59, 59), 4, 0) == 0


def test_timing_from_collection_config() -> None:
    crt = stamp(0, 2024, 1, 1, 4, 0, 0)
    now = stamp(0, 2024, 1, 11, 3, 0, 0)
    # defaults: rollover 4, UTC
    assert sched_timing_for_collection(crt, {}, now).days_elapsed == 9
    assert sched_timing_for_collection(crt, {"rollover": 2}, now).days_elapsed == 10
    # localOffset is the learner's offset (here UTC+10: 13:00 local)
    timing = sched_timing_for_collection(crt, {"localOffset": -600, "creationOffset": 0}, now)
    assert timing.days_elapsed == 10
    assert timing.next_day_at == stamp(-600, 2024, 1, 12, 4, 0, 0)
    # an explicit offset wins over the config
    assert sched_timing_for_collection(crt, {"localOffset": -600}, now, 0).days_elapsed == 9


def test_learn_ahead() -> None:
    now = 1_700_000_000.7
    assert learn_ahead_secs({}) == 1200
    assert learn_ahead_secs({"collapseTime": 600}) == 600
    assert learn_ahead_cutoff(now) == 1_700_001_200
    assert is_learning_due(1_700_000_000, now)
    assert not is_learning_due(1_700_000_001, now)
    assert is_learning_due(1_700_001_200, now, learn_ahead=True)
    assert not is_learning_due(1_700_001_201, now, learn_ahead=True)
    assert not is_learning_due(1_700_000_601, now, learn_ahead=True, learn_ahead_secs=600)


# --- properties ---------------------------------------------------------------------

offsets = st.integers(min_value=-23 * 60, max_value=23 * 60)
instants = st.integers(min_value=1_000_000_000, max_value=2_500_000_000)


@given(crt=instants, now=instants, rollover=st.integers(0, 23), west=offsets)
def test_one_more_day_at_each_rollover(crt: int, now: int, rollover: int, west: int) -> None:
    timing = sched_timing_today(crt, now, rollover, west)
    assert 0 < timing.next_day_at - now <= 86_400
    after = sched_timing_today(crt, timing.next_day_at, rollover, west)
    just_before = sched_timing_today(crt, timing.next_day_at - 1, rollover, west)
    assert just_before.days_elapsed == timing.days_elapsed
    if after.days_elapsed > 0:
        assert after.days_elapsed == timing.days_elapsed + 1
    assert after.next_day_at == timing.next_day_at + 86_400


@given(crt=instants, a=instants, b=instants, rollover=st.integers(0, 23), west=offsets)
def test_days_never_go_backwards(crt: int, a: int, b: int, rollover: int, west: int) -> None:
    early, late = sorted((a, b))
    assert days_elapsed(crt, early, rollover, west) <= days_elapsed(crt, late, rollover, west)


# --- real Anki, in several timezones ------------------------------------------------

# POSIX TZ strings (no tz database needed) and the offset Anki should read from them.
TIMEZONES = {"UTC0": 0, "<-05>5": 300, "<+10>-10": -600, "<+0530>-5:30": -330}


def _timing_cases(now: int) -> list[dict[str, Any]]:
    cases = []
    for i in range(12):
        cases.append(
            {
                "crt": now - (0, 1, 3, 400)[i % 4] * 86_400 - (i * 7_919) % 86_400,
                "rollover": HOURS_OF_INTEREST[i % len(HOURS_OF_INTEREST)],
                "creation_offset": (0, 300, -600)[i % 3],
            }
        )
    return cases


def test_days_elapsed_matches_anki_in_several_timezones() -> None:
    cases = _timing_cases(int(time.time()))
    request = {"mode": "timing", "cases": cases}
    replies = run_oracles(*(OracleRun(request, tz=tz) for tz in TIMEZONES))
    checked = 0
    for (tz, west), reply in zip(TIMEZONES.items(), replies, strict=True):
        for result in reply["results"]:
            case = result["case"]
            assert result["local_offset"] == (None if west == 0 else west), tz
            anki = (result["days_elapsed"], result["next_day_at"])
            ours = {
                (timing.days_elapsed, timing.next_day_at)
                for timing in (
                    sched_timing_today(
                        case["crt"], moment, case["rollover"], west, case["creation_offset"]
                    )
                    for moment in (result["before"], result["after"])
                )
            }
            assert anki in ours, (tz, case)
            checked += 1
    assert checked == len(cases) * len(TIMEZONES)
