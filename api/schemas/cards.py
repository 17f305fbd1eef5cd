"""Bodies of the card routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from api.media import WebCard
from api.schemas.base import AnkiId, CamelIn, CamelModel
from collection.cards import CardPage, CardView
from collection.fields import MAX_FIELD_CHARS

FieldText = Annotated[
    str, Field(max_length=MAX_FIELD_CHARS, description="HTML allowed; kept exactly as sent.")
]


class CardCreate(CamelIn):
    front: FieldText
    back: FieldText = ""
    deck_id: AnkiId | None = Field(default=None, description="Default: the current deck.")


class CardUpdate(CamelIn):
    front: FieldText
    back: FieldText = ""


class CardMove(CamelIn):
    deck_id: AnkiId


class CardReset(CamelIn):
    reset_counts: bool = Field(default=False, description="Also zero reviews and lapses.")


class CardCreated(CamelModel):
    card_id: int
    note_id: int


class CardOut(CamelModel):
    card_id: int
    note_id: int
    deck_id: int
    deck_name: str | None
    front: str
    back: str
    type: int
    queue: int
    due: int
    interval: int
    ease_factor: int
    reviews: int
    lapses: int
    modified: int
    question: str | None = Field(
        default=None,
        description="The question as Anki renders it (HTML, starting with the note type's "
        "<style>), pictures and sounds pointing at /api/media; on GET and PUT.",
    )
    answer: str | None = Field(default=None, description="The answer, like `question`.")
    css: str | None = Field(default=None, description="The note type's CSS.")

    @classmethod
    def of(cls, card: CardView, web: WebCard | None = None) -> CardOut:
        return cls(
            question=None if web is None else web.question,
            answer=None if web is None else web.answer,
            css=None if web is None else web.css,
            card_id=card.card_id,
            note_id=card.note_id,
            deck_id=card.deck_id,
            deck_name=card.deck_name,
            front=card.front,
            back=card.back,
            type=card.type,
            queue=card.queue,
            due=card.due,
            interval=card.ivl,
            ease_factor=card.factor,
            reviews=card.reps,
            lapses=card.lapses,
            modified=card.modified,
        )


class CardSummaryOut(CamelModel):
    card_id: int
    note_id: int
    front: str
    back: str
    modified: int
    question: str = Field(description="The rendered question as text, as Anki's browser shows it.")


class Pagination(CamelModel):
    total: int
    page: int
    per_page: int
    total_pages: int


class DeckCardsOut(CamelModel):
    deck_id: int
    deck_name: str
    cards: list[CardSummaryOut]
    pagination: Pagination

    @classmethod
    def of(cls, page: CardPage) -> DeckCardsOut:
        return cls(
            deck_id=page.deck_id,
            deck_name=page.deck_name,
            cards=[
                CardSummaryOut(
                    card_id=c.card_id,
                    note_id=c.note_id,
                    front=c.front,
                    back=c.back,
                    modified=c.modified,
                    question=c.question,
                )
                for c in page.cards
            ],
            pagination=Pagination(
                total=page.total,
                page=page.page,
                per_page=page.per_page,
                total_pages=page.total_pages,
            ),
        )
