"""Bodies of the package (import/export) routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from api.schemas.base import CamelIn, CamelModel

if TYPE_CHECKING:  # the package code loads only when a package is imported or exported
    from collection.apkg import ImportSummary


class ImportFromUpload(CamelIn):
    key: str = Field(max_length=256, description="The key from POST /api/import/upload-url")


class UploadUrlOut(CamelModel):
    url: str
    key: str
    method: str = "PUT"
    expires_in: int = Field(description="Seconds the URL stays valid")


class ImportSummaryOut(CamelModel):
    notes_added: int
    notes_updated: int
    notes_skipped: int
    cards_added: int
    decks_added: int
    note_types_added: int
    revlog_added: int
    media_files_added: int = Field(description="Media files stored (new or changed).")
    media_files_skipped: int = Field(
        description="Media files not stored: an unsafe name, or missing from the package."
    )

    @classmethod
    def of(cls, summary: ImportSummary) -> ImportSummaryOut:
        return cls(
            notes_added=summary.notes_added,
            notes_updated=summary.notes_updated,
            notes_skipped=summary.notes_skipped,
            cards_added=summary.cards_added,
            decks_added=summary.decks_added,
            note_types_added=summary.note_types_added,
            revlog_added=summary.revlog_added,
            media_files_added=summary.media_files_added,
            media_files_skipped=summary.media_files_skipped,
        )
