"""FSRS-6, the memory model of Anki's FSRS scheduler (the `fsrs` crate Anki ships).

The model only: a card's memory state (stability in days, difficulty 1-10), how one
answer changes it, the probability of recall after some days, and the interval that
reaches a desired retention. Which state a card is in and what an answer writes are
the scheduler's (states.py, answer.py). All arithmetic is Anki's `f32`, with the C
library's `expf`/`powf`/`logf` (see _rust.py), so memory states match Anki's exactly.

Parameters are never trained here: they are the preset's (`fsrsParams6`, else
`fsrsParams5`, else the FSRS-4.5 `fsrsWeights`), trained by Anki desktop, or the
defaults below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ._rust import as_u32, expf, expm1f, f32, fmaf, logf, powf, round_half_away

# FSRS-6's default parameters w0..w20 (w20 is the forgetting curve's decay).
DEFAULT_PARAMS: Final = (
    0.212, 1.2931, 2.3065, 8.2956, 6.4133, 0.8334, 3.0194, 0.001, 1.8722, 0.1666, 0.796,
    1.4835, 0.0614, 0.2629, 1.6483, 0.6014, 1.8729, 0.5425, 0.0912, 0.0658, 0.1542,
)  # fmt: skip
FSRS5_DECAY: Final = 0.5
S_MIN: Final = f32(0.001)
S_MAX: Final = 36500.0
D_MIN: Final = 1.0
D_MAX: Final = 10.0
DEFAULT_DESIRED_RETENTION: Final = 0.9

# Each parameter's range; out-of-range values are clamped, as the crate does.
_BOUNDS: Final = (
    *[(0.001, 100.0)] * 4,
    (1.0, 10.0), (0.001, 4.0), (0.001, 4.0), (0.001, 0.75), (0.0, 4.5), (0.0, 0.8),
    (0.001, 3.5), (0.001, 5.0), (0.001, 0.25), (0.001, 0.9), (0.0, 4.0), (0.0, 1.0),
    (1.0, 6.0), (0.0, 2.0), (0.0, 2.0), (0.0, 0.8), (0.1, 0.8),
)  # fmt: skip

AGAIN, HARD, GOOD, EASY = 1, 2, 3, 4


class InvalidParams(ValueError):
    """A preset's FSRS parameters that Anki would refuse (wrong count, not numbers)."""


@dataclass(frozen=True, slots=True)
class MemoryState:
    stability: float
    difficulty: float


@dataclass(frozen=True, slots=True)
class ButtonOutcome:
    """Where one button takes the memory state, and the (unrounded) interval in days
    that reaches the desired retention from there."""

    memory: MemoryState
    interval: float


@dataclass(frozen=True, slots=True)
class NextStates:
    again: ButtonOutcome
    hard: ButtonOutcome
    good: ButtonOutcome
    easy: ButtonOutcome

    def for_rating(self, rating: int) -> ButtonOutcome:
        return (self.again, self.hard, self.good, self.easy)[rating - 1]


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _filled(params: Sequence[float]) -> list[float]:
    """21 parameters from any version Anki stores (none: the defaults)."""
    values = [f32(float(p)) for p in params]
    if any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise InvalidParams("FSRS parameters must be finite numbers")
    if not values:
        return [f32(p) for p in DEFAULT_PARAMS]
    if len(values) == 17:  # FSRS-4.5: re-expressed in FSRS-5's terms, as the crate does
        w = values
        w[4] = fmaf(w[5], 2.0, w[4])
        w[5] = f32(logf(fmaf(w[5], 3.0, 1.0)) / 3.0)
        w[6] = f32(w[6] + 0.5)
        return [*w, 0.0, 0.0, 0.0, FSRS5_DECAY]
    if len(values) == 19:  # FSRS-5: no same-day stability term, the old decay
        return [*values, 0.0, FSRS5_DECAY]
    if len(values) == 21:
        return values
    raise InvalidParams(f"FSRS takes 17, 19 or 21 parameters, not {len(values)}")


def preset_params(dconf: Mapping[str, Any]) -> list[float]:
    """The parameters a preset schedules with: the first non-empty of `fsrsParams6`,
    `fsrsParams5` and `fsrsWeights`, as Anki picks them (empty: the defaults)."""
    for key in ("fsrsParams6", "fsrsParams5", "fsrsWeights"):
        value = dconf.get(key)
        if isinstance(value, list) and value:
            return [float(v) for v in value]
    return []


def card_decay(params: Sequence[float]) -> float:
    """The decay Anki records on a card (`data.decay`) for these preset parameters."""
    if not params:
        return f32(DEFAULT_PARAMS[20])
    if len(params) < 21:
        return FSRS5_DECAY
    return f32(float(params[20]))


