"""What can go wrong in the collection domain; ``api/errors.py`` maps each onto HTTP.

Every exception carries a message a person can act on (``str(exc)``) and a stable
machine-readable ``code``. A function that raises one of these has not changed the
database (validation happens before the first write). This is the package's one
errors module. The hierarchy (each class's docstring names the HTTP status meant):

- ``CollectionError``, the base class of all of them;
- the stored collection: ``MalformedCollection``;
- not found: ``DeckNotFound``, ``CardNotFound``, ``NoteNotFound``, ``NoteTypeNotFound``;
- refused edits: ``DuplicateDeck``, ``DefaultDeckProtected``, ``InvalidDeckName``,
  ``FilteredDeck``, ``InvalidField``, ``NoteTypeMissing``, ``NoCardsWouldBeMade``;
- studying: ``CardNotStudyable`` (suspended or buried), ``CardChanged`` (answered
  elsewhere, or an idempotency key reused for another card);
- uploaded packages, refused before anything is written: ``NotAPackage``,
  ``PackageTooLarge``, ``MalformedPackage``.

``ProtobufError`` is internal to reading packages: the package code turns it into
``MalformedPackage`` before it can reach a caller.
"""

from __future__ import annotations


class CollectionError(Exception):
    """Base class of collection-domain failures."""

    code = "collection_error"


class MalformedCollection(CollectionError):
    """The database is not a usable schema-11 collection (a server-side problem, 500)."""

    code = "collection_malformed"


class DeckNotFound(CollectionError):
    """No deck has this id (404)."""

    code = "deck_not_found"

    def __init__(self, deck_id: int) -> None:
        super().__init__(f"There is no deck with id {deck_id}.")
        self.deck_id = deck_id


class PresetNotFound(CollectionError):
    """No options preset (`dconf` entry) has this id (404)."""

    code = "preset_not_found"

    def __init__(self, preset_id: int) -> None:
        super().__init__(f"There is no options preset with id {preset_id}.")
        self.preset_id = preset_id


class DefaultPresetProtected(CollectionError):
    """The default options preset cannot be deleted (400)."""

    code = "default_preset_protected"


class CardNotFound(CollectionError):
    """No card has this id (404)."""

    code = "card_not_found"

    def __init__(self, card_id: int) -> None:
        super().__init__(f"There is no card with id {card_id}.")
        self.card_id = card_id


class NoteNotFound(CollectionError):
    """No note with this id in the collection (404)."""

    code = "note_not_found"

    def __init__(self, note_id: int) -> None:
        super().__init__(f"No note with id {note_id} in this collection.")
        self.note_id = note_id


class NoteTypeNotFound(CollectionError):
    """No note type with this id in the collection (404)."""

    code = "note_type_not_found"

    def __init__(self, notetype_id: int) -> None:
        super().__init__(f"No note type with id {notetype_id} in this collection.")
        self.notetype_id = notetype_id


class DuplicateDeck(CollectionError):
    """Another deck already has this name, compared case-insensitively (409)."""

    code = "duplicate_deck"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"A deck named {name!r} already exists (deck names ignore upper/lower case)."
        )
        self.name = name


class DefaultDeckProtected(CollectionError):
    """The default deck (id 1) cannot be deleted (400)."""

    code = "default_deck_protected"

    def __init__(self, message: str = "The default deck cannot be deleted.") -> None:
        super().__init__(message)


class InvalidDeckName(CollectionError):
    """The deck name is empty, malformed, or names an impossible place (422)."""

    code = "invalid_deck_name"


class FilteredDeck(CollectionError):
    """Cards cannot be added to a filtered deck, nor decks put inside one (422)."""

    code = "filtered_deck"


class InvalidField(CollectionError):
    """A note field is empty where it must not be, too long, or malformed (422)."""

    code = "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NoteTypeMissing(CollectionError):
    """The collection has no usable Basic note type to add cards with (409)."""

    code = "note_type_missing"

    def __init__(self) -> None:
        super().__init__(
            "This collection has no standard 'Basic' note type with Front and Back fields, "
            "so cards cannot be added to it."
        )


class NoCardsWouldBeMade(CollectionError):
    """The note's fields give none of its card templates anything to show (422)."""

    code = "no_cards"


class CardNotStudyable(CollectionError):
    """The card is suspended, buried or in a filtered deck, so it cannot be answered
    here (409)."""

    code = "card_not_studyable"


class CardChanged(CollectionError):
    """The card is not in the state the client expected: answered elsewhere (409)."""

    code = "card_changed"


# --- uploaded packages: each means the package was refused before anything was
# written to the learner's collection.


class NotAPackage(CollectionError):
    """Not a zip file, or a zip without an Anki collection in it (415)."""

    code = "not_a_package"


class PackageTooLarge(CollectionError):
    """The package unpacks to more bytes, or holds more files, than allowed (413)."""

    code = "package_too_large"


class MalformedPackage(CollectionError):
    """The package is damaged or unsafe: bad zip entries, a corrupt or hostile
    database, or data Anki would not have written (422)."""

    code = "package_malformed"


class ProtobufError(ValueError):
    """A protobuf message in a package is malformed (becomes MalformedPackage)."""
