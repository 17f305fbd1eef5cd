"""Finding the pages a write changed (storage.images, storage.pages), on real files.

The core property: after any transaction, the ``Change`` a write reports holds every
page that differs between the file before and after (but a free leaf before and after,
whose bytes mean nothing), its checksum is the file's, and undoing it brings back the
database the write started from. It is checked against
the files themselves (page by page), checksums recomputed from scratch, and SQLite's
own view of the content (``iterdump``).
"""

from __future__ import annotations

import functools
import random
import sqlite3
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.errors import CorruptDatabase, DiskTrouble
from storage.images import (
    Change,
    FileImage,
    MemoryImage,
    apply_entry,
    checksum_of,
    freelist_of,
)
from storage.pagelog import LogEntry
from storage.pages import Freelist, read_freelist, read_journal

# -- databases and transactions ---------------------------------------------------------

Op = tuple[str, int, int, int]  # kind, two parameters, a seed for the bytes it writes


@dataclass(frozen=True)
class Transaction:
    cache_size: int
    ops: tuple[Op, ...]
    commit_midway: bool = False  # the operation commits by itself halfway
    # Off, SQLite frees a page as a leaf without journaling or writing it; many builds
    # (not Debian's) are off by default.
    secure_delete: bool = True

    def run(self, conn: sqlite3.Connection) -> int:
        conn.create_function("blob_of", 2, blob_of, deterministic=True)
        conn.execute(f"PRAGMA cache_size={self.cache_size}")
        conn.execute(f"PRAGMA secure_delete={int(self.secure_delete)}")
        conn.execute("BEGIN")
        for index, op in enumerate(self.ops):
            if self.commit_midway and index == len(self.ops) // 2:
                conn.commit()
            run_op(conn, op)
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])


