"""Anki's built-in field filters (rslib/src/template_filters.rs): text, hint, type,
tts, furigana/kana/kanji, cloze and cloze-only.

Filters apply innermost first (`{{text:hint:F}}` applies hint, then text). The first
filter Anki does not know stops the chain: Anki hands it and everything after it to
add-ons, and without add-ons the text stays as it was at that point.
"""

from __future__ import annotations

from dataclasses import dataclass

from collection.render.blake3 import blake3
from collection.render.cloze import (
    reveal_cloze_text,
    reveal_cloze_text_only,
    strip_html_inside_mathjax,
)
from collection.render.template import RUST_WHITESPACE
from collection.text import strip_html


@dataclass(frozen=True, slots=True)
class FilterContext:
    card_ord: int
    question_side: bool


def apply_filters(text: str, filters: tuple[str, ...], field_name: str, ctx: FilterContext) -> str:
    if filters == ("cloze", "type"):
        filters = ("type-cloze",)
    elif filters == ("nc", "type"):
        filters = ("type-nc",)
    elif filters and filters[-1] == "type":
        filters = ("type",)
    for name in filters:
        result = _apply(name, text, field_name, ctx)
        if result is None:
            break
        text = result
    return text


def _apply(name: str, text: str, field_name: str, ctx: FilterContext) -> str | None:
    if name == "text":
        return strip_html(text)
    if name == "furigana":
        return furigana(text)
    if name == "kanji":
        return kanji(text)
    if name == "kana":
        return kana(text)
    if name == "type":
        return f"[[type:{field_name}]]"
    if name == "type-cloze":
        return f"[[type:cloze:{field_name}]]"
    if name == "type-nc":
        return f"[[type:nc:{field_name}]]"
    if name == "hint":
        return hint(text, field_name)
    if name == "cloze":
        return strip_html_inside_mathjax(
            reveal_cloze_text(text, ctx.card_ord + 1, ctx.question_side)
        )
    if name == "cloze-only":
        return reveal_cloze_text_only(text, ctx.card_ord + 1, ctx.question_side)
    if name == "":
        return text
    if name.startswith("tts "):
        return f"[anki:tts lang={name[4:]}]{text}[/anki:tts]"
    return None


def hint(text: str, field_name: str) -> str:
    """A link that reveals the field; its DOM id is BLAKE3(text + field name)[:8]."""
    if not text.strip(RUST_WHITESPACE):
        return text
    dom_id = blake3(text.encode("utf-8") + field_name.encode("utf-8"))[:8].hex()
    return (
        '\n<a class=hint href="#"\n'
        "onclick=\"this.style.display='none';\n"
        f"document.getElementById('hint{dom_id}').style.display='block';\n"
        'return false;" draggable=false>\n'
        f"{field_name}</a>\n"
        f'<div id="hint{dom_id}" class=hint style="display: none">{text}</div>\n'
    )


# Ruby text: Anki's regex ` ?([^ >]+?)\[(.+?)\]` (`.` stops at a newline), found by a
# linear scan instead of a backtracking regex.


def _ruby_matches(text: str) -> list[tuple[int, int, int, int]]:
    """(match start, base start, bracket, end) of each match, left to right."""
    size = len(text)
    # Backward passes: next ']' / '\n' / ' ' or '>' at or after each index.
    next_close = [size] * (size + 1)
    next_newline = [size] * (size + 1)
    next_stop = [size] * (size + 1)
    for i in range(size - 1, -1, -1):
        char = text[i]
        next_close[i] = i if char == "]" else next_close[i + 1]
        next_newline[i] = i if char == "\n" else next_newline[i + 1]
        next_stop[i] = i if char in " >" else next_stop[i + 1]
    # The first '[' at or after each index whose reading (one or more characters up to
    # a ']' on the same line) exists.
    next_valid = [size] * (size + 2)
    for i in range(size - 1, -1, -1):
        valid = False
        if text[i] == "[" and i + 2 < size:
            close = next_close[i + 2]
            # a reading of one or more characters up to a ']' on the same line
            valid = close < size and next_newline[i + 1] >= close
        next_valid[i] = i if valid else next_valid[i + 1]
    out: list[tuple[int, int, int, int]] = []
    pos = 0
    while pos < size:
        base = pos + 1 if text[pos] == " " else pos
        if base < size and text[base] not in " >":
            bracket = next_valid[base + 1]
            if bracket < next_stop[base]:
                end = next_close[bracket + 2] + 1
                out.append((pos, base, bracket, end))
                pos = end
                continue
        pos += 1
    return out


def _ruby(text: str, render: str) -> str:
    text = text.replace("&nbsp;", " ")
    pieces: list[str] = []
    last = 0
    for start, base, bracket, end in _ruby_matches(text):
        whole = text[start:end]
        reading = text[bracket + 1 : end - 1]
        pieces.append(text[last:start])
        if reading.startswith("sound:"):
            pieces.append(whole)
        elif render == "kana":
            pieces.append(reading)
        elif render == "kanji":
            pieces.append(text[base:bracket])
        else:
            pieces.append(f"<ruby><rb>{text[base:bracket]}</rb><rt>{reading}</rt></ruby>")
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def furigana(text: str) -> str:
    return _ruby(text, "furigana")


def kana(text: str) -> str:
    return _ruby(text, "kana")


def kanji(text: str) -> str:
    return _ruby(text, "kanji")
