"""The intervals shown above the answer buttons (rslib `scheduler/timespan.rs`)."""

from typing import Final

from ._rust import f32, round_half_away
from .states import SchedulingState, SchedulingStates

_MINUTE: Final = 60.0
_HOUR: Final = 3600.0
_DAY: Final = 86_400.0
_MONTH: Final = f32(f32(30.417) * _DAY)  # Anki: 365/12 days
_YEAR: Final = 365.0 * _DAY

END_LABEL: Final = "(end)"

# (upper bound in seconds, seconds per unit, suffix, shown with one decimal)
_UNITS: Final = (
    (_MINUTE, 1.0, "s", False),
    (_HOUR, _MINUTE, "m", False),
    (_DAY, _HOUR, "h", True),
    (_MONTH, _DAY, "d", False),
    (_YEAR, _MONTH, "mo", True),
)
_YEARS: Final = (_YEAR, "y", True)


def answer_button_time(seconds: float) -> str:
    """A short label such as "10m", "1.5h", "4d", "1.1mo" or "2.7y" (English).

    Seconds, minutes and days are whole numbers; hours, months (365/12 days) and
    years (365 days) keep one decimal, dropped when it is zero.
    """
    secs = f32(seconds)
    magnitude = abs(secs)
    for bound, unit, suffix, decimal in _UNITS:
        if magnitude < bound:
            return _format(secs, unit, suffix, decimal)
    unit, suffix, decimal = _YEARS
    return _format(secs, unit, suffix, decimal)


def _format(secs: float, unit: float, suffix: str, decimal: bool) -> str:
    amount = f32(secs / unit)
    if not decimal:
        return f"{int(round_half_away(amount))}{suffix}"
    tenths = int(round_half_away(f32(amount * 10.0)))
    sign = "-" if tenths < 0 else ""
    whole, tenth = divmod(abs(tenths), 10)
    return f"{sign}{whole}{suffix}" if tenth == 0 else f"{sign}{whole}.{tenth}{suffix}"


def answer_button_time_collapsible(seconds: int, collapse_secs: int = 0) -> str:
    """Anki's button label: "(end)" for 0, "<" before delays shorter than the
    learn-ahead limit (`collapse_secs`, Anki uses `collapseTime`, 1200 s)."""
    if seconds == 0:
        return END_LABEL
    label = answer_button_time(float(seconds))
    return f"<{label}" if seconds < collapse_secs else label


def _state_seconds(state: SchedulingState, secs_until_rollover: int) -> int:
    return state.interval.maybe_as_days(secs_until_rollover).as_seconds()


def describe_next_states(
    states: SchedulingStates,
    now: float,
    next_day_at: int,
    *,
    collapse_secs: int = 0,
) -> tuple[str, str, str, str]:
    """Labels for Again, Hard, Good and Easy, like Anki's `describe_next_states`.

    Delays reaching past the next rollover are shown in days, as in Anki. Anki also
    puts "<" before delays under the learn-ahead limit ("<10m"); pass
    `collapse_secs=1200` for that, the default 0 leaves it out ("10m").
    """
    until_rollover = max(next_day_at - int(now // 1), 0)
    again, hard, good, easy = (
        answer_button_time_collapsible(_state_seconds(state, until_rollover), collapse_secs)
        for state in (states.again, states.hard, states.good, states.easy)
    )
    return again, hard, good, easy
