"""A card's scheduling columns, as stored in the schema-11 `cards` table."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from collection.enums import CardQueue, CardType

CARD_STATE_COLUMNS: Final = (
    "id",
    "nid",
    "did",
    "type",
    "queue",
    "due",
    "ivl",
    "factor",
    "reps",
    "lapses",
    "left",
    "odue",
    "odid",
    "mod",
    "usn",
    "data",
)
"""The `cards` columns a `CardState` holds, in table order."""


LEARNING_DUE_CUTOFF: Final = 1_000_000_000
"""A (re)learning card's `due` above this is epoch seconds, at or below it a day number."""


def restored_queue(card_type: int, due: int) -> CardQueue:
    """The queue a card's type and `due` put it in, for a card coming back from being
    suspended, buried or borrowed by a filtered deck (Anki's `restore_queue_from_type`):
    (re)learning cards go to the intraday or the interday learning queue by `due`."""
    if card_type in (CardType.LEARN, CardType.RELEARN):
        return CardQueue.LEARN if due > LEARNING_DUE_CUTOFF else CardQueue.DAY_LEARN
    if card_type == CardType.NEW:
        return CardQueue.NEW
    return CardQueue.REVIEW


class RowLike(Protocol):
    """A dict or a `sqlite3.Row` (with `row_factory = sqlite3.Row`)."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class CardState:
    """The columns of a `cards` row that scheduling reads or writes.

    `left` is the number of learning steps still to do (v3 writes it plainly; older
    clients packed "steps today" as `left // 1000`, which is ignored on reading).
    `factor` is the ease in permille (2500 = 250%); new cards have 0.
    `data` is the card's JSON `data` column, where Anki keeps the original new-card
    position (`pos`) and the last review time (`lrt`).
    """

    id: int
    nid: int
    did: int
    type: int = CardType.NEW
    queue: int = CardQueue.NEW
    due: int = 0
    ivl: int = 0
    factor: int = 0
    reps: int = 0
    lapses: int = 0
    left: int = 0
    odue: int = 0
    odid: int = 0
    mod: int = 0
    usn: int = 0
    data: str = ""

    @classmethod
    def from_row(cls, row: RowLike) -> "CardState":
        """From a mapping with (at least) the `cards` columns above, e.g. `sqlite3.Row`."""
        keys = set(row.keys())
        values: dict[str, Any] = {name: row[name] for name in CARD_STATE_COLUMNS if name in keys}
        return cls(**values)

    def as_row(self) -> dict[str, Any]:
        """The columns as a dict, ready to bind into an UPDATE."""
        return {name: getattr(self, name) for name in CARD_STATE_COLUMNS}
