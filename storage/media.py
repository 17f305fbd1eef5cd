"""Learners' media files (pictures, sounds) in the object store, beside the collection.

Layout
------
Everything of one learner lives under a prefix the caller gives (``user_media/{learner}/``,
see api/core/names.py), in two kinds of object::

    {prefix}index.json              the index: every file name, current or deleted
    {prefix}files/{sha1}-{nonce}    a file's bytes; ``nonce`` is 16 random hex digits

No key holds a file name, so whatever the name, nothing is written outside the prefix.

The index is compact UTF-8 JSON (no spaces, keys sorted)::

    {"v":1,"usn":7,"files":{"a.jpg":["<sha1>",1234,5,"<nonce>"],"b.mp3":[null,0,7,null]}}

* ``usn``: the index's change counter. Every change of one file takes the next value
  (so an upload of 3 files moves it by 3); it never goes back.
* ``files``: by name, ``[sha1, size, usn, nonce]``: the SHA-1 (hex) and size of the
  bytes, the counter value at which the name last changed, and the nonce of the object
  holding the bytes. A deleted name is kept as a grave, ``[null, 0, usn, null]``, so that
  ``changes_since(n)`` can tell a media sync about deletions after ``n`` too.

Content is deduplicated by SHA-1: a file whose bytes some current file already has
reuses that file's object. Objects are only ever added by uploads and only ever removed
by ``sweep``.

Conditional writes
------------------
Every change reads the index with its ETag, applies itself to what it read, writes the
objects the new entries need (before the index that refers to them), and writes the
index back with ``If-Match`` on that ETag (``If-None-Match: *`` when there was no index
yet). A refused write (412/409, or the index gone) means another change got in first:
the change is applied again to the index as it is now, up to ``attempts`` times, then
``WriteConflict``. So two uploads of different files both survive (the second applies
itself on top of the first), and an upload racing a delete of the same name ends in
the order the index writes happened, never with one half of each: no write can
resurrect a name deleted after it read the index, or drop a file added after it read.

Sweeping
--------
An object no current entry refers to (its file was deleted or replaced, or an upload
wrote it and then lost every attempt or failed a cap) is removed only by ``sweep``,
and only when the listing shows it older than a grace period. Why this never removes
an object a current entry refers to, even with uploads running at the same time:

1. An upload refers to an object in one of two ways. Either the index it read already
   refers to the object (through a current file) and its write is conditional on that
   very index, so the object has been referred to without a gap since the write that
   first referred to it. Or it wrote the object itself under a fresh nonce, a key
   nobody used before, at most ``COMMIT_WINDOW`` seconds (by its own monotonic clock,
   checked before every index write) before its index write; past that, it writes the
   bytes again under another fresh nonce.
2. ``sweep`` lists the objects, then reads the index, and removes an object only if
   the listing dated it more than ``older_than`` seconds back and the index it read
   does not refer to it.
3. Take an object the sweep removes while an index refers to it. Follow that reference
   back (1) to the write that first referred to the object, by an upload that wrote it
   at time ``p`` and wrote the index by ``p + COMMIT_WINDOW``. The listing found the
   object, dated ``p`` or later, more than ``older_than`` before the listing, so the
   reference was in the index before the listing (``older_than > COMMIT_WINDOW``) and
   has been there ever since: the sweep read it, and spared the object. A
   contradiction. A key with a fresh nonce cannot have been listed before it was
   written, which is why keys are not the SHA-1 alone: re-uploading bytes whose
   earlier object a sweep has already decided to remove would otherwise lose the race
   to that removal.

``older_than`` must therefore exceed ``COMMIT_WINDOW`` plus any skew between the
sweeper's clock and the store's (the default, an hour, does).

File names
----------
``normalize_media_name`` is Anki's ``normalize_filename`` (rslib/src/media/files.rs),
with names that could never be a file refused first; see its docstring.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import mimetypes
import random
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from storage.errors import (
    CorruptMediaIndex,
    MediaNameRefused,
    MediaNotFound,
    MediaTooLarge,
    ObjectNotFound,
    PreconditionFailed,
    TooManyMediaFiles,
    WriteConflict,
)
from storage.objects import ANY_ETAG, ObjectStore, StoredObject

INDEX_NAME: Final = "index.json"
CONTENT_DIR: Final = "files/"
INDEX_VERSION: Final = 1
# An upload writes the index within this many seconds of writing a fresh object, or
# writes the bytes again under a new key (see "Sweeping" above).
COMMIT_WINDOW: Final = 600.0
DEFAULT_GRACE: Final = 3600.0
# Anki's own limits (rslib/src/sync/media/mod.rs): a file name's length in UTF-8 bytes,
# and the largest file a media sync carries.
MAX_NAME_BYTES: Final = 120
ANKI_MAX_FILE_BYTES: Final = 100 * 1024 * 1024
_UPLOAD_THREADS = 8
_T = TypeVar("_T")
_U = TypeVar("_U")


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """How much one learner may store: bytes per file, and current files in all."""

    max_file_bytes: int = ANKI_MAX_FILE_BYTES
    max_files: int = 50_000


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A current file: its (normalised) name, the SHA-1 and size of its bytes, and the
    change counter value at which it last changed."""

    name: str
    sha1: str
    size: int
    usn: int


