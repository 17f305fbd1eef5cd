"""Media file names: what note fields and note types reference, and safe names for files.

Anki keeps media as plain files next to the collection and finds them by scanning text
(rslib/src/text.rs, latex.rs, notetype gather_media_names, media/files.rs):

- A field references a file through a media tag (`img`, `audio`, `video`, `object`
  or `source` with a `src` or `data` attribute: `HTML_MEDIA_TAGS`, matched by the
  scanner in `collection.text`) or a sound tag, `[sound:name]`; the name is then
  entity-decoded (`&amp;` is `&`). These are `media_references`. Remote addresses
  (`http:`, `https:`, `data:`) are not files and are left out.
- LaTeX in a field (`[latex]…[/latex]`, `[$]…[/$]`, `[$$]…[/$$]`) stands for an image
  Anki generates, named `latex-<sha1 of the text>.png` (or `.svg`).
- A note type's CSS and templates reference files whose names start with `_` (fonts,
  scripts): `url(...)` and `@import` in the CSS, quoted strings, `src=`/`data=` and
  `[sound:_…]` in the templates. These are `notetype_media_references`.

The patterns are matched by small scanners, not Python's backtracking `re` alone: the
Rust regexes Anki uses run in linear time, and the same patterns here would not on
hostile text (many openings without a close).

Names of files that arrive in packages go through `safe_media_name` (no path
separators, NUL, `.` or `..`; then Anki's `normalize_filename`), and a file that
clashes with a different one of the same name is renamed with `hashed_media_name`
(Anki's `add_hash_suffix_to_file_stem`: `foo.jpg` becomes `foo-<sha1 hex>.jpg`).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Protocol

from collection.fields import FIELD_SEPARATOR
from collection.text import _ci, _media_matches, decode_entities, encode_minimal, strip_html

MAX_NAME_BYTES: Final = 120  # Anki's MAX_MEDIA_FILENAME_LENGTH


class MediaSink(Protocol):
    """Where imported media files go: the learner's media store."""

    def sha1_of(self, name: str) -> str | None:
        """The SHA-1 (lowercase hex) of the learner's file under `name`, if there is one."""
        ...

    def add_many(self, files: Iterable[tuple[str, bytes]]) -> None:
        """Store (name, content) pairs, replacing nothing that is not named. The
        iterable is produced lazily, one file in memory at a time."""
        ...


class MediaSource(Protocol):
    """Where exported media files come from."""

    def read(self, name: str) -> bytes | None:
        """The content of the learner's file `name`, or None if there is none."""
        ...


# --- references in fields -----------------------------------------------------------------

_REMOTE: Final = re.compile(r"(?:https?|data):", re.IGNORECASE | re.ASCII)
_SOUND_OPEN: Final = "[sound:"
_TTS_OPEN: Final = "[anki:tts]["
_TTS_CLOSE: Final = "[/anki:tts]"


def _av_matches(text: str) -> Iterator[tuple[int, int, str | None]]:
    """(start, end, file name or None for text to speech) of each match of Anki's
    `AV_TAGS`, ``(?s)\\[sound:(.+?)\\]|\\[anki:tts\\]\\[(.*?)\\](.*?)\\[/anki:tts\\]``.

    At any start either alternative matches or none can match further on (the text
    after holds no `]`, or no close), so each is looked for once per match.
    """
    pos = 0
    sound_alive = tts_alive = True
    while sound_alive or tts_alive:
        sound: tuple[int, int, str | None] | None = None
        tts: tuple[int, int, str | None] | None = None
        if sound_alive:
            start = text.find(_SOUND_OPEN, pos)
            close = -1 if start < 0 else text.find("]", start + len(_SOUND_OPEN) + 1)
            if close < 0:
                sound_alive = False
            else:
                sound = (start, close + 1, text[start + len(_SOUND_OPEN) : close])
        if tts_alive:
            start = text.find(_TTS_OPEN, pos)
            bracket = -1 if start < 0 else text.find("]", start + len(_TTS_OPEN))
            close = -1 if bracket < 0 else text.find(_TTS_CLOSE, bracket + 1)
            if close < 0:
                tts_alive = False
            else:
                tts = (start, close + len(_TTS_CLOSE), None)
        found = min((m for m in (sound, tts) if m is not None), default=None)
        if found is None:
            return
        yield found
        pos = found[1]


def _is_remote(name: str) -> bool:
    return _REMOTE.match(name) is not None


def media_references(field_html: str) -> list[str]:
    """The media file names a field references, in Anki's order (media tags, then
    sound tags), entity-decoded; remote addresses are left out. A name referenced
    twice is listed twice."""
    names = [name for _, _, name in _media_matches(field_html)]
    names += [name for _, _, name in _av_matches(field_html) if name is not None]
    decoded = (decode_entities(name) for name in names)
    return [name for name in decoded if not _is_remote(name)]