class Fsrs:
    """The model with one preset's parameters (filled to 21 and clamped)."""

    def __init__(self, params: Sequence[float] = ()) -> None:
        filled = _filled(params)
        self.w: tuple[float, ...] = tuple(
            f32(_clamp(v, low, high)) for v, (low, high) in zip(filled, _BOUNDS, strict=True)
        )
        self.decay = f32(-self.w[20])
        # exp(ln(0.9) / decay) - 1, in this form: powf(0.9, 1/decay) differs in the last bit.
        self.factor = f32(expf(f32(logf(f32(0.9)) / self.decay)) - 1.0)

    @property
    def short_term(self) -> bool:
        """Whether same-day answers may keep a card in learning (w17 and w18 above 0)."""
        return self.w[17] > 0 and self.w[18] > 0

    def retrievability(self, days_elapsed: float, stability: float) -> float:
        """The probability of recall `days_elapsed` days after the last review."""
        return powf(f32(f32(f32(f32(days_elapsed) / stability) * self.factor) + 1.0), self.decay)

    def next_interval(self, stability: float, desired_retention: float) -> float:
        """Days until recall falls to `desired_retention` (unrounded `f32`)."""
        grow = f32(powf(f32(desired_retention), f32(1.0 / self.decay)) - 1.0)
        return f32(f32(stability / self.factor) * grow)

    def _initial_difficulty(self, rating: int) -> float:
        w = self.w
        return f32(f32(w[4] - expf(f32(w[5] * f32(rating - 1)))) + 1.0)

    def _next_difficulty(self, difficulty: float, rating: int) -> float:
        w = self.w
        delta = f32(f32(-w[6]) * f32(rating - 3))
        damped = f32(difficulty + f32(f32(f32(10.0 - difficulty) * delta) / 9.0))
        # Mean reversion towards the (unclamped) initial difficulty of Easy.
        reverted = f32(f32(w[7] * f32(self._initial_difficulty(EASY) - damped)) + damped)
        return _clamp(reverted, D_MIN, D_MAX)

    def _recall_stability(self, s: float, d: float, r: float, rating: int) -> float:
        w = self.w
        hard_penalty = w[15] if rating == HARD else 1.0
        easy_bonus = w[16] if rating == EASY else 1.0
        x = f32(expf(w[8]) * f32(11.0 - d))
        x = f32(x * powf(s, f32(-w[9])))
        x = f32(x * f32(expf(f32(f32(1.0 - r) * w[10])) - 1.0))
        x = f32(f32(x * hard_penalty) * easy_bonus)
        return f32(s * f32(x + 1.0))

    def _lapse_stability(self, s: float, d: float, r: float) -> float:
        w = self.w
        x = f32(w[11] * powf(d, f32(-w[12])))
        x = f32(x * f32(powf(f32(s + 1.0), w[13]) - 1.0))
        x = f32(x * expf(f32(f32(1.0 - r) * w[14])))
        return min(x, f32(s / expf(f32(w[17] * w[18]))))

    def _same_day_stability(self, s: float, rating: int) -> float:
        w = self.w
        growth = f32(expf(f32(w[17] * f32(f32(rating - 3) + w[18]))) * powf(s, f32(-w[19])))
        if rating >= HARD:  # only Again may lower stability on the same day
            growth = max(growth, 1.0)
        return f32(s * growth)

    def step(self, memory: MemoryState | None, rating: int, days_elapsed: int) -> MemoryState:
        """The memory state after answering `rating` `days_elapsed` days after the last
        review (`memory` None: the card's first answer)."""
        if memory is None:
            return MemoryState(
                _clamp(self.w[rating - 1], S_MIN, S_MAX),
                _clamp(self._initial_difficulty(rating), D_MIN, D_MAX),
            )
        s = _clamp(f32(memory.stability), S_MIN, S_MAX)
        d = _clamp(f32(memory.difficulty), D_MIN, D_MAX)
        if days_elapsed == 0:
            stability = self._same_day_stability(s, rating)
        else:
            r = self.retrievability(days_elapsed, s)
            stability = (
                self._lapse_stability(s, d, r)
                if rating == AGAIN
                else self._recall_stability(s, d, r, rating)
            )
        return MemoryState(_clamp(stability, S_MIN, S_MAX), self._next_difficulty(d, rating))

    def next_states(
        self, memory: MemoryState | None, desired_retention: float, days_elapsed: int
    ) -> NextStates:
        """Each button's memory state and interval (Anki's `next_states`)."""
        outcomes = []
        for rating in (AGAIN, HARD, GOOD, EASY):
            after = self.step(memory, rating, days_elapsed)
            outcomes.append(
                ButtonOutcome(after, self.next_interval(after.stability, desired_retention))
            )
        return NextStates(*outcomes)

    def memory_state_from_sm2(
        self, ease_factor: float, interval: float, retention: float
    ) -> MemoryState:
        """A memory state for a card scheduled by SM-2 until now (ease as 2.5, interval
        in days), assuming it was reviewed at `retention`; an ease of 1.1 or less was
        written by FSRS and holds the difficulty itself."""
        w = self.w
        ease, retention = f32(ease_factor), f32(retention)
        curve_factor = f32(powf(f32(0.9), f32(1.0 / self.decay)) - 1.0)
        grow = f32(powf(retention, f32(1.0 / self.decay)) - 1.0)
        stability = f32(f32(max(f32(interval), S_MIN) * curve_factor) / grow)
        if ease <= f32(1.1):
            difficulty = f32(f32(f32(ease - f32(0.1)) * 9.0) + 1.0)
        else:
            per_day = f32(expf(w[8]) * powf(stability, f32(-w[9])))
            per_day = f32(per_day * expm1f(f32(f32(1.0 - retention) * w[10])))
            difficulty = f32(11.0 - f32(f32(ease - 1.0) / per_day))
        return MemoryState(stability, _clamp(difficulty, D_MIN, D_MAX))


