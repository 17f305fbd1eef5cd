"""Answering a card: the new card columns and the revlog row, as Anki writes them."""

from dataclasses import dataclass, replace
from typing import Any, Final

from collection.enums import CardQueue, CardType

from ._rust import as_u32, f32, sat_u32
from .card import CardState
from .card_data import card_data_json, parse_card_data, with_memory
from .fsrs import MemoryState, ReviewEntry, revlog_factor
from .fsrs_states import FsrsConfig, fsrs_next_states
from .load_balancer import LoadBalancer
from .options import LEECH_ACTION_SUSPEND, DeckOptions
from .rng import fuzz_seed, random_u32_in_range
from .states import (
    Interval,
    LearnState,
    NewState,
    RelearnState,
    ReviewState,
    SchedulingState,
    SchedulingStates,
    ease_permille,
    is_leeched,
    memory_of,
    next_states,
    revlog_kind,
)

LEECH_TAG: Final = "leech"

# FSRS memory state and desired retention: cleared by an SM-2 answer.
_FSRS_ONLY_KEYS: Final = frozenset({"s", "d", "dr"})


@dataclass(frozen=True, slots=True)
class RevlogEntry:
    """One `revlog` row."""

    id: int
    """Answer time in epoch milliseconds (the caller bumps it if the id is taken)."""
    cid: int
    usn: int
    ease: int
    """The button: 1 Again, 2 Hard, 3 Good, 4 Easy."""
    ivl: int
    """New interval: days if positive, seconds if negative."""
    last_ivl: int
    """Previous interval, same convention (column `lastIvl`)."""
    factor: int
    """Ease in permille after the answer; 0 for (new and) learning cards."""
    time: int
    """Milliseconds taken, capped at the deck's `maxTaken`."""
    type: int
    """0 learn, 1 review, 2 relearn."""

    def as_row(self) -> dict[str, Any]:
        """Column name -> value, ready to bind into an INSERT."""
        return {
            "id": self.id,
            "cid": self.cid,
            "usn": self.usn,
            "ease": self.ease,
            "ivl": self.ivl,
            "lastIvl": self.last_ivl,
            "factor": self.factor,
            "time": self.time,
            "type": self.type,
        }


@dataclass(frozen=True, slots=True)
class AnswerResult:
    card: CardState
    revlog: RevlogEntry
    leech: bool
    """The card just became a leech: add the `leech` tag to its note."""
    suspend: bool
    """The leech action suspended it (its `queue` is already `CardQueue.SUSPENDED`)."""


def learning_delay_with_fuzz(card_id: int, reps: int, secs: int, *, fuzz: bool = True) -> int:
    """A (re)learning delay plus Anki's learning fuzz: up to 25% more, at most 5
    minutes more, seeded like the review fuzz (card id + reps before the answer)."""
    if not fuzz:
        return secs
    upper_exclusive = secs + as_u32(min(f32(f32(float(secs)) * 0.25), 300.0))
    if secs >= upper_exclusive:
        return secs
    return random_u32_in_range(fuzz_seed(card_id, reps), secs, upper_exclusive)


@dataclass(frozen=True, slots=True)
class FsrsCardData:
    """What an answer under FSRS records in the card's `data`."""

    memory: MemoryState
    desired_retention: float
    decay: float


def updated_card_data(
    data: str,
    *,
    original_position: int | None,
    answered_at: int,
    fsrs: FsrsCardData | None = None,
) -> str:
    """The card's `data` JSON after an answer: the last review time (`lrt`), for a card
    leaving the new queue `pos`, and under FSRS the memory state, desired retention and
    decay; an SM-2 answer drops the memory state (card_data.py)."""
    parsed = parse_card_data(data)
    if original_position is not None:
        parsed["pos"] = original_position
    parsed["lrt"] = answered_at
    for key in _FSRS_ONLY_KEYS:
        parsed.pop(key, None)
    if fsrs is not None:
        parsed = with_memory(parsed, fsrs.memory, fsrs.desired_retention, fsrs.decay)
    return card_data_json(parsed)


def answer_card(
    card: CardState,
    options: DeckOptions,
    ease: int,
    now: float,
    today: int,
    time_taken_ms: int,
    *,
    next_day_at: int,
    usn: int,
    fuzz: bool = True,
    fsrs: FsrsConfig | None = None,
    history: tuple[ReviewEntry, ...] = (),
    balancer: LoadBalancer | None = None,
) -> AnswerResult:
    """Answer `card` with button `ease` (1-4) at `now` (epoch seconds), as Anki's v3
    scheduler does: with SM-2, or with FSRS when `fsrs` is given (then `history` is the
    card's review log, oldest first, read when the card has no memory state stored).
    The card and its revlog entry carry `usn` (the collection's,
    `collection.col.server_usn`).

    `today` is the day number (`days_elapsed`) and `next_day_at` the epoch second of
    the next rollover (see `timing.sched_timing_today`): a (re)learning delay that
    reaches past the rollover becomes an interday step (`CardQueue.DAY_LEARN`, `due` in
    days), as in Anki, whatever its length. `fuzz=False` reproduces Anki's test mode
    (no fuzz). `balancer` load balances review intervals, as Anki's reviewer does.
    """
    if fsrs is None:
        states = next_states(card, options, today, fuzz=fuzz, balancer=balancer)
    else:
        states = fsrs_next_states(
            card,
            options,
            today,
            config=fsrs,
            next_day_at=next_day_at,
            history=history,
            fuzz=fuzz,
            balancer=balancer,
        )
    return apply_state(
        card,
        options,
        states,
        ease,
        now,
        today,
        time_taken_ms,
        next_day_at=next_day_at,
        usn=usn,
        fuzz=fuzz,
        fsrs=fsrs,
    )


