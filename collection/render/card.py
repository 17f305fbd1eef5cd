"""Rendering one card's question and answer as Anki's `card.question()` and
`card.answer()` do (rslib/src/template.rs `render_card`, rslib/src/notetype/render.rs,
pylib/anki/template.py).

Fields are the note's fields plus the special fields Anki adds where no note field
has the name: Tags, Type, Subdeck, Deck, CardFlag, Card, CardID, and `cN` ("1") for
the card's own cloze number. `{{FrontSide}}` on the answer is the question after its
sounds became `[anki:play:q:N]`. A template error replaces both sides with Anki's
message (after an empty style block); an empty question gets Anki's "front is
blank" (or "no cloze N") message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from collection.render.av import AVTag, SoundTag, extract_av_tags
from collection.render.cloze import cloze_numbers_in_fields
from collection.render.errors import (
    FieldNotFound,
    NoSuchConditional,
    TemplateError,
    empty_front_html,
    missing_cloze_html,
    template_error_html,
)
from collection.render.filters import FilterContext, apply_filters
from collection.render.generate import _split_tags, is_cloze, note_fields, templates
from collection.render.html_text import html_to_text_line
from collection.render.template import (
    COMMENT_END,
    COMMENT_START,
    Comment,
    Conditional,
    Node,
    ParsedTemplate,
    Replacement,
    Text,
    field_is_empty,
    parse_template,
    renders_with_fields,
)

ANSWER_DIVIDER: Final = "<hr id=answer>"
_FRONT_SIDE: Final = "FrontSide"


@dataclass(frozen=True, slots=True)
class RenderedCard:
    """A rendered card. `question` and `answer` are exactly Anki's `card.question()`
    and `card.answer()`: `<style>{css}</style>` and the rendered template, with each
    sound or TTS tag replaced by `[anki:play:q:N]` / `[anki:play:a:N]`, N indexing
    `question_sounds` / `answer_sounds` (Anki's `question_av_tags()` /
    `answer_av_tags()`): `SoundTag(filename)` for `[sound:…]`, `TTSTag(text, lang,
    voices, speed, other_args)` for text to speech. The question part repeated on the
    answer through `{{FrontSide}}` keeps its `q` references."""

    question: str
    answer: str
    css: str
    question_sounds: tuple[AVTag, ...]
    answer_sounds: tuple[AVTag, ...]


def _is_cloze_conditional(key: str) -> bool:
    """`c` and a number Rust's `u32` parse accepts (an optional `+`, digits)."""
    if not key.startswith("c"):
        return False
    digits = key[1:]
    if digits.startswith("+"):
        digits = digits[1:]
    return digits.isascii() and digits.isdigit() and int(digits) <= 0xFFFFFFFF


class _FrontSidePlaceholder:
    """Where `{{FrontSide}}` goes on the answer (filled after sounds are extracted)."""


_FRONT: Final = _FrontSidePlaceholder()


def _render(
    template: ParsedTemplate,
    fields: dict[str, str],
    nonempty: set[str],
    ctx: FilterContext,
) -> list[str | _FrontSidePlaceholder]:
    out: list[str | _FrontSidePlaceholder] = []
    # (nodes, index, visible): hidden sections are still walked for their errors.
    stack: list[tuple[tuple[Node, ...], int, bool]] = [(template.nodes, 0, True)]
    while stack:
        nodes, index, visible = stack.pop()
        if index >= len(nodes):
            continue
        stack.append((nodes, index + 1, visible))
        node = nodes[index]
        if isinstance(node, Text):
            if visible:
                out.append(node.text)
        elif isinstance(node, Comment):
            if visible:
                out.append(COMMENT_START + node.text + COMMENT_END)
        elif isinstance(node, Replacement):
            text = _replacement(node, fields, ctx)
            if visible:
                out.append(text)
        else:
            shown = _conditional(node, fields, nonempty)
            stack.append((node.children, 0, visible and shown))
    return out


def _replacement(
    node: Replacement, fields: dict[str, str], ctx: FilterContext
) -> str | _FrontSidePlaceholder:
    if node.key == _FRONT_SIDE:
        return _FRONT
    if not node.key and node.filters:
        # Anki leaves a filter without a field to add-ons; without them it is empty.
        return ""
    if node.key not in fields:
        raise FieldNotFound(node.key, node.filters)
    return apply_filters(fields[node.key], node.filters, node.key, ctx)


def _conditional(node: Conditional, fields: dict[str, str], nonempty: set[str]) -> bool:
    if node.key in nonempty:
        return not node.negated
    if node.key in fields or _is_cloze_conditional(node.key):
        return node.negated
    raise NoSuchConditional(("^" if node.negated else "#") + node.key)


def _join(parts: list[str | _FrontSidePlaceholder], front_side: str) -> str:
    return "".join(front_side if isinstance(p, _FrontSidePlaceholder) else p for p in parts)