def replace_media_references(field_html: str, rename: Callable[[str], str | None]) -> str:
    """Anki's `replace_media_refs`: `rename` gets each referenced name (decoded) and
    returns its new name, or None to keep it. A name that was written with entities
    gets its new name HTML-escaped. Media tags are replaced first, then sound tags."""

    def replace(text: str, matches: Iterable[tuple[int, int, str | None]]) -> str:
        pieces: list[str] = []
        pos = 0
        for start, end, raw in matches:
            if raw is None:
                continue
            decoded = decode_entities(raw)
            new = rename(decoded)
            if new is None:
                continue
            if decoded != raw:
                new = encode_minimal(new)
            pieces += [text[pos:start], text[start:end].replace(raw, new)]
            pos = end
        return "".join([*pieces, text[pos:]]) if pieces else text

    html_done = replace(field_html, list(_media_matches(field_html)))
    return replace(html_done, list(_av_matches(html_done)))


# --- LaTeX --------------------------------------------------------------------------------

_LATEX_KINDS: Final = (
    # (opening, closing, how the text is wrapped before hashing)
    (re.compile(_ci("[latex]")), re.compile(_ci("[/latex]")), "{}"),
    (re.compile(re.escape("[$]")), re.compile(re.escape("[/$]")), "${}$"),
    (
        re.compile(re.escape("[$$]")),
        re.compile(re.escape("[/$$]")),
        "\\begin{{displaymath}}{}\\end{{displaymath}}",
    ),
)
# ``(?xi)<br( /)?>|<div>``: verbose mode drops the space, so `<br>`, `<br/>` and `<div>`.
_LATEX_NEWLINES: Final = re.compile("<" + _ci("br") + "/?>|<" + _ci("div") + ">")


def latex_references(field_html: str, svg: bool) -> list[str]:
    """The LaTeX images a field stands for (Anki's `extract_latex` on the field as
    stored), named `latex-<sha1>.png` (`.svg` for note types set to SVG)."""
    ext = "svg" if svg else "png"
    names: list[str] = []
    pos = 0
    alive = [True] * len(_LATEX_KINDS)
    while any(alive):
        best: tuple[int, int, str] | None = None
        for index, (opening, closing, wrap) in enumerate(_LATEX_KINDS):
            if not alive[index]:
                continue
            head = opening.search(field_html, pos)
            tail = None if head is None else closing.search(field_html, head.end() + 1)
            if head is None or tail is None:
                alive[index] = False
                continue
            if best is None or head.start() < best[0]:
                best = (
                    head.start(),
                    tail.end(),
                    wrap.format(field_html[head.end() : tail.start()]),
                )
        if best is None:
            break
        _, end, latex = best
        text = strip_html(_LATEX_NEWLINES.sub("\n", latex))
        digest = hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()
        names.append(f"latex-{digest}.{ext}")
        pos = end
    return names


# --- note types ---------------------------------------------------------------------------

# Anki's UNDERSCORED_CSS_IMPORTS, ``(?xi)``: `@import "_….css"`, `'_….css'`,
# `url( "_…"`, `'_…'`, or `_…` up to optional white space and `)`. The last
# alternative is only found here (as its `_`); `_css_unquoted` finishes it.
_CSS_REFS: Final = re.compile(
    _ci("@import") + r'\s+"(_[^"]*.' + _ci("css") + r')"'
    r"|'(_[^']*." + _ci("css") + r")'"
    "|" + _ci("url") + r'\(\s*"(_[^"]+)"'
    r"|'(_[^']+)'"
    r"|(_)"
)
# Anki's UNDERSCORED_REFERENCES, ``(?x)`` (in which the space of ``[^ >]`` is ignored).
_TEMPLATE_REFS: Final = re.compile(
    r"""\[sound:(_[^]]+)\]|"(_[^"]+)"|'(_[^']+)'|\b(?:src|data)=(_[^>]+)"""
)


class _Positions:
    """Where a character occurs in a text, for 'the first one at or after i'."""

    def __init__(self, text: str, char: str) -> None:
        self._at = [i for i, c in enumerate(text) if c == char]

    def first_from(self, index: int) -> int:
        found = bisect.bisect_left(self._at, index)
        return self._at[found] if found < len(self._at) else -1


def _css_references(css: str) -> list[str]:
    names: list[str] = []
    closes = _Positions(css, ")")
    newlines = _Positions(css, "\n")
    pos = 0
    while (match := _CSS_REFS.search(css, pos)) is not None:
        if match.lastindex != 5:
            names.append(next(g for g in match.groups() if g is not None))
            pos = match.end()
            continue
        # `(_.+?)\s*\)`: at least one character after `_`, no newline in the name,
        # then the first `)` with only white space before it.
        start = match.start()
        close = closes.first_from(start + 2)
        name_end = close
        while name_end > start + 2 and css[name_end - 1].isspace():
            name_end -= 1
        newline = newlines.first_from(start + 1)
        if close < 0 or (0 <= newline < name_end):
            pos = start + 1
            continue
        names.append(css[start:name_end])
        pos = close + 1
    return names


