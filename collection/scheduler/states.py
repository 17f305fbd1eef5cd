"""Anki's v3 scheduling states with SM-2 (rslib `scheduler/states/`).

A card's columns map to a *current* state; `next_states` derives the state each of
the four buttons would lead to. Arithmetic follows Anki's `f32` code exactly. With
FSRS on, fsrs_states.py derives them instead; states then carry a memory state.
"""

from dataclasses import dataclass
from typing import Final

from collection.enums import CardType, RevlogKind

from ._rust import as_u32, f32, round_half_away
from .card import CardState
from .fsrs import MemoryState
from .fuzz import balanced_review_fuzz
from .load_balancer import LoadBalancer
from .options import DeckOptions
from .rng import fuzz_factor, fuzz_seed
from .steps import DAY_SECS, LearningSteps

MINIMUM_EASE_FACTOR: Final = f32(1.3)
EASE_FACTOR_AGAIN_DELTA: Final = f32(-0.2)
EASE_FACTOR_HARD_DELTA: Final = f32(-0.15)
EASE_FACTOR_EASY_DELTA: Final = f32(0.15)


@dataclass(frozen=True, slots=True)
class Interval:
    """A delay either in seconds (intraday) or in days (Anki's `IntervalKind`)."""

    amount: int
    in_days: bool

    def maybe_as_days(self, secs_until_rollover: int) -> "Interval":
        """A delay in seconds reaching past the next rollover becomes days."""
        if not self.in_days and self.amount >= secs_until_rollover:
            return Interval((self.amount - secs_until_rollover) // DAY_SECS + 1, in_days=True)
        return self

    def as_seconds(self) -> int:
        return self.amount * DAY_SECS if self.in_days else self.amount

    def as_revlog_interval(self) -> int:
        """Days as a positive number, seconds as a negative one (revlog `ivl`)."""
        return self.amount if self.in_days else -self.amount


@dataclass(frozen=True, slots=True)
class NewState:
    position: int

    @property
    def interval(self) -> Interval:
        return Interval(0, in_days=False)


@dataclass(frozen=True, slots=True)
class LearnState:
    remaining_steps: int
    scheduled_secs: int
    memory: MemoryState | None = None

    @property
    def interval(self) -> Interval:
        return Interval(self.scheduled_secs, in_days=False)


@dataclass(frozen=True, slots=True)
class ReviewState:
    scheduled_days: int
    elapsed_days: int
    ease_factor: float
    lapses: int
    leeched: bool = False
    memory: MemoryState | None = None

    @property
    def interval(self) -> Interval:
        return Interval(self.scheduled_days, in_days=True)

    @property
    def days_late(self) -> int:
        return self.elapsed_days - self.scheduled_days


@dataclass(frozen=True, slots=True)
class RelearnState:
    learning: LearnState
    review: ReviewState

    @property
    def interval(self) -> Interval:
        return self.learning.interval


SchedulingState = NewState | LearnState | ReviewState | RelearnState


@dataclass(frozen=True, slots=True)
class SchedulingStates:
    """The card's current state and where each button would take it."""

    current: SchedulingState
    again: SchedulingState
    hard: SchedulingState
    good: SchedulingState
    easy: SchedulingState

    def for_ease(self, ease: int) -> SchedulingState:
        """The state for button `ease` (1 Again, 2 Hard, 3 Good, 4 Easy)."""
        choices = {1: self.again, 2: self.hard, 3: self.good, 4: self.easy}
        try:
            return choices[ease]
        except KeyError:
            raise ValueError(f"ease must be 1, 2, 3 or 4, not {ease!r}") from None


def revlog_kind(state: SchedulingState) -> int:
    """The revlog `type` of an answer given in `state` (normal decks)."""
    if isinstance(state, NewState | LearnState):
        return RevlogKind.LEARNING
    if isinstance(state, ReviewState):
        return RevlogKind.REVIEW
    return RevlogKind.RELEARNING


def memory_of(state: SchedulingState) -> MemoryState | None:
    """The FSRS memory state a state carries (None with SM-2, and for new cards)."""
    if isinstance(state, LearnState | ReviewState):
        return state.memory
    if isinstance(state, RelearnState):
        return state.review.memory
    return None


def is_leeched(state: SchedulingState) -> bool:
    if isinstance(state, ReviewState):
        return state.leeched
    if isinstance(state, RelearnState):
        return state.review.leeched
    return False


def leech_threshold_met(lapses: int, threshold: int) -> bool:
    """At the threshold, then every half threshold (rounded up) after it."""
    if threshold <= 0:
        return False
    half = max(-(-threshold // 2), 1)
    return lapses >= threshold and (lapses - threshold) % half == 0


@dataclass(frozen=True, slots=True)
class _Context:
    """Anki's `StateContext`, for SM-2."""

    fuzz_factor: float | None
    steps: LearningSteps
    relearn_steps: LearningSteps
    graduating_ivl: int
    easy_ivl: int
    initial_ease: float
    hard_multiplier: float
    easy_multiplier: float
    interval_multiplier: float
    maximum_review_interval: int
    leech_threshold: int
    lapse_multiplier: float
    minimum_lapse_interval: int
    balancer: LoadBalancer | None

    @classmethod
    def build(
        cls, options: DeckOptions, fuzz: float | None, balancer: LoadBalancer | None = None
    ) -> "_Context":
        return cls(
            fuzz_factor=fuzz,
            balancer=balancer,
            steps=LearningSteps(options.learn_steps),
            relearn_steps=LearningSteps(options.relearn_steps),
            graduating_ivl=max(options.graduating_ivl, 0),
            easy_ivl=max(options.easy_ivl, 0),
            initial_ease=f32(f32(float(options.initial_factor)) / 1000.0),
            hard_multiplier=f32(options.hard_factor),
            easy_multiplier=f32(options.easy_bonus),
            interval_multiplier=f32(options.ivl_fct),
            maximum_review_interval=max(options.max_ivl, 0),
            leech_threshold=max(options.leech_fails, 0),
            lapse_multiplier=f32(options.lapse_mult),
            minimum_lapse_interval=max(options.min_ivl, 0),
        )

    def min_and_max_review_intervals(self, minimum: int) -> tuple[int, int]:
        maximum = max(self.maximum_review_interval, 1)
        return min(max(minimum, 1), maximum), maximum

    def review_fuzz(self, interval: float, minimum: int, maximum: int) -> int:
        return balanced_review_fuzz(self.fuzz_factor, self.balancer, interval, minimum, maximum)

    def constrain_passing_interval(self, interval: float, minimum: int) -> int:
        interval = f32(interval * self.interval_multiplier)
        low, high = self.min_and_max_review_intervals(minimum)
        return self.review_fuzz(interval, low, high)

    def graduate(self, days: int) -> ReviewState:
        low, high = self.min_and_max_review_intervals(1)
        return ReviewState(
            scheduled_days=self.review_fuzz(float(days), low, high),
            elapsed_days=0,
            ease_factor=self.initial_ease,
            lapses=0,
        )


def current_state(card: CardState, options: DeckOptions, today: int) -> SchedulingState:
    """The state Anki derives from a card's columns (a card in a normal deck)."""
    ease = f32(f32(float(card.factor)) / 1000.0)
    remaining = card.left % 1000
    if card.type == CardType.NEW:
        return NewState(position=max(card.due, 0))
    if card.type == CardType.LEARN:
        secs = LearningSteps(options.learn_steps).current_delay_secs(remaining)
        return LearnState(remaining_steps=remaining, scheduled_secs=secs)
    if card.type == CardType.REVIEW:
        # In a normal deck a card answered before its due date counts as on time.
        due = min(card.due, today)
        return ReviewState(
            scheduled_days=card.ivl,
            elapsed_days=max(card.ivl - (due - today), 0),
            ease_factor=ease,
            lapses=card.lapses,
        )
    if card.type == CardType.RELEARN:
        secs = LearningSteps(options.relearn_steps).current_delay_secs(remaining)
        return RelearnState(
            learning=LearnState(remaining_steps=remaining, scheduled_secs=secs),
            review=ReviewState(
                scheduled_days=card.ivl,
                elapsed_days=card.ivl,
                ease_factor=ease,
                lapses=card.lapses,
            ),
        )
    raise ValueError(f"unknown card type {card.type!r}")


def next_states(
    card: CardState,
    options: DeckOptions,
    today: int,
    *,
    fuzz: bool = True,
    balancer: LoadBalancer | None = None,
) -> SchedulingStates:
    """Where each of the four buttons would take the card (Anki's `get_scheduling_states`).

    With `fuzz` (as in Anki) review intervals are fuzzed with Anki's own seed
    (card id + reps), so they match Anki's exactly; without it they are just rounded,
    as in Anki's test mode. With a `balancer` (and fuzz) intervals up to 90 days are
    load balanced, as in Anki's reviewer.
    """
    if card.odid:
        raise ValueError("cards in filtered decks are not supported")
    factor = fuzz_factor(fuzz_seed(card.id, card.reps)) if fuzz else None
    ctx = _Context.build(options, factor, balancer)
    current = current_state(card, options, today)
    if isinstance(current, NewState):
        # A new card is answered like a learning card that failed back to the first step.
        learning = LearnState(remaining_steps=ctx.steps.remaining_for_failed(), scheduled_secs=0)
        again, hard, good, easy = _learning_next(learning, ctx)
    elif isinstance(current, LearnState):
        again, hard, good, easy = _learning_next(current, ctx)
    elif isinstance(current, ReviewState):
        again, hard, good, easy = _review_next(current, ctx)
    else:
        again, hard, good, easy = _relearning_next(current, ctx)
    return SchedulingStates(current=current, again=again, hard=hard, good=good, easy=easy)


_Four = tuple[SchedulingState, SchedulingState, SchedulingState, SchedulingState]


def _learning_next(state: LearnState, ctx: _Context) -> _Four:
    again_secs = ctx.steps.again_delay_secs()
    again: SchedulingState = (
        ctx.graduate(max(ctx.graduating_ivl, 1))
        if again_secs is None
        else LearnState(ctx.steps.remaining_for_failed(), again_secs)
    )
    hard_secs = ctx.steps.hard_delay_secs(state.remaining_steps)
    hard: SchedulingState = (
        ctx.graduate(max(ctx.graduating_ivl, 1))
        if hard_secs is None
        else LearnState(state.remaining_steps, hard_secs)
    )
    good_secs = ctx.steps.good_delay_secs(state.remaining_steps)
    good: SchedulingState = (
        ctx.graduate(max(ctx.graduating_ivl, 1))
        if good_secs is None
        else LearnState(ctx.steps.remaining_for_good(state.remaining_steps), good_secs)
    )
    easy = ctx.graduate(ctx.easy_ivl)
    return again, hard, good, easy


def _failing_review_interval(review: ReviewState, ctx: _Context) -> int:
    """The interval after a lapse: ivl x new-interval multiplier, fuzzed, at least the
    minimum lapse interval and 1."""
    low, high = ctx.min_and_max_review_intervals(ctx.minimum_lapse_interval)
    interval = f32(max(f32(float(review.scheduled_days)), 1.0) * ctx.lapse_multiplier)
    return max(ctx.review_fuzz(interval, low, high), 1)


def _review_next(state: ReviewState, ctx: _Context) -> _Four:
    lapses = state.lapses + 1
    lapsed = ReviewState(
        scheduled_days=_failing_review_interval(state, ctx),
        elapsed_days=0,
        ease_factor=max(f32(state.ease_factor + EASE_FACTOR_AGAIN_DELTA), MINIMUM_EASE_FACTOR),
        lapses=lapses,
        leeched=leech_threshold_met(lapses, ctx.leech_threshold),
    )
    again_secs = ctx.relearn_steps.again_delay_secs()
    again: SchedulingState = (
        lapsed
        if again_secs is None
        else RelearnState(
            learning=LearnState(ctx.relearn_steps.remaining_for_failed(), again_secs),
            review=lapsed,
        )
    )

    hard_days, good_days, easy_days = _passing_review_intervals(state, ctx)
    hard = ReviewState(
        scheduled_days=hard_days,
        elapsed_days=0,
        ease_factor=max(f32(state.ease_factor + EASE_FACTOR_HARD_DELTA), MINIMUM_EASE_FACTOR),
        lapses=state.lapses,
    )
    good = ReviewState(
        scheduled_days=good_days,
        elapsed_days=0,
        ease_factor=state.ease_factor,
        lapses=state.lapses,
    )
    easy = ReviewState(
        scheduled_days=easy_days,
        elapsed_days=0,
        ease_factor=f32(state.ease_factor + EASE_FACTOR_EASY_DELTA),
        lapses=state.lapses,
    )
    return again, hard, good, easy


def _passing_review_intervals(state: ReviewState, ctx: _Context) -> tuple[int, int, int]:
    """Hard, Good and Easy intervals for a review answered on time or late.

    (Anki's separate formula for early reviews only applies in filtered decks: in a
    normal deck a review answered early is treated as answered on time.)
    """
    current = max(f32(float(state.scheduled_days)), 1.0)
    days_late = f32(float(max(state.days_late, 0)))
    ease = state.ease_factor

    hard_factor = ctx.hard_multiplier
    hard_minimum = 0 if hard_factor <= 1.0 else state.scheduled_days + 1
    hard = ctx.constrain_passing_interval(f32(current * hard_factor), hard_minimum)

    good_minimum = state.scheduled_days + 1 if hard_factor <= 1.0 else hard + 1
    good = ctx.constrain_passing_interval(
        f32(f32(current + f32(days_late / 2.0)) * ease), good_minimum
    )

    easy = ctx.constrain_passing_interval(
        f32(f32(f32(current + days_late) * ease) * ctx.easy_multiplier), good + 1
    )
    return hard, good, easy


def _relearning_next(state: RelearnState, ctx: _Context) -> _Four:
    steps = ctx.relearn_steps
    review = state.review
    back_to_review = ReviewState(
        scheduled_days=review.scheduled_days,
        elapsed_days=0,
        ease_factor=review.ease_factor,
        lapses=review.lapses,
        leeched=review.leeched,
    )

    again_secs = steps.again_delay_secs()
    again: SchedulingState = (
        back_to_review
        if again_secs is None
        else RelearnState(
            learning=LearnState(steps.remaining_for_failed(), again_secs),
            review=ReviewState(
                scheduled_days=_failing_review_interval(review, ctx),
                elapsed_days=0,
                ease_factor=review.ease_factor,
                lapses=review.lapses,
                leeched=review.leeched,
            ),
        )
    )

    hard_secs = steps.hard_delay_secs(state.learning.remaining_steps)
    hard: SchedulingState = (
        back_to_review
        if hard_secs is None
        else RelearnState(
            learning=LearnState(state.learning.remaining_steps, hard_secs),
            review=back_to_review,
        )
    )

    good_secs = steps.good_delay_secs(state.learning.remaining_steps)
    good: SchedulingState = (
        back_to_review
        if good_secs is None
        else RelearnState(
            learning=LearnState(
                steps.remaining_for_good(state.learning.remaining_steps), good_secs
            ),
            review=back_to_review,
        )
    )

    easy = ReviewState(
        scheduled_days=review.scheduled_days + 1,
        elapsed_days=0,
        ease_factor=review.ease_factor,
        lapses=review.lapses,
        leeched=review.leeched,
    )
    return again, hard, good, easy


def ease_permille(ease_factor: float) -> int:
    """An ease multiplier as the `factor` column stores it (2.5 -> 2500)."""
    return as_u32(round_half_away(f32(ease_factor * 1000.0)))
