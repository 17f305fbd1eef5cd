"""Anki's text handling for note fields: stripping HTML and the first-field checksum.

A port of `strip_html_preserving_media_filenames`, `strip_html` and `decode_entities`
from Anki's rslib/src/text.rs, so that our `sfld` and `csum` are the ones Anki writes.
Anki uses Rust regexes, which run in linear time; the same patterns in Python's
backtracking `re` can take quadratic or exponential time on hostile input (a 100 000
character field of `<style>>>>…` or many quoted attributes), so the matching is done by
small scanners that produce the matches the Rust regexes produce:

- HTML: ``(?si)(<!--.*?-->)|(<style.*?>.*?</style>)|(<script.*?>.*?</script>)|(<.*?>)``
- media tags (`HTML_MEDIA_TAGS`): ``<\\b(?:img|audio|video|object|source)\\b``, then
  ``(?:[^>]|"[^"]+?"|'[^']+?')+?``, then ``\\b(?:src|data)\\b=`` and a double-quoted,
  single-quoted or unquoted file name. In Rust's verbose mode the space inside
  ``[^ >]`` is ignored, so the unquoted name is ``[^>]+?``.

Rust's `(?i)` uses simple case folding, under which `s` also matches the long s
(U+017F) and `k` the Kelvin sign (U+212A); Python's `re.IGNORECASE` folds more (the
dotless i, U+0131, matches `i`), so patterns here spell their case variants out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from html.entities import name2codepoint
from typing import Final

# htmlescape, the crate Anki decodes entities with, knows exactly the HTML 4 entities.
_NAMED_ENTITIES: Final[dict[str, str]] = {name: chr(code) for name, code in name2codepoint.items()}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_DEC_DIGITS: Final = frozenset("0123456789")


def _ci(word: str) -> str:
    """A case-insensitive regex for an ASCII word, folding as Rust's `(?i)` does."""
    extra = {"s": "\u017f", "k": "\u212a"}
    out = []
    for char in word:
        if char.isalpha():
            out.append(f"[{char.lower()}{char.upper()}{extra.get(char.lower(), '')}]")
        else:
            out.append(re.escape(char))
    return "".join(out)


_COMMENT_START: Final = "<!--"
_COMMENT_END: Final = re.compile(re.escape("-->"))
_STYLE_START: Final = re.compile(_ci("<style"))
_STYLE_END: Final = re.compile(_ci("</style>"))
_SCRIPT_START: Final = re.compile(_ci("<script"))
_SCRIPT_END: Final = re.compile(_ci("</script>"))
_GT: Final = re.compile(">")

_MEDIA_START: Final = re.compile(
    r"<\b(?:" + "|".join(_ci(t) for t in ("img", "audio", "video", "object", "source")) + r")\b"
)
# Everything after the lazy attribute prefix. Each alternative is linear: the lazy
# groups cannot cross their terminator, and a '>' is known to follow (checked first).
_MEDIA_REST: Final = re.compile(
    r"\b(?:" + _ci("src") + "|" + _ci("data") + r")\b="
    r"""(?:"([^"]+?)"[^>]*>|'([^']+?)'[^>]*>|([^>]+?)(?:\x20[^>]*>|>))""",
    re.DOTALL,
)


class _Finder:
    """`pattern.search(text, pos)` for non-decreasing `pos`, each answer reused."""

    def __init__(self, text: str, pattern: re.Pattern[str]) -> None:
        self._text = text
        self._pattern = pattern
        self._from = -1
        self._found: tuple[int, int] | None = None

    def find(self, pos: int) -> tuple[int, int] | None:
        found = self._found
        reusable = self._from >= 0 and pos >= self._from and (found is None or found[0] >= pos)
        if not reusable:
            match = self._pattern.search(self._text, pos)
            found = None if match is None else match.span()
            self._from, self._found = pos, found
        return found


def _html_matches(text: str) -> Iterator[tuple[int, int]]:
    """Spans the Rust HTML regex replaces, left to right, non-overlapping."""
    comment_end = _Finder(text, _COMMENT_END)
    style_end = _Finder(text, _STYLE_END)
    script_end = _Finder(text, _SCRIPT_END)
    gt = _Finder(text, _GT)
    pos = 0
    while (start := text.find("<", pos)) >= 0:
        end: int | None = None
        if text.startswith(_COMMENT_START, start):
            found = comment_end.find(start + len(_COMMENT_START))
            end = None if found is None else found[1]
        for opening, closing in ((_STYLE_START, style_end), (_SCRIPT_START, script_end)):
            if end is None and (head := opening.match(text, start)):
                tag_end = gt.find(head.end())
                found = None if tag_end is None else closing.find(tag_end[1])
                end = None if found is None else found[1]
        if end is None:
            tag_end = gt.find(start + 1)
            if tag_end is None:
                return  # no '>' anywhere after: nothing further can match
            end = tag_end[1]
        yield start, end
        pos = end


