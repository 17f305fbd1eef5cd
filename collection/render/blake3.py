"""BLAKE3 (the default 32-byte hash), for the id Anki gives a `{{hint:…}}` link.

A direct implementation of the BLAKE3 specification (chunks of 1024 bytes compressed
64 bytes at a time, chaining values merged in a binary tree); Python's hashlib has no
BLAKE3. Speed is modest, which is fine for the few kilobytes of a field.
"""

from __future__ import annotations

from typing import Final

_IV: Final = (
    0x6A09E667,
    0xBB67AE85,
    0x3C6EF372,
    0xA54FF53A,
    0x510E527F,
    0x9B05688C,
    0x1F83D9AB,
    0x5BE0CD19,
)
_PERMUTATION: Final = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
_CHUNK_START: Final = 1
_CHUNK_END: Final = 2
_PARENT: Final = 4
_ROOT: Final = 8
_BLOCK_LEN: Final = 64
_CHUNK_LEN: Final = 1024
_MASK: Final = 0xFFFFFFFF


def _schedules() -> tuple[tuple[int, ...], ...]:
    order = tuple(range(16))
    out = []
    for _ in range(7):
        out.append(order)
        order = tuple(order[i] for i in _PERMUTATION)
    return tuple(out)


_SCHEDULES: Final = _schedules()


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & _MASK


def _compress(
    cv: tuple[int, ...], block: bytes, counter: int, block_len: int, flags: int
) -> list[int]:
    m = [int.from_bytes(block[i : i + 4], "little") for i in range(0, _BLOCK_LEN, 4)]
    v = [
        *cv,
        *_IV[:4],
        counter & _MASK,
        (counter >> 32) & _MASK,
        block_len,
        flags,
    ]
    for schedule in _SCHEDULES:
        s = [m[i] for i in schedule]
        for i, (a, b, c, d) in enumerate(
            (
                (0, 4, 8, 12),
                (1, 5, 9, 13),
                (2, 6, 10, 14),
                (3, 7, 11, 15),
                (0, 5, 10, 15),
                (1, 6, 11, 12),
                (2, 7, 8, 13),
                (3, 4, 9, 14),
            )
        ):
            x, y = s[2 * i], s[2 * i + 1]
            v[a] = (v[a] + v[b] + x) & _MASK
            v[d] = _rotr(v[d] ^ v[a], 16)
            v[c] = (v[c] + v[d]) & _MASK
            v[b] = _rotr(v[b] ^ v[c], 12)
            v[a] = (v[a] + v[b] + y) & _MASK
            v[d] = _rotr(v[d] ^ v[a], 8)
            v[c] = (v[c] + v[d]) & _MASK
            v[b] = _rotr(v[b] ^ v[c], 7)
    return [v[i] ^ v[i + 8] for i in range(8)] + [v[i + 8] ^ cv[i] for i in range(8)]


def _blocks(chunk: bytes) -> list[bytes]:
    if not chunk:
        return [b""]
    return [chunk[i : i + _BLOCK_LEN] for i in range(0, len(chunk), _BLOCK_LEN)]


class _Output:
    def __init__(
        self, cv: tuple[int, ...], block: bytes, counter: int, block_len: int, flags: int
    ) -> None:
        self.cv, self.block, self.counter = cv, block, counter
        self.block_len, self.flags = block_len, flags

    def chaining_value(self) -> tuple[int, ...]:
        return tuple(_compress(self.cv, self.block, self.counter, self.block_len, self.flags)[:8])

    def root_bytes(self) -> bytes:
        words = _compress(self.cv, self.block, 0, self.block_len, self.flags | _ROOT)
        return b"".join(w.to_bytes(4, "little") for w in words)[:32]


def _chunk_output(chunk: bytes, counter: int) -> _Output:
    cv: tuple[int, ...] = _IV
    blocks = _blocks(chunk)
    for index, block in enumerate(blocks):
        flags = _CHUNK_START if index == 0 else 0
        padded = block.ljust(_BLOCK_LEN, b"\0")
        if index == len(blocks) - 1:
            return _Output(cv, padded, counter, len(block), flags | _CHUNK_END)
        cv = tuple(_compress(cv, padded, counter, _BLOCK_LEN, flags)[:8])
    raise AssertionError("unreachable")


def _parent_output(left: tuple[int, ...], right: tuple[int, ...]) -> _Output:
    block = b"".join(w.to_bytes(4, "little") for w in (*left, *right))
    return _Output(_IV, block, 0, _BLOCK_LEN, _PARENT)


def blake3(data: bytes) -> bytes:
    """The 32-byte BLAKE3 hash of `data`."""
    chunks = [data[i : i + _CHUNK_LEN] for i in range(0, len(data), _CHUNK_LEN)] or [b""]
    # The chaining-value stack: subtrees merged as soon as a later chunk follows them.
    stack: list[tuple[int, ...]] = []
    for counter, chunk in enumerate(chunks[:-1]):
        cv = _chunk_output(chunk, counter).chaining_value()
        total = counter + 1
        while total & 1 == 0:
            cv = _parent_output(stack.pop(), cv).chaining_value()
            total >>= 1
        stack.append(cv)
    output = _chunk_output(chunks[-1], len(chunks) - 1)
    while stack:
        output = _parent_output(stack.pop(), output.chaining_value())
    return output.root_bytes()
