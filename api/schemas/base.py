from typing import Annotated

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# SQLite stores integers in 64 bits: a larger id can name nothing, and would overflow
# the driver. Anki's ids are positive.
SQLITE_MAX_INT = 2**63 - 1
AnkiId = Annotated[int, Interval(ge=1, le=SQLITE_MAX_INT)]
"""A deck, card or note id, in a path, a query or a body: out of range is a 422."""


class CamelModel(BaseModel):
    """JSON in camelCase (``deckId``), Python in snake_case (``deck_id``)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CamelIn(CamelModel):
    """A request body: JSON types are taken as they are (`true` is not the id 1)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True)
