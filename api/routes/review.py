"""Studying: the next card, and answers to it."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Header, Query

from api.deps import CollectionDep, MediaTokenDep
from api.routes._responses import SIGNED_IN, errors
from api.schemas.base import AnkiId
from api.schemas.review import AnswerIn, AnswerOut, NextCardOut
from collection import review

router = APIRouter(prefix="/api/review", tags=["review"], responses=SIGNED_IN)


@router.get("", responses=errors(_404="No such deck in your collection"))
def next_card(
    collection: CollectionDep,
    media_token: MediaTokenDep,
    deck_id: Annotated[AnkiId | None, Query(alias="deckId")] = None,
) -> NextCardOut:
    """The card to study now in a deck and its subdecks (default: the current deck)."""
    now = time.time()
    # One read (one conditional GET) in the common case.
    shown = collection.read(lambda conn: review.try_next_card(conn, deck_id, now=now))
    if shown is None:
        # A new day: yesterday's buried cards come back before anything is chosen.
        collection.write(lambda conn: review.unbury_on_new_day(conn, now=now))
        shown = collection.read(lambda conn: review.next_card(conn, deck_id, now=now))
    return NextCardOut.of(shown, media_token)


@router.post(
    "",
    responses=errors(
        _404="No such card in your collection",
        _409="The card is suspended or buried, or was answered elsewhere meanwhile",
    ),
)
def answer(
    body: AnswerIn,
    collection: CollectionDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=128,
            description="Makes retries safe: an answer already applied under this key is "
            "not applied again.",
        ),
    ] = None,
) -> AnswerOut:
    """Answer a card; any card of your collection can be answered."""
    now = time.time()
    outcome = collection.write(
        lambda conn: review.answer(
            conn,
            body.card_id,
            body.ease,
            body.time_taken,
            now=now,
            idempotency_key=idempotency_key,
            expected_reps=body.expected_reviews,
        )
    )
    return AnswerOut.of(outcome)
