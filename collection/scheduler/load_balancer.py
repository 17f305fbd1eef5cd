"""Anki's load balancer (rslib `scheduler/states/load_balancer.rs`) and easy days.

When the reviewer shows a card, Anki does not pick a review interval of 90 days or
less by plain fuzz: it weighs every day of the fuzz range by how many cards of the
same preset are already due that day (fewer is better), by the day's distance (sooner
is better), by how close the card's siblings are due (when the preset buries review
siblings) and by the preset's easy days, then draws one day with the card's fuzz
seed. With fuzz off (Anki's test mode) nothing is balanced.

The weights, in f32 as in Anki: 1 for a day with no card due; otherwise
`(1/count)^2.15 * (1/days)^3 * sibling * easy`. `sibling` multiplies 0.001 if a
sibling is due that day and distance/5 for each day up to four days before or after
that holds one (today counts: the card itself is due today); `easy` is 1 for a normal
weekday, 0.0001 for an easy day set to 0% and, for a day set in between, 0.0001 when
that day would carry more than its share of the range's cards, else 1.

Anki's published source weighs `(1/count)^2 * (1/days)` with a flat sibling penalty;
the Anki the tests run (26.09) was measured instead: the exponents and the sibling
distances above are what it does (tests/collection/test_load_balancer.py).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from ._rust import f32, powf
from .fuzz import constrained_fuzz_bounds
from .rng import first_u32

MAX_BALANCED_INTERVAL: Final = 90
# Days counted from today: the range can reach past 90 days, so 10% more are kept.
BALANCED_DAYS: Final = 99

_SIBLING_PENALTY: Final = f32(0.001)
_SIBLING_REACH: Final = 5  # days either side (a day 5 away no longer counts)
_SIBLING_NEARBY: Final = tuple(f32(d / _SIBLING_REACH) for d in range(_SIBLING_REACH))
_COUNT_EXPONENT: Final = f32(2.15)
_MINIMUM_LOAD: Final = f32(0.0001)
_REDUCED_LOAD: Final = 0.5


# The cards of the preset due on each day from `first` to `last` (days from today,
# both included), asked for one fuzz range at a time.
DueCounts = Callable[[int, int], Sequence[int]]


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    """One card's view of its preset's workload for the next `BALANCED_DAYS` days.

    `due_counts` gives the cards due on days of a range (days past `BALANCED_DAYS`
    count as empty); `note_days` the days holding a card of the card's note, when the
    preset buries review siblings (`note_id` set); `easy_days` the preset's
    `easyDaysPercentages` (Monday first; empty means every day normal);
    `tomorrow_weekday` the learner's weekday (Monday 0) at the next rollover; `seed`
    the card's fuzz seed.
    """

    due_counts: DueCounts
    note_days: frozenset[int]
    easy_days: Sequence[float]
    tomorrow_weekday: int
    note_id: int | None
    seed: int

    def find_interval(self, interval: float, minimum: int, maximum: int) -> int | None:
        """The balanced interval in days, or None where Anki falls back to plain fuzz."""
        if int(interval) > MAX_BALANCED_INTERVAL or minimum > MAX_BALANCED_INTERVAL:
            return None
        lower, upper = constrained_fuzz_bounds(interval, minimum, maximum)
        span = range(lower, upper + 1)
        counts = self._counts(lower, upper)
        easy = _easy_day_modifiers([self._load_modifier(t) for t in span], counts)
        weights = []
        for t, count, easy_modifier in zip(span, counts, easy, strict=True):
            if count == 0:
                weights.append(1.0)
                continue
            sibling = self._sibling_modifier(t)
            inverse_days = f32(1.0 / f32(float(t)))
            weight = f32(
                powf(f32(1.0 / f32(float(count))), _COUNT_EXPONENT)
                * f32(inverse_days * f32(inverse_days * inverse_days))
            )
            weights.append(f32(f32(weight * sibling) * easy_modifier))
        index = _weighted_index(weights, first_u32(self.seed))
        return None if index is None else lower + index

    def _counts(self, lower: int, upper: int) -> list[int]:
        last = min(upper, BALANCED_DAYS - 1)
        counted = list(self.due_counts(lower, last)) if lower <= last else []
        return counted + [0] * (upper - lower + 1 - len(counted))

    def _sibling_modifier(self, days_from_today: int) -> float:
        """How much siblings nearby hold a day back: 0.001 if one is due that day, and
        distance/5 for each day up to four days either side holding one (today
        included: the card itself is due today)."""
        if self.note_id is None:
            return 1.0
        modifier = 1.0
        for distance in range(_SIBLING_REACH):
            for day in sorted({days_from_today - distance, days_from_today + distance}):
                if 0 <= day < BALANCED_DAYS and day in self.note_days:
                    factor = _SIBLING_PENALTY if distance == 0 else _SIBLING_NEARBY[distance]
                    modifier = f32(modifier * factor)
        return modifier

    def _load_modifier(self, days_from_today: int) -> float:
        """The easy-days load of a day: 1 normal, 0.0001 minimum, 0.5 reduced."""
        if len(self.easy_days) != 7:
            return 1.0
        weekday = (self.tomorrow_weekday + days_from_today - 1) % 7
        percentage = float(self.easy_days[weekday])
        if percentage == 1.0:
            return 1.0
        if percentage == 0.0:
            return _MINIMUM_LOAD
        return _REDUCED_LOAD


def _easy_day_modifiers(loads: list[float], counts: list[int]) -> list[float]:
    """Anki's `calculate_easy_days_modifiers`: a reduced day stays available (1) while
    it holds no more than its share of the range's cards, else drops to the minimum."""
    total_cards = sum(counts)
    total_load = 0.0
    for load in loads:
        total_load = f32(total_load + load)
    modifiers = []
    for load, count in zip(loads, counts, strict=True):
        if load != _REDUCED_LOAD:
            modifiers.append(load)
            continue
        other_cards = f32(float(total_cards - count))
        other_load = f32(total_load - _REDUCED_LOAD)
        threshold = f32(other_cards / other_load) if other_load else _threshold_nan(other_cards)
        normalized = f32(float(count) / _REDUCED_LOAD)
        modifiers.append(_MINIMUM_LOAD if normalized > threshold else 1.0)
    return modifiers


