"""Anki's review-interval fuzz (rslib `scheduler/states/fuzz.rs`).

Intervals of 2.5 days or more are spread over `interval +- delta`, where delta is one
day plus 15% of the part of the interval between 2.5 and 7 days, 10% of the part
between 7 and 20 days and 5% of the part beyond 20 days. Where the interval lands in
that range is decided by a fuzz factor in `[0, 1)` seeded from the card id and its
review count (see `rng.py`), so it is the same every time the card is shown.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from ._rust import as_u32, f32, round_half_away

if TYPE_CHECKING:
    from .load_balancer import LoadBalancer

# (start, end, factor) in days, as f32 like Anki's table.
_FUZZ_RANGES: Final = (
    (2.5, 7.0, f32(0.15)),
    (7.0, 20.0, f32(0.1)),
    (20.0, math.inf, f32(0.05)),
)


def fuzz_delta(interval: float) -> float:
    """How far (in days, either way) an interval may be fuzzed."""
    interval = f32(interval)
    if interval < 2.5:
        return 0.0
    delta = 1.0
    for start, end, factor in _FUZZ_RANGES:
        delta = f32(delta + f32(factor * max(f32(min(interval, end) - start), 0.0)))
    return delta


def fuzz_bounds(interval: float) -> tuple[int, int]:
    """The unconstrained fuzz range `[lower, upper]` of an interval."""
    interval = f32(interval)
    delta = fuzz_delta(interval)
    return (
        as_u32(round_half_away(f32(interval - delta))),
        as_u32(round_half_away(f32(interval + delta))),
    )


def constrained_fuzz_bounds(interval: float, minimum: int, maximum: int) -> tuple[int, int]:
    """The fuzz range, kept within `[minimum, maximum]`.

    Where the limits squeeze the range to one value above 2 and below the maximum, the
    range is widened by a day so that fuzz still has a choice.
    """
    minimum = min(minimum, maximum)
    interval = min(max(f32(interval), float(minimum)), float(maximum))
    lower, upper = fuzz_bounds(interval)
    lower = min(max(lower, minimum), maximum)
    upper = min(max(upper, minimum), maximum)
    if upper == lower and upper > 2 and upper < maximum:
        upper = lower + 1
    return lower, upper


def with_review_fuzz(fuzz_factor: float | None, interval: float, minimum: int, maximum: int) -> int:
    """The final interval in days: fuzzed when a factor is given, else just rounded;
    always within `[minimum, maximum]` (the caller ensures `minimum <= maximum`)."""
    if fuzz_factor is None:
        return min(max(as_u32(round_half_away(f32(interval))), minimum), maximum)
    lower, upper = constrained_fuzz_bounds(interval, minimum, maximum)
    return as_u32(math.floor(f32(float(lower) + f32(fuzz_factor * float(1 + upper - lower)))))


def balanced_review_fuzz(
    fuzz_factor: float | None,
    balancer: LoadBalancer | None,
    interval: float,
    minimum: int,
    maximum: int,
) -> int:
    """Anki's `StateContext::with_review_fuzz`: the load balancer's day when it has one
    (only with fuzz on), else the plain fuzzed interval."""
    if balancer is not None and fuzz_factor is not None:
        balanced = balancer.find_interval(interval, minimum, maximum)
        if balanced is not None:
            return balanced
    return with_review_fuzz(fuzz_factor, interval, minimum, maximum)
