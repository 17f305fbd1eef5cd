"""Bodies of the review routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from api.media import web_card
from api.schemas.base import SQLITE_MAX_INT, AnkiId, CamelIn, CamelModel
from collection.enums import CardQueue
from collection.review import AnswerOutcome, NextCard

_FRONT = (
    "Text to show as the question: a Basic note's Front as stored; for any other card "
    "its rendered question as one line of text (a cloze as [...] or its hint)."
)
_BACK = (
    "Text to show as the answer: a Basic note's Back as stored; for any other card the "
    "answer's own part (after <hr id=answer>) as one line of text."
)
_QUESTION = (
    "The question as Anki renders it (HTML, starting with the note type's <style>), "
    "pictures and sounds pointing at /api/media."
)
_ANSWER = "The answer as Anki renders it (HTML), like `question`."


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
    front: str = Field(description=_FRONT)
    back: str = Field(description=_BACK)
    question: str = Field(description=_QUESTION)
    answer: str = Field(description=_ANSWER)
    css: str = Field(description="The note type's CSS (also inside question and answer).")
    queue: int
    type: int
    interval: int
    ease_factor: int
    reviews: int
    lapses: int
    buttons: Buttons
    retrievability: float | None = Field(
        default=None,
        description="With FSRS on: the probability (0-1) of recalling the card today, "
        "from its memory state; null with SM-2 and for new cards.",
    )


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
    question: str | None = Field(default=None, description="`card.question`, or null.")
    answer: str | None = Field(default=None, description="`card.answer`, or null.")
    css: str | None = Field(default=None, description="`card.css`, or null.")

    @classmethod
    def of(cls, next_card: NextCard, media_token: str) -> NextCardOut:
        counts = Counts(
            new=next_card.counts.new,
            learning=next_card.counts.learning,
            review=next_card.counts.review,
        )
        view, buttons, face = next_card.card, next_card.buttons, next_card.face
        if view is None or buttons is None or face is None:
            return cls(card=None, counts=counts, message=next_card.message)
        again, hard, good, easy = buttons
        web = web_card(face, media_token)
        return cls(
            card_id=view.card_id,
            note_id=view.note_id,
            front=face.front,
            back=face.back,
            queue=view.queue,
            question=web.question,
            answer=web.answer,
            css=web.css,
            card=ReviewCard(
                card_id=view.card_id,
                note_id=view.note_id,
                deck_id=view.deck_id,
                front=face.front,
                back=face.back,
                question=web.question,
                answer=web.answer,
                css=web.css,
                queue=view.queue,
                type=view.type,
                interval=view.ivl,
                ease_factor=view.factor,
                reviews=view.reps,
                lapses=view.lapses,
                buttons=Buttons(again=again, hard=hard, good=good, easy=easy),
                retrievability=next_card.retrievability,
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
