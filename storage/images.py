"""A database image the session works on: a file in the cache, or bytes in memory.

Both answer the same questions (pages, checksums), apply log entries the same way,
and run an operation reporting the pages it changed; they differ only in how they
find those pages. The file reads the transaction's rollback journal (it never copies
or scans the file); the memory image compares pages with the image it started from.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.request import pathname2url

from storage.errors import CorruptDatabase, DiskTrouble
from storage.pagelog import LogEntry
from storage.pages import (
    SQLITE_HEADER,
    Freelist,
    change_counter,
    header_page_count,
    page_hash,
    page_size_of,
    read_freelist,
    read_journal_fd,
    uses_auto_vacuum,
)

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], T]


@dataclass(frozen=True, slots=True)
class Change:
    """What one operation changed, as it will be logged, and how to undo it."""

    pages: dict[int, bytes]  # page number -> new bytes
    page_count: int  # after
    checksum_after: int
    full_image: bool
    originals: dict[int, bytes]  # page number -> bytes before (pages that existed)
    page_count_before: int


class Image(Protocol):
    page_size: int

    def page_count(self) -> int: ...
    def read_page(self, number: int) -> bytes: ...
    def write_pages(self, pages: dict[int, bytes], page_count: int) -> None: ...
    def read(self, operation: Operation[T]) -> T: ...
    def write(self, operation: Operation[T], checksum: int) -> tuple[T, Change | None]: ...
    def undo(self, change: Change) -> None: ...
    def to_bytes(self) -> bytes: ...


# -- checksums, written once for both images ------------------------------------------


def freelist_of(image: Image) -> Freelist:
    try:
        return read_freelist(image.read_page, image.read_page(1)[:100])
    except (ValueError, IndexError) as error:
        raise CorruptDatabase(f"the database's freelist is damaged: {error}") from None


def checksum_of(image: Image) -> int:
    """The whole image's checksum (see storage.pages.image_checksum)."""
    leaves = freelist_of(image).leaves
    checksum = 0
    for number in range(1, image.page_count() + 1):
        if number not in leaves:
            checksum ^= page_hash(number, image.read_page(number))
    return checksum


def updated_checksum(
    checksum: int,
    *,
    olds: dict[int, bytes],
    news: dict[int, bytes],
    free_before: frozenset[int],
    free_after: frozenset[int],
) -> int:
    """``checksum`` after pages ``olds`` (and any page removed) became ``news``."""
    for number, page in olds.items():
        if number not in free_before:
            checksum ^= page_hash(number, page)
    for number, page in news.items():
        if number not in free_after:
            checksum ^= page_hash(number, page)
    return checksum


def apply_entry(image: Image, entry: LogEntry, checksum: int) -> int:
    """Apply ``entry`` to ``image`` at ``checksum``; return the new checksum.

    ``CorruptDatabase`` if the image is not the one the entry was made from or does not
    end where the entry says; the image may then be half changed and must be dropped.
    """
    if entry.page_size != image.page_size:
        raise CorruptDatabase(f"log entry {entry.seq} has another page size")
    # The page count is outside the payload's SHA-256 and a free page outside the
    # checksum: check it against the pages themselves before writing any.
    declared = header_page_count(entry.pages[1] if 1 in entry.pages else image.read_page(1))
    if declared is not None and declared > entry.page_count:
        raise CorruptDatabase(
            f"log entry {entry.seq} cuts the database to {entry.page_count} pages "
            f"where its header says {declared}"
        )
    unsent = set(range(image.page_count() + 1, entry.page_count + 1)) - set(entry.pages)
    if unsent and not entry.full_image:
        raise CorruptDatabase(f"log entry {entry.seq} grows the database by pages it lacks")
    if entry.full_image:
        image.write_pages(entry.pages, entry.page_count)
        after = checksum_of(image)
    else:
        if checksum != entry.checksum_before:
            raise CorruptDatabase(
                f"log entry {entry.seq} does not follow the state it is applied to"
            )
        count = image.page_count()
        free_before = freelist_of(image).leaves
        touched = set(entry.pages) | set(range(entry.page_count + 1, count + 1))
        olds = {n: image.read_page(n) for n in touched if n <= count}
        image.write_pages(entry.pages, entry.page_count)
        after = updated_checksum(
            checksum,
            olds=olds,
            news=entry.pages,
            free_before=free_before,
            free_after=freelist_of(image).leaves,
        )
    if after != entry.checksum_after:
        raise CorruptDatabase(f"log entry {entry.seq} leaves the database with the wrong checksum")
    return after


