"""The object-store contract shared by S3 and the local directory backend.

Both implementations give the same answers for the same calls, so the session code
above them is identical on both backends and one contract test suite covers both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

# The contract's exceptions; every storage exception is defined in storage.errors.
from storage.errors import ObjectNotFound, PreconditionFailed, StorageError, StoreUnavailable


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a HEAD tells: the current ETag (quoted, as S3 sends it), size and SHA-256.

    ``sha256`` is the hex digest ``put`` recorded for the body (None for objects
    written by something else); it lets a writer recognise its own write.
    """

    etag: str
    size: int
    sha256: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object's bytes with the ETag and metadata they were stored under."""

    body: bytes
    etag: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One object a listing found: its key, size and when it was last written."""

    key: str
    size: int
    last_modified: float  # seconds since the epoch


# A sentinel result of a conditional GET whose ETag still matches.
@dataclass(frozen=True, slots=True)
class NotModified:
    etag: str


# Value for ``put(..., if_none_match=...)``: only create, never overwrite.
ANY_ETAG = "*"


def normalise_etag(etag: str) -> str:
    """ETags compare without their quotes and without a weak prefix."""
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


class ObjectStore(Protocol):
    """A key/value store of whole objects with S3's conditional-request semantics."""

    def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject | NotModified:
        """Return the object, or ``NotModified`` when its ETag equals ``if_none_match``.

        Raises ``ObjectNotFound`` when the key does not exist.
        """
        ...

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store ``body`` (recording its SHA-256) and return its new ETag.

        ``metadata``: short lower-case ASCII names and values kept with this version
        of the object (S3's user metadata) and returned by ``get`` and ``head``.

        ``if_match``: only if the current ETag equals it; ``if_none_match=ANY_ETAG``:
        only if the key does not exist. A refused condition raises
        ``PreconditionFailed``; ``if_match`` on a missing key raises ``ObjectNotFound``.
        """
        ...

    def head(self, key: str) -> ObjectInfo:
        """Return the current ETag and size; raises ``ObjectNotFound``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the key; deleting a missing key is not an error."""
        ...

    def list(self, prefix: str) -> list[ListedObject]:
        """The objects directly under ``prefix`` (which ends with ``/``), in key order.

        Keys further down (``prefix`` + ``a/b``) are not listed.
        """
        ...


__all__ = [
    "ANY_ETAG",
    "ListedObject",
    "NotModified",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "PreconditionFailed",
    "StorageError",
    "StoreUnavailable",
    "StoredObject",
    "normalise_etag",
]
