from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """JSON in camelCase (``deckId``), Python in snake_case (``deck_id``)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)
