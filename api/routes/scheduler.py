"""The collection's scheduler: SM-2 or FSRS."""

from __future__ import annotations

import time

from fastapi import APIRouter

from api.deps import CollectionDep
from api.routes._responses import SIGNED_IN
from api.schemas.scheduler import SchedulerIn, SchedulerOut
from collection.fsrs_switch import fsrs_enabled, set_fsrs

router = APIRouter(prefix="/api/collection/scheduler", tags=["review"], responses=SIGNED_IN)


@router.get("")
def get_scheduler(collection: CollectionDep) -> SchedulerOut:
    return SchedulerOut(fsrs=collection.read(fsrs_enabled))


@router.put("")
def put_scheduler(body: SchedulerIn, collection: CollectionDep) -> SchedulerOut:
    """Turn FSRS on or off. Turning it on computes each answered card's memory state
    from its review history, as Anki's switch does; FSRS parameters are never trained
    here: they are the presets' own (trained in Anki desktop) or Anki's defaults.
    Turning it off clears the memory states."""
    now = time.time()
    return SchedulerOut(fsrs=collection.write(lambda conn: set_fsrs(conn, body.fsrs, now=now)))
