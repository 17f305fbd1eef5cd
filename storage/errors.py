"""Every exception the storage package raises, in one place.

The hierarchy, what each exception means, and what a caller should do::

    StorageError            base class: anything below failed in storage
    ├── ObjectNotFound      the key does not exist. The caller decides what absence
    │                       means (create the object, or answer 404).
    ├── PreconditionFailed  a conditional write was refused: the object changed
    │                       (``If-Match``) or already exists (``If-None-Match: *``)
    │                       since it was read. Reload and apply again;
    │                       ``S3SQLiteSession.write`` does this itself, so only direct
    │                       users of an ``ObjectStore`` see it.
    ├── StoreUnavailable    the store failed or could not be reached (an error status,
    │                       throttling, a timeout, a dropped connection). Nothing was
    │                       changed (a session checks a write whose outcome is unknown
    │                       before raising this); try again later (HTTP 503).
    ├── WriteConflict       other writers won every attempt of
    │                       ``S3SQLiteSession.write`` (or of a ``MediaStore`` index
    │                       change); the change was not applied. Try again (HTTP 409).
    ├── CorruptDatabase     the stored object is not a SQLite database, or fails
    │                       ``PRAGMA quick_check``. Nothing will overwrite it; report
    │                       it (HTTP 500) so that an operator restores an earlier
    │                       version.
    ├── ObjectExists        ``S3SQLiteSession.create`` found the object already there
    │                       and left it untouched. Use the one that exists.
    ├── TooLarge            an object is bigger than the caller allows (a download
    │   │                   past its ``max_bytes``). Refuse it (HTTP 413).
    │   └── MediaTooLarge   a media file is bigger than ``MediaLimits.max_file_bytes``
    │                       (storage/media.py); nothing was stored. HTTP 413.
    ├── MediaNotFound       (an ObjectNotFound) the learner has no media file of that
    │                       name. HTTP 404.
    ├── MediaNameRefused    (also a ValueError) a media file name that is empty, ``.``
    │                       or ``..``, holds a path separator or NUL, is not valid
    │                       Unicode, or is left empty by normalisation; nothing was
    │                       stored. HTTP 400.
    ├── TooManyMediaFiles   storing the files would take the learner past
    │                       ``MediaLimits.max_files``; nothing was stored. HTTP 413.
    └── CorruptMediaIndex   a learner's media index is not the JSON storage/media.py
                            writes. Nothing will overwrite it; report it (HTTP 500).

    DiskTrouble             not a StorageError, and never raised to callers: the local
                            disk failed (full, I/O error) under the session, which
                            then works in memory instead.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every storage failure."""


class ObjectNotFound(StorageError):
    """The key does not exist."""


class PreconditionFailed(StorageError):
    """A conditional write was refused: the object changed (or exists) since it was read.

    S3 answers 412 Precondition Failed, or 409 ConditionalRequestConflict when two
    conditional writes race; both mean "someone else wrote first".
    """


class StoreUnavailable(StorageError):
    """The store failed or could not be reached; the operation may be retried later."""


class WriteConflict(StorageError):
    """Other writers kept winning; the change was not applied. Try again."""


class CorruptDatabase(StorageError):
    """The stored object is not a sound SQLite database. Nothing will overwrite it."""


class ObjectExists(StorageError):
    """``create`` found the object already there and left it untouched."""


class TooLarge(StorageError):
    """The object is bigger than the caller allows."""


class MediaTooLarge(TooLarge):
    """A media file is bigger than the learner's limit; nothing was stored."""


class MediaNotFound(ObjectNotFound):
    """The learner has no media file of that name."""


class MediaNameRefused(StorageError, ValueError):
    """A media file name that can never be stored (see ``normalize_media_name``)."""


class TooManyMediaFiles(StorageError):
    """Storing the files would exceed the learner's file count; nothing was stored."""


class CorruptMediaIndex(StorageError):
    """A media index that is not what storage/media.py writes."""


class DiskTrouble(Exception):
    """The local disk failed us (full, I/O error): work in memory instead."""


__all__ = [
    "CorruptDatabase",
    "CorruptMediaIndex",
    "DiskTrouble",
    "MediaNameRefused",
    "MediaNotFound",
    "MediaTooLarge",
    "ObjectExists",
    "ObjectNotFound",
    "PreconditionFailed",
    "StorageError",
    "StoreUnavailable",
    "TooLarge",
    "TooManyMediaFiles",
    "WriteConflict",
]
