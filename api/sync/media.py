"""Media sync on a learner's media store: the calls behind ``/msync/*`` and the zips
they carry.

A client's upload is a zip of up to 25 files, ``0``, ``1``, ... beside ``_meta``, the
JSON list ``[[name, "<entry>" or null], ...]`` (null, or "" from older clients, is a
deletion). It is read from memory, never extracted by name: the declared entry count
is checked before ``zipfile`` reads the directory; entries must be plain names, stored
or deflated, neither encrypted, folders nor links, and each is read with its bytes
counted (per file: the store's limit; in all: the caller's), so a zip bomb stops at
the cap. Names are checked as Anki's server checks them (NFC, no separator, at most
255 bytes) and, further, must be what ``normalize_media_name`` makes of them: a file
this store would keep under another name is refused, not renamed behind the client's
back. Anything refused refuses the whole upload, and nothing is stored.

A download is a zip of stored entries ``0``, ``1``, ... and ``_meta``, the JSON map
``{"0": name, ...}``: a prefix of the names asked for, cut at a byte budget (and at
least one file), since the client asks again for whatever it did not get.
"""

from __future__ import annotations

import io
import json
import re
import stat
import struct
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from api.errors import SyncRefused
from api.media import LearnerMedia
from storage.errors import MediaNameRefused, MediaNotFound, MediaTooLarge, TooManyMediaFiles
from storage.media import normalize_media_name

# Anki's limits (rslib/src/sync/media): files per zip either way, rows per
# mediaChanges answer, the longest name its server takes, and the size of ``_meta``.
MAX_FILES_PER_ZIP: Final = 25
MAX_CHANGES: Final = 1000
MAX_NAME_BYTES_SERVER: Final = 255
MAX_META_BYTES: Final = 50 * 1024
META: Final = "_meta"

_CHUNK: Final = 1024 * 1024
_EOCD: Final = b"PK\x05\x06"
_EOCD_SIZE: Final = 22
_MAX_COMMENT: Final = 65_535
_ENTRY_NAME: Final = re.compile(r"[0-9A-Za-z_.-]{1,64}\Z")


def refused(message: str) -> SyncRefused:
    """What Anki's server answers an upload it cannot take: 400."""
    return SyncRefused(400, message)


def ok(value: Any) -> dict[str, Any]:
    """A media call's JSON result, as Anki wraps it."""
    return {"data": value, "err": ""}


# -- the calls ---------------------------------------------------------------------------


def begin(media: LearnerMedia, host_key: str, client_version: Any) -> dict[str, Any]:
    """``begin``: the media usn, and the host key where a session key once was."""
    if not isinstance(client_version, str) or not client_version:
        raise SyncRefused(400, "begin needs the client's version")
    usn, _ = media.store.changes_since(media.prefix, 2**62)
    return ok({"usn": usn, "sk": host_key})


def media_changes(media: LearnerMedia, request: Any) -> dict[str, Any]:
    """``mediaChanges``: up to 1000 names changed after ``lastUsn``, in usn order, as
    ``[name, usn, sha1 hex or "" when deleted]``."""
    last_usn = request.get("lastUsn") if isinstance(request, dict) else None
    if type(last_usn) is not int:
        raise SyncRefused(400, "mediaChanges needs lastUsn")
    _, changes = media.store.changes_since(media.prefix, last_usn)
    return ok([[c.name, c.usn, c.sha1 or ""] for c in changes[:MAX_CHANGES]])


def media_sanity(media: LearnerMedia, request: Any) -> dict[str, Any]:
    """``mediaSanity``: whether the client holds as many files as the server."""
    local = request.get("local") if isinstance(request, dict) else None
    if type(local) is not int:
        raise SyncRefused(400, "mediaSanity needs local")
    return ok("OK" if local == len(media.files()) else "mediaSanity")


def upload_changes(media: LearnerMedia, data: bytes, max_total_bytes: int) -> dict[str, Any]:
    """``uploadChanges``: apply the zip's additions and deletions in one index write;
    ``[processed, current usn]``."""
    upload = read_upload(data, media.store.limits.max_file_bytes, max_total_bytes)
    try:
        _, usn = media.store.apply_changes(media.prefix, upload.changes)
    except MediaNameRefused as exc:
        raise refused(f"a media file name was refused: {exc}") from None
    except MediaTooLarge as exc:
        raise refused(f"a media file is too large: {exc}") from None
    except TooManyMediaFiles:
        raise SyncRefused(
            413, "You have more media files than this server keeps; nothing was changed."
        ) from None
    return ok([upload.listed, usn])


