"""Anki's v3 scheduler with SM-2 (FSRS off), as pure functions.

Nothing here touches SQLite: callers read a card row into a `CardState`, the deck
preset into `DeckOptions` and the day from `sched_timing_today`/`sched_timing_for_collection`,
then write back `AnswerResult.card` and insert `AnswerResult.revlog`.
"""

from .answer import (
    LEECH_TAG,
    AnswerResult,
    RevlogEntry,
    answer_card,
    learning_delay_with_fuzz,
    updated_card_data,
)
from .card import CardState
from .fuzz import constrained_fuzz_bounds, with_review_fuzz
from .labels import answer_button_time, answer_button_time_collapsible, describe_next_states
from .options import DeckOptions
from .rng import fuzz_factor, fuzz_seed
from .states import (
    Interval,
    LearnState,
    NewState,
    RelearnState,
    ReviewState,
    SchedulingState,
    SchedulingStates,
    leech_threshold_met,
    next_states,
)
from .timing import (
    SchedTiming,
    is_learning_due,
    learn_ahead_cutoff,
    learn_ahead_secs,
    sched_timing_for_collection,
    sched_timing_today,
)

__all__ = [
    "LEECH_TAG",
    "AnswerResult",
    "CardState",
    "DeckOptions",
    "Interval",
    "LearnState",
    "NewState",
    "RelearnState",
    "ReviewState",
    "RevlogEntry",
    "SchedTiming",
    "SchedulingState",
    "SchedulingStates",
    "answer_button_time",
    "answer_button_time_collapsible",
    "answer_card",
    "constrained_fuzz_bounds",
    "describe_next_states",
    "fuzz_factor",
    "fuzz_seed",
    "is_learning_due",
    "learn_ahead_cutoff",
    "learn_ahead_secs",
    "learning_delay_with_fuzz",
    "leech_threshold_met",
    "next_states",
    "sched_timing_for_collection",
    "sched_timing_today",
    "updated_card_data",
    "with_review_fuzz",
]
