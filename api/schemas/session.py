"""Bodies of the study-session routes (kept for the Javumbo web client; see the router)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

SessionId = Annotated[str, Field(max_length=128)]


class SessionStartOut(BaseModel):
    session_id: str = Field(description="An opaque id; nothing is held under it.")


class SessionFlushIn(BaseModel):
    model_config = ConfigDict(strict=True)

    session_id: SessionId | None = None


class SessionFlushOut(BaseModel):
    success: bool = True


class SessionStatusOut(BaseModel):
    has_session: bool = False
    session_id: str | None = None
