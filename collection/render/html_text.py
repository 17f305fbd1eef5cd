"""Anki's `html_to_text_line` (rslib/src/text.rs): HTML as one line of plain text, as
the browser's columns show it.

In order: `<br>` (any case, optional whitespace and `/`), `<div>` and newlines become
spaces; `[[type:…]]` is removed; `[sound:name]` becomes `name` (or nothing); the HTML
is stripped (keeping media file names, or not) and entities decoded; the result is
trimmed of Unicode whitespace. The patterns are matched by scanning, so the work is
linear in the input.
"""

from __future__ import annotations

from collection.render.scan import NextMatch
from collection.render.template import RUST_WHITESPACE
from collection.text import strip_html, strip_html_preserving_media_filenames


def _spacers_to_spaces(html: str) -> str:
    """`(?i)<br\\s*/?>|<div>|\\n` replaced with a space."""
    out: list[str] = []
    pos, size = 0, len(html)
    next_lt = NextMatch(html, "<")
    next_nl = NextMatch(html, "\n")
    while pos < size:
        lt = next_lt.find(pos)
        nl = next_nl.find(pos)
        candidates = [p for p in (lt, nl) if p >= 0]
        if not candidates:
            break
        at = min(candidates)
        out.append(html[pos:at])
        if at == nl:
            out.append(" ")
            pos = at + 1
            continue
        end = _spacer_tag_end(html, at)
        if end is None:
            out.append("<")
            pos = at + 1
        else:
            out.append(" ")
            pos = end
    out.append(html[pos:])
    return "".join(out)


def _spacer_tag_end(html: str, at: int) -> int | None:
    if html[at + 1 : at + 4].lower() == "div" and html[at + 1 : at + 4].isascii():
        return at + 5 if html.startswith(">", at + 4) else None
    if html[at + 1 : at + 3].lower() != "br" or not html[at + 1 : at + 3].isascii():
        return None
    pos = at + 3
    while pos < len(html) and html[pos] in RUST_WHITESPACE:
        pos += 1
    if html.startswith("/", pos):
        pos += 1
    return pos + 1 if html.startswith(">", pos) else None


def _replace_bracketed(text: str, opening: str, closing: str, keep_inner: bool) -> str:
    """`opening` + one or more non-`]` characters + `closing`, removed or replaced by
    the inner text."""
    out: list[str] = []
    pos = 0
    next_close = NextMatch(text, "]")
    while (start := text.find(opening, pos)) >= 0:
        inner = start + len(opening)
        close = next_close.find(inner)
        if close < 0:
            break
        if close == inner or not text.startswith(closing, close):
            out.append(text[pos:inner])
            pos = inner
            continue
        out.append(text[pos:start])
        if keep_inner:
            out.append(text[inner:close])
        pos = close + len(closing)
    out.append(text[pos:])
    return "".join(out)


def html_to_text_line(html: str, *, preserve_media_filenames: bool = True) -> str:
    text = _spacers_to_spaces(html)
    text = _replace_bracketed(text, "[[type:", "]]", keep_inner=False)
    text = _replace_bracketed(text, "[sound:", "]", keep_inner=preserve_media_filenames)
    if preserve_media_filenames:
        text = strip_html_preserving_media_filenames(text)
    else:
        text = strip_html(text)
    return text.strip(RUST_WHITESPACE)
