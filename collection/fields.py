"""A note's fields as Anki stores them: one text column, values split by U+001F.

What every writer of notes shares: the checks a field value must pass to be stored,
and the sort field and checksum (`sfld`, `csum`) Anki derives from the fields.
"""

from __future__ import annotations

from typing import Final

from collection.errors import InvalidField
from collection.text import field_checksum, strip_html_preserving_media_filenames

FIELD_SEPARATOR: Final = "\x1f"
MAX_FIELD_CHARS: Final = 100_000


def check_field_value(field: str, value: object) -> None:
    """InvalidField (naming `field`) unless `value` can be stored as a field."""
    if not isinstance(value, str):
        raise InvalidField(field, f"The {field} must be text.")
    if len(value) > MAX_FIELD_CHARS:
        raise InvalidField(
            field, f"The {field} is {len(value)} characters long; the limit is {MAX_FIELD_CHARS}."
        )
    if FIELD_SEPARATOR in value:
        raise InvalidField(
            field, f"The {field} contains the character U+001F, which Anki reserves."
        )
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise InvalidField(field, f"The {field} is not valid Unicode text.")


def split_fields(flds: str) -> list[str]:
    return flds.split(FIELD_SEPARATOR)


def join_fields(fields: list[str]) -> str:
    return FIELD_SEPARATOR.join(fields)


def sort_field_and_checksum(fields: list[str], sort_index: int) -> tuple[str, int]:
    """`sfld` and `csum` as Anki computes them in `Note::prepare_for_update`."""
    first = strip_html_preserving_media_filenames(fields[0])
    if sort_index == 0:
        sort_field = first
    else:
        in_range = 0 <= sort_index < len(fields)
        sort_field = strip_html_preserving_media_filenames(fields[sort_index] if in_range else "")
    return sort_field, field_checksum(first)