def notetype_media_references(notetype: dict[str, Any]) -> set[str]:
    """The `_`-prefixed files a note type's CSS and templates reference, which Anki's
    exporter includes (only those that are plain file names)."""
    found = _css_references(str(notetype.get("css") or ""))
    for template in notetype.get("tmpls") or []:
        if not isinstance(template, dict):
            continue
        for side in ("qfmt", "afmt"):
            text = str(template.get(side) or "")
            found += [
                next(g for g in match.groups() if g is not None)
                for match in _TEMPLATE_REFS.finditer(text)
            ]
    return {name for name in found if is_safe_name(name)}


def note_media_references(fields: Iterable[str], svg: bool = False) -> set[str]:
    """What Anki's exporter gathers from a note: media references and LaTeX images."""
    names: set[str] = set()
    for field in fields:
        names.update(media_references(field))
        names.update(latex_references(field, svg))
    return names


def collection_media_references(conn: sqlite3.Connection) -> set[str]:
    """Every file name the collection references: in any note's fields (media, sound
    and LaTeX) and in its note types' CSS and templates; names in NFC, as Anki's
    media check compares them with the files."""
    (models_json,) = conn.execute("select models from col").fetchone()
    models = json.loads(models_json) if models_json else {}
    svg = {
        int(mid): bool(model.get("latexsvg"))
        for mid, model in models.items()
        if isinstance(model, dict) and str(mid).isdigit()
    }
    names: set[str] = set()
    for mid, flds in conn.execute("select mid, flds from notes"):
        names |= note_media_references(str(flds).split(FIELD_SEPARATOR), svg.get(int(mid), False))
    for model in models.values():
        if isinstance(model, dict):
            names |= notetype_media_references(model)
    return {unicodedata.normalize("NFC", name) for name in names if name}


# --- file names ---------------------------------------------------------------------------

_DISALLOWED: Final = frozenset('[]<>:"/?*^\\|')
_WINDOWS_DEVICE: Final = re.compile(
    r"^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\.|$)", re.IGNORECASE | re.ASCII
)


def is_safe_name(name: str) -> bool:
    """A plain file name: not empty, no path separator or NUL, not `.` or `..`."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00")


def _disallowed(char: str) -> bool:
    return (
        char in _DISALLOWED
        or ord(char) < 0x20
        or ord(char) == 0x7F
        or unicodedata.category(char) == "Cn"
    )


def _truncated(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8, on a character boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", errors="ignore")


def _split_truncated(name: str, max_bytes: int) -> tuple[str, str]:
    """Anki's `split_and_truncate_filename`: (stem, extension) cut so that
    `stem.ext` and a trailing `_` fit in `max_bytes`."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = _truncated(ext, 10)
    return _truncated(stem, max_bytes - len(ext.encode("utf-8")) - 2), ext


def normalized_media_name(name: str) -> str:
    """Anki's `normalize_filename`: NFC; characters some systems refuse removed; a
    non-breaking space as a space; `_` after Windows device names and after a final
    space or dot; at most 120 bytes."""
    name = unicodedata.normalize("NFC", name)
    if any(_disallowed(c) for c in name):
        name = "".join(c for c in name if not _disallowed(c))
    name = name.replace("\u00a0", " ")
    name = _WINDOWS_DEVICE.sub(r"\1_\2", name)
    if name.endswith((" ", ".")):
        name += "_"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, ext = _split_truncated(name, MAX_NAME_BYTES)
        name = f"{stem}.{ext}" if ext else stem
        if name.endswith((" ", ".")):
            name += "_"
    return name


def safe_media_name(name: str) -> str | None:
    """The name a file from a package is stored under, or None if it may not be
    used at all (see `is_safe_name`, checked before and after normalizing)."""
    if not is_safe_name(name):
        return None
    normalized = normalized_media_name(name)
    return normalized if is_safe_name(normalized) else None


def hashed_media_name(name: str, sha1_hex: str) -> str:
    """Anki's `add_hash_suffix_to_file_stem`: `foo.jpg` -> `foo-<sha1 hex>.jpg`."""
    stem, ext = _split_truncated(name, MAX_NAME_BYTES - 40 - 1)
    return f"{stem}-{sha1_hex}.{ext}"


def is_static_media_name(name: str) -> bool:
    """Files Anki's importer never renames: note type files (`_…`) and LaTeX images."""
    return name.startswith(("_", "latex-"))