@dataclass(frozen=True, slots=True)
class MediaChange:
    """A name that changed: ``sha1`` None means it was deleted."""

    name: str
    sha1: str | None
    size: int
    usn: int


# -- names -------------------------------------------------------------------------------

_ANKI_DISALLOWED = frozenset('[]<>:"/?*^\\|')
_WINDOWS_DEVICE_NAME = re.compile(r"^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\.|\Z)", re.IGNORECASE)
_SEPARATORS = frozenset("/\\\x00")


def _anki_unassigned(char: str) -> bool:
    """Whether Anki's Unicode table (see ``_ANKI_ASSIGNED_TEXT``) has no such character."""
    code = ord(char)
    at = bisect.bisect_right(_ANKI_ASSIGNED_FIRSTS, code) - 1
    return at < 0 or code > _ANKI_ASSIGNED_LASTS[at]


def _disallowed(char: str) -> bool:
    code = ord(char)
    return char in _ANKI_DISALLOWED or code < 0x20 or code == 0x7F or _anki_unassigned(char)


def _truncated(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, on a character boundary."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def _fix_trailing(name: str) -> str:
    # Windows refuses names that end with a space or a dot.
    return name + "_" if name.endswith((" ", ".")) else name


def normalize_media_name(name: str) -> str:
    """The name Anki would store ``name`` under, or ``MediaNameRefused``.

    Refused outright: an empty name, ``.``, ``..``, a name with ``/``, ``\\`` or NUL,
    text that is not valid Unicode (a lone surrogate), and a name the steps below leave
    empty. Every other name becomes what Anki's ``normalize_filename`` makes of it:

    1. NFC;
    2. ``[ ] < > : " / ? * ^ \\ |``, ASCII control characters and characters Anki's
       Unicode table does not assign are removed;
    3. no-break spaces (U+00A0) become spaces;
    4. a Windows device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9, any case) on its own
       or before a dot gets ``_`` after it: ``con.txt`` -> ``con_.txt``;
    5. a name ending with a space or a dot gets ``_`` after it;
    6. past 120 UTF-8 bytes, the extension (after the last dot) is cut to 10 bytes and
       the stem to fit, on character boundaries, then step 5 again.

    ``normalize_filename`` keeps case, and so does this; so does a media sync, which
    stores names that are already normal as they come. (The anki library lower-cases
    the names it writes itself: ``add_media_file``, and the renames of a media check.)
    """
    if not isinstance(name, str):
        raise MediaNameRefused(f"a media file name is text, not {type(name).__name__}")
    if name in ("", ".", ".."):
        raise MediaNameRefused(f"not a file name: {name!r}")
    if any(c in _SEPARATORS for c in name):
        raise MediaNameRefused(f"a media file name holds no path separator or NUL: {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise MediaNameRefused(f"not valid Unicode: {name!r}") from None
    text = unicodedata.normalize("NFC", name)
    text = "".join(c for c in text if not _disallowed(c))
    text = text.replace("\u00a0", " ")
    text = _WINDOWS_DEVICE_NAME.sub(r"\1_\2", text, count=1)
    text = _fix_trailing(text)
    if len(text.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, ext = text.rpartition(".")
        if not dot:
            stem, ext = ext, ""
        ext = _truncated(ext, 10)
        stem = _truncated(stem, MAX_NAME_BYTES - len(ext.encode("utf-8")) - 2)
        text = _fix_trailing(f"{stem}.{ext}" if ext else stem)
    if not text:
        raise MediaNameRefused(f"nothing is left of {name!r} as a media file name")
    return text


# Extensions Anki decks use, and what they are; others are guessed but only ever as
# audio, image or video (never an active type such as text/html).
_CONTENT_TYPES: Final = {
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/opus",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "weba": "audio/webm",
    "webm": "video/webm",
    "mp4": "video/mp4",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "svg": "image/svg+xml",
    "webp": "image/webp",
    "avif": "image/avif",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "ico": "image/x-icon",
}
_DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"


def content_type(name: str) -> str:
    """The media type of a file by its name's extension (application/octet-stream when
    unknown)."""
    _, dot, ext = name.rpartition(".")
    if not dot:
        return _DEFAULT_CONTENT_TYPE
    known = _CONTENT_TYPES.get(ext.lower())
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(f"file.{ext.lower()}", strict=False)
    if guessed and guessed.split("/", 1)[0] in ("audio", "image", "video"):
        return guessed
    return _DEFAULT_CONTENT_TYPE


# -- the index ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    sha1: str | None  # None: a grave
    size: int
    usn: int
    nonce: str | None


@dataclass(slots=True)
class _Index:
    usn: int
    files: dict[str, _Entry]

    def live(self) -> dict[str, _Entry]:
        return {name: e for name, e in self.files.items() if e.sha1 is not None}

    def objects_by_sha1(self) -> dict[str, str]:
        """The nonce of an object holding each SHA-1 current files have."""
        return {e.sha1: e.nonce for e in self.files.values() if e.sha1 and e.nonce}

    def bump(self) -> int:
        self.usn += 1
        return self.usn

    def encode(self) -> bytes:
        files = {name: [e.sha1, e.size, e.usn, e.nonce] for name, e in self.files.items()}
        document = {"v": INDEX_VERSION, "usn": self.usn, "files": files}
        return json.dumps(
            document, separators=(",", ":"), sort_keys=True, ensure_ascii=False
        ).encode("utf-8")

    @staticmethod
    def decode(body: bytes, key: str) -> _Index:
        try:
            document = json.loads(body.decode("utf-8"))
            if document["v"] != INDEX_VERSION:
                raise CorruptMediaIndex(f"{key}: index version {document['v']!r}")
            usn = document["usn"]
            files = {name: _entry(raw) for name, raw in document["files"].items()}
        except CorruptMediaIndex:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CorruptMediaIndex(f"{key}: {error}") from None
        if type(usn) is not int or any(e.usn > usn for e in files.values()):
            raise CorruptMediaIndex(f"{key}: bad change counter {usn!r}")
        return _Index(usn=usn, files=files)


_HEX = re.compile(r"[0-9a-f]+\Z")


def _entry(raw: Any) -> _Entry:
    sha1, size, usn, nonce = raw
    ok = type(size) is int and type(usn) is int and size >= 0 and usn > 0
    if sha1 is None:
        ok = ok and nonce is None
    else:
        ok = ok and isinstance(sha1, str) and len(sha1) == 40 and bool(_HEX.match(sha1))
        ok = ok and isinstance(nonce, str) and bool(_HEX.match(nonce))
    if not ok:
        raise ValueError(f"bad entry {raw!r}")
    return _Entry(sha1=sha1, size=size, usn=usn, nonce=nonce)


def _check_prefix(prefix: str) -> None:
    parts = prefix.split("/")
    if (
        not prefix.endswith("/")
        or prefix.startswith("/")
        or any(p in ("", ".", "..") for p in parts[:-1])
    ):
        raise ValueError(f"a media prefix is one or more key segments and a '/': {prefix!r}")


def _file(name: str, entry: _Entry) -> MediaFile:
    assert entry.sha1 is not None
    return MediaFile(name=name, sha1=entry.sha1, size=entry.size, usn=entry.usn)


@dataclass
class _Fresh:
    """Objects this change wrote under fresh nonces: by SHA-1, the nonce and when its
    write started (monotonic)."""

    written: dict[str, tuple[str, float]]
    pending: dict[str, bytes]  # bytes still to write this attempt, by SHA-1

    def nonce_for(self, current: dict[str, str], sha1: str, data: bytes) -> str:
        """The nonce of the object to refer to for these bytes: that of a current file
        with the same bytes, or a fresh one (whose bytes are then pending)."""
        reused = current.get(sha1)
        if reused is not None:
            return reused
        known = self.written.get(sha1)
        if known is not None and time.monotonic() - known[1] <= COMMIT_WINDOW:
            return known[0]
        nonce = secrets.token_hex(8)
        self.written[sha1] = (nonce, time.monotonic())
        self.pending[sha1] = data
        return nonce


class MediaStore:
    """Learners' media files on an ``ObjectStore``; every method takes the learner's
    prefix (``user_media/{learner}/``, ending with ``/``)."""

    def __init__(
        self,
        objects: ObjectStore,
        *,
        limits: MediaLimits = MediaLimits(),
        presigner: Callable[[str, str], str] | None = None,
        attempts: int = 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.objects = objects
        self.limits = limits
        self.presigner = presigner
        self.attempts = attempts
        self.clock = clock

    # -- keys

    @staticmethod
    def index_key(prefix: str) -> str:
        _check_prefix(prefix)
        return prefix + INDEX_NAME

    @staticmethod
    def content_key(prefix: str, sha1: str, nonce: str) -> str:
        _check_prefix(prefix)
        return f"{prefix}{CONTENT_DIR}{sha1}-{nonce}"

    # -- reads

    def find(self, prefix: str, name: str) -> MediaFile | None:
        """The current file of that name (normalised first), or None."""
        name = normalize_media_name(name)
        entry = self._read(prefix)[0].files.get(name)
        return None if entry is None or entry.sha1 is None else _file(name, entry)

    def get(self, prefix: str, name: str) -> tuple[MediaFile, bytes]:
        """The current file of that name and its bytes; ``MediaNotFound`` if none."""
        stored, body, _ = self.fetch(prefix, name)
        assert body is not None
        return stored, body

    def fetch(
        self, prefix: str, name: str, *, url_above: int | None = None
    ) -> tuple[MediaFile, bytes | None, str | None]:
        """The current file of that name with either its bytes or, when it is larger
        than ``url_above`` bytes and there is a presigner, a download URL instead
        (``download_url``): one index read either way. ``MediaNotFound`` if none."""
        name = normalize_media_name(name)
        entry = self._current(prefix, name)
        if url_above is not None and entry.size > url_above and self.presigner is not None:
            key = self.content_key(prefix, entry.sha1 or "", entry.nonce or "")
            return _file(name, entry), None, self.presigner(key, name)
        for attempt in range(3):
            if attempt:  # the bytes were replaced and swept since: read the index again
                entry = self._current(prefix, name)
            key = self.content_key(prefix, entry.sha1 or "", entry.nonce or "")
            try:
                stored = self.objects.get(key)
            except ObjectNotFound:
                continue  # replaced, and the old bytes swept, since the index was read
            assert isinstance(stored, StoredObject)
            if hashlib.sha1(stored.body, usedforsecurity=False).hexdigest() != entry.sha1:
                raise CorruptMediaIndex(f"{key}: the bytes do not match their SHA-1")
            return _file(name, entry), stored.body, None
        raise CorruptMediaIndex(f"{prefix}: the bytes of {name!r} are missing")

    def get_many(
        self, prefix: str, names: Iterable[str], *, max_bytes: int | None = None
    ) -> list[tuple[MediaFile, bytes]]:
        """Current files by their stored names (exactly as ``files`` and
        ``changes_since`` give them), with one index read: the longest prefix of
        ``names`` whose sizes add up to at most ``max_bytes``, and always the first.
        ``MediaNotFound`` if one of them is no current file."""
        wanted = list(names)
        for _ in range(3):
            index = self._read(prefix)[0]
            chosen: list[tuple[str, _Entry]] = []
            total = 0
            for name in wanted:
                entry = index.files.get(name)
                if entry is None or entry.sha1 is None:
                    raise MediaNotFound(f"{prefix}: no media file {name!r}")
                if chosen and max_bytes is not None and total + entry.size > max_bytes:
                    break
                chosen.append((name, entry))
                total += entry.size
            bodies = _map_threads(lambda item: self._body(prefix, item[1]), chosen, _UPLOAD_THREADS)
            if any(body is None for body in bodies):
                continue  # replaced, and the old bytes swept, since the index was read
            return [
                (_file(name, entry), body)
                for (name, entry), body in zip(chosen, bodies, strict=True)
                if body is not None
            ]
        raise CorruptMediaIndex(f"{prefix}: the bytes of some media files are missing")

    def _body(self, prefix: str, entry: _Entry) -> bytes | None:
        key = self.content_key(prefix, entry.sha1 or "", entry.nonce or "")
        try:
            stored = self.objects.get(key)
        except ObjectNotFound:
            return None
        assert isinstance(stored, StoredObject)
        if hashlib.sha1(stored.body, usedforsecurity=False).hexdigest() != entry.sha1:
            raise CorruptMediaIndex(f"{key}: the bytes do not match their SHA-1")
        return stored.body

    def files(self, prefix: str) -> list[MediaFile]:
        """The current files, by name."""
        live = self._read(prefix)[0].live()
        return [_file(name, live[name]) for name in sorted(live)]

    def changes_since(self, prefix: str, usn: int) -> tuple[int, list[MediaChange]]:
        """The current change counter and every name changed after ``usn`` (deletions
        included), in the order they changed."""
        index = self._read(prefix)[0]
        changes = [
            MediaChange(name=name, sha1=e.sha1, size=e.size, usn=e.usn)
            for name, e in index.files.items()
            if e.usn > usn
        ]
        changes.sort(key=lambda c: (c.usn, c.name))
        return index.usn, changes

    def download_url(self, prefix: str, name: str) -> str | None:
        """A short-lived URL that downloads the file's bytes: ``presigner(key, name)``,
        which can name the file and its type in the response (None without a presigner,
        as on the local backend); ``MediaNotFound`` if there is no such file."""
        name = normalize_media_name(name)
        entry = self._current(prefix, name)
        if self.presigner is None:
            return None
        key = self.content_key(prefix, entry.sha1 or "", entry.nonce or "")
        return self.presigner(key, name)

    # -- changes

    def add(self, prefix: str, name: str, data: bytes) -> MediaFile:
        """Store a file under its normalised name and return its entry.

        The same bytes under the same name change nothing (the entry keeps its counter
        value); other bytes under a name in use replace the file, as a media sync does.
        """
        return self.add_many(prefix, [(name, data)])[0]

    def add_many(self, prefix: str, files: Iterable[tuple[str, bytes]]) -> list[MediaFile]:
        """Store many files with one index write: every one, or (over a limit, or with
        a refused name) none. Returns the entries in the order given."""
        items = [(normalize_media_name(name), bytes(data)) for name, data in files]
        for name, data in items:
            if len(data) > self.limits.max_file_bytes:
                raise MediaTooLarge(
                    f"{name!r} is {len(data)} bytes; the limit is {self.limits.max_file_bytes}"
                )
        hashed = [
            (name, hashlib.sha1(data, usedforsecurity=False).hexdigest(), data)
            for name, data in items
        ]
        _check_prefix(prefix)
        fresh = _Fresh(written={}, pending={})

        def apply(index: _Index) -> tuple[bool, list[MediaFile]]:
            changed = False
            before = len(index.live())
            by_sha1 = index.objects_by_sha1()
            added: list[str] = []
            for name, sha1, data in hashed:
                current = index.files.get(name)
                if current is not None and current.sha1 == sha1:
                    added.append(name)
                    continue
                nonce = fresh.nonce_for(by_sha1, sha1, data)
                by_sha1[sha1] = nonce
                index.files[name] = _Entry(sha1, len(data), index.bump(), nonce)
                added.append(name)
                changed = True
            after = len(index.live())
            if after > self.limits.max_files and after > before:
                raise TooManyMediaFiles(
                    f"{prefix}: {after} files would exceed the limit of {self.limits.max_files}"
                )
            return changed, [_file(name, index.files[name]) for name in added]

        return self._change(prefix, apply, fresh)

    def apply_changes(
        self, prefix: str, changes: Iterable[tuple[str, bytes | None]]
    ) -> tuple[int, int]:
        """Apply additions (``(name, bytes)``) and deletions (``(name, None)``) in the
        order given, with one index write: every one, or (over a limit, or with a
        refused name) none. Returns how many changes were given and the change counter
        after them.

        As for ``add``, the same bytes under the same name change nothing; a deletion
        of a name that is not current changes nothing either.
        """
        items: list[tuple[str, str | None, bytes]] = []
        for name, data in changes:
            name = normalize_media_name(name)
            if data is None:
                items.append((name, None, b""))
                continue
            data = bytes(data)
            if len(data) > self.limits.max_file_bytes:
                raise MediaTooLarge(
                    f"{name!r} is {len(data)} bytes; the limit is {self.limits.max_file_bytes}"
                )
            items.append((name, hashlib.sha1(data, usedforsecurity=False).hexdigest(), data))
        _check_prefix(prefix)
        fresh = _Fresh(written={}, pending={})

        def apply(index: _Index) -> tuple[bool, tuple[int, int]]:
            changed = False
            before = len(index.live())
            by_sha1 = index.objects_by_sha1()
            for name, sha1, data in items:
                current = index.files.get(name)
                if sha1 is None:
                    if current is not None and current.sha1 is not None:
                        index.files[name] = _Entry(None, 0, index.bump(), None)
                        changed = True
                    continue
                if current is not None and current.sha1 == sha1:
                    continue
                nonce = fresh.nonce_for(by_sha1, sha1, data)
                by_sha1[sha1] = nonce
                index.files[name] = _Entry(sha1, len(data), index.bump(), nonce)
                changed = True
            after = len(index.live())
            if after > self.limits.max_files and after > before:
                raise TooManyMediaFiles(
                    f"{prefix}: {after} files would exceed the limit of {self.limits.max_files}"
                )
            return changed, (len(items), index.usn)

        return self._change(prefix, apply, fresh)

    def delete(self, prefix: str, names: Iterable[str]) -> list[str]:
        """Delete files by name; returns the (normalised) names that were current and
        now are graves. Names of no current file are skipped."""
        wanted = list(dict.fromkeys(normalize_media_name(name) for name in names))

        def apply(index: _Index) -> tuple[bool, list[str]]:
            deleted = []
            for name in wanted:
                entry = index.files.get(name)
                if entry is not None and entry.sha1 is not None:
                    index.files[name] = _Entry(None, 0, index.bump(), None)
                    deleted.append(name)
            return bool(deleted), deleted

        return self._change(prefix, apply, None)

    def sweep(self, prefix: str, *, older_than: float = DEFAULT_GRACE) -> int:
        """Remove the objects no current file refers to that the listing dates more than
        ``older_than`` seconds back; returns how many. See "Sweeping" above for why
        ``older_than`` must exceed ``COMMIT_WINDOW``."""
        _check_prefix(prefix)
        listed = self.objects.list(prefix + CONTENT_DIR)  # the listing first, then the index
        index = self._read(prefix)[0]
        referenced = {
            self.content_key(prefix, e.sha1, e.nonce or "")
            for e in index.files.values()
            if e.sha1 is not None
        }
        cutoff = self.clock() - older_than
        removed = 0
        for item in listed:
            if item.key not in referenced and item.last_modified < cutoff:
                self.objects.delete(item.key)
                removed += 1
        return removed

    # -- the machinery

    def _read(self, prefix: str) -> tuple[_Index, str | None]:
        key = self.index_key(prefix)
        try:
            stored = self.objects.get(key)
        except ObjectNotFound:
            return _Index(usn=0, files={}), None
        assert isinstance(stored, StoredObject)
        return _Index.decode(stored.body, key), stored.etag

    def _current(self, prefix: str, name: str) -> _Entry:
        entry = self._read(prefix)[0].files.get(name)
        if entry is None or entry.sha1 is None:
            raise MediaNotFound(f"{prefix}: no media file {name!r}")
        return entry

    def _change(
        self,
        prefix: str,
        apply: Callable[[_Index], tuple[bool, _T]],
        fresh: _Fresh | None,
    ) -> _T:
        """Apply ``apply`` to the index as read, write what it needs, then the index
        conditionally; again on a lost race, up to ``attempts`` times."""
        key = self.index_key(prefix)
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(random.uniform(0, min(0.005 * 2**attempt, 0.2)))  # noqa: S311
            index, etag = self._read(prefix)
            changed, result = apply(index)
            if not changed:
                return result
            if fresh is not None:
                self._write_pending(prefix, fresh)
                if not _within_window(fresh, index):
                    continue  # too slow: the next attempt writes under new nonces
            try:
                if etag is None:
                    self.objects.put(key, index.encode(), if_none_match=ANY_ETAG)
                else:
                    self.objects.put(key, index.encode(), if_match=etag)
            except (PreconditionFailed, ObjectNotFound):
                continue
            return result
        raise WriteConflict(f"{key}: other changes won {self.attempts} attempts")

    def _write_pending(self, prefix: str, fresh: _Fresh) -> None:
        pending = list(fresh.pending.items())
        fresh.pending.clear()

        def write(item: tuple[str, bytes]) -> None:
            sha1, data = item
            self.objects.put(self.content_key(prefix, sha1, fresh.written[sha1][0]), data)

        if len(pending) <= 1:
            for item in pending:
                write(item)
            return
        with ThreadPoolExecutor(max_workers=min(_UPLOAD_THREADS, len(pending))) as pool:
            list(pool.map(write, pending))


def _map_threads(function: Callable[[_T], _U], items: list[_T], threads: int) -> list[_U]:
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(function, items))


def _within_window(fresh: _Fresh, index: _Index) -> bool:
    """Whether every fresh object the index refers to was written recently enough."""
    now = time.monotonic()
    used = {e.nonce for e in index.files.values() if e.sha1 is not None}
    return all(
        now - started <= COMMIT_WINDOW for nonce, started in fresh.written.values() if nonce in used
    )


# The code points Anki's Unicode table assigns a character to, as hexadecimal ranges.
# Anki decides which characters are unassigned with the unic-ucd-category crate, whose
# table is Unicode 10.0: it drops characters assigned since (newer emoji, for one), which
# Python's unicodedata, of a later Unicode version, knows. Listing them here keeps the
# names the same whichever Python runs this. The interop tests check the boundaries of
# every range against Anki itself.
_ANKI_ASSIGNED_TEXT: Final = """
0-377 37A-37F 384-38A 38C 38E-3A1 3A3-52F 531-556 559-55F 561-587 589-58A 58D-58F 591-5C7
5D0-5EA 5F0-5F4 600-61C 61E-70D 70F-74A 74D-7B1 7C0-7FA 800-82D 830-83E 840-85B 85E 860-86A
8A0-8B4 8B6-8BD 8D4-983 985-98C 98F-990 993-9A8 9AA-9B0 9B2 9B6-9B9 9BC-9C4 9C7-9C8 9CB-9CE 9D7
9DC-9DD 9DF-9E3 9E6-9FD A01-A03 A05-A0A A0F-A10 A13-A28 A2A-A30 A32-A33 A35-A36 A38-A39 A3C
A3E-A42 A47-A48 A4B-A4D A51 A59-A5C A5E A66-A75 A81-A83 A85-A8D A8F-A91 A93-AA8 AAA-AB0 AB2-AB3
AB5-AB9 ABC-AC5 AC7-AC9 ACB-ACD AD0 AE0-AE3 AE6-AF1 AF9-AFF B01-B03 B05-B0C B0F-B10 B13-B28
B2A-B30 B32-B33 B35-B39 B3C-B44 B47-B48 B4B-B4D B56-B57 B5C-B5D B5F-B63 B66-B77 B82-B83 B85-B8A
B8E-B90 B92-B95 B99-B9A B9C B9E-B9F BA3-BA4 BA8-BAA BAE-BB9 BBE-BC2 BC6-BC8 BCA-BCD BD0 BD7
BE6-BFA C00-C03 C05-C0C C0E-C10 C12-C28 C2A-C39 C3D-C44 C46-C48 C4A-C4D C55-C56 C58-C5A C60-C63
C66-C6F C78-C83 C85-C8C C8E-C90 C92-CA8 CAA-CB3 CB5-CB9 CBC-CC4 CC6-CC8 CCA-CCD CD5-CD6 CDE
CE0-CE3 CE6-CEF CF1-CF2 D00-D03 D05-D0C D0E-D10 D12-D44 D46-D48 D4A-D4F D54-D63 D66-D7F D82-D83
D85-D96 D9A-DB1 DB3-DBB DBD DC0-DC6 DCA DCF-DD4 DD6 DD8-DDF DE6-DEF DF2-DF4 E01-E3A E3F-E5B
E81-E82 E84 E87-E88 E8A E8D E94-E97 E99-E9F EA1-EA3 EA5 EA7 EAA-EAB EAD-EB9 EBB-EBD EC0-EC4 EC6
EC8-ECD ED0-ED9 EDC-EDF F00-F47 F49-F6C F71-F97 F99-FBC FBE-FCC FCE-FDA 1000-10C5 10C7 10CD
10D0-1248 124A-124D 1250-1256 1258 125A-125D 1260-1288 128A-128D 1290-12B0 12B2-12B5 12B8-12BE
12C0 12C2-12C5 12C8-12D6 12D8-1310 1312-1315 1318-135A 135D-137C 1380-1399 13A0-13F5 13F8-13FD
1400-169C 16A0-16F8 1700-170C 170E-1714 1720-1736 1740-1753 1760-176C 176E-1770 1772-1773
1780-17DD 17E0-17E9 17F0-17F9 1800-180E 1810-1819 1820-1877 1880-18AA 18B0-18F5 1900-191E
1920-192B 1930-193B 1940 1944-196D 1970-1974 1980-19AB 19B0-19C9 19D0-19DA 19DE-1A1B 1A1E-1A5E
1A60-1A7C 1A7F-1A89 1A90-1A99 1AA0-1AAD 1AB0-1ABE 1B00-1B4B 1B50-1B7C 1B80-1BF3 1BFC-1C37
1C3B-1C49 1C4D-1C88 1CC0-1CC7 1CD0-1CF9 1D00-1DF9 1DFB-1F15 1F18-1F1D 1F20-1F45 1F48-1F4D
1F50-1F57 1F59 1F5B 1F5D 1F5F-1F7D 1F80-1FB4 1FB6-1FC4 1FC6-1FD3 1FD6-1FDB 1FDD-1FEF 1FF2-1FF4
1FF6-1FFE 2000-2064 2066-2071 2074-208E 2090-209C 20A0-20BF 20D0-20F0 2100-218B 2190-2426
2440-244A 2460-2B73 2B76-2B95 2B98-2BB9 2BBD-2BC8 2BCA-2BD2 2BEC-2BEF 2C00-2C2E 2C30-2C5E
2C60-2CF3 2CF9-2D25 2D27 2D2D 2D30-2D67 2D6F-2D70 2D7F-2D96 2DA0-2DA6 2DA8-2DAE 2DB0-2DB6
2DB8-2DBE 2DC0-2DC6 2DC8-2DCE 2DD0-2DD6 2DD8-2DDE 2DE0-2E49 2E80-2E99 2E9B-2EF3 2F00-2FD5
2FF0-2FFB 3000-303F 3041-3096 3099-30FF 3105-312E 3131-318E 3190-31BA 31C0-31E3 31F0-321E
3220-32FE 3300-4DB5 4DC0-9FEA A000-A48C A490-A4C6 A4D0-A62B A640-A6F7 A700-A7AE A7B0-A7B7
A7F7-A82B A830-A839 A840-A877 A880-A8C5 A8CE-A8D9 A8E0-A8FD A900-A953 A95F-A97C A980-A9CD
A9CF-A9D9 A9DE-A9FE AA00-AA36 AA40-AA4D AA50-AA59 AA5C-AAC2 AADB-AAF6 AB01-AB06 AB09-AB0E
AB11-AB16 AB20-AB26 AB28-AB2E AB30-AB65 AB70-ABED ABF0-ABF9 AC00-D7A3 D7B0-D7C6 D7CB-D7FB
D800-FA6D FA70-FAD9 FB00-FB06 FB13-FB17 FB1D-FB36 FB38-FB3C FB3E FB40-FB41 FB43-FB44 FB46-FBC1
FBD3-FD3F FD50-FD8F FD92-FDC7 FDF0-FDFD FE00-FE19 FE20-FE52 FE54-FE66 FE68-FE6B FE70-FE74
FE76-FEFC FEFF FF01-FFBE FFC2-FFC7 FFCA-FFCF FFD2-FFD7 FFDA-FFDC FFE0-FFE6 FFE8-FFEE FFF9-FFFD
10000-1000B 1000D-10026 10028-1003A 1003C-1003D 1003F-1004D 10050-1005D 10080-100FA 10100-10102
10107-10133 10137-1018E 10190-1019B 101A0 101D0-101FD 10280-1029C 102A0-102D0 102E0-102FB
10300-10323 1032D-1034A 10350-1037A 10380-1039D 1039F-103C3 103C8-103D5 10400-1049D 104A0-104A9
104B0-104D3 104D8-104FB 10500-10527 10530-10563 1056F 10600-10736 10740-10755 10760-10767
10800-10805 10808 1080A-10835 10837-10838 1083C 1083F-10855 10857-1089E 108A7-108AF 108E0-108F2
108F4-108F5 108FB-1091B 1091F-10939 1093F 10980-109B7 109BC-109CF 109D2-10A03 10A05-10A06
10A0C-10A13 10A15-10A17 10A19-10A33 10A38-10A3A 10A3F-10A47 10A50-10A58 10A60-10A9F 10AC0-10AE6
10AEB-10AF6 10B00-10B35 10B39-10B55 10B58-10B72 10B78-10B91 10B99-10B9C 10BA9-10BAF 10C00-10C48
10C80-10CB2 10CC0-10CF2 10CFA-10CFF 10E60-10E7E 11000-1104D 11052-1106F 1107F-110C1 110D0-110E8
110F0-110F9 11100-11134 11136-11143 11150-11176 11180-111CD 111D0-111DF 111E1-111F4 11200-11211
11213-1123E 11280-11286 11288 1128A-1128D 1128F-1129D 1129F-112A9 112B0-112EA 112F0-112F9
11300-11303 11305-1130C 1130F-11310 11313-11328 1132A-11330 11332-11333 11335-11339 1133C-11344
11347-11348 1134B-1134D 11350 11357 1135D-11363 11366-1136C 11370-11374 11400-11459 1145B 1145D
11480-114C7 114D0-114D9 11580-115B5 115B8-115DD 11600-11644 11650-11659 11660-1166C 11680-116B7
116C0-116C9 11700-11719 1171D-1172B 11730-1173F 118A0-118F2 118FF 11A00-11A47 11A50-11A83
11A86-11A9C 11A9E-11AA2 11AC0-11AF8 11C00-11C08 11C0A-11C36 11C38-11C45 11C50-11C6C 11C70-11C8F
11C92-11CA7 11CA9-11CB6 11D00-11D06 11D08-11D09 11D0B-11D36 11D3A 11D3C-11D3D 11D3F-11D47
11D50-11D59 12000-12399 12400-1246E 12470-12474 12480-12543 13000-1342E 14400-14646 16800-16A38
16A40-16A5E 16A60-16A69 16A6E-16A6F 16AD0-16AED 16AF0-16AF5 16B00-16B45 16B50-16B59 16B5B-16B61
16B63-16B77 16B7D-16B8F 16F00-16F44 16F50-16F7E 16F8F-16F9F 16FE0-16FE1 17000-187EC 18800-18AF2
1B000-1B11E 1B170-1B2FB 1BC00-1BC6A 1BC70-1BC7C 1BC80-1BC88 1BC90-1BC99 1BC9C-1BCA3 1D000-1D0F5
1D100-1D126 1D129-1D1E8 1D200-1D245 1D300-1D356 1D360-1D371 1D400-1D454 1D456-1D49C 1D49E-1D49F
1D4A2 1D4A5-1D4A6 1D4A9-1D4AC 1D4AE-1D4B9 1D4BB 1D4BD-1D4C3 1D4C5-1D505 1D507-1D50A 1D50D-1D514
1D516-1D51C 1D51E-1D539 1D53B-1D53E 1D540-1D544 1D546 1D54A-1D550 1D552-1D6A5 1D6A8-1D7CB
1D7CE-1DA8B 1DA9B-1DA9F 1DAA1-1DAAF 1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A
1E800-1E8C4 1E8C7-1E8D6 1E900-1E94A 1E950-1E959 1E95E-1E95F 1EE00-1EE03 1EE05-1EE1F 1EE21-1EE22
1EE24 1EE27 1EE29-1EE32 1EE34-1EE37 1EE39 1EE3B 1EE42 1EE47 1EE49 1EE4B 1EE4D-1EE4F 1EE51-1EE52
1EE54 1EE57 1EE59 1EE5B 1EE5D 1EE5F 1EE61-1EE62 1EE64 1EE67-1EE6A 1EE6C-1EE72 1EE74-1EE77
1EE79-1EE7C 1EE7E 1EE80-1EE89 1EE8B-1EE9B 1EEA1-1EEA3 1EEA5-1EEA9 1EEAB-1EEBB 1EEF0-1EEF1
1F000-1F02B 1F030-1F093 1F0A0-1F0AE 1F0B1-1F0BF 1F0C1-1F0CF 1F0D1-1F0F5 1F100-1F10C 1F110-1F12E
1F130-1F16B 1F170-1F1AC 1F1E6-1F202 1F210-1F23B 1F240-1F248 1F250-1F251 1F260-1F265 1F300-1F6D4
1F6E0-1F6EC 1F6F0-1F6F8 1F700-1F773 1F780-1F7D4 1F800-1F80B 1F810-1F847 1F850-1F859 1F860-1F887
1F890-1F8AD 1F900-1F90B 1F910-1F93E 1F940-1F94C 1F950-1F96B 1F980-1F997 1F9C0 1F9D0-1F9E6
20000-2A6D6 2A700-2B734 2B740-2B81D 2B820-2CEA1 2CEB0-2EBE0 2F800-2FA1D E0001 E0020-E007F
E0100-E01EF F0000-FFFFD 100000-10FFFD
"""


def _parse_ranges(text: str) -> tuple[list[int], list[int]]:
    firsts: list[int] = []
    lasts: list[int] = []
    for token in text.split():
        first, _, last = token.partition("-")
        firsts.append(int(first, 16))
        lasts.append(int(last or first, 16))
    return firsts, lasts


_ANKI_ASSIGNED_FIRSTS, _ANKI_ASSIGNED_LASTS = _parse_ranges(_ANKI_ASSIGNED_TEXT)
