"""Opening an uploaded package safely: which members it has, and its collection file.

Nothing is ever extracted by name: the zip's directory is checked first (member count
from the end record, before `zipfile` builds its index; only known member names;
no symlinks, directories, duplicates or encrypted entries), then the one collection
member is streamed into a private directory with every byte counted, through zstd for
the current format.

Media files are members `0`, `1`, ... named by the media list: a JSON map
`{"0": "name"}` in legacy packages (raw members), a zstd-compressed protobuf
`MediaEntries` in current ones (zstd-compressed members, the member number being the
entry's position in the list). When asked for, every listed file whose name is safe
(`collection.media.safe_media_name`) is streamed once through SHA-1 with its bytes
counted against the same per-member cap, so that a package whose media would exceed
the caps is refused before anything is stored; unsafe names, members that are missing
and second files under one name are skipped and counted. The files themselves are
read later, one at a time, by `open_media`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import IO, Final

import zstandard

from collection.apkg.protobuf import Message
from collection.errors import MalformedPackage, NotAPackage, PackageTooLarge, ProtobufError
from collection.media import safe_media_name

MiB: Final = 1024 * 1024

COLLECTION_ANKI2: Final = "collection.anki2"
COLLECTION_ANKI21: Final = "collection.anki21"
COLLECTION_ANKI21B: Final = "collection.anki21b"
MEDIA: Final = "media"
META: Final = "meta"
_KNOWN_MEMBERS: Final = frozenset(
    {COLLECTION_ANKI2, COLLECTION_ANKI21, COLLECTION_ANKI21B, MEDIA, META}
)
_MEDIA_MEMBER: Final = re.compile(r"[0-9]{1,9}")

_CHUNK: Final = 1 * MiB
_MAX_META_BYTES: Final = 1024
_MAX_MEDIA_LIST_BYTES: Final = 8 * MiB
# Anki compresses with zstd's default level, whose window is 2 MiB at most; refusing
# frames that ask for more than this keeps a hostile frame from reserving much memory.
_MAX_ZSTD_WINDOW: Final = 32 * MiB

_ZSTD_MAX_HEADER: Final = 18  # ZSTD_FRAMEHEADERSIZE_MAX
_EOCD: Final = b"PK\x05\x06"
_ZIP64_LOCATOR: Final = b"PK\x06\x07"
_ZIP64_EOCD: Final = b"PK\x06\x06"
_EOCD_SIZE: Final = 22
_MAX_COMMENT: Final = 65_535


@dataclass(frozen=True, slots=True)
class ImportLimits:
    """How much an upload may unpack to: bytes written or held for any one member
    (the collection, after zstd) and the number of zip entries."""

    max_bytes: int = 256 * MiB
    max_members: int = 100_000


class Version(IntEnum):
    """`PackageMetadata.Version` in Anki's import_export.proto."""

    LEGACY_1 = 1  # collection.anki2, schema 11
    LEGACY_2 = 2  # collection.anki21, schema 11
    LATEST = 3  # collection.anki21b: zstd, schema 18


_COLLECTION_MEMBER: Final = {
    Version.LEGACY_1: COLLECTION_ANKI2,
    Version.LEGACY_2: COLLECTION_ANKI21,
    Version.LATEST: COLLECTION_ANKI21B,
}


@dataclass(frozen=True, slots=True)
class MediaEntry:
    """A media file of the package, checked: its safe name, member, content hash, size."""

    name: str
    member: str
    sha1: str  # lowercase hex, of the content as read (not as the list declares it)
    size: int


@dataclass(frozen=True, slots=True)
class ExtractedPackage:
    collection: Path
    version: Version
    media: tuple[MediaEntry, ...]  # empty unless media were asked for
    media_listed: int  # entries in the package's media list
    media_skipped: int  # unsafe names, missing members, a name twice (when asked for)


