"""Study sessions: honest no-ops for the Javumbo web client.

The original backend held a learner's collection open between requests and wrote it
back on "flush". Here every write is durable before its answer is sent, so there is
nothing to hold or flush: start hands out an opaque id, flush succeeds, and status
says no session is open. The client keeps working unchanged, and loses nothing when a
tab closes without flushing.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Body

from api.deps import CurrentUser
from api.routes._responses import SIGNED_IN
from api.schemas.session import SessionFlushIn, SessionFlushOut, SessionStartOut, SessionStatusOut

router = APIRouter(prefix="/api/session", tags=["session"], responses=SIGNED_IN)

_NO_OP = " Every write is already durable when it returns, so this changes nothing."


@router.post("/start", description="Start a study session: returns an opaque id." + _NO_OP)
def start_session(_: CurrentUser) -> SessionStartOut:
    return SessionStartOut(session_id=secrets.token_urlsafe(16))


@router.post("/flush", description="Flush a study session (body optional)." + _NO_OP)
def flush_session(
    _: CurrentUser, body: Annotated[SessionFlushIn | None, Body()] = None
) -> SessionFlushOut:
    return SessionFlushOut()


@router.get("/status", description="Whether a study session is held: never." + _NO_OP)
def session_status(_: CurrentUser) -> SessionStatusOut:
    return SessionStatusOut()
