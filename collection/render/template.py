"""Card templates as Anki parses them: `{{Field}}`, `{{filter:Field}}`, `{{#F}}…{{/F}}`,
`{{^F}}…{{/F}}` and HTML comments, plus the legacy `{{=<% %>=}}` syntax.

Follows rslib/src/template.rs: a handlebar is `{{`, anything up to the first `}}`, and
`}}`; an opening `{{` with no `}}` anywhere after it is plain text, as is an unclosed
`<!--`. Comments are kept as they are and never looked into. Parsing uses an explicit
stack (no recursion), so deeply nested conditionals cannot exhaust Python's stack, and
each step finds the next delimiter with `str.find`, so the work is linear in the
template's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from collection.render.errors import (
    ConditionalNotClosed,
    ConditionalNotOpen,
    TemplateError,
)
from collection.render.scan import NextMatch

# What Rust's `char::is_whitespace` (the Unicode White_Space property) accepts; Python's
# `str.isspace` also takes U+001C..U+001F, so `str.strip()` without arguments differs.
RUST_WHITESPACE: Final = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_ALT_DIRECTIVE: Final = "{{=<% %>=}}"
COMMENT_START: Final = "<!--"
COMMENT_END: Final = "-->"


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Comment:
    text: str


@dataclass(frozen=True, slots=True)
class Replacement:
    key: str
    # In the order they are applied: `{{text:hint:F}}` gives ("hint", "text").
    filters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Conditional:
    key: str
    negated: bool
    children: tuple[Node, ...]


Node = Text | Comment | Replacement | Conditional


@dataclass(frozen=True, slots=True)
class _Open:
    key: str


@dataclass(frozen=True, slots=True)
class _OpenNegated:
    key: str


@dataclass(frozen=True, slots=True)
class _Close:
    key: str


_Token = Text | Comment | Replacement | _Open | _OpenNegated | _Close


def _classify(inner: str) -> _Token:
    start = inner.lstrip("{").strip(RUST_WHITESPACE)
    if len(start.encode("utf-8")) < 2:
        return _replacement(start)
    if start.startswith("#"):
        return _Open(start[1:].lstrip(RUST_WHITESPACE))
    if start.startswith("/"):
        return _Close(start[1:].lstrip(RUST_WHITESPACE))
    if start.startswith("^"):
        return _OpenNegated(start[1:].lstrip(RUST_WHITESPACE))
    return _replacement(start)


def _replacement(text: str) -> Replacement:
    parts = text.split(":")
    return Replacement(parts[-1], tuple(reversed(parts[:-1])))


def _tokens(template: str) -> list[_Token]:
    start_tag, end_tag = "{{", "}}"
    stripped = template.lstrip(RUST_WHITESPACE)
    if stripped.startswith(_ALT_DIRECTIVE):
        while stripped.startswith(_ALT_DIRECTIVE):
            stripped = stripped[len(_ALT_DIRECTIVE) :]
        template = stripped
        start_tag, end_tag = "<%", "%>"
    # A delimiter can only close something if it occurs after the opening one; the
    # last occurrence tells whether any later opening can still be closed.
    last_end = template.rfind(end_tag)
    last_comment_end = template.rfind(COMMENT_END)
    next_handle = NextMatch(template, start_tag)
    next_comment = NextMatch(template, COMMENT_START)
    out: list[_Token] = []
    pos, size = 0, len(template)
    while pos < size:
        handle = next_handle.find(pos)
        if handle >= 0 and last_end < handle + len(start_tag):
            handle = -1
        comment = next_comment.find(pos)
        if comment >= 0 and last_comment_end < comment + len(COMMENT_START):
            comment = -1
        if handle < 0 and comment < 0:
            out.append(Text(template[pos:]))
            break
        if handle >= 0 and (comment < 0 or handle <= comment):
            if handle > pos:
                out.append(Text(template[pos:handle]))
            inner_start = handle + len(start_tag)
            close = template.find(end_tag, inner_start)
            out.append(_classify(template[inner_start:close]))
            pos = close + len(end_tag)
        else:
            if comment > pos:
                out.append(Text(template[pos:comment]))
            inner_start = comment + len(COMMENT_START)
            close = template.find(COMMENT_END, inner_start)
            out.append(Comment(template[inner_start:close]))
            pos = close + len(COMMENT_END)
    return out


@dataclass(frozen=True, slots=True)
class ParsedTemplate:
    nodes: tuple[Node, ...]


def parse_template(template: str) -> ParsedTemplate:
    """Parse a template; raises a `TemplateError` for unbalanced conditionals."""
    # Each frame: (key, negated, children so far); the bottom frame is the template.
    stack: list[tuple[str, bool, list[Node]]] = [("", False, [])]
    for token in _tokens(template):
        if isinstance(token, _Open | _OpenNegated):
            stack.append((token.key, isinstance(token, _OpenNegated), []))
        elif isinstance(token, _Close):
            if len(stack) > 1 and stack[-1][0] == token.key:
                key, negated, children = stack.pop()
                stack[-1][2].append(Conditional(key, negated, tuple(children)))
            else:
                current = stack[-1][0] if len(stack) > 1 else None
                raise ConditionalNotOpen(token.key, current)
        else:
            stack[-1][2].append(token)
    if len(stack) > 1:
        raise ConditionalNotClosed(stack[-1][0])
    return ParsedTemplate(tuple(stack[0][2]))


def try_parse(template: str) -> ParsedTemplate | None:
    try:
        return parse_template(template)
    except TemplateError:
        return None


def _walk(nodes: tuple[Node, ...]) -> list[Node]:
    """Every node, depth first, without recursion."""
    out: list[Node] = []
    pending = list(reversed(nodes))
    while pending:
        node = pending.pop()
        out.append(node)
        if isinstance(node, Conditional):
            pending.extend(reversed(node.children))
    return out


def renders_with_fields(template: ParsedTemplate, nonempty: set[str] | frozenset[str]) -> bool:
    """Anki's `renders_with_fields`: some replacement of a non-empty field is reachable
    through conditionals on non-empty fields (negated ones on empty fields)."""
    pending: list[Node] = list(reversed(template.nodes))
    while pending:
        node = pending.pop()
        if isinstance(node, Replacement):
            if node.key in nonempty:
                return True
        elif isinstance(node, Conditional) and (node.key in nonempty) != node.negated:
            pending.extend(reversed(node.children))
    return False


def referenced_cloze_fields(template: ParsedTemplate) -> list[str]:
    """Fields used with the `cloze` filter, in template order, without repeats."""
    seen: dict[str, None] = {}
    for node in _walk(template.nodes):
        if isinstance(node, Replacement) and "cloze" in node.filters:
            seen.setdefault(node.key, None)
    return list(seen)


def referenced_fields(template: ParsedTemplate) -> list[str]:
    """Field names used in replacements, in template order, without repeats."""
    seen: dict[str, None] = {}
    for node in _walk(template.nodes):
        if isinstance(node, Replacement):
            seen.setdefault(node.key, None)
    return list(seen)


def field_is_empty(text: str) -> bool:
    """True if `text` holds only ASCII whitespace and `<br>`/`<div>` tags (Anki's rule:
    `^(?:[[:space:]]|</?(?:br|div)\\ ?/?>)*$`, case-insensitive)."""
    pos, size = 0, len(text)
    while pos < size:
        char = text[pos]
        if char in " \t\n\x0b\x0c\r":
            pos += 1
            continue
        if char != "<":
            return False
        pos += 1
        if pos < size and text[pos] == "/":
            pos += 1
        for name in ("br", "div"):
            if (
                text[pos : pos + len(name)].lower() == name
                and text[pos : pos + len(name)].isascii()
            ):
                pos += len(name)
                break
        else:
            return False
        if pos < size and text[pos] == " ":
            pos += 1
        if pos < size and text[pos] == "/":
            pos += 1
        if pos >= size or text[pos] != ">":
            return False
        pos += 1
    return True