def _declared_entry_count(fp: IO[bytes]) -> int:
    """The entry count from the end of central directory record (zip64 aware)."""
    fp.seek(0, 2)
    size = fp.tell()
    tail_start = max(0, size - _EOCD_SIZE - _MAX_COMMENT)
    fp.seek(tail_start)
    tail = fp.read()
    at = tail.rfind(_EOCD)
    if at < 0 or at + _EOCD_SIZE > len(tail):
        raise NotAPackage("This file is not an Anki package (.apkg or .colpkg): it is not a zip.")
    (entries,) = struct.unpack_from("<H", tail, at + 10)
    locator_at = at - 20
    if locator_at >= 0 and tail[locator_at : locator_at + 4] == _ZIP64_LOCATOR:
        (zip64_offset,) = struct.unpack_from("<Q", tail, locator_at + 8)
        if zip64_offset + 56 > size:
            raise MalformedPackage("The package's zip directory is damaged.")
        fp.seek(zip64_offset)
        record = fp.read(56)
        if record[:4] != _ZIP64_EOCD:
            raise MalformedPackage("The package's zip directory is damaged.")
        (entries,) = struct.unpack_from("<Q", record, 32)
    return int(entries)


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename
    if info.orig_filename != name or "\x00" in info.orig_filename:
        raise MalformedPackage("The package has a file whose name contains a NUL character.")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise MalformedPackage(f"The package has a file with an absolute path ({name!r}).")
    if ".." in re.split(r"[/\\]", name):
        raise MalformedPackage(f"The package has a file whose path leaves the package ({name!r}).")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise MalformedPackage(f"The package has a symbolic link ({name!r}).")
    if info.is_dir():
        raise MalformedPackage(f"The package has a folder ({name!r}); Anki packages have none.")
    if name not in _KNOWN_MEMBERS and not _MEDIA_MEMBER.fullmatch(name):
        raise MalformedPackage(f"The package has a file Anki packages do not have ({name!r}).")
    if info.flag_bits & 0x1:
        raise MalformedPackage(f"The package has an encrypted file ({name!r}).")


def _members(archive: zipfile.ZipFile, limits: ImportLimits) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise PackageTooLarge(
            f"The package holds {len(infos)} files; the limit is {limits.max_members}."
        )
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        _check_member(info)
        if info.filename in members:
            raise MalformedPackage(f"The package has {info.filename!r} twice.")
        members[info.filename] = info
    return members


@contextmanager
def _open_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int
) -> Iterator[IO[bytes]]:
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise MalformedPackage(
            f"{info.filename!r} in the package uses a compression Anki does not write."
        )
    if info.file_size > limit or info.compress_size > limit:
        raise PackageTooLarge(
            f"{info.filename!r} in the package unpacks to {info.file_size} bytes;"
            f" the limit is {limit}."
        )
    try:
        member = archive.open(info)
    except OSError as exc:  # e.g. a local header offset that points outside the file
        raise MalformedPackage(f"The package's zip structure is damaged ({exc}).") from exc
    with member:
        yield member


def _copy_counted(source: IO[bytes], target: IO[bytes], limit: int, what: str) -> int:
    written = 0
    while chunk := source.read(_CHUNK):
        written += len(chunk)
        if written > limit:
            raise PackageTooLarge(f"{what} in the package unpacks to more than {limit} bytes.")
        target.write(chunk)
    return written


