"""Emulation of the Rust numeric semantics Anki's scheduler relies on.

Anki computes intervals in `f32` and converts with Rust's `as` casts and `round()`
(half away from zero). Python floats are `f64`, so every intermediate value is rounded
to `f32` here; a single `+ - * /` done in `f64` and then rounded to `f32` gives the
correctly rounded `f32` result, so the emulation is exact.
"""

import ctypes
import ctypes.util
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


# Rust's `f32::exp`, `powf`, `ln` and `exp_m1` call the C library's single-precision
# functions; computing them in `f64` and rounding differs from those in the last bit
# now and then, and FSRS's memory states would drift. So the same functions are called
# here, from the C math library; where it cannot be loaded, the `f64` result rounded to
# `f32` is used instead (then at most one ulp away).
def _load_libm() -> ctypes.CDLL | None:
    for name in ("libm.so.6", ctypes.util.find_library("m")):
        if not name:
            continue
        try:
            libm = ctypes.CDLL(name)
        except OSError:
            continue
        for unary in ("expf", "logf", "expm1f"):
            getattr(libm, unary).restype = ctypes.c_float
            getattr(libm, unary).argtypes = [ctypes.c_float]
        libm.powf.restype = ctypes.c_float
        libm.powf.argtypes = [ctypes.c_float, ctypes.c_float]
        libm.fmaf.restype = ctypes.c_float
        libm.fmaf.argtypes = [ctypes.c_float, ctypes.c_float, ctypes.c_float]
        return libm
    return None


_LIBM: Final = _load_libm()


def expf(x: float) -> float:
    return float(_LIBM.expf(x)) if _LIBM is not None else f32(math.exp(f32(x)))


def logf(x: float) -> float:
    return float(_LIBM.logf(x)) if _LIBM is not None else f32(math.log(f32(x)))


def expm1f(x: float) -> float:
    return float(_LIBM.expm1f(x)) if _LIBM is not None else f32(math.expm1(f32(x)))


def powf(base: float, exponent: float) -> float:
    if _LIBM is not None:
        return float(_LIBM.powf(base, exponent))
    return f32(math.pow(f32(base), f32(exponent)))


def fmaf(a: float, b: float, c: float) -> float:
    """Rust's `f32::mul_add`: `a * b + c` rounded once."""
    if _LIBM is not None:
        return float(_LIBM.fmaf(a, b, c))
    return f32(f32(a) * f32(b) + f32(c))  # exact product in f64, one rounding
