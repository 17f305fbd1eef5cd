"""Deck options (a schema-11 `dconf` entry) as the scheduler sees them."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

LEECH_ACTION_SUSPEND: Final = 0
LEECH_ACTION_TAG_ONLY: Final = 1


def _section(dconf: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = dconf.get(name)
    return value if isinstance(value, Mapping) else {}


def _number(section: Mapping[str, Any], key: str, default: float) -> float:
    value = section.get(key)
    return default if value is None else float(value)


def _steps(section: Mapping[str, Any], default: Sequence[float]) -> tuple[float, ...]:
    value = section.get("delays")
    if value is None:
        return tuple(default)
    return tuple(float(step) for step in value)


@dataclass(frozen=True, slots=True)
class DeckOptions:
    """The scheduling options of a deck preset (Anki's `DeckConfig`, SM-2 part).

    Defaults are Anki's. Steps are in minutes, intervals in days, factors as in
    schema 11 (`initial_factor` 2500 means an ease of 250%).
    """

    learn_steps: tuple[float, ...] = (1.0, 10.0)
    graduating_ivl: int = 1
    easy_ivl: int = 4
    initial_factor: int = 2500
    new_per_day: int = 20
    rev_per_day: int = 200
    easy_bonus: float = 1.3
    ivl_fct: float = 1.0
    max_ivl: int = 36500
    hard_factor: float = 1.2
    relearn_steps: tuple[float, ...] = (10.0,)
    lapse_mult: float = 0.0
    min_ivl: int = 1
    leech_fails: int = 8
    leech_action: int = LEECH_ACTION_TAG_ONLY
    max_taken: int = 60
    bury_new: bool = False
    bury_reviews: bool = False
    bury_interday_learning: bool = False

    @classmethod
    def from_dconf(cls, dconf: Mapping[str, Any]) -> "DeckOptions":
        """Build from one entry of the `col.dconf` JSON (missing keys take defaults)."""
        new = _section(dconf, "new")
        rev = _section(dconf, "rev")
        lapse = _section(dconf, "lapse")
        defaults = cls()
        ints = new.get("ints")
        ints = list(ints) if isinstance(ints, Sequence) else []
        return cls(
            learn_steps=_steps(new, defaults.learn_steps),
            graduating_ivl=int(ints[0]) if len(ints) > 0 else defaults.graduating_ivl,
            easy_ivl=int(ints[1]) if len(ints) > 1 else defaults.easy_ivl,
            initial_factor=int(_number(new, "initialFactor", defaults.initial_factor)),
            new_per_day=int(_number(new, "perDay", defaults.new_per_day)),
            rev_per_day=int(_number(rev, "perDay", defaults.rev_per_day)),
            easy_bonus=_number(rev, "ease4", defaults.easy_bonus),
            ivl_fct=_number(rev, "ivlFct", defaults.ivl_fct),
            max_ivl=int(_number(rev, "maxIvl", defaults.max_ivl)),
            hard_factor=_number(rev, "hardFactor", defaults.hard_factor),
            relearn_steps=_steps(lapse, defaults.relearn_steps),
            lapse_mult=_number(lapse, "mult", defaults.lapse_mult),
            min_ivl=int(_number(lapse, "minInt", defaults.min_ivl)),
            leech_fails=int(_number(lapse, "leechFails", defaults.leech_fails)),
            leech_action=int(_number(lapse, "leechAction", defaults.leech_action)),
            max_taken=int(_number(dconf, "maxTaken", defaults.max_taken)),
            bury_new=bool(new.get("bury", defaults.bury_new)),
            bury_reviews=bool(rev.get("bury", defaults.bury_reviews)),
            bury_interday_learning=bool(
                dconf.get("buryInterdayLearning", defaults.bury_interday_learning)
            ),
        )