def blob_of(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def run_op(conn: sqlite3.Connection, op: Op) -> None:
    kind, first, second, seed = op
    rnd = random.Random(seed)
    if kind == "insert":  # `first` rows of up to `second` bytes
        rows = [(f"{seed}-{n}", rnd.randbytes(rnd.randint(0, second))) for n in range(first)]
        conn.executemany("INSERT INTO t (a, b) VALUES (?, ?)", rows)
    elif kind == "delete":  # every `first`-th row (or so)
        conn.execute("DELETE FROM t WHERE id % ? = ?", (first, second % first))
    elif kind == "update":  # rows to blobs of `first` bytes
        conn.execute(
            "UPDATE t SET b = blob_of(id * 7919 + ?, ?), a = a || 'u' WHERE id % ? = 0",
            (seed, first, second),
        )
    elif kind == "create":  # table x`first`, with `second` rows
        conn.execute(f"CREATE TABLE IF NOT EXISTS x{first} (v BLOB)")
        blobs = [(rnd.randbytes(rnd.randint(0, 2000)),) for _ in range(second)]
        conn.executemany(f"INSERT INTO x{first} (v) VALUES (?)", blobs)
    elif kind == "drop":
        conn.execute(f"DROP TABLE IF EXISTS x{first}")
    elif kind == "index":
        if first:
            conn.execute("CREATE INDEX IF NOT EXISTS t_b ON t (b)")
        else:
            conn.execute("DROP INDEX IF EXISTS t_b")
    elif kind == "savepoint":  # changes rolled back to a savepoint, then one more row
        conn.execute("SAVEPOINT s")
        conn.executemany("INSERT INTO t (a, b) VALUES ('s', ?)", [(rnd.randbytes(second),)] * first)
        conn.execute("DELETE FROM t WHERE id % 2 = 0")
        conn.execute("ROLLBACK TO s")
        conn.execute("RELEASE s")
        conn.execute("INSERT INTO t (a, b) VALUES ('s', ?)", (rnd.randbytes(second),))
    elif kind == "vacuum":  # up to `first` free pages given back (auto_vacuum=INCREMENTAL)
        conn.execute(f"PRAGMA incremental_vacuum({first})").fetchall()
    else:  # pragma: no cover
        raise AssertionError(kind)


def build(
    path: Path,
    *,
    page_size: int,
    rows: int,
    seed: int,
    delete_every: int = 0,
    auto_vacuum: str = "NONE",
) -> Path:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA page_size={page_size}")
    conn.execute(f"PRAGMA auto_vacuum={auto_vacuum}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BLOB)")
    conn.execute("CREATE INDEX t_a ON t (a)")
    conn.commit()
    run_op(conn, ("insert", rows, 3000, seed))
    conn.commit()
    if delete_every:  # free pages from the start
        conn.execute("DELETE FROM t WHERE id % ? <> 0", (delete_every,))
        conn.commit()
    conn.close()
    return path


seeds = st.integers(0, 2**32)
any_op = st.one_of(
    st.tuples(st.just("insert"), st.integers(1, 30), st.integers(0, 5000), seeds),
    st.tuples(st.just("delete"), st.integers(1, 4), st.integers(0, 3), seeds),
    st.tuples(st.just("update"), st.integers(0, 6000), st.integers(1, 4), seeds),
    st.tuples(st.just("create"), st.integers(0, 3), st.integers(0, 20), seeds),
    st.tuples(st.just("drop"), st.integers(0, 3), st.just(0), seeds),
    st.tuples(st.just("index"), st.integers(0, 1), st.just(0), seeds),
    st.tuples(st.just("savepoint"), st.integers(1, 20), st.integers(0, 3000), seeds),
    st.tuples(st.just("vacuum"), st.integers(0, 30), st.just(0), seeds),
)
# Only ever more: the database rarely has a free page (b-tree balancing can free one).
growing_op = st.one_of(
    st.tuples(st.just("insert"), st.integers(1, 30), st.integers(0, 5000), seeds),
    st.tuples(st.just("create"), st.integers(0, 3), st.integers(0, 20), seeds),
    st.tuples(st.just("index"), st.just(1), st.just(0), seeds),
)
cache_sizes = st.sampled_from([2, 10, 2000])


def transactions(op: st.SearchStrategy[Op], *, midway: bool = False) -> st.SearchStrategy:
    return st.builds(
        Transaction,
        cache_size=cache_sizes,
        ops=st.lists(op, min_size=1, max_size=6).map(tuple),
        commit_midway=st.booleans() if midway else st.just(False),
        secure_delete=st.booleans(),
    )


@dataclass(frozen=True)
class Start:
    page_size: int
    rows: int
    seed: int
    delete_every: int
    auto_vacuum: str = "NONE"


starts = st.builds(
    Start,
    page_size=st.sampled_from([512, 1024, 4096]),
    rows=st.integers(0, 60),
    seed=seeds,
    delete_every=st.sampled_from([0, 0, 2, 3]),
    auto_vacuum=st.sampled_from(["NONE", "NONE", "FULL", "INCREMENTAL"]),
)
growing_starts = st.builds(
    Start,
    page_size=st.sampled_from([512, 1024, 4096]),
    rows=st.integers(0, 60),
    seed=seeds,
    delete_every=st.just(0),
    auto_vacuum=st.sampled_from(["NONE", "FULL"]),
)

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@contextmanager
def database(start: Start) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield build(
            Path(tmp) / "db.sqlite",
            page_size=start.page_size,
            rows=start.rows,
            seed=start.seed,
            delete_every=start.delete_every,
            auto_vacuum=start.auto_vacuum,
        )


# -- pages of files ---------------------------------------------------------------------


def page_of(data: bytes, number: int, size: int) -> bytes:
    return data[(number - 1) * size : number * size]


def differing_pages(before: bytes, after: bytes, size: int) -> set[int]:
    """Every page of ``after`` that is not the same page of ``before`` (or is new)."""
    return {
        n
        for n in range(1, len(after) // size + 1)
        if page_of(after, n, size) != page_of(before, n, size)
    }


def dump(source: Path | bytes) -> list[str]:
    """The database's content as SQL, from SQLite itself."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(source.read_bytes() if isinstance(source, Path) else source)
        return list(conn.iterdump())
    finally:
        conn.close()


def file_checksum(path: Path) -> int:
    image = FileImage(path)
    try:
        return checksum_of(image)
    finally:
        image.close()


def as_entry(change: Change, *, checksum_before: int, page_size: int) -> LogEntry:
    return LogEntry(
        seq=1,
        page_size=page_size,
        page_count=change.page_count,
        pages=change.pages,
        checksum_before=checksum_before,
        checksum_after=change.checksum_after,
        full_image=change.full_image,
    )


# -- the file image: the property -------------------------------------------------------


def check_file_write(path: Path, transaction: Transaction, *, complete: bool) -> None:
    """Write ``transaction`` to ``path`` as a session does, check the Change, undo it,
    check the undo, and write it again (the retry after a lost race)."""
    before = path.read_bytes()
    content_before = dump(before)
    image = FileImage(path)
    try:
        size = image.page_size
        checksum = checksum_of(image)
        free_before = freelist_of(image)
        result, change = image.write(transaction.run, checksum)
        after = path.read_bytes()
        assert result == count_rows(after)
        if change is None:
            assert after == before
            return
        check_sound(change, before, after, size)
        if complete:
            check_complete(change, before, after, size, checksum, image)

        image.undo(change)
        restored = path.read_bytes()
        assert len(restored) == len(before)
        kept = [n for n in range(1, len(before) // size + 1) if n not in free_before.leaves]
        assert [page_of(restored, n, size) for n in kept] == [
            page_of(before, n, size) for n in kept
        ]
        assert checksum_of(image) == checksum
        assert dump(restored) == content_before

        # The retry, on the undone file, is a write like any other.
        again, change = image.write(transaction.run, checksum)
        assert again == result and change is not None
        redone = path.read_bytes()
        assert dump(redone) == dump(after)
        check_sound(change, restored, redone, size)
        if complete:
            check_complete(change, restored, redone, size, checksum, image)
    finally:
        image.close()


def count_rows(data: bytes) -> int:
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(data)
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        conn.close()


def check_sound(change: Change, before: bytes, after: bytes, size: int) -> None:
    """What the Change says is true of the files (it may not say everything)."""
    assert not change.full_image
    assert change.page_count == len(after) // size
    assert change.page_count_before == len(before) // size
    assert 1 in change.pages  # the change counter
    new_pages = set(range(len(before) // size + 1, len(after) // size + 1))
    assert new_pages <= set(change.pages), "pages past the old end are missing"
    assert all(change.pages[n] == page_of(after, n, size) for n in change.pages)
    assert all(change.originals[n] == page_of(before, n, size) for n in change.originals)


def check_complete(
    change: Change, before: bytes, after: bytes, size: int, checksum: int, image: FileImage
) -> None:
    """The Change says everything: every changed page (a page that was a free leaf
    before and after aside: its bytes count nowhere), the file's checksum."""
    leaves_before = freelist_of(MemoryImage(before)).leaves
    leaves_after = freelist_of(image).leaves
    missing = differing_pages(before, after, size) - set(change.pages)
    counted = missing - (leaves_before & leaves_after)
    assert not counted, f"pages {sorted(counted)} changed but are not in the Change"
    assert change.checksum_after == checksum_of(image)
    # So a replica at the old state ends with the same database.
    replica = MemoryImage(before)
    entry = as_entry(change, checksum_before=checksum, page_size=size)
    assert apply_entry(replica, entry, checksum) == change.checksum_after
    assert dump(replica.to_bytes()) == dump(after)
    assert checksum_of(replica) == change.checksum_after


@settings(PROPERTY)
@given(start=starts, history=st.lists(transactions(any_op), min_size=1, max_size=3))
def test_a_file_write_logs_every_page_it_changed(start: Start, history: list[Transaction]) -> None:
    with database(start) as path:
        for transaction in history:
            check_file_write(path, transaction, complete=True)


@settings(PROPERTY)
@given(start=starts, history=st.lists(transactions(any_op), min_size=1, max_size=3))
def test_a_file_write_is_undone_to_the_database_it_started_from(
    start: Start, history: list[Transaction]
) -> None:
    with database(start) as path:
        for transaction in history:
            check_file_write(path, transaction, complete=False)


@settings(PROPERTY)
@given(start=growing_starts, history=st.lists(transactions(growing_op), min_size=1, max_size=3))
def test_a_file_write_without_free_pages_logs_every_page_it_changed(
    start: Start, history: list[Transaction]
) -> None:
    with database(start) as path:
        assert struct.unpack(">I", path.read_bytes()[36:40]) == (0,)  # no free page
        for transaction in history:
            if struct.unpack(">I", path.read_bytes()[36:40]) != (0,):
                # Balancing a b-tree can free a page even when only rows are added
                # (an index of large keys): the rest is the general test's case.
                break
            check_file_write(path, transaction, complete=True)


# -- the memory image -------------------------------------------------------------------


@settings(PROPERTY)
@given(start=starts, history=st.lists(transactions(any_op, midway=True), min_size=1, max_size=3))
def test_a_memory_write_logs_exactly_the_pages_it_changed(
    start: Start, history: list[Transaction]
) -> None:
    with database(start) as path:
        image = MemoryImage(path.read_bytes())
    size = image.page_size
    for transaction in history:
        before = image.to_bytes()
        checksum = checksum_of(image)
        result, change = image.write(transaction.run, checksum)
        after = image.to_bytes()
        assert result == count_rows(after)
        if change is None:
            assert after == before
            continue
        # Every page whose bytes changed, and every page that joined or left the free
        # leaves (or became or stopped being a trunk): its bytes may be the same (a page
        # freed without secure_delete), but whether they count is not.
        free_before, free_after = freelist_of(MemoryImage(before)), freelist_of(image)
        moved = (free_before.leaves ^ free_after.leaves) | (free_before.trunks ^ free_after.trunks)
        expected = differing_pages(before, after, size) | {
            n for n in moved if n <= len(after) // size
        }
        assert set(change.pages) == expected
        assert change.page_count == len(after) // size
        assert change.checksum_after == checksum_of(MemoryImage(after))
        replica = MemoryImage(before)
        entry = as_entry(change, checksum_before=checksum, page_size=size)
        assert apply_entry(replica, entry, checksum) == change.checksum_after
        assert replica.to_bytes() == after

        image.undo(change)
        assert image.to_bytes() == before
        image.write(transaction.run, checksum)
        assert dump(image.to_bytes()) == dump(after)


# -- the file image: particular writes ----------------------------------------------------


def small_database(tmp_path: Path, *, page_size: int = 1024, rows: int = 20) -> Path:
    return build(tmp_path / "db.sqlite", page_size=page_size, rows=rows, seed=1)


def insert_rows(count: int, size: int = 900) -> Callable[[sqlite3.Connection], None]:
    def operation(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT INTO t (a, b) VALUES ('r', ?)", [(b"\x5a" * size,)] * count)

    return operation


def commit_then_more(conn: sqlite3.Connection) -> None:
    insert_rows(5)(conn)
    conn.commit()
    insert_rows(7, 2000)(conn)


def commit_alone(conn: sqlite3.Connection) -> None:
    insert_rows(5)(conn)
    conn.commit()


def lone_ddl(conn: sqlite3.Connection) -> None:
    # Python's sqlite3 begins no transaction before DDL: this commits at once.
    conn.execute("CREATE TABLE y (v)")


@pytest.mark.parametrize("operation", [commit_then_more, commit_alone, lone_ddl])
def test_an_operation_that_commits_by_itself_is_logged_as_a_full_image(
    tmp_path: Path, operation: Callable[[sqlite3.Connection], None]
) -> None:
    path = small_database(tmp_path)
    before = path.read_bytes()
    image = FileImage(path)
    try:
        checksum = checksum_of(image)
        _, change = image.write(operation, checksum)
        after = path.read_bytes()
        assert change is not None and change.full_image
        count = len(after) // image.page_size
        assert change.page_count == count
        assert change.pages == {n: page_of(after, n, image.page_size) for n in range(1, count + 1)}
        assert change.checksum_after == checksum_of(image)
        replica = MemoryImage(before)
        entry = as_entry(change, checksum_before=checksum, page_size=image.page_size)
        assert apply_entry(replica, entry, checksum) == change.checksum_after
        assert replica.to_bytes() == after
        # Its old pages are not all known: it cannot be undone in place.
        with pytest.raises(DiskTrouble):
            image.undo(change)
    finally:
        image.close()


def test_a_write_that_changes_nothing_reports_no_change(tmp_path: Path) -> None:
    path = small_database(tmp_path)
    before = path.read_bytes()
    image = FileImage(path)
    try:
        checksum = checksum_of(image)
        rows, change = image.write(lambda conn: count_rows(before), checksum)
        assert change is None and rows == 20
        _, change = image.write(lambda conn: conn.execute("DELETE FROM t WHERE id < 0"), checksum)
        assert change is None
        assert path.read_bytes() == before
    finally:
        image.close()


def test_a_failing_operation_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = small_database(tmp_path)
    before = path.read_bytes()

    def fails(conn: sqlite3.Connection) -> None:
        insert_rows(30)(conn)
        raise RuntimeError("the operation failed")

    image = FileImage(path)
    try:
        with pytest.raises(RuntimeError, match="the operation failed"):
            image.write(fails, checksum_of(image))
    finally:
        image.close()
    assert path.read_bytes() == before
    assert not Path(f"{path}-journal").exists()


def freed_then_reused(conn: sqlite3.Connection) -> None:
    # Takes every free page (the trunk last), then frees pages again: the first one
    # freed becomes the new trunk, and it was a free leaf before the write.
    conn.executemany("INSERT INTO t (a, b) VALUES ('r', zeroblob(900))", [()] * 40)
    conn.execute("DELETE FROM t")


def test_a_free_leaf_that_becomes_a_trunk_page_is_logged(tmp_path: Path) -> None:
    path = build(tmp_path / "db.sqlite", page_size=1024, rows=0, seed=1)
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO t (a, b) VALUES ('r', zeroblob(900))", [()] * 20)
    conn.commit()
    conn.execute("DELETE FROM t")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    image = FileImage(path)
    try:
        free_before = freelist_of(image)
        checksum = checksum_of(image)
        _, change = image.write(freed_then_reused, checksum)
        assert change is not None
        free_after = freelist_of(image)
        promoted = free_after.trunks & free_before.leaves
        assert promoted, "the scenario no longer promotes a leaf to a trunk"
        after = path.read_bytes()
        assert differing_pages(before, after, 1024) <= set(change.pages)
        assert change.checksum_after == checksum_of(image)
        # What a replica makes of the entry.
        replica = MemoryImage(before)
        apply_entry(replica, as_entry(change, checksum_before=checksum, page_size=1024), checksum)
    finally:
        image.close()


@pytest.mark.parametrize("mode", ["FULL", "INCREMENTAL"])
def test_a_write_that_shrinks_an_auto_vacuum_database_is_logged_and_undone(
    tmp_path: Path, mode: str
) -> None:
    path = tmp_path / "db.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size=1024")
    conn.execute(f"PRAGMA auto_vacuum={mode}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
    conn.executemany("INSERT INTO t (b) VALUES (zeroblob(900))", [()] * 20)
    conn.commit()
    conn.close()
    before = path.read_bytes()

    def shrink(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM t WHERE id <= 10")
        conn.execute("PRAGMA incremental_vacuum").fetchall()

    image = FileImage(path)
    try:
        checksum = checksum_of(image)
        _, change = image.write(shrink, checksum)
        assert change is not None
        assert len(path.read_bytes()) < len(before)
        assert change.checksum_after == checksum_of(image)
        image.undo(change)
        assert checksum_of(image) == checksum
        assert dump(path) == dump(before)
    finally:
        image.close()


def test_a_page_freed_without_secure_delete_stops_counting(tmp_path: Path) -> None:
    # Without secure_delete, SQLite frees a row's overflow pages as free leaves without
    # journaling or writing them: their bytes stay, but they leave the checksum.
    path = build(tmp_path / "db.sqlite", page_size=1024, rows=0, seed=1)
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO t (a, b) VALUES ('r', zeroblob(5000))", [()] * 10)
    conn.commit()
    conn.close()
    before = path.read_bytes()

    def delete_one(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA secure_delete=0")
        conn.execute("DELETE FROM t WHERE id = 3")

    image = FileImage(path)
    try:
        checksum = checksum_of(image)
        _, change = image.write(delete_one, checksum)
        assert change is not None and not change.full_image
        after = path.read_bytes()
        freed = freelist_of(image).leaves
        unchanged = {n for n in freed if page_of(before, n, 1024) == page_of(after, n, 1024)}
        assert unchanged, "the scenario no longer frees a page without writing it"
        assert unchanged <= set(change.pages)
        assert change.checksum_after == checksum_of(image)
        replica = MemoryImage(before)
        entry = as_entry(change, checksum_before=checksum, page_size=1024)
        assert apply_entry(replica, entry, checksum) == checksum_of(replica)
        image.undo(change)
        assert checksum_of(image) == checksum
        assert dump(path) == dump(before)
    finally:
        image.close()


# -- rollback journals ------------------------------------------------------------------


def journal_database(tmp_path: Path) -> Path:
    return build(tmp_path / "db.sqlite", page_size=1024, rows=150, seed=3)


def test_a_hot_journal_holds_the_original_of_every_page_the_transaction_changed(
    tmp_path: Path,
) -> None:
    path = journal_database(tmp_path)
    before = path.read_bytes()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA synchronous=OFF")  # as FileImage.write runs
    conn.execute("PRAGMA cache_spill=OFF")
    conn.execute("BEGIN")
    conn.execute("UPDATE t SET b = x'00' WHERE id % 3 = 0")
    conn.execute("DELETE FROM t WHERE id % 7 = 0")
    conn.execute("INSERT INTO t (a, b) VALUES ('new', zeroblob(5000))")
    captured = tmp_path / "captured-journal"
    captured.write_bytes(Path(f"{path}-journal").read_bytes())
    conn.execute("COMMIT")
    conn.close()
    after = path.read_bytes()

    journal = read_journal(captured)
    assert journal is not None
    assert journal.pages_before == len(before) // 1024
    assert journal.originals, "the journal lists no page"
    for number, original in journal.originals.items():
        assert original == page_of(before, number, 1024), f"page {number}"
    free_before = read_freelist(lambda n: page_of(before, n, 1024), before[:100]).leaves
    changed = differing_pages(before, after, 1024)
    # Page 1 is journaled at COMMIT; free leaves are reused without journaling.
    expected = {n for n in changed if n <= journal.pages_before} - {1} - free_before
    assert expected <= set(journal.originals)


_CRASH_MID_TRANSACTION = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=DELETE")
conn.execute("PRAGMA synchronous=FULL")
conn.execute("PRAGMA cache_size=5")
conn.execute("BEGIN")
conn.execute("UPDATE t SET b = zeroblob(700), a = a || 'x'")
os._exit(0)
"""


def test_a_journal_left_by_a_crash_restores_the_database(tmp_path: Path) -> None:
    # A transaction too big for its page cache spills pages into the database, each
    # spill after syncing a journal segment: the journal has several segments.
    path = journal_database(tmp_path)
    before = path.read_bytes()
    subprocess.run([sys.executable, "-c", _CRASH_MID_TRANSACTION, str(path)], check=True)
    torn = path.read_bytes()
    journal_path = Path(f"{path}-journal")
    assert journal_path.exists() and torn != before  # a hot journal, pages spilled

    journal = read_journal(journal_path)
    assert journal is not None
    raw = journal_path.read_bytes()
    (_, first_segment, *_) = struct.unpack_from(">8sIIIII", raw)
    assert 0 < first_segment < len(journal.originals), "only one segment was read"
    assert journal.pages_before == len(before) // 1024
    assert all(page_of(before, n, 1024) == p for n, p in journal.originals.items())
    # Written back, the originals make the database SQLite's own recovery makes of the
    # hot journal (the reference), which is the database before the transaction.
    image = MemoryImage(torn)
    image.write_pages(journal.originals, journal.pages_before)
    conn = sqlite3.connect(path)  # opening it read-write rolls the hot journal back
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    assert not journal_path.exists()
    recovered = path.read_bytes()
    assert recovered == before
    assert image.to_bytes() == recovered
    assert dump(recovered) == dump(before)


def test_a_journal_cut_short_lists_only_its_whole_records(tmp_path: Path) -> None:
    path = journal_database(tmp_path)
    before = path.read_bytes()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    conn.execute("UPDATE t SET b = x'00'")
    raw = Path(f"{path}-journal").read_bytes()
    conn.execute("ROLLBACK")
    conn.close()
    whole = tmp_path / "whole"
    whole.write_bytes(raw)
    full = read_journal(whole)
    assert full is not None and len(full.originals) > 3
    record = 1024 + 8
    header = len(raw) - len(full.originals) * record  # one header sector
    cut = tmp_path / "cut"
    for records in (0, 1, 3):
        for extra in (0, 1, record - 1):
            cut.write_bytes(raw[: header + records * record + extra])
            journal = read_journal(cut)
            assert journal is not None
            assert len(journal.originals) == records
            assert all(page_of(before, n, 1024) == p for n, p in journal.originals.items())
    # A record whose checksum fails ends the list there, as SQLite's rollback does.
    damaged = bytearray(raw)
    damaged[header + 2 * record + 4 + 1024 - 200] ^= 1  # a byte the checksum covers
    cut.write_bytes(bytes(damaged))
    journal = read_journal(cut)
    assert journal is not None and len(journal.originals) == 2


def test_no_journal_or_not_a_journal_is_none(tmp_path: Path) -> None:
    assert read_journal(tmp_path / "missing-journal") is None
    for content in (b"", b"\x00" * 4096, b"SQLite format 3\x00" + b"\x00" * 100):
        path = tmp_path / "not-a-journal"
        path.write_bytes(content)
        assert read_journal(path) is None


# -- free lists -------------------------------------------------------------------------


def test_the_freelist_is_what_sqlite_counts_and_uses_no_page_a_table_uses(
    tmp_path: Path,
) -> None:
    path = build(tmp_path / "db.sqlite", page_size=512, rows=0, seed=1)
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO t (a, b) VALUES (?, zeroblob(300))", [(str(n),) for n in range(900)]
    )
    conn.commit()
    conn.execute("DELETE FROM t WHERE id % 10 <> 0")
    conn.commit()
    free_count = conn.execute("PRAGMA freelist_count").fetchone()[0]
    page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    in_use = {row[0] for row in conn.execute("SELECT pageno FROM dbstat")}
    conn.close()
    data = path.read_bytes()

    freelist = read_freelist(lambda n: page_of(data, n, 512), data[:100])
    assert len(freelist.trunks) >= 2, "the scenario should need several trunk pages"
    assert not freelist.trunks & freelist.leaves
    assert len(freelist.pages) == free_count > 500
    assert not freelist.pages & in_use
    assert freelist.pages | in_use == set(range(1, page_count + 1))
    assert freelist_of(MemoryImage(data)) == freelist


def test_a_database_without_free_pages_has_an_empty_freelist(tmp_path: Path) -> None:
    data = small_database(tmp_path).read_bytes()
    assert read_freelist(lambda n: page_of(data, n, 1024), data[:100]) == Freelist(
        frozenset(), frozenset()
    )


def with_freelist(data: bytes, first_trunk: int, total: int, trunk_page: bytes) -> bytes:
    size = len(trunk_page)
    out = bytearray(data)
    out[32:40] = struct.pack(">II", first_trunk, total)
    out[(first_trunk - 1) * size : first_trunk * size] = trunk_page
    return bytes(out)


def test_a_damaged_freelist_is_an_error_not_a_hang(tmp_path: Path) -> None:
    data = small_database(tmp_path, page_size=512).read_bytes()
    last = len(data) // 512
    looping = with_freelist(data, last, 5, struct.pack(">II", last, 0).ljust(512, b"\0"))
    overfull = with_freelist(data, last, 500, struct.pack(">II", 0, 400).ljust(512, b"\0"))
    for damaged, message in ((looping, "loops"), (overfull, "more leaves")):
        with pytest.raises(ValueError, match=message):
            read_freelist(functools.partial(page_of, damaged, size=512), damaged[:100])
        with pytest.raises(CorruptDatabase):
            checksum_of(MemoryImage(damaged))
