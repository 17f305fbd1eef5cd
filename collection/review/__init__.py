"""Studying, split as Anki splits its scheduler: `queue` decides what to study next
(the next card, the counts, daily limits, learn-ahead, unburying on a new day) and
`answering` applies an answer (the card, the review log, leeches, daily counters, the
memory of answers for retried requests). The names callers use are importable here.
"""

from collection.review.answering import IDEMPOTENCY_CONF_KEY, AnswerOutcome, answer
from collection.review.queue import (
    NextCard,
    needs_unbury,
    next_card,
    timing,
    try_next_card,
    unbury_on_new_day,
)

__all__ = [
    "IDEMPOTENCY_CONF_KEY",
    "AnswerOutcome",
    "NextCard",
    "answer",
    "needs_unbury",
    "next_card",
    "timing",
    "try_next_card",
    "unbury_on_new_day",
]
