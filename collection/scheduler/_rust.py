"""Emulation of the Rust numeric semantics Anki's scheduler relies on.

Anki computes intervals in `f32` and converts with Rust's `as` casts and `round()`
(half away from zero). Python floats are `f64`, so every intermediate value is rounded
to `f32` here; a single `+ - * /` done in `f64` and then rounded to `f32` gives the
correctly rounded `f32` result, so the emulation is exact.
"""

import math
import struct
from typing import Final

U32_MAX: Final = 0xFFFF_FFFF

_F32: Final = struct.Struct("<f")


def f32(value: float) -> float:
    """Round `value` to the nearest `f32` (infinite beyond the `f32` range)."""
    try:
        result: float = _F32.unpack(_F32.pack(value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)
    return result


def round_half_away(value: float) -> float:
    """Rust's `f32::round`: halfway cases round away from zero."""
    if math.isnan(value) or math.isinf(value):
        return value
    magnitude = abs(value)
    floor = math.floor(magnitude)
    rounded = floor + 1 if magnitude - floor >= 0.5 else floor
    return math.copysign(rounded, value)


def as_u32(value: float) -> int:
    """Rust's saturating `value as u32`: truncates, NaN and negatives become 0."""
    if math.isnan(value) or value <= 0:
        return 0
    if value >= U32_MAX:
        return U32_MAX
    return int(value)


def sat_u32(value: int) -> int:
    """Clamp an integer result to the `u32` range, like Rust's saturating arithmetic."""
    return max(0, min(value, U32_MAX))
