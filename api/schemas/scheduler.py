"""Bodies of the scheduler route."""

from __future__ import annotations

from pydantic import Field

from api.schemas.base import CamelIn, CamelModel

_FSRS = (
    "Whether the collection schedules with FSRS (true) or SM-2 (false); the switch is "
    "collection-wide, as in Anki."
)


class SchedulerOut(CamelModel):
    fsrs: bool = Field(description=_FSRS)


class SchedulerIn(CamelIn):
    fsrs: bool = Field(description=_FSRS)
