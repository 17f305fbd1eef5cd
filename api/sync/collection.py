"""The sync calls that read or replace a learner's whole collection: meta, full
download and full upload, on the learner's ``UserCollection``."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Final

from api.media import media_prefix
from api.sync.envelope import compress
from api.user_collection import UserCollection
from collection.sync.meta import bump_usn, collection_stamps
from storage.media import MediaStore

META_VERSION_MIN: Final = 8
META_VERSION_MAX: Final = 11

# Said when a collection is too large to cross the platform's payload limit.
MOVE_WITH_COLPKG: Final = (
    "Your collection is {size:.2f} MB compressed, more than the {limit:.2f} MB a sync "
    "with this server can carry. To bring it to Javumbo, export it in Anki (File > "
    "Export, 'Anki Collection Package (.colpkg)' with scheduling information) and import "
    "that file in the Javumbo web app; then sync this device again and choose "
    "'download'."
)
# Said when a download is too large for one answer and no CDN is configured for it.
DOWNLOAD_TOO_LARGE: Final = (
    "Your collection is {size:.2f} MB compressed, more than the {limit:.2f} MB this "
    "server sends in one answer, and it has no download address for larger ones "
    "(JAVUMBO_SYNC_DOWNLOAD_URL). Export it from the Javumbo web app instead and import "
    "the file in Anki."
)


def too_large_message(size: int, limit: int) -> str:
    return MOVE_WITH_COLPKG.format(size=size / 1_000_000, limit=limit / 1_000_000)


def meta(collection: UserCollection, media: MediaStore, *, now: float | None = None) -> Any:
    """``meta``'s answer: the collection's stamps, the server's clock, the media usn."""
    stamps = collection.read(collection_stamps)
    media_usn, _ = media.changes_since(media_prefix(collection.username), 0)
    return {
        "mod": stamps.modified,
        "scm": stamps.schema,
        "usn": stamps.usn,
        "ts": int(time.time() if now is None else now),
        "msg": "",
        "cont": True,
        "hostNum": 0,
        "empty": stamps.empty,
        "media_usn": media_usn,
    }


class DownloadTooLarge(Exception):
    """The compressed collection passes the download limit; nothing was changed."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


@dataclass(frozen=True, slots=True)
class Download:
    compressed: bytes
    original_size: int


def download_too_large_message(size: int, limit: int) -> str:
    return DOWNLOAD_TOO_LARGE.format(size=size / 1_000_000, limit=limit / 1_000_000)


def download(collection: UserCollection, limit: int | None) -> Download:
    """The collection file, zstd-compressed, after bumping its usn as Anki's server
    does, in one conditional write; ``DownloadTooLarge`` (and no write) past ``limit``
    (None: any size)."""

    def bump_and_copy(conn: sqlite3.Connection) -> Download:
        bump_usn(conn)
        data = conn.serialize()
        compressed = compress(data)
        if limit is not None and len(compressed) > limit:
            raise DownloadTooLarge(len(compressed))  # rolls the bump back
        return Download(compressed, len(data))

    return collection.write(bump_and_copy)


def upload(collection: UserCollection, data: bytes) -> None:
    """Make the uploaded schema-18 collection the learner's, as schema 11;
    ``UploadRefused`` leaves it untouched."""
    # The converter reads protobuf with the package code: loaded on first upload only.
    from collection.sync.full import schema11_from_upload

    converted = schema11_from_upload(data)
    collection.ensure_exists()
    collection.session.replace(collection.key, converted)
