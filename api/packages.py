"""Exporting and importing a learner's Anki packages, without HTTP.

The router (api/routes/packages.py) receives uploads and maps these results to
responses; everything here works on files and the learner's collection, so it is
tested directly. Temporary files are private (mode 0600) and always removed.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from api.errors import UploadNotFound
from api.user_collection import UserCollection
from collection.decks import get_deck
from collection.errors import PackageTooLarge
from storage.errors import ObjectNotFound, TooLarge
from storage.transfers import PackageTransfers

if TYPE_CHECKING:
    from collection.apkg import ImportSummary
    from collection.media import MediaSink, MediaSource


def private_file(suffix: str) -> Path:
    """A new empty file only this process's user can read, for the caller to remove."""
    fd, name = tempfile.mkstemp(prefix="javumbo-", suffix=suffix)
    os.close(fd)
    return Path(name)


@contextmanager
def scratch_file(suffix: str) -> Iterator[Path]:
    """A private file removed when the block ends, however it ends."""
    path = private_file(suffix)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class ExportedPackage:
    """An `.apkg` on local disk (the caller removes it) and the name to save it under."""

    path: Path
    filename: str


def export_package_file(
    collection: UserCollection,
    deck_id: int | None,
    *,
    now: float,
    media: MediaSource | None = None,
) -> ExportedPackage:
    """The collection, or one deck and its subdecks, as an `.apkg` file, with the media
    files its notes use (read from `media`).

    Only the snapshot is taken under the collection's lock: writers wait for that copy,
    not for the pruning and zipping. Raises DeckNotFound for a deck not in it.
    """
    # Imported here, not at the top: most Lambda cold starts never export or import.
    from collection.apkg import export_filename, export_package

    package = private_file(".apkg")
    try:
        with scratch_file(".anki2") as snapshot:

            def take_snapshot(conn: sqlite3.Connection) -> None:
                with closing(sqlite3.connect(snapshot)) as target:
                    conn.backup(target)

            collection.read(take_snapshot)
            with closing(sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)) as conn:
                deck_name = get_deck(conn, deck_id).name if deck_id is not None else None
                export_package(conn, package, deck_id=deck_id, now=now, media=media)
    except BaseException:
        package.unlink(missing_ok=True)
        raise
    return ExportedPackage(package, export_filename(deck_name, now))


def publish_if_large(
    exported: ExportedPackage,
    username: str,
    transfers: PackageTransfers | None,
    *,
    redirect_bytes: int,
) -> str | None:
    """A presigned download URL when the package is too large to answer directly (AWS).

    When a URL is returned the local file is already removed; otherwise the caller
    sends the file and removes it.
    """
    if transfers is None or exported.path.stat().st_size <= redirect_bytes:
        return None
    try:
        return transfers.publish_export(username, exported.path, exported.filename)
    finally:
        exported.path.unlink(missing_ok=True)


def import_package_file(
    collection: UserCollection,
    package: Path,
    *,
    max_bytes: int,
    now: float,
    media: MediaSink | None = None,
) -> ImportSummary:
    """Merge an `.apkg`/`.colpkg` into the collection, in one write; its media files go
    to `media` first (stored files a failed import leaves unused cost nothing but
    space, and "Check Media" finds them)."""
    from collection.apkg import ImportLimits, import_package

    limits = ImportLimits(max_bytes=max_bytes)
    return collection.write(
        lambda conn: import_package(conn, package, now=now, limits=limits, media=media)
    )


def check_upload_key(username: str, key: str) -> None:
    """UploadNotFound unless ``key`` names an upload of this learner's."""
    if not PackageTransfers.owns(username, key):
        raise UploadNotFound("No upload of yours has that key; it may have expired.")


def import_upload(
    collection: UserCollection,
    transfers: PackageTransfers,
    key: str,
    *,
    max_bytes: int,
    now: float,
    media: MediaSink | None = None,
) -> ImportSummary:
    """Import a package uploaded to a presigned URL, then delete the upload.

    The upload is kept when the import fails, so that a retry can use it (it expires
    with its prefix's lifecycle rule).
    """
    check_upload_key(collection.username, key)
    with scratch_file(".apkg") as package:
        try:
            transfers.download(key, package, max_bytes=max_bytes)
        except TooLarge:
            raise PackageTooLarge(f"The package is larger than {max_bytes >> 20} MiB.") from None
        except ObjectNotFound:
            raise UploadNotFound("No upload of yours has that key; it may have expired.") from None
        summary = import_package_file(
            collection, package, max_bytes=max_bytes, now=now, media=media
        )
    transfers.delete(key)
    return summary
