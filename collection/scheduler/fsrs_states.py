"""Anki's v3 scheduling states with FSRS on (the FSRS branches of rslib
`scheduler/states/`): learning and relearning steps as with SM-2, every button's memory
state from the model (fsrs.py), review intervals from the desired retention.

Where a card has no memory state stored (FSRS just turned on, or a card last answered
by SM-2), it is computed from the card's review log, as Anki does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from collection.enums import CardType

from ._rust import as_u32, f32, round_half_away
from .card import CardState
from .card_data import parse_card_data
from .fsrs import (
    AGAIN,
    DEFAULT_DESIRED_RETENTION,
    EASY,
    GOOD,
    HARD,
    Fsrs,
    MemoryState,
    NextStates,
    ReviewEntry,
    card_decay,
    memory_state_from_history,
    preset_params,
)
from .fuzz import balanced_review_fuzz, constrained_fuzz_bounds
from .load_balancer import LoadBalancer
from .options import DeckOptions
from .rng import fuzz_factor, fuzz_seed
from .states import (
    EASE_FACTOR_AGAIN_DELTA,
    EASE_FACTOR_EASY_DELTA,
    EASE_FACTOR_HARD_DELTA,
    MINIMUM_EASE_FACTOR,
    LearnState,
    NewState,
    RelearnState,
    ReviewState,
    SchedulingState,
    SchedulingStates,
    current_state,
    leech_threshold_met,
    memory_of,
)
from .steps import DAY_SECS, LearningSteps

# Intervals under half a day keep a card in (re)learning when short-term scheduling is
# allowed (Anki's FSRS short-term threshold).
_SHORT_TERM_DAYS: Final = 0.5


@dataclass(frozen=True, slots=True)
class FsrsConfig:
    """What FSRS schedules a deck's cards with: its preset's model and retentions."""

    model: Fsrs
    desired_retention: float = DEFAULT_DESIRED_RETENTION
    decay: float = 0.1542
    historical_retention: float = DEFAULT_DESIRED_RETENTION
    ignore_before_ms: int = 0
    # The collection's `fsrsShortTermWithStepsEnabled`: intervals under half a day keep
    # a card in learning even when it has steps.
    short_term_with_steps: bool = False

    @classmethod
    def from_dconf(
        cls, dconf: Mapping[str, Any], *, short_term_with_steps: bool = False
    ) -> FsrsConfig:
        params = preset_params(dconf)
        return cls(
            model=Fsrs(params),
            desired_retention=float(dconf.get("desiredRetention", DEFAULT_DESIRED_RETENTION)),
            decay=card_decay(params),
            historical_retention=float(dconf.get("historicalRetention", DEFAULT_DESIRED_RETENTION)),
            ignore_before_ms=_date_ms(dconf.get("ignoreRevlogsBeforeDate")),
            short_term_with_steps=short_term_with_steps,
        )


def _date_ms(value: object) -> int:
    """`ignoreRevlogsBeforeDate` ("YYYY-MM-DD", midnight UTC) in epoch milliseconds."""
    if not isinstance(value, str) or not value:
        return 0
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return 0
    return int(day.timestamp() * 1000)


def stored_memory(card: CardState) -> MemoryState | None:
    """The memory state kept in the card's `data` (`s`, `d`), if any."""
    data = parse_card_data(card.data)
    stability, difficulty = data.get("s"), data.get("d")
    if isinstance(stability, int | float) and isinstance(difficulty, int | float):
        return MemoryState(f32(float(stability)), f32(float(difficulty)))
    return None


def last_review_secs(card: CardState, history: Sequence[ReviewEntry]) -> int | None:
    """When the card was last answered: `lrt` in its data, else its newest graded
    review log entry (epoch seconds)."""
    lrt = parse_card_data(card.data).get("lrt")
    if isinstance(lrt, int) and not isinstance(lrt, bool):
        return lrt
    graded = [entry.id for entry in history if 1 <= entry.ease <= 4]
    return max(graded) // 1000 if graded else None


