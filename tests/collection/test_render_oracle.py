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

from collection.render import (
    AVTag,
    SoundTag,
    answer_text,
    card_ordinals,
    html_to_text_line,
    missing_card_reason,
    question_text,
    render_card,
)
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
def anki_col() -> Iterator[Any]:
    from anki.collection import Collection

    with tempfile.TemporaryDirectory() as tmp:
        col = Collection(str(Path(tmp) / "collection.anki2"))
        try:
            yield col
        finally:
            col.close()


@pytest.fixture(scope="module")
def anki_text_line(anki_col: Any) -> Any:
    """Anki's own html_to_text_line (it needs an open collection's backend)."""

    def text_line(html: str, preserve: bool = True) -> str:
        return str(
            anki_col._backend.html_to_text_line(text=html, preserve_media_filenames=preserve)
        )

    return text_line


@pytest.fixture(scope="module")
def anki_notes(anki_col: Any) -> dict[str, AnkiNote]:
    col = anki_col
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
    return out


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


def _anki_av(tags: list[Any]) -> list[tuple[Any, ...]]:
    from anki.sound import SoundOrVideoTag

    out: list[tuple[Any, ...]] = []
    for tag in tags:
        if isinstance(tag, SoundOrVideoTag):
            out.append(("sound", tag.filename))
        else:
            voices = tuple(tag.voices)
            args = tuple(tag.other_args)
            out.append(("tts", tag.field_text, tag.lang, voices, tag.speed, args))
    return out


def _our_av(tags: tuple[AVTag, ...]) -> list[tuple[Any, ...]]:
    return [
        ("sound", t.filename)
        if isinstance(t, SoundTag)
        else ("tts", t.text, t.lang, t.voices, t.speed, t.other_args)
        for t in tags
    ]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_rendered_cards_are_anki_s(anki_notes: dict[str, AnkiNote], case_id: str) -> None:
    note = anki_notes[case_id]
    assert note.cards
    for card in note.cards:
        ours = render_card(
            note.notetype,
            note.fields,
            card.ord,
            tags=note.tags,
            deck_name=card.deck_name,
            flags=card.flags,
            card_id=card.card_id,
        )
        where = f"card ord {card.ord}"
        assert ours.question == card.question, where
        assert ours.answer == card.answer, where
        assert ours.css == note.notetype["css"], where
        assert _our_av(ours.question_sounds) == _anki_av(card.question_av), where
        assert _our_av(ours.answer_sounds) == _anki_av(card.answer_av), where


TEXT_LINES = [
    "",
    "plain",
    "a<br>b<BR />c<br\t/>d<div>e</div>f\ng",
    "[[type:Back]] x [[type:]] [[type:a]b]]",
    "[sound:s.mp3] [sound:] [sound:a]b]",
    "<img src='p.png'> <img src=\"q r.jpg\"> <audio src=a.mp3>",
    "&amp; &lt;b&gt; &nbsp; &bogus; x",
    "  <style>p {}</style><b>bold</b> <!-- c --> \u3000",
    "日本語<br>עברית",
    '<span class="cloze" data-cloze="x" data-ordinal="1">[...]</span>',
]


@pytest.mark.parametrize("preserve", [True, False])
@pytest.mark.parametrize("html", TEXT_LINES)
def test_html_to_text_line_is_anki_s(anki_text_line: Any, html: str, preserve: bool):
    expected = anki_text_line(html, preserve)
    assert html_to_text_line(html, preserve_media_filenames=preserve) == expected


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_plain_text_is_the_text_line_of_anki_s_sides(
    anki_notes: dict[str, AnkiNote], anki_text_line: Any, case_id: str
) -> None:
    note = anki_notes[case_id]
    for card in note.cards:
        ours = render_card(
            note.notetype, note.fields, card.ord, tags=note.tags, deck_name=card.deck_name
        )
        question = card.question.split("</style>", 1)[1]
        answer = card.answer.split("</style>", 1)[1]
        answer = answer.split("<hr id=answer>", 1)[-1]
        for side, tags in (("q", card.question_av), ("a", card.answer_av)):
            for index, tag in enumerate(tags):
                text = f"[sound:{tag.filename}]" if hasattr(tag, "filename") else tag.field_text
                question = question.replace(f"[anki:play:{side}:{index}]", text)
                answer = answer.replace(f"[anki:play:{side}:{index}]", text)
        expected_q = anki_text_line(question)
        expected_a = anki_text_line(answer)
        assert question_text(ours) == expected_q
        assert answer_text(ours) == expected_a
