"""Learning and relearning steps (rslib `scheduler/states/steps.rs`)."""

from dataclasses import dataclass
from typing import Final

from ._rust import U32_MAX, as_u32, f32, round_half_away, sat_u32

DAY_SECS: Final = 86_400


def _to_secs(minutes: float) -> int:
    return as_u32(f32(f32(minutes) * 60.0))


def _maybe_round_in_days(secs: int) -> int:
    """Delays longer than a day are rounded to whole days."""
    if secs > DAY_SECS:
        days = as_u32(round_half_away(f32(f32(float(secs)) / DAY_SECS)))
        return sat_u32(days * DAY_SECS)
    return secs


@dataclass(frozen=True, slots=True)
class LearningSteps:
    """A list of steps in minutes; `remaining` counts the steps still to do."""

    steps: tuple[float, ...]

    def _index(self, remaining: int) -> int:
        total = len(self.steps)
        return min(max(total - remaining % 1000, 0), max(total - 1, 0))

    def _secs_at(self, index: int) -> int | None:
        if 0 <= index < len(self.steps):
            return _to_secs(self.steps[index])
        return None

    def again_delay_secs(self) -> int | None:
        return self._secs_at(0)

    def hard_delay_secs(self, remaining: int) -> int | None:
        index = self._index(remaining)
        current = self._secs_at(index)
        if current is None:
            current = self._secs_at(0)
        if current is None:
            return None
        return self._hard_delay_secs_for_first_step(current) if index == 0 else current

    def _hard_delay_secs_for_first_step(self, again_secs: int) -> int:
        following = self._secs_at(1)
        if following is not None:
            # the average of the first two steps
            return _maybe_round_in_days(sat_u32(again_secs + following) // 2)
        # 50% more than the only step, but at most a day more
        secs = min(sat_u32(again_secs * 3) // 2, sat_u32(again_secs + DAY_SECS))
        return _maybe_round_in_days(secs)

    def good_delay_secs(self, remaining: int) -> int | None:
        return self._secs_at(self._index(remaining) + 1)

    def current_delay_secs(self, remaining: int) -> int:
        secs = self._secs_at(self._index(remaining))
        return 0 if secs is None else secs

    def remaining_for_good(self, remaining: int) -> int:
        return max(len(self.steps) - (self._index(remaining) + 1), 0)

    def remaining_for_failed(self) -> int:
        return min(len(self.steps), U32_MAX)
