"""Our card rendering and card generation against the real Anki's.

One Anki collection per module holds the corpus of `render_corpus`: the stock note
types and custom ones (conditionals, special fields, filters, sounds and TTS, hints,
clozes, broken templates). For every note, the cards Anki made are compared with
`card_ordinals`, and each card's question, answer and sound/TTS tags with
`render_card`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collection.render import card_ordinals, missing_card_reason
from tests.collection.render_corpus import CUSTOM_TYPES, NOTES, CustomType, NoteCase

pytestmark = pytest.mark.interop


@dataclass(frozen=True)
class AnkiCard:
    ord: int
    deck_name: str
    flags: int
    card_id: int
    question: str
    answer: str
    question_av: list[Any]
    answer_av: list[Any]


@dataclass(frozen=True)
class AnkiNote:
    case: NoteCase
    notetype: dict[str, Any]
    fields: list[str]
    tags: str
    cards: list[AnkiCard]


def _add_custom_type(col: Any, custom: CustomType) -> None:
    models = col.models
    model = models.new(custom.name)
    if custom.cloze:
        model["type"] = 1
    for name in custom.fields:
        models.add_field(model, models.new_field(name))
    first = custom.fields[0]
    for name, _, _ in custom.templates:
        template = models.new_template(name)
        # Placeholders Anki accepts; the real formats are set below, unchecked.
        if custom.cloze:
            template["qfmt"] = template["afmt"] = "{{cloze:" + first + "}}"
        else:
            template["qfmt"], template["afmt"] = "{{" + first + "}}" + name, ""
        models.add_template(model, template)
    model["css"] = custom.css
    models.add(model)
    model = models.by_name(custom.name)
    for template, (_, qfmt, afmt) in zip(model["tmpls"], custom.templates, strict=True):
        template["qfmt"], template["afmt"] = qfmt, afmt
    models.update_dict(model, skip_checks=True)


@pytest.fixture(scope="module")
def anki_notes() -> Iterator[dict[str, AnkiNote]]:
    from anki.collection import Collection

    with tempfile.TemporaryDirectory() as tmp:
        col = Collection(str(Path(tmp) / "collection.anki2"))
        try:
            for custom in CUSTOM_TYPES:
                _add_custom_type(col, custom)
            out: dict[str, AnkiNote] = {}
            for case in NOTES:
                model = col.models.by_name(case.notetype)
                note = col.new_note(model)
                for index, value in enumerate(case.fields):
                    note.fields[index] = value
                note.tags = list(case.tags)
                col.add_note(note, col.decks.id(case.deck))
                note = col.get_note(note.id)
                cards = [
                    AnkiCard(
                        ord=card.ord,
                        deck_name=col.decks.name(card.did),
                        flags=card.flags,
                        card_id=card.id,
                        question=card.question(),
                        answer=card.answer(),
                        question_av=card.question_av_tags(),
                        answer_av=card.answer_av_tags(),
                    )
                    for card in sorted(note.cards(), key=lambda c: c.ord)
                ]
                stored_tags = col.db.scalar("select tags from notes where id = ?", note.id)
                out[case.case_id] = AnkiNote(
                    case, col.models.get(note.mid), list(note.fields), stored_tags, cards
                )
            yield out
        finally:
            col.close()


CASE_IDS = [case.case_id for case in NOTES]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_card_ordinals_are_anki_s(anki_notes: dict[str, AnkiNote], case_id: str) -> None:
    note = anki_notes[case_id]
    anki_ords = [card.ord for card in note.cards]
    ours = card_ordinals(note.notetype, note.fields, tags=note.tags)
    reason = missing_card_reason(note.notetype, note.fields, tags=note.tags)
    if ours:
        assert ours == anki_ords
        assert reason == ""
    else:
        # Anki falls back to card 1 when its rules make nothing; we report why.
        assert anki_ords == [0]
        assert reason.endswith(".") and len(reason) > 20
