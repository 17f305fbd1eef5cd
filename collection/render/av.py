"""Sound and text-to-speech tags, replaced by `[anki:play:q:N]` / `[anki:play:a:N]`
references as Anki does (rslib/src/card_rendering/{parser,writer}.rs).

`[sound:name]` (a name of one or more characters without `]`) is a sound or video
file; `[anki:tts lang=.. voices=a,b speed=.. cloze_blank=..]text[/anki:tts]` is text
to speak. Any other `[anki:name opts]…[/anki:name]` directive is written back with
its options normalised. A TTS tag without `lang` becomes an error message in brackets.
"""

from __future__ import annotations

import bisect
import math
import re
import struct
from dataclasses import dataclass
from typing import Final

from collection.render.errors import isolate
from collection.render.scan import NextMatch
from collection.text import decode_entities, strip_html

_BLANK: Final = "blank"
_SPACE: Final = " \t\r\n"
_LINEBREAK_TAGS: Final = frozenset(
    [
        "br",
        "address",
        "article",
        "aside",
        "blockquote",
        "canvas",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "noscript",
        "ol",
        "output",
        "p",
        "pre",
        "section",
        "table",
        "tfoot",
        "ul",
        "video",
    ]
)


@dataclass(frozen=True, slots=True)
class SoundTag:
    """A `[sound:…]` file; `filename` is the decoded name without any directory."""

    filename: str


@dataclass(frozen=True, slots=True)
class TTSTag:
    """Text to speak: `text` is the tag's content as plain text (Anki's `field_text`),
    `speed` the value Anki reports (a 32-bit float, 1.0 unless given), `other_args`
    the remaining options as `key=value`."""

    text: str
    lang: str
    voices: tuple[str, ...]
    speed: float
    other_args: tuple[str, ...]


AVTag = SoundTag | TTSTag


@dataclass(frozen=True, slots=True)
class _Directive:
    name: str
    options: list[tuple[str, str]]
    content: str


def _f32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _parse_speed(text: str) -> float:
    """Rust's `str::parse::<f32>`, 1.0 when it fails."""
    if not text or "_" in text or text.strip() != text:
        return 1.0
    try:
        value = float(text)
    except ValueError:
        return 1.0
    try:
        return _f32(value)
    except OverflowError:
        return math.copysign(math.inf, value)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.last_close_bracket = text.rfind("]")
        # Every closing tag `[/anki:NAME]` in the text: NAME -> its positions.
        self.closings: dict[str, list[int]] = {}
        pos = 0
        while (start := text.find("[/anki:", pos)) >= 0:
            close = text.find("]", start + 7)
            if close < 0:
                break
            self.closings.setdefault(text[start + 7 : close], []).append(start)
            pos = start + 1
        self.longest_name = max((len(name) for name in self.closings), default=-1)
        self.name_end = NextMatch(text, re.compile(r"[\] \t\r\n]"))
        self.close_bracket = NextMatch(text, "]")

    def sound_at(self, pos: int) -> tuple[str, int] | None:
        text = self.text
        if not text.startswith("[sound:", pos):
            return None
        start = pos + 7
        if self.last_close_bracket <= start:
            return None
        close = self.close_bracket.find(start)
        if close <= start:
            return None
        return text[start:close], close + 1

    def directive_at(self, pos: int) -> tuple[_Directive, int] | None:
        text = self.text
        if not text.startswith("[anki:", pos):
            return None
        start = pos + 6
        size = len(text)
        end = self.name_end.find(start)
        end = size if end < 0 else end
        if end - start > self.longest_name:
            return None  # no closing tag has so long a name
        name = text[start:end]
        if not name:
            return None
        pos = end
        while pos < size and text[pos] in _SPACE:
            pos += 1
        options: list[tuple[str, str]] = []
        while True:
            key_end = pos
            while key_end < size and text[key_end] not in "] \t\r\n=":
                key_end += 1
            if key_end == pos or not text.startswith("=", key_end):
                break
            key = text[pos:key_end]
            value_start = key_end + 1
            quote_end = text.find('"', value_start + 1) if text.startswith('"', value_start) else -1
            if quote_end >= 0:
                value = text[value_start + 1 : quote_end]
                pos = quote_end + 1
            else:
                value_end = value_start
                while value_end < size and text[value_end] not in '] \t\r\n"':
                    value_end += 1
                value = text[value_start:value_end]
                pos = value_end
            options.append((key, value))
            while pos < size and text[pos] in _SPACE:
                pos += 1
        if not text.startswith("]", pos):
            return None
        content_start = pos + 1
        closings = self.closings.get(name, [])
        index = bisect.bisect_left(closings, content_start)
        if index == len(closings):
            return None
        close = closings[index]
        closing_len = len(name) + 8
        return _Directive(name, options, text[content_start:close]), close + closing_len


