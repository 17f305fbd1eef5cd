"""The signed-in learner's media files: where they live, and how cards point at them.

Each learner's files are under ``user_media/{learner}/`` (storage/media.py lays out
the index and content objects beneath). ``LearnerMedia`` is the media store seen from
one learner: what a package import writes to and an export reads from, and what the
media routes serve. Rendered cards point their pictures and sounds at
``/api/media/{name}?t={token}``: a browser fetches an `<img>` without the bearer
header, so the link carries a media token, which opens that learner's files only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from api.core.names import PREFIX_MEDIA
from collection import render
from collection.card_faces import CardFace
from storage.errors import MediaNameRefused, MediaNotFound
from storage.media import MediaFile, MediaStore, content_type, normalize_media_name
from storage.transfers import learner_segment

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

# Files stored per call during an import: bounds the bytes held in memory at once.
_IMPORT_BATCH_BYTES: Final = 32 * 1024 * 1024
MEDIA_ROUTE: Final = "/api/media/"


def media_prefix(username: str) -> str:
    """``user_media/{learner}/``: one segment per learner, no two learners alike."""
    return f"{PREFIX_MEDIA}{learner_segment(username)}/"


def s3_presigner(
    client: S3Client, bucket: str, *, expires_in: int = 300
) -> Callable[[str, str], str]:
    """Presigned GETs that answer with the file's type, shown inline under its name."""

    def presign(key: str, name: str) -> str:
        return str(
            client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": bucket,
                    "Key": key,
                    "ResponseContentType": content_type(name),
                    "ResponseContentDisposition": f"inline; filename*=UTF-8''{quote(name)}",
                },
                ExpiresIn=expires_in,
            )
        )

    return presign


@dataclass(frozen=True, slots=True)
class MediaCheck:
    """What Anki's "Check Media" reports: files no note uses, and names notes use that
    are not stored; `deleted` are the unused ones removed on request."""

    unused: list[str]
    missing: list[str]
    deleted: list[str]


class LearnerMedia:
    """One learner's media files (a `MediaSink` and `MediaSource` for packages)."""

    def __init__(self, store: MediaStore, username: str) -> None:
        self.store = store
        self.prefix = media_prefix(username)
        self._sha1s: dict[str, str] | None = None

    # -- packages

    def sha1_of(self, name: str) -> str | None:
        if self._sha1s is None:  # one index read for a whole import
            self._sha1s = {f.name: f.sha1 for f in self.store.files(self.prefix)}
        try:
            return self._sha1s.get(normalize_media_name(name))
        except MediaNameRefused:
            return None

    def add_many(self, files: Iterable[tuple[str, bytes]]) -> None:
        self._sha1s = None
        for batch in _batches(files, _IMPORT_BATCH_BYTES):
            self.store.add_many(self.prefix, batch)

    def read(self, name: str) -> bytes | None:
        try:
            return self.store.get(self.prefix, name)[1]
        except (MediaNotFound, MediaNameRefused):
            return None

    # -- the routes

    def files(self) -> list[MediaFile]:
        return self.store.files(self.prefix)

    def get(self, name: str) -> tuple[MediaFile, bytes]:
        return self.store.get(self.prefix, name)

    def fetch(self, name: str, *, url_above: int) -> tuple[MediaFile, bytes | None, str | None]:
        return self.store.fetch(self.prefix, name, url_above=url_above)

    def add(self, name: str, data: bytes) -> MediaFile:
        return self.store.add(self.prefix, name, data)

    def delete(self, names: Iterable[str]) -> list[str]:
        return self.store.delete(self.prefix, names)

    def check(self, used: set[str], *, delete_unused: bool) -> MediaCheck:
        """Compare the stored files with the names the collection uses (`used`, from
        `collection_media_references`); with `delete_unused`, delete the files
        nothing uses, and sweep away their bytes."""
        stored = {f.name for f in self.files()}
        unused = sorted(stored - used)
        missing = sorted(used - stored)
        deleted = self.delete(unused) if delete_unused and unused else []
        if deleted:
            self.store.sweep(self.prefix)
        return MediaCheck(unused=unused, missing=missing, deleted=sorted(deleted))


def _batches(files: Iterable[tuple[str, bytes]], limit: int) -> Iterator[list[tuple[str, bytes]]]:
    batch: list[tuple[str, bytes]] = []
    size = 0
    for name, data in files:
        batch.append((name, data))
        size += len(data)
        if size >= limit:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def media_url(name: str, token: str) -> str:
    """Where a browser fetches the learner's file `name` (relative to the API)."""
    return f"{MEDIA_ROUTE}{quote(name, safe='')}?t={token}"


@dataclass(frozen=True, slots=True)
class WebCard:
    """A rendered card as a browser shows it: media at their URLs, sounds playable."""

    question: str
    answer: str
    css: str


def web_card(face: CardFace, token: str) -> WebCard:
    def url_of(name: str) -> str:
        return media_url(name, token)

    rendered = face.rendered
    sounds = (rendered.question_sounds, rendered.answer_sounds)
    return WebCard(
        question=render.web_side(rendered.question, *sounds, url_of),
        answer=render.web_side(rendered.answer, *sounds, url_of),
        css=render.web_css(rendered.css, url_of),
    )
