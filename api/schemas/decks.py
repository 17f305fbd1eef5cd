"""Bodies of the deck routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from api.schemas.base import AnkiId, CamelIn, CamelModel
from collection.decks import Deck
from collection.stats import DeckStats

DeckName = Annotated[str, Field(min_length=1, max_length=500, description="`::` makes a subdeck.")]


class DeckOut(CamelModel):
    id: int
    name: str
    card_count: int = Field(description="Cards in this deck and its subdecks.")

    @classmethod
    def of(cls, deck: Deck) -> DeckOut:
        return cls(id=deck.id, name=deck.name, card_count=deck.card_count)


class DeckListOut(CamelModel):
    """The deck list in an object, as the Javumbo web client reads it (``data.decks``)."""

    decks: list[DeckOut]


class DeckCreate(CamelIn):
    name: DeckName


class DeckRename(CamelIn):
    name: DeckName


class CurrentDeckIn(CamelIn):
    deck_id: AnkiId


class StateCounts(CamelModel):
    # The HTTP contract spells these with capitals; no alias generation here.
    model_config = CamelModel.model_config | {"alias_generator": None}

    New: int
    Learning: int
    Relearning: int
    Young: int
    Mature: int
    Suspended: int
    Buried: int


class DeckStatsOut(CamelModel):
    deck_id: int
    counts: StateCounts
    total: int

    @classmethod
    def of(cls, deck_id: int, stats: DeckStats) -> DeckStatsOut:
        return cls(deck_id=deck_id, counts=StateCounts(**stats.counts()), total=stats.total)