def freelist_moves(before: Freelist, after: Freelist) -> set[int]:
    """Pages whose place in the freelist changed: into or out of it, or between leaf
    and trunk.

    SQLite reuses a free leaf (as a table page or as a trunk page) without journaling
    it, and, without secure_delete, frees a page as a leaf without journaling or
    writing it; free leaves are outside the checksum. So these pages are logged,
    whatever the journal says: their bytes, or that they now count (or no longer do).
    """
    return set(before.leaves ^ after.leaves) | set(before.trunks ^ after.trunks)


def _change(
    image: Image,
    *,
    changed: set[int],
    olds: dict[int, bytes],
    checksum: int,
    free_before: Freelist,
    free_after: Freelist,
    count_before: int,
) -> Change | None:
    """The Change of pages ``changed`` (``olds``: the old bytes known), or None if a page
    that changed or went away had bytes that counted and are not known."""
    count = image.page_count()
    news = {n: image.read_page(n) for n in sorted(changed) if n <= count}
    gone = set(range(count + 1, count_before + 1))
    needed = {n for n in set(news) | gone if n <= count_before}
    if not needed <= set(olds) | free_before.leaves:
        return None  # a page changed that the journal did not save: log every page
    after = updated_checksum(
        checksum,
        olds={n: olds[n] for n in olds if n in news or n in gone},
        news=news,
        free_before=free_before.leaves,
        free_after=free_after.leaves,
    )
    return Change(
        pages=news,
        page_count=count,
        checksum_after=after,
        full_image=False,
        originals=olds,
        page_count_before=count_before,
    )


def _full_change(image: Image, originals: dict[int, bytes], count_before: int) -> Change:
    count = image.page_count()
    return Change(
        pages={n: image.read_page(n) for n in range(1, count + 1)},
        page_count=count,
        checksum_after=checksum_of(image),
        full_image=True,
        originals=originals,
        page_count_before=count_before,
    )


# -- the cached file --------------------------------------------------------------------


def readonly_uri(path: Path) -> str:
    # immutable=1: nothing changes the file while a reader holds the key's lock, so
    # SQLite needs no locks and never looks for a journal.
    return f"file:{pathname2url(str(path))}?mode=ro&immutable=1"


@contextmanager
def disk_trouble() -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise DiskTrouble(str(error)) from error
    except sqlite3.OperationalError as error:
        message = str(error).lower()
        if "disk" in message or "full" in message or "i/o" in message:
            raise DiskTrouble(str(error)) from error
        raise


def _keep_journal_mode(action: int, arg1: str | None, arg2: str | None, *_: str | None) -> int:
    """An authorizer that makes ``PRAGMA journal_mode=...`` a no-op: in WAL mode a write
    would bypass the rollback journal that names its pages, and the stored file would
    say WAL in its header (bytes 18-19), a format no snapshot or entry may have."""
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() == "journal_mode" and arg2:
        return sqlite3.SQLITE_IGNORE
    return sqlite3.SQLITE_OK


