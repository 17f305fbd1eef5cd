"""Bodies of the note and note type routes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from api.schemas.base import AnkiId, CamelIn, CamelModel
from collection.fields import MAX_FIELD_CHARS
from collection.notes import NoteView
from collection.notetypes import NotetypeView

FieldValue = Annotated[str, Field(max_length=MAX_FIELD_CHARS)]
Tag = Annotated[str, Field(min_length=1, max_length=200)]


class TemplateOut(CamelModel):
    name: str
    question: str = Field(description="The question format, as in Anki's template editor.")
    answer: str = Field(description="The answer format.")


class NotetypeOut(CamelModel):
    id: int
    name: str
    kind: Literal["standard", "cloze"]
    fields: list[str]
    templates: list[TemplateOut]
    css: str

    @classmethod
    def of(cls, view: NotetypeView) -> NotetypeOut:
        return cls(
            id=view.notetype_id,
            name=view.name,
            kind=view.kind,
            fields=view.fields,
            templates=[
                TemplateOut(name=t.name, question=t.question, answer=t.answer)
                for t in view.templates
            ],
            css=view.css,
        )


class NoteCreate(CamelIn):
    note_type_id: AnkiId
    fields: dict[str, FieldValue] = Field(
        description="Field name -> value (HTML allowed); fields left out are empty."
    )
    deck_id: AnkiId | None = Field(default=None, description="Default: the current deck.")
    tags: list[Tag] = Field(default_factory=list, max_length=500)


class NoteUpdate(CamelIn):
    fields: dict[str, FieldValue] | None = Field(
        default=None, description="Only the fields to change, by name."
    )
    tags: list[Tag] | None = Field(
        default=None, max_length=500, description="The note's new tags (replacing them)."
    )


class NoteOut(CamelModel):
    note_id: int
    note_type_id: int
    note_type_name: str
    fields: dict[str, str]
    tags: list[str]
    card_ids: list[int]
    modified: int

    @classmethod
    def of(cls, view: NoteView) -> NoteOut:
        return cls(
            note_id=view.note_id,
            note_type_id=view.notetype_id,
            note_type_name=view.notetype_name,
            fields=view.fields,
            tags=view.tags,
            card_ids=view.card_ids,
            modified=view.modified,
        )