def download_files(media: LearnerMedia, request: Any, max_bytes: int) -> bytes:
    """``downloadFiles``: a zip of the first files asked for, up to ``max_bytes`` of
    them (at least one). A name that is no current file is a 409, as on Anki's server
    (the protocol cannot say "skip this one")."""
    names = request.get("files") if isinstance(request, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SyncRefused(400, "downloadFiles needs a list of file names")
    if len(names) > MAX_FILES_PER_ZIP:
        raise SyncRefused(400, f"at most {MAX_FILES_PER_ZIP} files may be asked for at once")
    try:
        found = media.store.get_many(media.prefix, names, max_bytes=max_bytes)
    except MediaNotFound:
        raise SyncRefused(409, "a requested media file does not exist") from None
    return zip_for_download([(f.name, body) for f, body in found])


# -- zips --------------------------------------------------------------------------------


def zip_for_download(files: Sequence[tuple[str, bytes]]) -> bytes:
    """Entries ``0``, ``1``, ... (stored: pictures and sounds are compressed already)
    and ``_meta`` naming them."""
    buffer = io.BytesIO()
    meta: dict[str, str] = {}
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for number, (name, body) in enumerate(files):
            meta[str(number)] = name
            archive.writestr(str(number), body)
        archive.writestr(META, json.dumps(meta, ensure_ascii=False))
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class _Listed:
    name: str | None  # None: a deletion of a name no file here can have
    entry: str | None  # None: a deletion


@dataclass(frozen=True, slots=True)
class Upload:
    """An upload's changes in ``_meta``'s order, and how many ``_meta`` lists."""

    changes: list[tuple[str, bytes | None]]
    listed: int


def read_upload(data: bytes, max_file_bytes: int, max_total_bytes: int) -> Upload:
    """The changes an upload's zip holds, in ``_meta``'s order: ``(name, bytes)`` to
    add or replace, ``(name, None)`` to delete; ``SyncRefused(400)`` for anything a
    client would not send."""
    _check_entry_count(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, struct.error) as exc:
        raise refused(f"the upload is not a zip ({exc})") from None
    with archive:
        members = _members(archive)
        meta = members.get(META)
        if meta is None:
            raise refused("the upload has no _meta")
        listed = _parse_meta(_read_member(archive, meta, MAX_META_BYTES, MAX_META_BYTES))
        changes: list[tuple[str, bytes | None]] = []
        total = 0
        for item in listed:
            if item.name is None:
                continue
            if item.entry is None:
                changes.append((item.name, None))
                continue
            info = members.get(item.entry)
            if info is None or item.entry == META:
                raise refused(f"_meta names a file the zip does not have: {item.entry!r}")
            body = _read_member(archive, info, max_file_bytes, max_total_bytes - total)
            if not body:
                raise refused(f"the file for {item.name!r} is empty")
            total += len(body)
            changes.append((item.name, body))
        return Upload(changes, len(listed))


def _check_entry_count(data: bytes) -> None:
    """Refuse a zip declaring more entries than a client sends, before ``zipfile``
    builds its directory."""
    tail = data[-(_EOCD_SIZE + _MAX_COMMENT) :]
    at = tail.rfind(_EOCD)
    if at < 0 or at + _EOCD_SIZE > len(tail):
        raise refused("the upload is not a zip")
    (entries,) = struct.unpack_from("<H", tail, at + 10)
    if entries == 0xFFFF or entries > MAX_FILES_PER_ZIP + 1:
        raise refused(f"the upload holds more than {MAX_FILES_PER_ZIP} files")


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_FILES_PER_ZIP + 1:
        raise refused(f"the upload holds more than {MAX_FILES_PER_ZIP} files")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.orig_filename
        if (name != META and not _ENTRY_NAME.fullmatch(name)) or name in (".", ".."):
            raise refused(f"the upload has an entry a client does not write: {name!r}")
        if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
            raise refused(f"the upload has a folder or a link: {name!r}")
        if info.flag_bits & 0x1:
            raise refused(f"the upload has an encrypted entry: {name!r}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise refused(f"the upload's entry {name!r} uses an unknown compression")
        if name in members:
            raise refused(f"the upload has {name!r} twice")
        members[name] = info
    return members


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, left: int) -> bytes:
    """The entry's bytes, counted as they are read: never more than ``limit`` for the
    entry (the size its header declares is not trusted) nor ``left`` in all."""
    cap = min(limit, left)
    if info.file_size > cap:
        raise refused(_too_large(info.orig_filename, limit, left))
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(min(_CHUNK, cap + 1 - size)):
                size += len(chunk)
                if size > cap:
                    raise refused(_too_large(info.orig_filename, limit, left))
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error) as exc:
        raise refused(f"the upload's entry {info.orig_filename!r} is damaged ({exc})") from None
    return b"".join(chunks)


def _too_large(entry: str, limit: int, left: int) -> str:
    if left < limit:
        return f"the upload unpacks to more than this server takes at once ({entry!r})"
    return f"the upload's entry {entry!r} is larger than {limit} bytes"


def _parse_meta(raw: bytes) -> list[_Listed]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise refused("the upload's _meta is not JSON") from None
    if not isinstance(value, list):
        raise refused("the upload's _meta is not a list")
    if len(value) > MAX_FILES_PER_ZIP:
        raise refused(f"the upload holds more than {MAX_FILES_PER_ZIP} changes")
    listed: list[_Listed] = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not (item[1] is None or isinstance(item[1], str))
        ):
            raise refused(f"the upload's _meta has a malformed entry: {item!r}")
        name, entry = item[0], item[1] or None
        listed.append(_Listed(_checked_name(name, deletion=entry is None), entry))
    return listed


def _checked_name(name: str, *, deletion: bool) -> str | None:
    """``name`` if this store keeps a file under exactly that name. Refused as Anki's
    server refuses (too long, not NFC, a separator), and also when normalising would
    change it; but a deletion of such a name is None (no file here has that name, so
    there is nothing to delete)."""
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise refused(f"a file name is not valid Unicode: {name!r}") from None
    if len(encoded) > MAX_NAME_BYTES_SERVER:
        raise refused(f"a file name is too long: {len(encoded)} bytes")
    if not unicodedata.is_normalized("NFC", name):
        raise refused(f"a file name is not in NFC: {name!r}")
    try:
        normal = normalize_media_name(name)
    except MediaNameRefused as exc:
        raise refused(f"a file name was refused: {exc}") from None
    if normal != name:
        if deletion:
            return None
        raise refused(f"a file name is not as Anki stores it: {name!r} (Check Media fixes it)")
    return name
