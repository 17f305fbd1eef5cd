"""Domain errors: one base class, a stable code each, a message a person can act on."""

from __future__ import annotations

import pytest

from collection import errors
from collection.errors import (
    CardChanged,
    CardNotFound,
    CardNotStudyable,
    CollectionError,
    DeckNotFound,
    DefaultDeckProtected,
    DefaultPresetProtected,
    DuplicateDeck,
    FilteredDeck,
    InvalidDeckName,
    InvalidField,
    MalformedCollection,
    MalformedPackage,
    NoCardsWouldBeMade,
    NotAPackage,
    NoteNotFound,
    NoteTypeMissing,
    NoteTypeNotFound,
    PackageTooLarge,
    PresetNotFound,
)

EXAMPLES = [
    DeckNotFound(42),
    CardNotFound(7),
    DuplicateDeck("Spanish"),
    DefaultDeckProtected(),
    InvalidDeckName("The deck name is empty."),
    InvalidField("front", "The front is empty."),
    FilteredDeck("'F' is a filtered deck."),
    NoteTypeMissing(),
    NoteNotFound(7),
    NoteTypeNotFound(8),
    NoCardsWouldBeMade("This Cloze note has no cloze deletion such as {{c1::...}} in Text."),
    MalformedCollection("broken"),
    CardNotStudyable("This card is suspended; unsuspend or unbury it to study it."),
    CardChanged("This card was answered elsewhere meanwhile; fetch the next card again."),
    NotAPackage("This file is not an Anki package."),
    PackageTooLarge("The package unpacks to more than 256 MiB."),
    MalformedPackage("The collection inside fails SQLite's quick_check."),
    PresetNotFound(9),
    DefaultPresetProtected("The default options preset cannot be deleted."),
]


def test_every_error_is_covered_here():
    classes = {
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, CollectionError) and c is not CollectionError
    }
    assert classes == {type(e) for e in EXAMPLES}


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_errors_carry_a_message_and_a_code(error: CollectionError):
    assert isinstance(error, CollectionError)
    assert str(error).strip()
    assert error.code != CollectionError.code


def test_codes_are_distinct():
    assert len({e.code for e in EXAMPLES}) == len(EXAMPLES)


def test_messages_name_what_was_not_found():
    assert "42" in str(DeckNotFound(42))
    assert "7" in str(CardNotFound(7))
    assert "'Spanish'" in str(DuplicateDeck("Spanish"))
    assert InvalidField("back", "x").field == "back"
