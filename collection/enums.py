"""Anki's numeric codes, defined once for the whole package.

What the integers in `cards.type`, `cards.queue`, `revlog.type`, `graves.type` and a
note type's `type` mean, and the `usn` a client gives a change it has not synced yet.
Names follow Anki's own (rslib `CardType`, `CardQueue`, `RevlogReviewKind`, the grave
kinds, `NotetypeKind`, `OriginalStockKind`); values are what a schema-11 collection stores.

Members are ints: they bind as SQL parameters and, interpolated into SQL text with an
f-string, read as their value (`f"queue = {CardQueue.SUSPENDED}"` is `queue = -1`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

LOCAL_USN: Final = -1
"""A client's "changed here, not synced yet" (Anki's `Usn(-1)`). Never written by this
package, which writes as a server (`collection.col.server_usn`); only looked for, by
`collection.usn.normalise_usns`, in collections written before that rule."""


class CardType(IntEnum):
    """`cards.type`: where the card is in its life, whatever queue it sits in."""

    NEW = 0
    LEARN = 1
    REVIEW = 2
    RELEARN = 3


class CardQueue(IntEnum):
    """`cards.queue`: where the scheduler looks for the card; negative means hidden."""

    SUSPENDED = -1
    SCHED_BURIED = -2
    """Buried by the scheduler with a sibling that was answered."""
    USER_BURIED = -3
    """Buried by the learner."""
    NEW = 0
    """`due` is the new-card position."""
    LEARN = 1
    """Intraday (re)learning: `due` is epoch seconds."""
    REVIEW = 2
    """`due` is a day number."""
    DAY_LEARN = 3
    """Interday (re)learning step: `due` is a day number."""
    PREVIEW_REPEAT = 4
    """A card failed in a filtered deck's preview: `due` is epoch seconds."""


BURIED_QUEUES: Final = (CardQueue.SCHED_BURIED, CardQueue.USER_BURIED)
"""The queues a new day empties."""


class RevlogKind(IntEnum):
    """`revlog.type`: what kind of answer (or change) the entry records."""

    LEARNING = 0
    REVIEW = 1
    RELEARNING = 2
    FILTERED = 3
    MANUAL = 4
    """Rescheduled by hand, e.g. "Forget"/"Reset"."""
    RESCHEDULED = 5


class GraveKind(IntEnum):
    """`graves.type`: what was deleted."""

    CARD = 0
    NOTE = 1
    DECK = 2


class NotetypeKind(IntEnum):
    """A note type's `type`."""

    NORMAL = 0
    CLOZE = 1


class OriginalStockKind(IntEnum):
    """A note type's `originalStockKind`: the stock note type it was made from."""

    UNKNOWN = 0
    BASIC = 1
    BASIC_AND_REVERSED = 2
    BASIC_OPTIONAL_REVERSED = 3
    BASIC_TYPING = 4
    CLOZE = 5
    IMAGE_OCCLUSION = 6