def _read_small(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    out = io.BytesIO()
    with _open_member(archive, info, limit) as member:
        _copy_counted(member, out, limit, repr(info.filename))
    return out.getvalue()


def _zstd_reader(source: IO[bytes]) -> zstandard.ZstdDecompressionReader:
    decompressor = zstandard.ZstdDecompressor(max_window_size=_MAX_ZSTD_WINDOW)
    return decompressor.stream_reader(source, read_size=_CHUNK, read_across_frames=True)


def _check_zstd_header(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str = "collection"
) -> None:
    """Refuse a frame that declares more than `limit` bytes before decompressing any."""
    with _open_member(archive, info, limit) as member:
        header = member.read(_ZSTD_MAX_HEADER)
    try:
        params = zstandard.get_frame_parameters(header)
    except zstandard.ZstdError as exc:
        raise MalformedPackage(f"The package's {what} is not zstd data ({exc}).") from exc
    if params.content_size != zstandard.CONTENTSIZE_UNKNOWN and params.content_size > limit:
        raise PackageTooLarge(
            f"The {what} in the package unpacks to {params.content_size} bytes;"
            f" the limit is {limit}."
        )
    if params.window_size > _MAX_ZSTD_WINDOW:
        raise MalformedPackage(f"The package's {what} asks for an unusually large zstd window.")


def _read_zstd_small(data: bytes, limit: int, what: str) -> bytes:
    out = io.BytesIO()
    with _zstd_reader(io.BytesIO(data)) as reader:
        _copy_counted(reader, out, limit, what)
    return out.getvalue()


def _version(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> Version:
    meta = members.get(META)
    if meta is None:
        # Packages from before Anki 2.1.50 have no meta; as Anki, read anki21 if present.
        if COLLECTION_ANKI21 in members:
            return Version.LEGACY_2
        if COLLECTION_ANKI2 in members:
            return Version.LEGACY_1
        if COLLECTION_ANKI21B in members:
            return Version.LATEST
        raise NotAPackage("This zip file has no Anki collection in it.")
    try:
        number = Message(_read_small(archive, meta, _MAX_META_BYTES)).uint(1)
    except ProtobufError as exc:
        raise MalformedPackage(f"The package's meta file is damaged ({exc}).") from exc
    try:
        return Version(number)
    except ValueError:
        raise MalformedPackage(
            f"The package declares format version {number}, which this server does not know;"
            " export it again with the legacy format option."
        ) from None


def _media_list(
    archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], version: Version
) -> list[tuple[str, str | None]]:
    """The media list as (member, name) pairs, after checking that it is well formed;
    the member is None for a legacy key that names no member."""
    info = members.get(MEDIA)
    if info is None:
        return []
    raw = _read_small(archive, info, _MAX_MEDIA_LIST_BYTES)
    listed: list[tuple[str, str | None]] = []
    try:
        if version is Version.LATEST:
            entries = Message(_read_zstd_small(raw, _MAX_MEDIA_LIST_BYTES, "The media list"))
            for index, entry in enumerate(entries.messages(1)):
                listed.append((entry.string(1), str(index)))
        else:
            mapping = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            if not isinstance(mapping, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
            ):
                raise ValueError("not a map of file names")
            for key, name in mapping.items():
                member = str(int(key)) if _MEDIA_MEMBER.fullmatch(key) else None
                listed.append((name, member))
    except (ProtobufError, zstandard.ZstdError, ValueError, RecursionError) as exc:
        raise MalformedPackage(f"The package's media list is damaged ({exc}).") from exc
    return listed


@contextmanager
def _media_stream(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, version: Version, limit: int
) -> Iterator[IO[bytes]]:
    """A media member's content: raw in legacy packages, through zstd in current ones."""
    if version is Version.LATEST and info.file_size:
        _check_zstd_header(archive, info, limit, f"media file {info.filename!r}")
    with _open_member(archive, info, limit) as member:
        if version is Version.LATEST and info.file_size:
            with _zstd_reader(member) as reader:
                yield reader
        else:
            yield member


def _hash_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, version: Version, limit: int
) -> tuple[str, int]:
    digest = hashlib.sha1(usedforsecurity=False)
    size = 0
    with _media_stream(archive, info, version, limit) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise PackageTooLarge(
                    f"The media file {info.filename!r} in the package unpacks to more than"
                    f" {limit} bytes."
                )
            digest.update(chunk)
    return digest.hexdigest(), size


