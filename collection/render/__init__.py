"""Card rendering as Anki does it: templates, clozes, filters, sounds, card generation.

Pure standard library. `render_card` gives what Anki's `card.question()` and
`card.answer()` give, with the sound and text-to-speech tags as `SoundTag` /
`TTSTag` objects; `card_ordinals` the cards Anki makes for a note;
`html_to_text_line` Anki's one-line text of some HTML.
"""

from collection.render.av import AVTag, SoundTag, TTSTag
from collection.render.card import RenderedCard, answer_text, question_text, render_card
from collection.render.generate import card_ordinals, missing_card_reason
from collection.render.html_text import html_to_text_line
from collection.render.web import web_css, web_side

__all__ = [
    "AVTag",
    "RenderedCard",
    "SoundTag",
    "TTSTag",
    "answer_text",
    "card_ordinals",
    "html_to_text_line",
    "missing_card_reason",
    "question_text",
    "render_card",
    "web_css",
    "web_side",
]
