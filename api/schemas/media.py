"""Bodies of the media routes."""

from __future__ import annotations

from pydantic import Field

from api.schemas.base import CamelIn, CamelModel
from storage.media import MediaFile


class MediaFileOut(CamelModel):
    name: str = Field(description="The stored name (normalised as Anki normalises names).")
    sha1: str
    size: int

    @classmethod
    def of(cls, stored: MediaFile) -> MediaFileOut:
        return cls(name=stored.name, sha1=stored.sha1, size=stored.size)


class MediaCheckIn(CamelIn):
    delete_unused: bool = Field(default=False, description="Delete the files no note uses.")


class MediaCheckOut(CamelModel):
    unused: list[str] = Field(description="Files no note or note type uses.")
    missing: list[str] = Field(description="Names notes use that are not stored.")
    deleted: list[str] = Field(description="The unused files deleted on request.")