def _field_map(
    notetype: dict[str, Any],
    fields: list[str],
    card_ord: int,
    template: dict[str, Any],
    tags: str,
    deck_name: str,
    flags: int,
    card_id: int,
) -> dict[str, str]:
    field_map = note_fields(notetype, fields)
    specials = {
        "Tags": " ".join(_split_tags(tags)),
        "Type": str(notetype.get("name", "")),
        "Subdeck": deck_name.rsplit("::", 1)[-1],
        "Deck": deck_name,
        "CardFlag": f"flag{flags}",
        "Card": str(template.get("name", "")),
        "CardID": str(card_id),
        f"c{card_ord + 1}": "1",
    }
    for name, value in specials.items():
        field_map.setdefault(name, value)
    return field_map


def _template_for(notetype: dict[str, Any], card_ord: int) -> dict[str, Any]:
    tmpls = templates(notetype)
    if is_cloze(notetype):
        return tmpls[0]
    for index, template in enumerate(tmpls):
        if int(template.get("ord", index)) == card_ord:
            return template
    raise IndexError(f"the note type has no template {card_ord}")


def render_card(
    notetype: dict[str, Any],
    fields: list[str],
    card_ord: int,
    *,
    tags: str,
    deck_name: str,
    flags: int = 0,
    card_id: int = 0,
) -> RenderedCard:
    """Render card `card_ord` of a note as Anki's reviewer receives it.

    `notetype` is the note type as stored in the collection's models JSON, `fields`
    the note's fields, `tags` the note's tags as stored, `deck_name` the full name of
    the card's deck (its original deck when in a filtered deck), `flags` the card's
    flags column and `card_id` its id (for `{{CardFlag}}` and `{{CardID}}`). For a
    cloze note type, `card_ord` is the cloze number - 1. Raises IndexError if a
    standard note type has no template `card_ord`."""
    css = str(notetype.get("css", ""))
    template = _template_for(notetype, card_ord)
    field_map = _field_map(notetype, fields, card_ord, template, tags, deck_name, flags, card_id)
    nonempty = {name for name, text in field_map.items() if not field_is_empty(text)}
    cloze = is_cloze(notetype)
    question_side = True
    try:
        parsed_q = parse_template(str(template.get("qfmt", "")))
        qparts = _render(parsed_q, field_map, nonempty, FilterContext(card_ord, True))
        if cloze and (card_ord + 1) not in cloze_numbers_in_fields(list(field_map.values())):
            empty: str | None = missing_cloze_html(card_ord + 1)
        elif not cloze and not renders_with_fields(parsed_q, nonempty):
            empty = empty_front_html()
        else:
            empty = None
        if empty is not None:
            qtext = _join(qparts, "") + empty
            atext = empty
            aparts: list[str | _FrontSidePlaceholder] = [atext]
        else:
            question_side = False
            parsed_a = parse_template(str(template.get("afmt", "")))
            aparts = _render(parsed_a, field_map, nonempty, FilterContext(card_ord, False))
            qtext = _join(qparts, "")
    except TemplateError as error:
        # Anki shows the message without the note type's CSS (an empty style block).
        message = "<style></style>" + template_error_html(error, question_side=question_side)
        return RenderedCard(message, message, css, (), ())
    question, qtags = extract_av_tags(qtext, question_side=True)
    answer, atags = extract_av_tags(_join(aparts, question), question_side=False)
    return RenderedCard(
        f"<style>{css}</style>{question}",
        f"<style>{css}</style>{answer}",
        css,
        tuple(qtags),
        tuple(atags),
    )


def _without_style(html: str, css: str) -> str:
    for prefix in (f"<style>{css}</style>", "<style></style>"):
        if html.startswith(prefix):
            return html[len(prefix) :]
    return html


def question_text(rendered: RenderedCard) -> str:
    """The question as one line of plain text (sounds shown by file name)."""
    return html_to_text_line(
        _sounds_back(_without_style(rendered.question, rendered.css), "q", rendered.question_sounds)
    )


def answer_text(rendered: RenderedCard) -> str:
    """The answer's own part (after `<hr id=answer>`, else all of it) as one line of
    plain text."""
    answer = _without_style(rendered.answer, rendered.css)
    _, divider, after = answer.partition(ANSWER_DIVIDER)
    part = after if divider else answer
    part = _sounds_back(part, "q", rendered.question_sounds)
    return html_to_text_line(_sounds_back(part, "a", rendered.answer_sounds))


def _sounds_back(text: str, side: str, tags: tuple[AVTag, ...]) -> str:
    """Play references turned back into `[sound:name]` (TTS into its text), so the
    plain text shows the file names."""
    if "[anki:play:" not in text:
        return text
    for index in range(len(tags) - 1, -1, -1):
        tag = tags[index]
        replacement = f"[sound:{tag.filename}]" if isinstance(tag, SoundTag) else tag.text
        text = text.replace(f"[anki:play:{side}:{index}]", replacement)
    return text