def _write_option(key: str, value: str) -> str:
    if any(c in value for c in "] \t\r\n"):
        return f' {key}="{value}"'
    return f" {key}={value}"


def _unique(options: list[tuple[str, str]]) -> list[tuple[str, str]]:
    merged: dict[str, str] = {}
    for key, value in options:
        merged[key] = value
    return list(merged.items())


def strip_html_for_tts(html: str) -> str:
    """Anki's `strip_html_for_tts`: block and line-break tags become spaces, then the
    HTML is stripped and entities decoded."""
    pieces: list[str] = []
    pos = 0
    while (start := html.find("<", pos)) >= 0:
        close = html.find(">", start + 1)
        if close < 0:
            break
        name = html[start + 1 : close]
        if name.startswith("/"):
            name = name[1:]
        folded = name.replace("\u017f", "s").replace("\u212a", "k")
        if folded.isascii() and folded.lower() in _LINEBREAK_TAGS:
            pieces.append(html[pos:start])
            pieces.append(" ")
            pos = close + 1
        else:
            pieces.append(html[pos : start + 1])
            pos = start + 1
    pieces.append(html[pos:])
    return strip_html("".join(pieces))


def _tts_tag(directive: _Directive) -> TTSTag | str:
    lang = ""
    voices: tuple[str, ...] = ()
    speed = 1.0
    blank: str | None = None
    others: dict[str, str] = {}
    for key, value in directive.options:
        if key == "lang":
            lang = value
        elif key == "voices":
            voices = tuple(value.split(","))
        elif key == "speed":
            speed = _parse_speed(value)
        elif key == "cloze_blank":
            blank = value
        else:
            others[key] = value
    if not lang:
        not_set = isolate("'" + isolate("lang") + "' not set")
        return f"Error in directive '{isolate('anki:tts')}': {not_set}"
    text = strip_html_for_tts(directive.content).replace(
        "[...]", _BLANK if blank is None else blank
    )
    return TTSTag(text, lang, voices, speed, tuple(f"{k}={v}" for k, v in others.items()))


def extract_av_tags(text: str, *, question_side: bool) -> tuple[str, list[AVTag]]:
    """`text` with each sound and TTS tag replaced by a play reference, and the tags."""
    side = "q" if question_side else "a"
    parser = _Parser(text)
    out: list[str] = []
    tags: list[AVTag] = []
    changed = False
    pos, size = 0, len(text)
    while pos < size:
        if text[pos] == "[":
            sound = parser.sound_at(pos)
            if sound is not None:
                name, pos = sound
                out.append(f"[anki:play:{side}:{len(tags)}]")
                tags.append(SoundTag(decode_entities(name).rsplit("/", 1)[-1]))
                changed = True
                continue
            found = parser.directive_at(pos)
            if found is not None:
                directive, pos = found
                changed = True
                if directive.name == "tts":
                    tag = _tts_tag(directive)
                    if isinstance(tag, str):
                        out.append(f"[{tag}]")
                    else:
                        out.append(f"[anki:play:{side}:{len(tags)}]")
                        tags.append(tag)
                else:
                    opts = "".join(_write_option(k, v) for k, v in _unique(directive.options))
                    out.append(
                        f"[anki:{directive.name}{opts}]{directive.content}[/anki:{directive.name}]"
                    )
                continue
        # Plain text: this character and everything up to the next '['.
        nxt = text.find("[", pos + 1)
        end = size if nxt < 0 else nxt
        out.append(text[pos:end])
        pos = end
    if not changed:
        return text, []
    return "".join(out), tags
