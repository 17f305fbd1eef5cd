"""The envelope of every sync call: the ``anki-sync`` header, zstd bodies both ways,
and the plain-text errors the client understands."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from fastapi.responses import Response

from api.errors import SyncRefused

HEADER: Final = "anki-sync"
ORIGINAL_SIZE: Final = "anki-original-size"
SYNC_VERSION_MIN: Final = 8
SYNC_VERSION_MAX: Final = 11
_MAX_HEADER_BYTES: Final = 4096
_MAX_FIELD_CHARS: Final = 512
# How much of an oversized upload is read (and dropped) so that the client, which
# sends its whole body before it reads an answer, sees the sentence.
UPLOAD_DRAIN_BYTES: Final = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SyncHeader:
    """The ``anki-sync`` header: protocol version, host key, client version, session."""

    version: int
    key: str
    client: str
    session: str


def parse_header(raw: str | None) -> SyncHeader:
    """The header's fields; ``SyncRefused(400)`` when missing, malformed, or of a
    protocol version outside 8..=11 (what the official server answers)."""
    if raw is None:
        raise SyncRefused(400, "missing the anki-sync header")
    if len(raw) > _MAX_HEADER_BYTES:
        raise SyncRefused(400, "the anki-sync header is too long")
    try:
        value = json.loads(raw)
    except ValueError:
        raise SyncRefused(400, "the anki-sync header is not JSON") from None
    if not isinstance(value, dict):
        raise SyncRefused(400, "the anki-sync header is not a JSON object")
    version = value.get("v")
    if type(version) is not int or not SYNC_VERSION_MIN <= version <= SYNC_VERSION_MAX:
        raise SyncRefused(400, "unsupported sync version")
    fields = [value.get(name, "") for name in ("k", "c", "s")]
    if not all(isinstance(f, str) and len(f) <= _MAX_FIELD_CHARS for f in fields):
        raise SyncRefused(400, "the anki-sync header is malformed")
    return SyncHeader(version, fields[0], fields[1], fields[2])


class BodyTooLarge(Exception):
    """The compressed body passed its limit (the rest was read and dropped)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size  # as much as was read: at least the limit + 1


async def read_compressed(request: Request, limit: int, *, drain_limit: int) -> bytes:
    """The raw body, up to ``limit`` bytes. Past it, the rest is read and dropped (up to
    ``drain_limit``, so the client, still sending, reads the answer) and
    ``BodyTooLarge`` raised with the size seen."""
    chunks: list[bytes] = []
    size = 0
    stream: AsyncIterator[bytes] = request.stream()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            async for rest in stream:
                size += len(rest)
                if size > drain_limit:
                    break
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def decompress(body: bytes, limit: int) -> bytes:
    """The zstd frames of a request body, decompressed; ``SyncRefused(400)`` when they
    are not zstd or would pass ``limit`` bytes. An empty body decompresses to nothing."""
    if not body:
        return b""
    import zstandard  # only sync calls need it: not loaded at a cold start

    reader = zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True)
    try:
        data = reader.read(limit + 1)
        while len(data) <= limit:
            more = reader.read(limit + 1 - len(data))
            if not more:
                break
            data += more
    except zstandard.ZstdError:
        raise SyncRefused(400, "the request body is not zstd-compressed") from None
    if len(data) > limit:
        raise SyncRefused(400, f"the request body decompresses to more than {limit} bytes")
    return data


def decode_json(data: bytes) -> Any:
    """A decompressed body as JSON; ``SyncRefused(400)`` if it is not."""
    try:
        return json.loads(data)
    except ValueError:
        raise SyncRefused(400, "the request body is not JSON") from None


def compress(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(data)


def ok_bytes(data: bytes) -> Response:
    """A success: ``data`` zstd-compressed, with its size before compression."""
    return ok_compressed(compress(data), len(data))


def ok_compressed(compressed: bytes, original_size: int) -> Response:
    """A success whose body is already compressed."""
    return Response(
        content=compressed,
        media_type="application/octet-stream",
        headers={ORIGINAL_SIZE: str(original_size)},
    )


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def ok_json(value: Any) -> Response:
    return ok_bytes(encode_json(value))
