"""Anki's fuzz randomness, bit for bit.

Anki seeds Rust's `StdRng` (ChaCha12, from the `rand` crate) with
`seed_from_u64(card_id + reps)` and draws either a fuzz factor in `[0, 1)` for review
intervals or an integer in `[secs, upper)` for learning delays. Reproducing the
generator exactly makes our fuzzed intervals identical to Anki's, not merely within the
same range.
"""

from typing import Final

_M32: Final = 0xFFFF_FFFF
_M64: Final = (1 << 64) - 1

# rand_core's `seed_from_u64` expands the u64 with PCG32 into the 32-byte key.
_PCG_MUL: Final = 6_364_136_223_846_793_005
_PCG_INC: Final = 11_634_580_027_462_260_723

_CHACHA_CONSTANTS: Final = (0x6170_7865, 0x3320_646E, 0x7962_2D32, 0x6B20_6574)
_CHACHA_ROUNDS: Final = 12  # StdRng is ChaCha12


def fuzz_seed(card_id: int, reps: int) -> int:
    """Anki's seed: `(card_id as u64).wrapping_add(reps as u64)`, reps before answering."""
    return ((card_id & _M64) + (reps & _M32)) & _M64


def _pcg32_key(state: int) -> list[int]:
    words = []
    for _ in range(8):
        state = (state * _PCG_MUL + _PCG_INC) & _M64
        xorshifted = (((state >> 18) ^ state) >> 27) & _M32
        rot = state >> 59
        words.append(((xorshifted >> rot) | (xorshifted << ((32 - rot) & 31))) & _M32)
    return words


def _rotl(value: int, count: int) -> int:
    return ((value << count) & _M32) | (value >> (32 - count))


def _quarter_round(s: list[int], a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & _M32
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & _M32
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & _M32
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & _M32
    s[b] = _rotl(s[b] ^ s[c], 7)


def _first_block(seed: int) -> list[int]:
    """The first 16 output words of `StdRng::seed_from_u64(seed)`."""
    initial = [*_CHACHA_CONSTANTS, *_pcg32_key(seed & _M64), 0, 0, 0, 0]
    state = list(initial)
    for _ in range(_CHACHA_ROUNDS // 2):
        _quarter_round(state, 0, 4, 8, 12)
        _quarter_round(state, 1, 5, 9, 13)
        _quarter_round(state, 2, 6, 10, 14)
        _quarter_round(state, 3, 7, 11, 15)
        _quarter_round(state, 0, 5, 10, 15)
        _quarter_round(state, 1, 6, 11, 12)
        _quarter_round(state, 2, 7, 8, 13)
        _quarter_round(state, 3, 4, 9, 14)
    return [(a + b) & _M32 for a, b in zip(state, initial, strict=True)]


def first_u32(seed: int) -> int:
    """`StdRng::seed_from_u64(seed).next_u32()`: the first word the generator gives."""
    return _first_block(seed)[0]


def fuzz_factor(seed: int) -> float:
    """`StdRng::seed_from_u64(seed).random_range(0.0f32..1.0)`: 23 random mantissa bits."""
    return (_first_block(seed)[0] >> 9) * 2.0**-23


def random_u32_in_range(seed: int, low: int, high_exclusive: int) -> int:
    """`StdRng::seed_from_u64(seed).random_range(low..high)` for `u32` (rand 0.9)."""
    if not low < high_exclusive:
        raise ValueError("empty range")
    span = (high_exclusive - low) & _M32  # high - 1 - low + 1, wrapping
    words = _first_block(seed)
    product = words[0] * span
    result, lo_order = product >> 32, product & _M32
    # Canon's method: a second draw settles the rare biased case.
    if lo_order > ((-span) & _M32):
        new_hi_order = (words[1] * span) >> 32
        if lo_order + new_hi_order > _M32:
            result += 1
    return (low + result) & _M32
