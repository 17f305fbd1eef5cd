"""Bodies of the options preset routes (deck options), validated as Anki's deck
options screen bounds them."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from api.schemas.base import AnkiId, CamelIn, CamelModel
from collection.presets import PresetOptions

MINUTES_PER_YEAR = 525_600
Steps = Annotated[
    list[Annotated[float, Field(gt=0, le=100 * MINUTES_PER_YEAR)]],
    Field(max_length=100, description="Minutes, e.g. [1, 10] (1m 10m) or [1440] (1d)."),
]
PerDay = Annotated[int, Field(ge=0, le=9999)]
Days = Annotated[int, Field(ge=1, le=36500)]


class PresetOptionsOut(CamelModel):
    preset_id: int
    name: str
    new_per_day: int
    reviews_per_day: int
    learning_steps: list[float]
    relearning_steps: list[float]
    graduating_interval: int
    easy_interval: int
    new_card_order: Literal["sequential", "random"]
    leech_threshold: int
    leech_action: Literal["suspend", "tag"]
    bury_new: bool
    bury_reviews: bool
    bury_interday_learning: bool
    maximum_interval: int
    starting_ease: float
    easy_bonus: float
    interval_modifier: float
    hard_interval: float
    new_interval: float
    desired_retention: float
    fsrs_params: list[float] = Field(description="Empty: Anki's default parameters.")
    easy_days: list[float] = Field(description="Monday first: 1 normal, 0 minimum.")
    deck_ids: list[int] = Field(description="The decks using this preset.")

    @classmethod
    def of(cls, options: PresetOptions) -> PresetOptionsOut:
        return cls.model_validate(options, from_attributes=True)


class PresetOptionsIn(CamelIn):
    """Any of the options; those left out keep their values."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    new_per_day: PerDay | None = None
    reviews_per_day: PerDay | None = None
    learning_steps: Steps | None = None
    relearning_steps: Steps | None = None
    graduating_interval: Days | None = None
    easy_interval: Days | None = None
    new_card_order: Literal["sequential", "random"] | None = None
    leech_threshold: Annotated[int, Field(ge=1, le=9999)] | None = None
    leech_action: Literal["suspend", "tag"] | None = None
    bury_new: bool | None = None
    bury_reviews: bool | None = None
    bury_interday_learning: bool | None = None
    maximum_interval: Days | None = None
    starting_ease: Annotated[float, Field(ge=1.31, le=5.0)] | None = None
    easy_bonus: Annotated[float, Field(ge=1.0, le=5.0)] | None = None
    interval_modifier: Annotated[float, Field(ge=0.5, le=2.0)] | None = None
    hard_interval: Annotated[float, Field(ge=0.5, le=1.3)] | None = None
    new_interval: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    desired_retention: Annotated[float, Field(ge=0.7, le=0.99)] | None = None
    fsrs_params: list[float] | None = Field(
        default=None, description="17, 19 or 21 numbers (FSRS-4.5, 5, 6), or none."
    )
    easy_days: (
        Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=7, max_length=7)]
        | None
    ) = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Left out means "keep"; an explicit null is not an option value.
        if value is None:
            raise ValueError("must not be null (leave the option out to keep it)")
        return value

    @field_validator("fsrs_params")
    @classmethod
    def _params_anki_accepts(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        if len(value) not in (0, 17, 19, 21):
            raise ValueError("FSRS parameters are 17, 19 or 21 numbers, or none")
        if not all(math.isfinite(p) for p in value):
            raise ValueError("FSRS parameters must be finite numbers")
        return value

    def changes(self) -> dict[str, Any]:
        """The options given (snake_case names), and only those."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class PresetCreate(PresetOptionsIn):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class PresetAssign(CamelIn):
    preset_id: AnkiId
    include_subdecks: bool = Field(default=False, description="Give the subdecks it too.")