def _check_media(
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    version: Version,
    listed: list[tuple[str, str | None]],
    limits: ImportLimits,
) -> tuple[tuple[MediaEntry, ...], int]:
    """The package's usable media files (each read once, hashed and counted), and how
    many listed files were skipped."""
    entries: list[MediaEntry] = []
    names: set[str] = set()
    skipped = 0
    for raw_name, member in sorted(listed, key=lambda e: (e[1] is None, int(e[1] or 0))):
        name = safe_media_name(raw_name)
        info = None if member is None else members.get(member)
        if name is None or info is None or name in names:
            skipped += 1
            continue
        names.add(name)
        sha1, size = _hash_member(archive, info, version, limits.max_bytes)
        entries.append(MediaEntry(name, info.filename, sha1, size))
    return tuple(entries), skipped


def extract_package(
    package: Path, directory: Path, limits: ImportLimits, *, media: bool = False
) -> ExtractedPackage:
    """Check `package` and write its collection database into `directory` (private,
    created by the caller), as `directory/collection.db`. With `media`, also check and
    hash every media file the package lists (read them with `open_media`)."""
    try:
        with open(package, "rb") as fp:
            entries = _declared_entry_count(fp)
            if entries > limits.max_members:
                raise PackageTooLarge(
                    f"The package holds {entries} files; the limit is {limits.max_members}."
                )
            fp.seek(0)
            with zipfile.ZipFile(fp) as archive:
                return _extract(archive, directory, limits, media)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        zlib.error,
        struct.error,
        NotImplementedError,  # features zipfile lacks: other versions, strong encryption
    ) as exc:
        raise MalformedPackage(f"The package's zip structure is damaged ({exc}).") from exc
    except zstandard.ZstdError as exc:
        raise MalformedPackage(f"The package's collection or media are damaged ({exc}).") from exc


def _extract(
    archive: zipfile.ZipFile, directory: Path, limits: ImportLimits, media: bool
) -> ExtractedPackage:
    members = _members(archive, limits)
    version = _version(archive, members)
    name = _COLLECTION_MEMBER[version]
    info = members.get(name)
    if info is None:
        raise NotAPackage(f"This package has no {name} (its collection) in it.")
    listed = _media_list(archive, members, version)

    if version is Version.LATEST:
        _check_zstd_header(archive, info, limits.max_bytes)
    target = directory / "collection.db"
    with _open_member(archive, info, limits.max_bytes) as member:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            if version is Version.LATEST:
                with _zstd_reader(member) as reader:
                    _copy_counted(reader, out, limits.max_bytes, "The collection")
            else:
                _copy_counted(member, out, limits.max_bytes, "The collection")
    if not media:
        return ExtractedPackage(target, version, (), len(listed), len(listed))
    entries, skipped = _check_media(archive, members, version, listed, limits)
    return ExtractedPackage(target, version, entries, len(listed), skipped)


MediaReader = Callable[[MediaEntry], bytes]


@contextmanager
def open_media(package: Path, version: Version, limits: ImportLimits) -> Iterator[MediaReader]:
    """A reader of the media files `extract_package` checked in `package`: each call
    returns one file's content, read from the package then, within the same cap and
    with the same SHA-1 as when it was checked."""
    try:
        with open(package, "rb") as fp, zipfile.ZipFile(fp) as archive:

            def read(entry: MediaEntry) -> bytes:
                info = archive.getinfo(entry.member)
                out = io.BytesIO()
                with _media_stream(archive, info, version, limits.max_bytes) as stream:
                    _copy_counted(stream, out, limits.max_bytes, repr(entry.member))
                data = out.getvalue()
                if hashlib.sha1(data, usedforsecurity=False).hexdigest() != entry.sha1:
                    raise MalformedPackage(f"The media file {entry.name!r} changed while read.")
                return data

            yield read
    except (zipfile.BadZipFile, KeyError, EOFError, zlib.error, zstandard.ZstdError) as exc:
        raise MalformedPackage(f"The package's media are damaged ({exc}).") from exc