def apply_state(
    card: CardState,
    options: DeckOptions,
    states: SchedulingStates,
    ease: int,
    now: float,
    today: int,
    time_taken_ms: int,
    *,
    next_day_at: int,
    usn: int,
    fuzz: bool = True,
    fsrs: FsrsConfig | None = None,
) -> AnswerResult:
    """Apply the state chosen by `ease` from previously computed `states` (computed with
    FSRS when `fsrs` is given)."""
    answered_ms = round(now * 1000)
    now_secs = answered_ms // 1000
    secs_until_rollover = max(next_day_at - now_secs, 0)
    current = states.current
    chosen = states.for_ease(ease)
    if isinstance(chosen, LearnState | RelearnState):
        fields = _learning_columns(card, chosen, today, now_secs, secs_until_rollover, fuzz=fuzz)
    elif isinstance(chosen, ReviewState):
        fields = _review_columns(chosen, today)
    else:
        raise ValueError("answering cannot lead back to the new queue")

    leech = is_leeched(chosen)
    suspend = leech and options.leech_action == LEECH_ACTION_SUSPEND
    if suspend:
        fields["queue"] = CardQueue.SUSPENDED
    position = current.position if isinstance(current, NewState) else None
    memory = memory_of(chosen) if fsrs is not None else None
    recorded = (
        None
        if fsrs is None or memory is None
        else FsrsCardData(memory, fsrs.desired_retention, fsrs.decay)
    )
    new_card = replace(
        card,
        reps=card.reps + 1,
        mod=now_secs,
        usn=usn,
        data=updated_card_data(
            card.data, original_position=position, answered_at=now_secs, fsrs=recorded
        ),
        **fields,
    )
    revlog = RevlogEntry(
        id=answered_ms,
        cid=card.id,
        usn=usn,
        ease=ease,
        ivl=_revlog_interval(chosen, secs_until_rollover),
        last_ivl=_revlog_interval(current, secs_until_rollover),
        # FSRS logs the new difficulty; SM-2 the ease (learning cards log none).
        factor=revlog_factor(memory.difficulty) if memory else fields.get("factor", 0),
        time=min(sat_u32(time_taken_ms), sat_u32(options.max_taken) * 1000),
        type=revlog_kind(current),
    )
    return AnswerResult(card=new_card, revlog=revlog, leech=leech, suspend=suspend)


def _learning_columns(
    card: CardState,
    chosen: LearnState | RelearnState,
    today: int,
    now_secs: int,
    secs_until_rollover: int,
    *,
    fuzz: bool,
) -> dict[str, Any]:
    """The columns of a card on a (re)learning step: in the interday queue on a day
    number when the step reaches past the rollover, else in the intraday queue at a
    time, the delay fuzzed as Anki fuzzes learning delays."""
    learning = chosen if isinstance(chosen, LearnState) else chosen.learning
    delay = learning.interval.maybe_as_days(secs_until_rollover)
    fields: dict[str, Any] = {"left": learning.remaining_steps}
    if delay.in_days:
        fields.update(queue=CardQueue.DAY_LEARN, due=today + delay.amount)
    else:
        secs = learning_delay_with_fuzz(card.id, card.reps, delay.amount, fuzz=fuzz)
        fields.update(queue=CardQueue.LEARN, due=now_secs + secs)
    if isinstance(chosen, LearnState):
        fields["type"] = CardType.LEARN
    else:
        fields.update(
            type=CardType.RELEARN,
            ivl=chosen.review.scheduled_days,
            lapses=chosen.review.lapses,
            factor=ease_permille(chosen.review.ease_factor),
        )
    return fields


def _review_columns(chosen: ReviewState, today: int) -> dict[str, Any]:
    """The columns of a card in the review queue, due `scheduled_days` from today."""
    return {
        "type": CardType.REVIEW,
        "queue": CardQueue.REVIEW,
        "ivl": chosen.scheduled_days,
        "due": today + chosen.scheduled_days,
        "factor": ease_permille(chosen.ease_factor),
        "lapses": chosen.lapses,
        "left": 0,
    }


def _revlog_interval(state: SchedulingState, secs_until_rollover: int) -> int:
    interval: Interval = state.interval
    return interval.maybe_as_days(secs_until_rollover).as_revlog_interval()
