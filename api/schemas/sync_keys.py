"""The learner's sync logins (host keys of Anki clients)."""

from __future__ import annotations

from pydantic import Field

from api.schemas.base import CamelModel


class SyncKeyOut(CamelModel):
    id: str = Field(description="The start of the key's hash: what DELETE takes.")
    device: str = Field(description="The client version the device named when it logged in.")
    created: int = Field(description="When the device logged in (epoch seconds).")
    last_used: int = Field(description="When it last synced, to the minute (epoch seconds).")
