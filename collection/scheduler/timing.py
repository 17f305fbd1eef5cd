"""Anki's day numbering (`sched_timing_today`, v2 "new timezone" handling).

A collection's day 0 is the day of its creation (`col.crt`); each day starts at the
rollover hour (config `rollover`, default 4) in the learner's timezone. Offsets are in
minutes WEST of UTC, as Anki stores them in `creationOffset`/`localOffset` (UTC-5 is
300, UTC+10 is -600). Review `due` values are day numbers on this scale; intraday
learning `due` values are epoch seconds.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

DEFAULT_ROLLOVER_HOUR: Final = 4
DEFAULT_LEARN_AHEAD_SECS: Final = 1200  # col.conf "collapseTime"

_DAY_SECS: Final = 86_400
_MAX_OFFSET_MINUTES: Final = 23 * 60


@dataclass(frozen=True, slots=True)
class SchedTiming:
    """What the scheduler needs to know about "today" at a given moment."""

    now: int
    """Epoch seconds the timing was computed for."""
    days_elapsed: int
    """Today's day number: days since the collection was created."""
    next_day_at: int
    """Epoch seconds of the next rollover."""


def _clamp_offset(minutes_west: int) -> int:
    # Anki's fixed_offset_from_minutes caps the offset at +-23 hours.
    return max(-_MAX_OFFSET_MINUTES, min(minutes_west, _MAX_OFFSET_MINUTES))


def _local_day(stamp: int, minutes_west: int) -> int:
    """The calendar day (days since 1970-01-01) of `stamp` in the given timezone."""
    return (stamp - minutes_west * 60) // _DAY_SECS


def _rollover_of_day(local_day: int, rollover_hour: int, minutes_west: int) -> int:
    """Epoch seconds of `rollover_hour`:00 on the given local calendar day."""
    return local_day * _DAY_SECS + (rollover_hour % 24) * 3600 + minutes_west * 60


def sched_timing_today(
    crt: int,
    now: float,
    rollover_hour: int = DEFAULT_ROLLOVER_HOUR,
    utc_offset_minutes_west: int = 0,
    creation_offset_minutes_west: int | None = None,
) -> SchedTiming:
    """Anki's `sched_timing_v2_new`: today's day number and the next rollover.

    `utc_offset_minutes_west` is the learner's current offset; the creation offset
    (config `creationOffset`) defaults to the same value.
    """
    now_secs = int(now // 1)
    current = _clamp_offset(utc_offset_minutes_west)
    created = _clamp_offset(
        current if creation_offset_minutes_west is None else creation_offset_minutes_west
    )
    today_local = _local_day(now_secs, current)
    rollover_today = _rollover_of_day(today_local, rollover_hour, current)
    rollover_passed = rollover_today <= now_secs
    next_day = rollover_today + _DAY_SECS if rollover_passed else rollover_today
    days = today_local - _local_day(crt, created)
    if not rollover_passed:
        days -= 1
    return SchedTiming(now=now_secs, days_elapsed=max(days, 0), next_day_at=next_day)


def sched_timing_for_collection(
    crt: int,
    conf: Mapping[str, Any],
    now: float,
    utc_offset_minutes_west: int | None = None,
) -> SchedTiming:
    """Timing for a collection from its `col.crt` and `col.conf` JSON.

    Reads `rollover` (default 4) and `creationOffset`; the learner's current offset is
    the argument, else `localOffset` from the config, else UTC - what Anki does when it
    runs as a server.
    """
    rollover = conf.get("rollover")
    rollover_hour = DEFAULT_ROLLOVER_HOUR if rollover is None else int(rollover)
    if utc_offset_minutes_west is None:
        utc_offset_minutes_west = local_minutes_west(conf)
    creation = conf.get("creationOffset")
    return sched_timing_today(
        crt,
        now,
        rollover_hour,
        utc_offset_minutes_west,
        None if creation is None else int(creation),
    )


def local_minutes_west(conf: Mapping[str, Any]) -> int:
    """The learner's UTC offset, minutes west, from `localOffset` (UTC when missing)."""
    local = conf.get("localOffset")
    return 0 if local is None else int(local)


def learn_ahead_secs(conf: Mapping[str, Any]) -> int:
    """The learn-ahead limit from `col.conf` (`collapseTime`, default 1200 s)."""
    value = conf.get("collapseTime")
    return DEFAULT_LEARN_AHEAD_SECS if value is None else int(value)


def learn_ahead_cutoff(now: float, learn_ahead_secs: int = DEFAULT_LEARN_AHEAD_SECS) -> int:
    """Intraday learning cards with `due <= cutoff` count as due (and in the learning
    count); those with `now < due <= cutoff` are shown only once nothing else is left."""
    return int(now // 1) + learn_ahead_secs


def is_learning_due(
    due: int,
    now: float,
    *,
    learn_ahead: bool = False,
    learn_ahead_secs: int = DEFAULT_LEARN_AHEAD_SECS,
) -> bool:
    """Whether an intraday learning card (queue 1, `due` in epoch seconds) can be shown.

    Without `learn_ahead` only cards due by now qualify; with it (when the new and review
    queues are empty) cards due within the learn-ahead limit do too, as in Anki v3.
    """
    cutoff = learn_ahead_cutoff(now, learn_ahead_secs) if learn_ahead else int(now // 1)
    return due <= cutoff