def card_memory(
    card: CardState, config: FsrsConfig, history: Sequence[ReviewEntry], next_day_at: int
) -> MemoryState | None:
    """The card's memory state: stored, else from its review log (None for new cards)."""
    stored = stored_memory(card)
    if stored is not None or card.type == CardType.NEW:
        return stored
    return memory_state_from_history(
        config.model,
        history,
        card_type=card.type,
        card_ivl=card.ivl,
        card_reps=card.reps,
        card_factor=card.factor,
        next_day_at=next_day_at,
        historical_retention=config.historical_retention,
        ignore_before_ms=config.ignore_before_ms,
    )


def current_retrievability(
    card: CardState,
    config: FsrsConfig,
    states: SchedulingStates,
    history: Sequence[ReviewEntry],
    next_day_at: int,
) -> float | None:
    """The probability of recalling the card today (whole days since its last review,
    as its intervals are counted), from the memory state `fsrs_next_states` gave its
    current state; None for a card without one."""
    memory = memory_of(states.current)
    last = last_review_secs(card, history)
    if memory is None or last is None:
        return None
    days = max(next_day_at - last, 0) // DAY_SECS
    return config.model.retrievability(days, memory.stability)


@dataclass(frozen=True, slots=True)
class _Context:
    fuzz_factor: float | None
    steps: LearningSteps
    relearn_steps: LearningSteps
    initial_ease: float
    maximum_interval: int
    leech_threshold: int
    next: NextStates
    allow_short_term: bool
    short_term_with_steps: bool
    balancer: LoadBalancer | None

    def fuzz(self, interval: float, minimum: int) -> int:
        maximum = max(self.maximum_interval, 1)
        return balanced_review_fuzz(
            self.fuzz_factor, self.balancer, interval, min(max(minimum, 1), maximum), maximum
        )

    def fuzz_rounded(self, interval: float, minimum: int = 1) -> int:
        """An FSRS interval rounded to whole days (at least one), then fuzzed."""
        return self.fuzz(max(round_half_away(f32(interval)), 1.0), minimum)

    def short_term_secs(self, interval: float, steps: LearningSteps) -> int | None:
        """The delay in seconds when an interval under half a day keeps the card in
        (re)learning, else None."""
        allowed = self.allow_short_term and (self.short_term_with_steps or not steps.steps)
        if allowed and interval < _SHORT_TERM_DAYS:
            return as_u32(f32(f32(interval) * DAY_SECS))
        return None

    def easy_days(self) -> int:
        """Easy from (re)learning: at least a day more than Good would have been."""
        good = self.fuzz(self.next.good.interval, 1)
        return self.fuzz_rounded(self.next.easy.interval, good + 1)


def fsrs_next_states(
    card: CardState,
    options: DeckOptions,
    today: int,
    *,
    config: FsrsConfig,
    next_day_at: int,
    history: Sequence[ReviewEntry] = (),
    fuzz: bool = True,
    balancer: LoadBalancer | None = None,
) -> SchedulingStates:
    """Where each button takes the card with FSRS on (Anki's `get_scheduling_states`).
    With a `balancer` (and fuzz) intervals up to 90 days are load balanced.

    `history` is the card's review log, oldest first: read only when the card has no
    memory state stored, or no last review time.
    """
    if card.odid:
        raise ValueError("cards in filtered decks are not supported")
    memory = card_memory(card, config, history, next_day_at)
    last = last_review_secs(card, history)
    days_elapsed = max(next_day_at - last, 0) // DAY_SECS if last is not None else 0
    ctx = _Context(
        fuzz_factor=fuzz_factor(fuzz_seed(card.id, card.reps)) if fuzz else None,
        steps=LearningSteps(options.learn_steps),
        relearn_steps=LearningSteps(options.relearn_steps),
        initial_ease=f32(f32(float(options.initial_factor)) / 1000.0),
        maximum_interval=max(options.max_ivl, 0),
        leech_threshold=max(options.leech_fails, 0),
        next=config.model.next_states(memory, config.desired_retention, days_elapsed),
        allow_short_term=config.model.short_term,
        short_term_with_steps=config.short_term_with_steps,
        balancer=balancer,
    )
    current = _with_memory(current_state(card, options, today), memory)
    if isinstance(current, NewState):
        learning = LearnState(ctx.steps.remaining_for_failed(), 0)
        four = _learning_next(learning, ctx)
    elif isinstance(current, LearnState):
        four = _learning_next(current, ctx)
    elif isinstance(current, ReviewState):
        four = _review_next(current, ctx)
    else:
        four = _relearning_next(current, ctx)
    return SchedulingStates(current, *four)