def round_places(value: float, places: int) -> float:
    """Anki's `round_to_places` in `f32` (card data keeps s to 4 places, d to 3)."""
    scale = f32(10.0**places)
    return f32(round_half_away(f32(f32(value) * scale)) / scale)


def revlog_factor(difficulty: float) -> int:
    """The review log's `factor` under FSRS: the difficulty, shifted and scaled."""
    shifted = f32(f32(f32(f32(difficulty - 1.0) / 9.0) + f32(0.1)) * 1000.0)
    return as_u32(round_half_away(shifted))


# -- memory state from the review history -------------------------------------------

# Review log kinds (revlog.type) that matter here.
_LEARNING, _REVIEW, _RELEARNING, _FILTERED, _MANUAL, _RESCHEDULED = 0, 1, 2, 3, 4, 5
DAY_SECS: Final = 86_400


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    """One review log row, as the history needs it."""

    id: int  # milliseconds
    ease: int  # button chosen, 0 for manual entries
    ivl: int
    factor: int
    kind: int

    def days_before(self, next_day_at: int) -> int:
        """Whole days between this entry and the end of today."""
        return max(next_day_at - self.id // 1000, 0) // DAY_SECS


def _is_cramming(entry: ReviewEntry) -> bool:
    return entry.kind == _FILTERED and entry.factor == 0


def _history(
    entries: Sequence[ReviewEntry], next_day_at: int, ignore_before_ms: int
) -> tuple[list[tuple[int, int]], bool, list[ReviewEntry]] | None:
    """The answers the memory state is computed from (rating, days since the previous
    one), whether they start at the card's learning (else the history was cut short),
    and the entries they come from; None when nothing counts (Anki's
    `reviews_for_fsrs`, when not training)."""
    entries = list(entries)
    first_of_last_learning: int | None = None
    first_user_grade: int | None = None
    complete = False
    for index in range(len(entries) - 1, -1, -1):  # newest first
        entry = entries[index]
        if _is_cramming(entry):
            continue
        graded = 1 <= entry.ease <= 4
        # A history cut short starts at an answer that scheduled days, not minutes.
        interday = entry.ivl >= 1 or entry.ivl <= -DAY_SECS
        if graded and interday and entry.id > ignore_before_ms:
            first_user_grade = index
        if graded and entry.kind == _LEARNING:
            first_of_last_learning = index
            complete = True
        elif first_of_last_learning is not None:
            break
        elif entry.kind == _MANUAL and entry.factor == 0:  # the card was reset
            if first_user_grade is not None:
                complete = False
                break
            return None
    if (
        first_of_last_learning is not None
        and entries[first_of_last_learning].id < ignore_before_ms
        and first_of_last_learning < len(entries) - 1
    ):
        complete = False
        first_of_last_learning = None
    start = first_of_last_learning if first_of_last_learning is not None else first_user_grade
    if start is None:
        return None
    kept = [
        e
        for e in entries[start:]
        if not (e.kind == _MANUAL or e.ease == 0 or _is_cramming(e) or e.kind == _RESCHEDULED)
    ]
    if not kept:
        return None
    days = [e.days_before(next_day_at) for e in kept]
    reviews = [(kept[0].ease, 0)] + [
        (e.ease, days[i - 1] - days[i]) for i, e in enumerate(kept) if i > 0
    ]
    return reviews, complete, kept


def memory_state_from_history(
    model: Fsrs,
    entries: Sequence[ReviewEntry],
    *,
    card_type: int,
    card_ivl: int,
    card_reps: int,
    card_factor: int,
    next_day_at: int,
    historical_retention: float = DEFAULT_DESIRED_RETENTION,
    ignore_before_ms: int = 0,
) -> MemoryState | None:
    """The memory state of a card that has none stored (FSRS just turned on, or the
    card was reviewed by SM-2): from its review log, oldest entry first, as Anki
    computes it; None for a card that was never answered."""
    history = _history(entries, next_day_at, ignore_before_ms)
    if history is not None:
        reviews, complete, kept = history
        if complete:
            state: MemoryState | None = None
            for rating, days_elapsed in reviews:
                state = model.step(state, rating, days_elapsed)
            return state
        # A history cut short: start from what SM-2 knew at its first kept answer.
        first = kept[0]
        state = model.memory_state_from_sm2(
            (first.factor or 2500) / 1000, float(max(first.ivl, 1)), historical_retention
        )
        for rating, days_elapsed in reviews[1:]:
            state = model.step(state, rating, days_elapsed)
        return state
    if card_type == 0 or card_ivl == 0 or card_reps == 0:
        return None
    return model.memory_state_from_sm2(card_factor / 1000, float(card_ivl), historical_retention)
