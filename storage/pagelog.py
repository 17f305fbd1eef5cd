"""Log entries: the pages one write changed, compressed and checksummed (docs/storage.md).

An entry is immutable and self-checking: its header carries the SHA-256 of its
payload and the database checksums before and after it, so a corrupt, truncated or
misplaced entry is refused before any page of it is applied.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from dataclasses import dataclass

from storage.errors import CorruptDatabase
from storage.keys import PREFIX_LOGS

_MAGIC = b"JVPGLOG1"
_VERSION = 1
# magic, version, flags, seq, page size, page count, pages, before, after, nonce, sha256
_HEADER = struct.Struct(">8sHHQIIIQQ16s32s")
_PAGE_NUMBER = struct.Struct(">I")
_SEQ_DIGITS = 16
_SEQ_NAME = re.compile(rf"[0-9]{{{_SEQ_DIGITS}}}")
FLAG_FULL_IMAGE = 1  # the entry carries every page: it replaces the database
# Stored at a log's end when its collection is deleted, and over every entry it holds:
# a copy at any position of that log then learns it is gone with its next request.
CLOSED_LOG = b"JVPGEND1"


def is_closing(body: bytes) -> bool:
    """Whether ``body`` is the mark of a closed (deleted) log rather than an entry."""
    return body == CLOSED_LOG


def log_prefix(key: str, log_id: str) -> str:
    """Where the entries of ``key``'s log named ``log_id`` live."""
    return f"{PREFIX_LOGS}{key}/{log_id}/"


def entry_key(key: str, log_id: str, seq: int) -> str:
    return f"{log_prefix(key, log_id)}{seq:0{_SEQ_DIGITS}d}"


def seq_of(name: str) -> int | None:
    """The position an entry's last key part names, or None for anything else."""
    return int(name) if _SEQ_NAME.fullmatch(name) else None


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    page_size: int
    page_count: int  # the database's size in pages after the entry
    pages: dict[int, bytes]  # page number -> new bytes
    checksum_before: int
    checksum_after: int
    full_image: bool = False

    def encode(self) -> bytes:
        import zstandard  # loaded on the first write, not when the function starts

        raw = b"".join(
            _PAGE_NUMBER.pack(number) + self.pages[number] for number in sorted(self.pages)
        )
        payload = zstandard.ZstdCompressor(level=3).compress(raw)
        header = _HEADER.pack(
            _MAGIC,
            _VERSION,
            FLAG_FULL_IMAGE if self.full_image else 0,
            self.seq,
            self.page_size,
            self.page_count,
            len(self.pages),
            self.checksum_before,
            self.checksum_after,
            os.urandom(16),  # no two writers ever store the same bytes
            hashlib.sha256(payload).digest(),
        )
        return header + payload


def decode_entry(body: bytes, *, expected_seq: int) -> LogEntry:
    """Check and decode an entry; ``CorruptDatabase`` if it is damaged or misplaced."""
    if len(body) < _HEADER.size or not body.startswith(_MAGIC):
        raise CorruptDatabase(f"log entry {expected_seq} is not a log entry (or is truncated)")
    (_, version, flags, seq, page_size, page_count, count, before, after, _, digest) = (
        _HEADER.unpack_from(body)
    )
    payload = body[_HEADER.size :]
    if version != _VERSION:
        raise CorruptDatabase(f"log entry {expected_seq} has unknown format version {version}")
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptDatabase(f"log entry {expected_seq} fails its checksum (damaged or truncated)")
    if seq != expected_seq:
        raise CorruptDatabase(f"log entry {expected_seq} says it is entry {seq}")
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise CorruptDatabase(f"log entry {seq} has an impossible page size {page_size}")
    import zstandard  # loaded on the first entry read, not when the function starts

    record = _PAGE_NUMBER.size + page_size
    try:
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=count * record)
    except zstandard.ZstdError as error:
        raise CorruptDatabase(f"log entry {seq} does not decompress: {error}") from None
    if len(raw) != count * record:
        raise CorruptDatabase(f"log entry {seq} holds {len(raw)} bytes, not {count} pages")
    pages: dict[int, bytes] = {}
    for offset in range(0, len(raw), record):
        (number,) = _PAGE_NUMBER.unpack_from(raw, offset)
        if not 1 <= number <= page_count or number in pages:
            raise CorruptDatabase(f"log entry {seq} names an impossible page {number}")
        pages[number] = raw[offset + _PAGE_NUMBER.size : offset + record]
    full = bool(flags & FLAG_FULL_IMAGE)
    if full and len(pages) != page_count:
        raise CorruptDatabase(f"log entry {seq} claims to be a full image but lacks pages")
    return LogEntry(
        seq=seq,
        page_size=page_size,
        page_count=page_count,
        pages=pages,
        checksum_before=before,
        checksum_after=after,
        full_image=full,
    )