def _with_memory(state: SchedulingState, memory: MemoryState | None) -> SchedulingState:
    if isinstance(state, LearnState | ReviewState):
        return replace(state, memory=memory)
    if isinstance(state, RelearnState):
        return RelearnState(
            replace(state.learning, memory=memory), replace(state.review, memory=memory)
        )
    return state


_Four = tuple[SchedulingState, SchedulingState, SchedulingState, SchedulingState]


def _learning_next(state: LearnState, ctx: _Context) -> _Four:
    steps = ctx.steps

    def leave_steps(rating: int, remaining: int) -> SchedulingState:
        outcome = ctx.next.for_rating(rating)
        secs = ctx.short_term_secs(outcome.interval, steps)
        if secs is not None:
            return LearnState(remaining, secs, outcome.memory)
        return ReviewState(
            scheduled_days=ctx.fuzz_rounded(outcome.interval),
            elapsed_days=0,
            ease_factor=ctx.initial_ease,
            lapses=0,
            memory=outcome.memory,
        )

    again_secs = steps.again_delay_secs()
    failed = steps.remaining_for_failed()
    again = (
        leave_steps(AGAIN, failed)
        if again_secs is None
        else LearnState(failed, again_secs, ctx.next.again.memory)
    )
    hard_secs = steps.hard_delay_secs(state.remaining_steps)
    hard = (
        leave_steps(HARD, state.remaining_steps)
        if hard_secs is None
        else LearnState(state.remaining_steps, hard_secs, ctx.next.hard.memory)
    )
    good_secs = steps.good_delay_secs(state.remaining_steps)
    good = (
        leave_steps(GOOD, state.remaining_steps)
        if good_secs is None
        else LearnState(
            steps.remaining_for_good(state.remaining_steps), good_secs, ctx.next.good.memory
        )
    )
    easy = ReviewState(
        scheduled_days=ctx.easy_days(),
        elapsed_days=0,
        ease_factor=ctx.initial_ease,
        lapses=0,
        memory=ctx.next.easy.memory,
    )
    return again, hard, good, easy


def _minimum_passing(interval: float, previous: int, maximum: int) -> int:
    """The least a passing review's interval may be: a day more than before when FSRS
    grew it, the previous interval when fuzz could otherwise shrink one that barely
    grew, else no minimum."""
    rounded = as_u32(round_half_away(f32(interval)))
    if rounded > previous:
        return previous + 1
    _, upper = constrained_fuzz_bounds(interval, 1, max(maximum, 1))
    return previous if previous <= upper else 0


