"""Cloze deletions as Anki reads and shows them (rslib/src/cloze.rs).

A field is split into `{{cN::` openings (N a decimal number that fits in 16 bits),
`}}` closings and text. Clozes nest up to ten deep (a deeper opening is ignored), a
text run inside a cloze that holds `::` sets the cloze's hint to what follows, a `}}`
outside any cloze is text, and a cloze still open at the end of the field is dropped
with its content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from collection.text import strip_html_preserving_entities

_MAX_OPEN: Final = 10
_U16_MAX: Final = 0xFFFF


@dataclass(slots=True)
class Cloze:
    ordinal: int
    nodes: list[str | Cloze] = field(default_factory=list)
    hint: str | None = None

    def hint_text(self) -> str:
        return "..." if self.hint is None else self.hint

    def clozed_text(self) -> str:
        out: list[str] = []
        pending: list[str | Cloze] = list(reversed(self.nodes))
        while pending:
            node = pending.pop()
            if isinstance(node, str):
                out.append(node)
            else:
                pending.extend(reversed(node.nodes))
        return "".join(out)


def _open_at(text: str, pos: int) -> tuple[int, int] | None:
    """(ordinal, end) if a `{{cN::` opening starts at `pos`."""
    if not text.startswith("{{c", pos):
        return None
    digits_end = pos + 3
    size = len(text)
    while digits_end < size and "0" <= text[digits_end] <= "9":
        digits_end += 1
    digits = text[pos + 3 : digits_end]
    if not digits or not text.startswith("::", digits_end):
        return None
    value = int(digits)
    if value > _U16_MAX:
        return None
    return value, digits_end + 2


class _Next:
    """The first position >= `pos` accepted by `test`, for non-decreasing `pos`:
    each answer is reused until `pos` passes it, so a scan stays linear."""

    def __init__(self, text: str, needle: str, valid: bool = False) -> None:
        self._text = text
        self._needle = needle
        self._valid = valid
        self._from = -1
        self._found = -1

    def find(self, pos: int) -> int:
        if self._from >= 0 and self._from <= pos and (self._found < 0 or pos <= self._found):
            return self._found
        found = self._text.find(self._needle, pos)
        while self._valid and found >= 0 and _open_at(self._text, found) is None:
            found = self._text.find(self._needle, found + 1)
        self._from, self._found = pos, found
        return found


def parse_clozes(text: str) -> list[str | Cloze]:
    """The field as top-level text runs and (possibly nested) clozes."""
    output: list[str | Cloze] = []
    open_clozes: list[Cloze] = []
    next_open = _Next(text, "{{c", valid=True)
    next_close = _Next(text, "}}")
    pos, size = 0, len(text)
    while pos < size:
        opening = _open_at(text, pos)
        if opening is not None:
            ordinal, pos = opening
            if len(open_clozes) < _MAX_OPEN:
                open_clozes.append(Cloze(ordinal))
        elif text.startswith("}}", pos):
            pos += 2
            if open_clozes:
                cloze = open_clozes.pop()
                (open_clozes[-1].nodes if open_clozes else output).append(cloze)
            else:
                output.append("}}")
        else:
            # A text run: at least one character, up to the next opening or closing.
            ends = [p for p in (next_open.find(pos + 1), next_close.find(pos + 1)) if p >= 0]
            end = min(ends) if ends else size
            run = text[pos:end]
            pos = end
            if open_clozes:
                cloze = open_clozes[-1]
                head, sep, tail = run.partition("::")
                if sep:
                    run = head
                    cloze.hint = tail
                cloze.nodes.append(run)
            else:
                output.append(run)
    return output


def cloze_numbers(text: str) -> set[int]:
    """Cloze numbers in a field; `c0` and everything inside it do not count."""
    found: set[int] = set()
    pending: list[str | Cloze] = list(parse_clozes(text))
    while pending:
        node = pending.pop()
        if isinstance(node, Cloze) and node.ordinal != 0:
            found.add(node.ordinal)
            pending.extend(node.nodes)
    return found


def cloze_numbers_in_fields(fields: list[str]) -> set[int]:
    found: set[int] = set()
    for text in fields:
        found |= cloze_numbers(text)
    return found


def encode_attribute(text: str) -> str:
    """htmlescape's `encode_attribute`: below U+0100, everything but ASCII letters and
    digits becomes an entity (`&#xHH;` with at least two uppercase hex digits)."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char == '"':
            out.append("&quot;")
        elif code < 256 and (code > 127 or not char.isalnum()):
            out.append(f"&#x{code:02X};")
        else:
            out.append(char)
    return "".join(out)


