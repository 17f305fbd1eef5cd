"""A shared-deck-shaped collection built with real Anki and exported by it with media:
the stock note types, a custom one with five fields, conditionals, right-to-left and
CJK text and a background picture in its CSS, pictures with awkward names and sounds
on both sides."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff\xe0"

MEDIA: dict[str, bytes] = {
    "cat.png": PNG + b"a cat",
    "caf\u00e9 photo.jpg": JPEG + b"a cafe, with a space and an accent in its name",
    "_bg.png": PNG + b"a background only the note type's CSS uses",
    "meow.mp3": b"ID3\x03\x00 meow",
    "purr.mp3": b"ID3\x03\x00 purr",
}
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "mp3": "audio/mpeg"}

CUSTOM = "Vocab (5 fields)"
CUSTOM_FIELDS = ("Word", "Reading", "Meaning", "Example", "Picture")
CUSTOM_CSS = (
    '.card { font-family: serif; background: url("_bg.png") repeat; }\n'
    ".rtl { direction: rtl; unicode-bidi: embed; }\n"
    ".cjk { font-size: 40px; }\n"
)
CUSTOM_TEMPLATES = (
    (
        "Recognition",
        '<div class="cjk">{{Word}}</div>{{#Reading}}<div class="reading">{{Reading}}</div>'
        "{{/Reading}}",
        '{{FrontSide}}<hr id=answer>{{Meaning}}{{#Example}}<div class="rtl">{{Example}}</div>'
        "{{/Example}}{{^Example}}<i>no example</i>{{/Example}}{{#Picture}}<br>{{Picture}}"
        "{{/Picture}}",
    ),
    (
        "Production",
        "{{#Meaning}}{{Meaning}}{{/Meaning}}",
        '{{FrontSide}}<hr id=answer><div class="cjk">{{Word}}</div>',
    ),
)

# Decks, each with the notes of one kind, so that a deck's first card is known.
BASIC_DECK = "Shared::Basic"
CLOZE_DECK = "Shared::Cloze"
OTHER_DECK = "Shared::Other"

BASIC_FRONT = '<b>cat</b> <img src="cat.png"> [sound:meow.mp3]'
BASIC_BACK = "猫 [sound:purr.mp3]"
CLOZE_TEXT = "{{c1::Paris::city}} is the capital of {{c2::France}}, on the {{c3::Seine}}"
CLOZE_EXTRA = '<img src="caf\u00e9 photo.jpg">'


@dataclass(frozen=True)
class SharedDeck:
    """The packages Anki exported (by format), and what Anki shows for every card."""

    packages: dict[str, Path]
    cards: dict[int, AnkiCard]
    note_type_css: dict[str, str]  # by note type name


@dataclass(frozen=True)
class AnkiCard:
    card_id: int
    guid: str
    ord: int
    note_type: str
    deck: str
    question: str
    answer: str
    question_sounds: tuple[str, ...]  # file names of Anki's question_av_tags()
    answer_sounds: tuple[str, ...]
    # Anki's html_to_text_line of the question, and of the answer's own part (after
    # `<hr id=answer>`, else all of it), style left out and sounds shown by file name.
    question_text: str
    answer_text: str


def _add_custom_type(col: Any) -> None:
    models = col.models
    model = models.new(CUSTOM)
    for name in CUSTOM_FIELDS:
        models.add_field(model, models.new_field(name))
    for name, qfmt, afmt in CUSTOM_TEMPLATES:
        template = models.new_template(name)
        template["qfmt"], template["afmt"] = qfmt, afmt
        models.add_template(model, template)
    model["css"] = CUSTOM_CSS
    models.add(model)


def _sound_names(tags: Any) -> tuple[str, ...]:
    return tuple(tag.filename for tag in tags)


def _text_line(col: Any, side: str, sounds: dict[str, tuple[str, ...]]) -> str:
    side = re.sub(r"^<style>.*?</style>", "", side, flags=re.DOTALL)
    side = re.sub(
        r"\[anki:play:([qa]):(\d+)\]",
        lambda found: f"[sound:{sounds[found[1]][int(found[2])]}]",
        side,
    )
    return str(col._backend.html_to_text_line(text=side, preserve_media_filenames=True))


def build_shared_deck(directory: Path) -> SharedDeck:
    from anki.collection import Collection, ExportAnkiPackageOptions

    directory.mkdir(parents=True, exist_ok=True)
    col = Collection(str(directory / "shared.anki2"))
    try:
        for name, data in MEDIA.items():
            assert col.media.write_data(name, data) == name
        _add_custom_type(col)

        def add(model: str, deck: str, *fields: str, tags: tuple[str, ...] = ()) -> None:
            note = col.new_note(col.models.by_name(model))
            for index, value in enumerate(fields):
                note.fields[index] = value
            note.tags = list(tags)
            col.add_note(note, col.decks.id(deck))

        add("Basic", BASIC_DECK, BASIC_FRONT, BASIC_BACK, tags=("animals",))
        add("Basic", BASIC_DECK, "plain & simple", "<i>back</i>")
        add("Basic (and reversed card)", OTHER_DECK, "שלום", 'hello <img src="cat.png">')
        add("Basic (optional reversed card)", OTHER_DECK, "يوم", "day", "y")
        add("Basic (optional reversed card)", OTHER_DECK, "night", "夜", "")
        add("Basic (type in the answer)", OTHER_DECK, "2 + 2", "four")
        add("Cloze", CLOZE_DECK, CLOZE_TEXT, CLOZE_EXTRA, tags=("geo",))
        add(
            CUSTOM,
            OTHER_DECK,
            "猫",
            "ねこ",
            "cat [sound:meow.mp3]",
            "القط يأكل",
            '<img src="caf\u00e9 photo.jpg">',
        )
        add(CUSTOM, OTHER_DECK, "كلب", "", "dog", "", "")

        cards: dict[int, AnkiCard] = {}
        for card_id in col.find_cards(""):
            card = col.get_card(card_id)
            note = card.note()
            sounds = {
                "q": _sound_names(card.question_av_tags()),
                "a": _sound_names(card.answer_av_tags()),
            }
            answer = card.answer()
            before, divider, after = answer.partition("<hr id=answer>")
            cards[card_id] = AnkiCard(
                card_id=card_id,
                guid=note.guid,
                ord=card.ord,
                note_type=note.note_type()["name"],
                deck=col.decks.name(card.did),
                question=card.question(),
                answer=answer,
                question_sounds=sounds["q"],
                answer_sounds=sounds["a"],
                question_text=_text_line(col, card.question(), sounds),
                answer_text=_text_line(col, after if divider else before, sounds),
            )
        css = {m["name"]: m["css"] for m in col.models.all()}
        packages: dict[str, Path] = {}
        for legacy in (True, False):
            name = "legacy" if legacy else "current"
            packages[name] = directory / f"shared-{name}.apkg"
            col.export_anki_package(
                out_path=str(packages[name]),
                options=ExportAnkiPackageOptions(
                    with_scheduling=False, with_deck_configs=True, with_media=True, legacy=legacy
                ),
                limit=None,
            )
    finally:
        col.close()
    return SharedDeck(packages=packages, cards=cards, note_type_css=css)