def _threshold_nan(numerator: float) -> float:
    """x / 0.0 in IEEE arithmetic (Python raises instead)."""
    if numerator == 0.0:
        return float("nan")
    return float("inf")


def _weighted_index(weights: list[float], random_word: int) -> int | None:
    """rand's `WeightedIndex` over f32 weights, sampled once: None when the weights
    cannot be sampled (all zero), as Anki then falls back to plain fuzz."""
    if not weights or any(w < 0.0 or w != w for w in weights):
        return None
    cumulative = []
    total = 0.0
    for weight in weights:
        total = f32(total + weight)
        cumulative.append(total)
    cumulative.pop()  # the last running sum is the total
    if not total > 0.0 or total == float("inf"):
        return None
    scale = _uniform_scale(total)
    chosen = f32(f32(((random_word >> 9) * 2.0**-23) * scale) + 0.0)
    return sum(1 for running in cumulative if running <= chosen)


def _uniform_scale(high: float) -> float:
    """rand's `UniformFloat::<f32>::new(0, high)`: the width shrunk one step at a time
    until the largest draw stays below `high`."""
    largest_draw = f32(1.0 - 2.0**-23)
    scale = high
    while f32(scale * largest_draw) >= high:
        scale = _next_f32_down(scale)
    return scale


def _next_f32_down(value: float) -> float:
    (bits,) = struct.unpack("<I", struct.pack("<f", value))
    (lower,) = struct.unpack("<f", struct.pack("<I", bits - 1))
    return float(lower)


__all__ = ["BALANCED_DAYS", "MAX_BALANCED_INTERVAL", "DueCounts", "LoadBalancer"]
