"""Just enough of the protobuf wire format to read the small messages in Anki packages.

Anki's schema-18 collections keep note types, decks and deck options as protobuf
blobs, and the package's `meta` and media list are protobuf messages too. Only the
fields this package needs are read; anything malformed raises `ProtobufError`.
"""

from __future__ import annotations

import math
import struct
from typing import Final

from collection.errors import ProtobufError

_VARINT: Final = 0
_FIXED64: Final = 1
_LENGTH: Final = 2
_FIXED32: Final = 5
_MAX_VARINT_BYTES: Final = 10


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 7 * _MAX_VARINT_BYTES, 7):
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & 0xFFFF_FFFF_FFFF_FFFF, pos
    raise ProtobufError("varint longer than 10 bytes")


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def float32(raw: bytes) -> float:
    """A 32-bit float as the shortest decimal that reads back to the same bits, which is
    what Anki's serde writes into schema-11 JSON (0.9, not 0.8999999761581421)."""
    (value,) = struct.unpack("<f", raw)
    if not math.isfinite(value):
        raise ProtobufError("float is not finite")
    for digits in range(1, 10):
        shortest = float(f"{value:.{digits}g}")
        if struct.pack("<f", shortest) == raw:
            return shortest
    return float(value)


class Message:
    """A parsed message: field number -> the (wire type, value) of each occurrence."""

    def __init__(self, data: bytes) -> None:
        self._fields: dict[int, list[tuple[int, int | bytes]]] = {}
        pos = 0
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise ProtobufError("field number 0")
            value: int | bytes
            if wire == _VARINT:
                value, pos = _varint(data, pos)
            elif wire in (_FIXED64, _FIXED32):
                size = 8 if wire == _FIXED64 else 4
                if pos + size > len(data):
                    raise ProtobufError("truncated fixed-size field")
                value, pos = data[pos : pos + size], pos + size
            elif wire == _LENGTH:
                length, pos = _varint(data, pos)
                if pos + length > len(data):
                    raise ProtobufError("truncated length-delimited field")
                value, pos = data[pos : pos + length], pos + length
            else:
                raise ProtobufError(f"unsupported wire type {wire}")
            self._fields.setdefault(number, []).append((wire, value))

    def has(self, number: int) -> bool:
        return number in self._fields

    def _last(self, number: int, wire: int) -> int | bytes | None:
        occurrences = self._fields.get(number)
        if not occurrences:
            return None
        found_wire, value = occurrences[-1]  # proto3: the last occurrence wins
        if found_wire != wire:
            raise ProtobufError(f"field {number} has wire type {found_wire}, not {wire}")
        return value

    def _last_int(self, number: int) -> int | None:
        value = self._last(number, _VARINT)
        assert value is None or isinstance(value, int)
        return value

    def _last_bytes(self, number: int, wire: int = _LENGTH) -> bytes | None:
        value = self._last(number, wire)
        assert value is None or isinstance(value, bytes)
        return value

    def uint(self, number: int, default: int = 0) -> int:
        """A uint32/uint64/enum field."""
        value = self._last_int(number)
        return default if value is None else value

    def int32(self, number: int, default: int = 0) -> int:
        value = self._last_int(number)
        return default if value is None else _signed(value, 32)

    def int64(self, number: int, default: int = 0) -> int:
        value = self._last_int(number)
        return default if value is None else _signed(value, 64)

    def sint32(self, number: int, default: int = 0) -> int:
        value = self._last_int(number)
        if value is None:
            return default
        value &= 0xFFFF_FFFF
        return (value >> 1) ^ -(value & 1)

    def flag(self, number: int, default: bool = False) -> bool:
        value = self._last_int(number)
        return default if value is None else value != 0

    def string(self, number: int, default: str = "") -> str:
        raw = self._last_bytes(number)
        if raw is None:
            return default
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtobufError(f"field {number} is not UTF-8 text") from exc

    def f32(self, number: int, default: float = 0.0) -> float:
        raw = self._last_bytes(number, _FIXED32)
        return default if raw is None else float32(raw)

    def message(self, number: int) -> Message | None:
        raw = self._last_bytes(number)
        return None if raw is None else Message(raw)

    def messages(self, number: int) -> list[Message]:
        out = []
        for wire, value in self._fields.get(number, []):
            if wire != _LENGTH or not isinstance(value, bytes):
                raise ProtobufError(f"field {number} is not a message")
            out.append(Message(value))
        return out

    def f32s(self, number: int) -> list[float]:
        """A repeated float field, packed (the proto3 default) or not."""
        out: list[float] = []
        for wire, value in self._fields.get(number, []):
            assert isinstance(value, bytes) or wire == _VARINT
            if wire == _LENGTH and isinstance(value, bytes) and len(value) % 4 == 0:
                out.extend(float32(value[i : i + 4]) for i in range(0, len(value), 4))
            elif wire == _FIXED32 and isinstance(value, bytes):
                out.append(float32(value))
            else:
                raise ProtobufError(f"field {number} is not a repeated float")
        return out

    def uints(self, number: int) -> list[int]:
        """A repeated uint32 field, packed or not."""
        out: list[int] = []
        for wire, value in self._fields.get(number, []):
            if wire == _VARINT and isinstance(value, int):
                out.append(value)
            elif wire == _LENGTH and isinstance(value, bytes):
                pos = 0
                while pos < len(value):
                    item, pos = _varint(value, pos)
                    out.append(item)
            else:
                raise ProtobufError(f"field {number} is not a repeated integer")
        return out
