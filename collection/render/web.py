"""A rendered side made ready for a browser, as Anki's web reviewers do it.

Anki's `card.question()` leaves `<img src="pic.png">` pointing at a bare file name and
puts `[anki:play:q:N]` where the N-th sound plays; a reviewer then serves the files
and draws a player. Here the caller says where a file is served (`url_of(name)`),
and:

- the `src` (or `data`) of each `img`, `audio`, `video`, `source` and `object` tag, and
  each `url(...)` in a `<style>` block, that names a local file points at its URL;
  remote (`http:`, `https:`, `data:`, `//`, `/`) and empty references are kept;
- `[anki:play:q:N]` / `[anki:play:a:N]` for a sound file becomes a playable
  `<audio controls>` element; for text to speech, a `<span class="tts">` carrying the
  text, language, voices and speed (a browser's speech synthesis can say it).

Every scan is linear in the input: a tag is read up to its first `>`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import Final

from collection.render.av import AVTag, SoundTag, TTSTag

UrlOf = Callable[[str], str]

_PLAY: Final = re.compile(r"\[anki:play:([qa]):(\d{1,9})\]")
_MEDIA_TAG: Final = re.compile(r"<(?:img|audio|video|source|object)\b", re.IGNORECASE)
_ATTRIBUTE: Final = re.compile(
    r"""(\s(?:src|data)\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE
)
_STYLE_BLOCK: Final = re.compile(r"<style\b[^>]*>", re.IGNORECASE)
_STYLE_END: Final = re.compile(r"</style\s*>", re.IGNORECASE)
# An unquoted url() stops at a parenthesis either way: `url(url(url(…` fails fast.
_CSS_URL: Final = re.compile(r"""url\(\s*(?:"([^"\n]*)"|'([^'\n]*)'|([^()"'\s]*))\s*\)""")
# A tag longer than this is left as it is: no real `<img>` is, and a hostile one could
# make the attribute search quadratic (many unclosed `src="`).
_MAX_TAG_CHARS: Final = 8192
_REMOTE: Final = re.compile(r"(?:[a-z][a-z0-9+.-]*:|/)", re.IGNORECASE)


def is_local_file(reference: str) -> bool:
    return bool(reference) and not _REMOTE.match(reference)


def _attribute_url(reference: str, url_of: UrlOf) -> str:
    # The attribute's text is HTML: `a&amp;b.png` names the file `a&b.png`.
    name = html.unescape(reference)
    return html.escape(url_of(name), quote=True) if is_local_file(name) else reference


def _point_tags(text: str, url_of: UrlOf) -> str:
    pieces: list[str] = []
    pos = 0
    for tag in _MEDIA_TAG.finditer(text):
        if tag.start() < pos:
            continue
        end = text.find(">", tag.end())
        end = len(text) if end < 0 else end + 1
        inside = text[tag.start() : end]
        found = _ATTRIBUTE.search(inside) if len(inside) <= _MAX_TAG_CHARS else None
        pieces.append(text[pos : tag.start()])
        if found is None:
            pieces.append(inside)
        else:
            value = next(v for v in found.group(2, 3, 4) if v is not None)
            quote = '"' if found.group(3) is None else "'"
            pieces.append(
                inside[: found.start()]
                + found.group(1)
                + quote
                + _attribute_url(value, url_of)
                + quote
                + inside[found.end() :]
            )
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _point_css(css: str, url_of: UrlOf) -> str:
    def replace(found: re.Match[str]) -> str:
        name = next(v for v in found.group(1, 2, 3) if v is not None)
        if not is_local_file(name):
            return found.group(0)
        return f'url("{url_of(name)}")'

    return _CSS_URL.sub(replace, css)


def _point_styles(text: str, url_of: UrlOf) -> str:
    pieces: list[str] = []
    pos = 0
    while (opening := _STYLE_BLOCK.search(text, pos)) is not None:
        closing = _STYLE_END.search(text, opening.end())
        stop = len(text) if closing is None else closing.start()
        pieces.append(text[pos : opening.end()])
        pieces.append(_point_css(text[opening.end() : stop], url_of))
        pos = stop
        if closing is None:
            break
    pieces.append(text[pos:])
    return "".join(pieces)


def player(tag: AVTag, url_of: UrlOf) -> str:
    """The element a browser plays a sound or speaks a text with."""
    if isinstance(tag, SoundTag):
        name = html.escape(tag.filename, quote=True)
        if not is_local_file(tag.filename):
            return f'<span class="sound-missing" data-file="{name}"></span>'
        url = html.escape(url_of(tag.filename), quote=True)
        return (
            f'<audio class="sound" controls preload="none" src="{url}" data-file="{name}"></audio>'
        )
    assert isinstance(tag, TTSTag)
    voices = html.escape(",".join(tag.voices), quote=True)
    return (
        f'<span class="tts" lang="{html.escape(tag.lang, quote=True)}"'
        f' data-voices="{voices}" data-speed="{tag.speed:g}">{html.escape(tag.text)}</span>'
    )


def web_side(
    side: str,
    question_sounds: Sequence[AVTag],
    answer_sounds: Sequence[AVTag],
    url_of: UrlOf,
) -> str:
    """`side` (a rendered question or answer) with its media pointed at `url_of` and
    its sound references made playable."""

    def play(found: re.Match[str]) -> str:
        sounds = question_sounds if found.group(1) == "q" else answer_sounds
        index = int(found.group(2))
        return player(sounds[index], url_of) if index < len(sounds) else ""

    return _PLAY.sub(play, _point_styles(_point_tags(side, url_of), url_of))


def web_css(css: str, url_of: UrlOf) -> str:
    """The note type's CSS with its `url(...)` files pointed at `url_of`."""
    return _point_css(css, url_of)