class FileImage:
    """A database file changed in place (its cache entry is marked dirty meanwhile).

    Holds the file open until ``close``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR)
        try:
            self.page_size = page_size_of(os.pread(self._fd, 100, 0))
        except ValueError:
            os.close(self._fd)
            raise CorruptDatabase("the cached file is not a SQLite database") from None

    def close(self) -> None:
        os.close(self._fd)

    def page_count(self) -> int:
        return os.fstat(self._fd).st_size // self.page_size

    def read_page(self, number: int) -> bytes:
        page = os.pread(self._fd, self.page_size, (number - 1) * self.page_size)
        if number < 1 or len(page) != self.page_size:
            raise IndexError(f"page {number} is past the end of the file")
        return page

    def write_pages(self, pages: dict[int, bytes], page_count: int) -> None:
        for number in sorted(pages):
            os.pwrite(self._fd, pages[number], (number - 1) * self.page_size)
        os.ftruncate(self._fd, page_count * self.page_size)

    def to_bytes(self) -> bytes:
        return self.path.read_bytes()

    def read(self, operation: Operation[T]) -> T:
        conn = sqlite3.connect(readonly_uri(self.path), uri=True)
        try:
            return operation(conn)
        finally:
            conn.close()

    def write(self, operation: Operation[T], checksum: int) -> tuple[T, Change | None]:
        page_one = self.read_page(1)
        free_before = freelist_of(self)
        count_before = self.page_count()
        journal_fd: int | None = None
        try:
            conn = sqlite3.connect(self.path)
            try:
                # The cache entry is dirty until the change is stored; a crash drops it,
                # so no fsync is needed. The journal must be a file: it names the pages.
                conn.execute("PRAGMA journal_mode=DELETE")
                conn.execute("PRAGMA synchronous=OFF")
                # Dirty pages stay in memory until COMMIT, so page 1 is not written
                # early: a change counter that moved means the operation committed.
                conn.execute("PRAGMA cache_spill=OFF")
                conn.set_authorizer(_keep_journal_mode)
                result = operation(conn)
                committed_alone = change_counter(self.read_page(1)) != change_counter(page_one)
                tail = self._pages_commit_may_cut(conn, count_before, page_one)
                # COMMIT still journals pages (auto_vacuum moves pages and drops the
                # file's tail there), then deletes the journal: held open, it is read
                # whole afterwards.
                journal_fd = _open_if_present(Path(f"{self.path}-journal"))
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                conn.close()
            journal = read_journal_fd(journal_fd) if journal_fd is not None else None
        finally:
            if journal_fd is not None:
                os.close(journal_fd)
        if change_counter(self.read_page(1)) == change_counter(page_one):
            return result, None
        olds = {1: page_one} | (journal.originals if journal else {})
        if committed_alone or journal is None or journal.pages_before != count_before:
            # The operation committed by itself: the journal no longer lists its pages.
            return result, _full_change(self, olds, count_before)
        # SQLite's own rollback writes the journal's pages back and sets the file to its
        # old length; what it does not hold was not written, free leaves aside (and the
        # pages COMMIT cut away after deleting it, read before). So every other page is
        # as it was, and the freelist tells which of those to log.
        free_after = freelist_of(self)
        count = self.page_count()
        olds |= {n: page for n, page in tail.items() if n > count and n not in olds}
        changed = set(olds) | freelist_moves(free_before, free_after)
        changed |= set(range(count_before + 1, count + 1))
        for number in sorted(changed):
            known = number in olds or number in free_before.leaves
            if not known and number <= min(count, count_before):
                olds[number] = self.read_page(number)  # not written: as it was
        change = _change(
            self,
            changed=changed,
            olds=olds,
            checksum=checksum,
            free_before=free_before,
            free_after=free_after,
            count_before=count_before,
        )
        return result, change or _full_change(self, olds, count_before)

    def _pages_commit_may_cut(
        self, conn: sqlite3.Connection, count_before: int, page_one: bytes
    ) -> dict[int, bytes]:
        """The pages COMMIT may cut from the file, as they were.

        With auto_vacuum, the file shrinks at COMMIT: SQLite journals the pages it
        overwrites, but cuts the tail only once the journal is deleted, so the pages
        cut away are in no journal. They are read here, before COMMIT, while the file
        is still as it was (no page is written earlier). INCREMENTAL ends the file at
        the transaction's size; FULL first moves pages down over the free ones, so the
        file can end as low as its pages less its free pages and the pointer-map pages
        they need. A page missed here makes the write log every page, nothing worse.
        """
        if not uses_auto_vacuum(page_one):
            return {}
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        (mode,) = conn.execute("PRAGMA auto_vacuum").fetchone()
        if mode == 2:  # INCREMENTAL
            lowest = pages - 1
        else:
            (free,) = conn.execute("PRAGMA freelist_count").fetchone()
            lowest = pages - free - free // 50 - 2
        return {n: self.read_page(n) for n in range(max(1, lowest) + 1, count_before + 1)}

    def undo(self, change: Change) -> None:
        if change.full_image:
            # Only the journaled pages' old bytes are known: the caller drops the file.
            raise DiskTrouble("a change logged as a full image cannot be undone in place")
        self.write_pages(change.originals, change.page_count_before)


def _open_if_present(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


# -- the same in memory -----------------------------------------------------------------


class MemoryImage:
    """A database held in memory, for a collection the cache cannot hold."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.page_size = page_size_of(bytes(self.data[:100]))

    def page_count(self) -> int:
        return len(self.data) // self.page_size

    def read_page(self, number: int) -> bytes:
        start = (number - 1) * self.page_size
        page = bytes(self.data[start : start + self.page_size])
        if number < 1 or len(page) != self.page_size:
            raise IndexError(f"page {number} is past the end of the image")
        return page

    def write_pages(self, pages: dict[int, bytes], page_count: int) -> None:
        size = page_count * self.page_size
        if len(self.data) < size:
            self.data.extend(bytes(size - len(self.data)))
        for number, page in pages.items():
            start = (number - 1) * self.page_size
            self.data[start : start + self.page_size] = page
        del self.data[size:]

    def to_bytes(self) -> bytes:
        return bytes(self.data)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:")
        conn.deserialize(bytes(self.data))
        return conn

    def read(self, operation: Operation[T]) -> T:
        conn = self._connect()
        try:
            conn.execute("PRAGMA query_only = ON")
            return operation(conn)
        finally:
            conn.close()

    def write(self, operation: Operation[T], checksum: int) -> tuple[T, Change | None]:
        before = bytes(self.data)
        free_before = freelist_of(self)
        count_before = self.page_count()
        conn = self._connect()
        conn.set_authorizer(_keep_journal_mode)
        try:
            result = operation(conn)
            conn.commit()
            after = conn.serialize()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()
        if after == before:
            return result, None
        size = self.page_size
        olds = {n: before[(n - 1) * size : n * size] for n in range(1, count_before + 1)}
        self.data = bytearray(after)
        free_after = freelist_of(self)
        changed = {
            n
            for n in range(1, len(after) // size + 1)
            if after[(n - 1) * size : n * size] != before[(n - 1) * size : n * size]
        }
        changed |= freelist_moves(free_before, free_after)
        found = _change(
            self,
            changed=changed,
            olds={n: olds[n] for n in changed if n in olds}
            | {n: olds[n] for n in olds if n > self.page_count()},
            checksum=checksum,
            free_before=free_before,
            free_after=free_after,
            count_before=count_before,
        )
        if found is None:  # cannot happen: every changed page's old bytes are known
            raise AssertionError("a changed page has no old bytes")
        # Undo restores the exact image.
        return result, replace(found, originals=olds)

    def undo(self, change: Change) -> None:
        self.write_pages(change.originals, change.page_count_before)


def check_image(image: Image) -> None:
    """``CorruptDatabase`` unless the image is a SQLite database passing quick_check."""
    if not image.read_page(1).startswith(SQLITE_HEADER):
        raise CorruptDatabase("the stored object is not a SQLite database")
    try:
        problems = image.read(lambda conn: [row[0] for row in conn.execute("PRAGMA quick_check")])
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    if problems != ["ok"]:
        raise CorruptDatabase("the database fails SQLite's quick_check: " + "; ".join(problems[:3]))