def _review_next(state: ReviewState, ctx: _Context) -> _Four:
    lapses = state.lapses + 1
    again_raw = ctx.next.again.interval
    lapsed = ReviewState(
        # Neither fuzzed nor bounded by the lapse minimum or maximum, as in Anki.
        scheduled_days=max(as_u32(round_half_away(f32(again_raw))), 1),
        elapsed_days=0,
        ease_factor=max(f32(state.ease_factor + EASE_FACTOR_AGAIN_DELTA), MINIMUM_EASE_FACTOR),
        lapses=lapses,
        leeched=leech_threshold_met(lapses, ctx.leech_threshold),
        memory=ctx.next.again.memory,
    )
    relearn = ctx.relearn_steps
    again_secs = relearn.again_delay_secs()
    if again_secs is None:
        again_secs = ctx.short_term_secs(again_raw, relearn)
    again: SchedulingState = (
        lapsed
        if again_secs is None
        else RelearnState(
            LearnState(relearn.remaining_for_failed(), again_secs, lapsed.memory), lapsed
        )
    )

    previous = state.scheduled_days
    maximum = ctx.maximum_interval
    hard_raw, good_raw, easy_raw = (
        ctx.next.hard.interval,
        ctx.next.good.interval,
        ctx.next.easy.interval,
    )
    hard_days = ctx.fuzz(hard_raw, max(_minimum_passing(hard_raw, previous, maximum), 1))
    good_days = ctx.fuzz(
        good_raw, max(_minimum_passing(good_raw, previous, maximum), hard_days + 1)
    )
    easy_days = ctx.fuzz(
        easy_raw, max(_minimum_passing(easy_raw, previous, maximum), good_days + 1)
    )
    hard = ReviewState(
        scheduled_days=hard_days,
        elapsed_days=0,
        ease_factor=max(f32(state.ease_factor + EASE_FACTOR_HARD_DELTA), MINIMUM_EASE_FACTOR),
        lapses=state.lapses,
        memory=ctx.next.hard.memory,
    )
    good = ReviewState(
        scheduled_days=good_days,
        elapsed_days=0,
        ease_factor=state.ease_factor,
        lapses=state.lapses,
        memory=ctx.next.good.memory,
    )
    easy = ReviewState(
        scheduled_days=easy_days,
        elapsed_days=0,
        ease_factor=f32(state.ease_factor + EASE_FACTOR_EASY_DELTA),
        lapses=state.lapses,
        memory=ctx.next.easy.memory,
    )
    return again, hard, good, easy


def _relearning_next(state: RelearnState, ctx: _Context) -> _Four:
    steps = ctx.relearn_steps
    review = state.review
    remaining = state.learning.remaining_steps

    def to_review(rating: int, days: int) -> ReviewState:
        return replace(
            review, scheduled_days=days, elapsed_days=0, memory=ctx.next.for_rating(rating).memory
        )

    def leave_steps(rating: int, keep: int) -> SchedulingState:
        outcome = ctx.next.for_rating(rating)
        secs = ctx.short_term_secs(outcome.interval, steps)
        if secs is not None:
            return RelearnState(
                LearnState(keep, secs, outcome.memory),
                to_review(rating, review.scheduled_days),
            )
        return to_review(rating, ctx.fuzz_rounded(outcome.interval))

    again_secs = steps.again_delay_secs()
    if again_secs is None:
        again = leave_steps(AGAIN, steps.remaining_for_failed())
    else:
        again_days = max(as_u32(round_half_away(f32(ctx.next.again.interval))), 1)
        again = RelearnState(
            LearnState(steps.remaining_for_failed(), again_secs, ctx.next.again.memory),
            to_review(AGAIN, again_days),
        )

    hard_secs = steps.hard_delay_secs(remaining)
    hard = (
        leave_steps(HARD, remaining)
        if hard_secs is None
        else RelearnState(
            LearnState(remaining, hard_secs, ctx.next.hard.memory),
            to_review(HARD, review.scheduled_days),
        )
    )

    good_secs = steps.good_delay_secs(remaining)
    good = (
        leave_steps(GOOD, remaining)
        if good_secs is None
        else RelearnState(
            LearnState(steps.remaining_for_good(remaining), good_secs, ctx.next.good.memory),
            to_review(GOOD, review.scheduled_days),
        )
    )
    easy = to_review(EASY, ctx.easy_days())
    return again, hard, good, easy
