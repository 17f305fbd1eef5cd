"""Which cards Anki makes for a note (rslib/src/notetype/cardgen.rs).

- A standard note type gets the card of each template whose question renders a
  non-empty field (`renders_with_fields`): a `{{Field}}` of a non-empty field reached
  through `{{#F}}` sections of non-empty fields and `{{^F}}` sections of empty ones.
  A field is empty when it holds only whitespace, `<br>` and `<div>` tags. The
  special fields Deck, Subdeck, Card, Type, CardFlag and CardID count as non-empty
  (so `{{Deck}}` in a question always makes its card), Tags when the note has tags.
  A template that does not parse makes no card.
- A cloze note type gets one card per cloze number found in any of the note's fields
  (Anki looks at every field, not only those used with `{{cloze:…}}`); card ordinal
  = number - 1, at most 499.

Anki adds card 1 anyway when these rules give nothing; `card_ordinals` does not, and
`missing_card_reason` says why nothing would be made.
"""

from __future__ import annotations

from typing import Any, Final

from collection.render.cloze import cloze_numbers_in_fields
from collection.render.errors import TemplateError
from collection.render.template import (
    ParsedTemplate,
    field_is_empty,
    parse_template,
    referenced_cloze_fields,
    referenced_fields,
    renders_with_fields,
    try_parse,
)

CLOZE_KIND: Final = 1
MAX_CLOZE_ORDINAL: Final = 499
# Special fields Anki counts as non-empty when deciding which cards a note gets.
ALWAYS_NONEMPTY_SPECIALS: Final = ("Deck", "Subdeck", "Card", "Type", "CardFlag", "CardID")


def is_cloze(notetype: dict[str, Any]) -> bool:
    return int(notetype.get("type", 0)) == CLOZE_KIND


def field_names(notetype: dict[str, Any]) -> list[str]:
    flds = sorted(notetype["flds"], key=lambda f: int(f.get("ord", 0)))
    return [str(f["name"]) for f in flds]


def templates(notetype: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(notetype["tmpls"], key=lambda t: int(t.get("ord", 0)))


def note_fields(notetype: dict[str, Any], fields: list[str]) -> dict[str, str]:
    """Field name -> content; missing trailing fields are empty, extra ones ignored."""
    names = field_names(notetype)
    padded = list(fields[: len(names)]) + [""] * (len(names) - len(fields))
    return dict(zip(names, padded, strict=True))


def _split_tags(tags: str) -> list[str]:
    return [t for t in tags.replace("\u3000", " ").split(" ") if t]


def _nonempty(notetype: dict[str, Any], fields: list[str], tags: str) -> set[str]:
    nonempty = {
        name for name, text in note_fields(notetype, fields).items() if not field_is_empty(text)
    }
    names = set(field_names(notetype))
    specials = set(ALWAYS_NONEMPTY_SPECIALS)
    if _split_tags(tags):
        specials.add("Tags")
    return nonempty | (specials - names)


def card_ordinals(notetype: dict[str, Any], fields: list[str], *, tags: str = "") -> list[int]:
    """The ordinals of the cards Anki generates for a new note, ascending.

    `tags` (as stored, " a b ") matters only to templates that use `{{Tags}}` or
    `{{#Tags}}` in the question."""
    if is_cloze(notetype):
        numbers = cloze_numbers_in_fields(list(note_fields(notetype, fields).values()))
        return sorted({min(n - 1, MAX_CLOZE_ORDINAL) for n in numbers})
    nonempty = _nonempty(notetype, fields, tags)
    ords: list[int] = []
    for index, template in enumerate(templates(notetype)):
        parsed = try_parse(str(template.get("qfmt", "")))
        if parsed is not None and renders_with_fields(parsed, nonempty):
            ords.append(int(template.get("ord", index)))
    return ords


def _either(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


def missing_card_reason(notetype: dict[str, Any], fields: list[str], *, tags: str = "") -> str:
    """Why Anki's rules make no card for this note, as an English sentence; "" when
    `card_ordinals` is not empty."""
    if card_ordinals(notetype, fields, tags=tags):
        return ""
    name = str(notetype.get("name", ""))
    names = field_names(notetype)
    tmpls = templates(notetype)
    if is_cloze(notetype):
        parsed = try_parse(str(tmpls[0].get("qfmt", ""))) if tmpls else None
        used = [f for f in referenced_cloze_fields(parsed) if f in names] if parsed else []
        where = f"in {_either(used)}" if used else "in any field"
        return f"This {name} note has no cloze deletion such as {{{{c1::...}}}} {where}."
    parsed_all: list[ParsedTemplate] = []
    first_error: TemplateError | None = None
    for template in tmpls:
        try:
            parsed_all.append(parse_template(str(template.get("qfmt", ""))))
        except TemplateError as error:
            first_error = first_error or error
    if not parsed_all:
        problem = first_error.details() if first_error else "there are none"
        problem = problem.replace("\u2068", "").replace("\u2069", "")
        return f"None of the card templates of {name} can be used: {problem}."
    used_fields: dict[str, None] = {}
    for parsed in parsed_all:
        for field in referenced_fields(parsed):
            if field in names:
                used_fields.setdefault(field, None)
    if not used_fields:
        return f"None of the card templates of {name} shows a field of the note."
    return f"None of the card templates would show anything: fill in {_either(list(used_fields))}."
