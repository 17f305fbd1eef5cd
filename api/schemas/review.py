"""Bodies of the review routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from api.schemas.base import SQLITE_MAX_INT, AnkiId, CamelIn, CamelModel
from collection.enums import CardQueue
from collection.review import AnswerOutcome, NextCard


class Buttons(CamelModel):
    """When each button would show the card next, as Anki labels them ("10m", "4d")."""

    again: str
    hard: str
    good: str
    easy: str


class ReviewCard(CamelModel):
    card_id: int
    note_id: int
    deck_id: int
    front: str
    back: str
    queue: int
    type: int
    interval: int
    ease_factor: int
    reviews: int
    lapses: int
    buttons: Buttons


class Counts(CamelModel):
    new: int
    learning: int
    review: int


class NextCardOut(CamelModel):
    card: ReviewCard | None
    counts: Counts
    message: str = Field(description="Why there is no card, when there is none.")
    # The Javumbo web client reads the card's identity and sides at the top level.
    card_id: int | None = Field(default=None, description="`card.cardId`, or null.")
    note_id: int | None = Field(default=None, description="`card.noteId`, or null.")
    front: str | None = Field(default=None, description="`card.front`, or null.")
    back: str | None = Field(default=None, description="`card.back`, or null.")
    queue: int | None = Field(default=None, description="`card.queue`, or null.")

    @classmethod
    def of(cls, next_card: NextCard) -> NextCardOut:
        counts = Counts(
            new=next_card.counts.new,
            learning=next_card.counts.learning,
            review=next_card.counts.review,
        )
        view, buttons = next_card.card, next_card.buttons
        if view is None or buttons is None:
            return cls(card=None, counts=counts, message=next_card.message)
        again, hard, good, easy = buttons
        return cls(
            card_id=view.card_id,
            note_id=view.note_id,
            front=view.front,
            back=view.back,
            queue=view.queue,
            card=ReviewCard(
                card_id=view.card_id,
                note_id=view.note_id,
                deck_id=view.deck_id,
                front=view.front,
                back=view.back,
                queue=view.queue,
                type=view.type,
                interval=view.ivl,
                ease_factor=view.factor,
                reviews=view.reps,
                lapses=view.lapses,
                buttons=Buttons(again=again, hard=hard, good=good, easy=easy),
            ),
            counts=counts,
            message=next_card.message,
        )


class AnswerIn(CamelIn):
    card_id: AnkiId
    ease: Annotated[int, Field(ge=1, le=4, description="1 Again, 2 Hard, 3 Good, 4 Easy")]
    time_taken: Annotated[int, Field(ge=0, le=86_400_000, description="Milliseconds")] = 0
    expected_reviews: Annotated[int, Field(ge=0, le=SQLITE_MAX_INT)] | None = Field(
        default=None,
        description="The card's `reviews` when it was shown; if it has moved on (answered "
        "elsewhere), the answer is refused with 409 instead of applied twice.",
    )


class AnswerOut(CamelModel):
    card_id: int
    type: int
    queue: int
    due: int = Field(description="Epoch seconds (queue 1) or day number (queues 2, 3).")
    interval: int
    ease_factor: int
    reviews: int
    lapses: int
    left: int
    leech: bool
    suspended: bool
    revlog_id: int
    repeated: bool = Field(description="True when this was a retry of an applied answer.")

    @classmethod
    def of(cls, outcome: AnswerOutcome) -> AnswerOut:
        card = outcome.card
        return cls(
            card_id=card.id,
            type=card.type,
            queue=card.queue,
            due=card.due,
            interval=card.ivl,
            ease_factor=card.factor,
            reviews=card.reps,
            lapses=card.lapses,
            left=card.left,
            leech=outcome.leech,
            suspended=card.queue == CardQueue.SUSPENDED,
            revlog_id=outcome.revlog_id,
            repeated=outcome.repeated,
        )