def _reveal(cloze: Cloze, ordinal: int, question: bool, found: list[bool], buf: list[str]) -> None:
    # Iterative walk: each stack entry is a node to render or a string to emit after
    # a cloze's children; an active question-side cloze renders its content into a
    # separate buffer that becomes its data-cloze attribute.
    stack: list[tuple[str, object]] = [("cloze", cloze)]
    buffers: list[list[str]] = [buf]
    while stack:
        kind, item = stack.pop()
        if kind == "text":
            assert isinstance(item, str)
            buffers[-1].append(item)
            continue
        if kind == "end-active-question":
            assert isinstance(item, Cloze)
            content = "".join(buffers.pop())
            buffers[-1].append(
                f'<span class="cloze" data-cloze="{encode_attribute(content)}" '
                f'data-ordinal="{item.ordinal}">[{item.hint_text()}]</span>'
            )
            continue
        assert isinstance(item, Cloze)
        active = item.ordinal == ordinal
        if active:
            found[0] = True
        if question and active:
            buffers.append([])
            stack.append(("end-active-question", item))
        else:
            css = "cloze" if active else "cloze-inactive"
            buffers[-1].append(f'<span class="{css}" data-ordinal="{item.ordinal}">')
            stack.append(("text", "</span>"))
        for node in reversed(item.nodes):
            stack.append(("text", node) if isinstance(node, str) else ("cloze", node))


def reveal_cloze_text(text: str, ordinal: int, question: bool) -> str:
    """The field with cloze `ordinal` active; "" if the field has no such cloze."""
    buf: list[str] = []
    found = [False]
    for node in parse_clozes(text):
        if isinstance(node, str):
            buf.append(node)
        else:
            _reveal(node, ordinal, question, found, buf)
    return "".join(buf) if found[0] else ""


def reveal_cloze_text_only(text: str, ordinal: int, question: bool) -> str:
    """The `cloze-only` filter: the hints (question) or texts (answer) of cloze
    `ordinal`, joined with ", "."""
    out: list[str] = []
    pending: list[str | Cloze] = list(reversed(parse_clozes(text)))
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            continue
        if node.ordinal == ordinal:
            out.append(node.hint_text() if question else node.clozed_text())
        pending.extend(reversed(node.nodes))
    return ", ".join(out)


def strip_html_inside_mathjax(text: str) -> str:
    r"""Tags inside `\(…\)` and `\[…\]` removed (entities kept), as Anki's MATHJAX
    regex `(\\[(\[])(.*?)(\\[\])])` does: an opening runs to the nearest closing of
    either kind."""
    out: list[str] = []
    pos = 0
    size = len(text)
    while True:
        start = _find_any(text, (r"\(", r"\["), pos)
        if start < 0:
            break
        close = _find_any(text, (r"\)", r"\]"), start + 2)
        if close < 0:
            break
        out.append(text[pos : start + 2])
        out.append(strip_html_preserving_entities(text[start + 2 : close]))
        out.append(text[close : close + 2])
        pos = close + 2
        if pos >= size:
            break
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _find_any(text: str, needles: tuple[str, ...], start: int) -> int:
    found = [p for p in (text.find(n, start) for n in needles) if p >= 0]
    return min(found) if found else -1