def strip_html_preserving_entities(html: str) -> str:
    pieces = []
    pos = 0
    for start, end in _html_matches(html):
        pieces.append(html[pos:start])
        pos = end
    if not pos:
        return html
    pieces.append(html[pos:])
    return "".join(pieces)


def decode_entities(html: str) -> str:
    """Anki's `decode_entities`: strict, all-or-nothing, and then nbsp becomes a space.

    The htmlescape crate refuses the whole text on any malformed or unknown entity
    (including a bare '&'), and Anki then keeps the text exactly as it was.
    """
    if "&" not in html:
        return html
    decoded = _decode_html_strict(html)
    return html if decoded is None else decoded.replace("\u00a0", " ")


def _decode_html_strict(html: str) -> str | None:
    out: list[str] = []
    pos, size = 0, len(html)
    while (amp := html.find("&", pos)) >= 0:
        out.append(html[pos:amp])
        start = amp + 1
        semi = html.find(";", start + 1)
        if start >= size or semi < 0:
            return None
        body = html[start:semi]
        if body.startswith("#x"):
            digits, radix, allowed = body[2:], 16, _HEX_DIGITS
        elif body.startswith("#"):
            digits, radix, allowed = body[1:], 10, _DEC_DIGITS
        else:
            digits, radix, allowed = "", 0, frozenset()
        if radix:
            if not digits or not set(digits) <= allowed:
                return None
            code = int(digits, radix)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                return None
            out.append(chr(code))
        else:
            char = _NAMED_ENTITIES.get(body)
            if char is None:
                return None
            out.append(char)
        pos = semi + 1
    out.append(html[pos:])
    return "".join(out)


def encode_minimal(text: str) -> str:
    """htmlescape's `encode_minimal`: the five HTML-special characters."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


def strip_html(html: str) -> str:
    """Anki's `strip_html`: tags, comments, style and script blocks removed, entities decoded."""
    return decode_entities(strip_html_preserving_entities(html))


def _media_matches(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, file name) of each `HTML_MEDIA_TAGS` match, left to right."""
    last_gt = text.rfind(">")
    # Positions after which the rest of the regex was tried and failed, from any start:
    # whether it can succeed from a position does not depend on how it was reached.
    failed: set[int] = set()

    def rest_at(pos: int) -> tuple[int, str] | None:
        if pos > last_gt:
            return None
        match = _MEDIA_REST.match(text, pos)
        if match is None:
            return None
        name = match.group(1) or match.group(2) or match.group(3)
        return match.end(), name

    def token_ends(pos: int) -> Iterator[int]:
        # The alternatives of `(?:[^>]|"[^"]+?"|'[^']+?')`, in the order Rust tries them.
        if pos >= len(text):
            return
        char = text[pos]
        if char != ">":
            yield pos + 1
        if char in "\"'" and pos + 1 < len(text) and text[pos + 1] != char:
            close = text.find(char, pos + 1)
            if close >= 0:
                yield close + 1

    def search(after_name: int) -> tuple[int, str] | None:
        # Depth-first in the order of a backtracking engine: the lazy `+?` tries to
        # finish after each token before taking another one.
        stack = [token_ends(after_name)]
        while stack:
            pos = next(stack[-1], None)
            if pos is None:
                stack.pop()
                continue
            if pos in failed:
                continue
            found = rest_at(pos)
            if found is not None:
                return found
            failed.add(pos)
            stack.append(token_ends(pos))
        return None

    pos = 0
    while (head := _MEDIA_START.search(text, pos)) is not None:
        found = search(head.end())
        if found is None:
            pos = head.start() + 1
            continue
        end, name = found
        yield head.start(), end, name
        pos = end


def strip_html_preserving_media_filenames(html: str) -> str:
    """Anki's `strip_html_preserving_media_filenames`: media tags become ` filename `."""
    pieces = []
    pos = 0
    for start, end, name in _media_matches(html):
        pieces.append(html[pos:start])
        pieces.append(f" {name} ")
        pos = end
    without_media = "".join(pieces) + html[pos:] if pieces else html
    return strip_html(without_media)


def field_checksum(stripped: str) -> int:
    """Anki's `csum`: the first 32 bits of the SHA-1 of the already-stripped first field."""
    digest = hashlib.sha1(stripped.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "big")
