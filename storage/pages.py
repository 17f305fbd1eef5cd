"""SQLite database files as pages: their size, a checksum of their contents, and the
pages a transaction overwrote, read from its rollback journal.

Formats: https://www.sqlite.org/fileformat2.html (the database header, section 1.3;
the rollback journal, section 3).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"
_JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
_JOURNAL_HEADER = struct.Struct(">8sIIIII")  # magic, nRec, nonce, db pages, sector, page


def page_size_of(header: bytes) -> int:
    """The page size a database file's first 100 bytes declare."""
    if not header.startswith(SQLITE_HEADER) or len(header) < 18:
        raise ValueError("not a SQLite database")
    (size,) = struct.unpack(">H", header[16:18])
    return 65536 if size == 1 else size


def change_counter(header: bytes) -> bytes:
    """The file change counter (bytes 24-27), which every commit changes."""
    return header[24:28]


def header_page_count(header: bytes) -> int | None:
    """The database size in pages that the header declares (bytes 28-31), or None when
    SQLite would not trust it (zero, or written by a version that did not keep it: the
    version-valid-for number, bytes 92-95, differs from the change counter)."""
    if len(header) < 96 or header[92:96] != header[24:28]:
        return None
    (count,) = struct.unpack(">I", header[28:32])
    return count or None


def uses_auto_vacuum(header: bytes) -> bool:
    """Whether the database moves pages and shrinks at COMMIT (auto_vacuum FULL or
    INCREMENTAL: the largest root page, bytes 52-55, is not zero)."""
    return header[52:56] != bytes(4)


def page_hash(number: int, page: bytes) -> int:
    """A 64-bit hash of one page and its number."""
    digest = hashlib.blake2b(page, digest_size=8, salt=number.to_bytes(8, "big"))
    return int.from_bytes(digest.digest(), "big")


def image_checksum(pages: Iterable[tuple[int, bytes]], free_leaves: frozenset[int]) -> int:
    """The database checksum: the XOR of ``page_hash`` over its pages, free leaves aside.

    A free leaf's bytes mean nothing (SQLite reuses one without journaling it), so they
    are left out; a change to some pages updates the checksum from those pages' old
    and new hashes alone.
    """
    checksum = 0
    for number, page in pages:
        if number not in free_leaves:
            checksum ^= page_hash(number, page)
    return checksum


def iter_pages(data: bytes | memoryview, page_size: int) -> Iterator[tuple[int, bytes]]:
    view = memoryview(data)
    for index in range(len(view) // page_size):
        yield index + 1, bytes(view[index * page_size : (index + 1) * page_size])


def file_checksum(path: Path, page_size: int, free_leaves: frozenset[int]) -> int:
    checksum = 0
    with path.open("rb") as f:
        number = 1
        while page := f.read(page_size):
            if len(page) < page_size:
                raise ValueError(f"{path} is not a whole number of {page_size}-byte pages")
            if number not in free_leaves:
                checksum ^= page_hash(number, page)
            number += 1
    return checksum


@dataclass(frozen=True, slots=True)
class Journal:
    """What a rollback journal says of its transaction so far."""

    pages_before: int  # the database's size in pages when the transaction began
    originals: dict[int, bytes]  # page number -> its bytes before the transaction


def read_journal(path: Path) -> Journal | None:
    """Parse a hot rollback journal; None if there is none (nothing was written)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse_journal(data)


def read_journal_fd(fd: int) -> Journal | None:
    """Parse the rollback journal open as ``fd`` (SQLite may have deleted its name)."""
    size = os.fstat(fd).st_size
    chunks = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return parse_journal(b"".join(chunks))


def parse_journal(data: bytes) -> Journal | None:
    """Parse a rollback journal's bytes; None if they are not one.

    SQLite writes a page's original bytes here before it changes the page in the
    database, so the journal lists every page the transaction overwrote (the free
    leaves it reuses aside). Records are read as SQLite reads them on rollback: segment
    by segment, each record checked against the segment's nonce, stopping at the first
    that does not check.
    """
    if len(data) < _JOURNAL_HEADER.size or not data.startswith(_JOURNAL_MAGIC):
        return None
    originals: dict[int, bytes] = {}
    pages_before: int | None = None
    offset = 0
    while offset + _JOURNAL_HEADER.size <= len(data) and data.startswith(_JOURNAL_MAGIC, offset):
        _, records, nonce, db_pages, sector, page_size = _JOURNAL_HEADER.unpack_from(data, offset)
        if pages_before is None:
            pages_before = db_pages
        offset += max(sector, _JOURNAL_HEADER.size)
        record_size = page_size + 8
        unbounded = records in (0, 0xFFFFFFFF)
        count = 0
        while (unbounded or count < records) and offset + record_size <= len(data):
            (number,) = struct.unpack_from(">I", data, offset)
            page = data[offset + 4 : offset + 4 + page_size]
            (stored,) = struct.unpack_from(">I", data, offset + 4 + page_size)
            if number == 0 or stored != _record_checksum(nonce, page):
                break
            originals.setdefault(number, page)  # the first copy is the original
            offset += record_size
            count += 1
        # The next segment, if any, starts at the next sector boundary.
        if sector:
            offset = -(-offset // sector) * sector
        if unbounded:
            break
    return Journal(pages_before=pages_before or 0, originals=originals)


def _record_checksum(nonce: int, page: bytes) -> int:
    # SQLite's pager_cksum: the nonce plus every 200th byte, from the end of the page.
    total = nonce
    index = len(page) - 200
    while index > 0:
        total += page[index]
        index -= 200
    return total & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Freelist:
    trunks: frozenset[int]
    leaves: frozenset[int]

    @property
    def pages(self) -> frozenset[int]:
        return self.trunks | self.leaves


def read_freelist(read_page: Callable[[int], bytes], header: bytes) -> Freelist:
    """The database's free pages: trunk pages (which list the others) and leaves.

    Only the trunk pages are read: one per ~1000 free pages. A transaction that reuses
    a free leaf does not journal it (its old bytes do not matter), so the writer finds
    the leaves it took by comparing the freelist before and after.
    """
    (trunk, total) = struct.unpack(">II", header[32:40])
    trunks: set[int] = set()
    leaves: set[int] = set()
    while trunk and len(trunks) + len(leaves) < total:
        if trunk in trunks:
            raise ValueError("the freelist loops")
        trunks.add(trunk)
        page = read_page(trunk)
        next_trunk, count = struct.unpack(">II", page[:8])
        if count > (len(page) - 8) // 4:
            raise ValueError("a freelist trunk page lists more leaves than it can hold")
        leaves.update(struct.unpack_from(f">{count}I", page, 8))
        trunk = next_trunk
    return Freelist(frozenset(trunks), frozenset(leaves))
