"""Log entries (storage.pagelog): their encoding, their naming, and that damage of any
kind is refused as ``CorruptDatabase``, by ``decode_entry`` or at the latest by
``apply_entry`` (storage.images), and never crashes or reaches a database."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import struct
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import zstandard

from storage.errors import CorruptDatabase
from storage.images import FileImage, Image, MemoryImage, apply_entry, checksum_of, freelist_of
from storage.keys import PREFIX_LOGS
from storage.pagelog import FLAG_FULL_IMAGE, LogEntry, decode_entry, entry_key, log_prefix, seq_of

# The header as docs/storage.md describes it, field by field, written independently of
# storage.pagelog so that the damage below is aimed at the field it names.
LAYOUT = struct.Struct(">8sHHQIIIQQ16s32s")
FIELDS = [
    ("magic", 8),
    ("version", 2),
    ("flags", 2),
    ("seq", 8),
    ("page_size", 4),
    ("page_count", 4),
    ("pages", 4),
    ("checksum_before", 8),
    ("checksum_after", 8),
    ("nonce", 16),
    ("sha256", 32),
]
OFFSETS: dict[str, range] = {}
_at = 0
for _name, _size in FIELDS:
    OFFSETS[_name] = range(_at, _at + _size)
    _at += _size
assert _at == LAYOUT.size

PAGE_SIZE = 512


def forge(
    records: list[tuple[int, bytes]],
    *,
    page_count: int,
    seq: int = 1,
    version: int = 1,
    flags: int = 0,
    page_size: int = PAGE_SIZE,
    declared_pages: int | None = None,
    payload: bytes | None = None,
) -> bytes:
    """An entry body built by hand, with a correct SHA-256 of whatever payload it holds."""
    if payload is None:
        raw = b"".join(struct.pack(">I", number) + page for number, page in records)
        payload = zstandard.ZstdCompressor().compress(raw)
    header = LAYOUT.pack(
        b"JVPGLOG1",
        version,
        flags,
        seq,
        page_size,
        page_count,
        len(records) if declared_pages is None else declared_pages,
        11,
        22,
        os.urandom(16),
        hashlib.sha256(payload).digest(),
    )
    return header + payload


def page(fill: int, size: int = PAGE_SIZE) -> bytes:
    return bytes([fill]) * (size - 1) + bytes([255 - fill])


def sample_entry(**changes: Any) -> LogEntry:
    entry = LogEntry(
        seq=7,
        page_size=PAGE_SIZE,
        page_count=5,
        pages={1: page(1), 3: page(3), 5: page(5)},
        checksum_before=0x0123456789ABCDEF,
        checksum_after=0xFEDCBA9876543210,
    )
    return replace(entry, **changes)


def refused(body: bytes, expected_seq: int = 7) -> bool:
    try:
        decode_entry(body, expected_seq=expected_seq)
    except CorruptDatabase:
        return True
    return False


# -- encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize("full_image", [False, True])
def test_an_entry_decodes_to_what_was_encoded(full_image: bool) -> None:
    pages = {n: page(n) for n in range(1, 6)} if full_image else sample_entry().pages
    entry = sample_entry(pages=pages, full_image=full_image)
    assert decode_entry(entry.encode(), expected_seq=7) == entry


def test_the_header_is_laid_out_as_documented() -> None:
    entry = sample_entry(full_image=False)
    body = entry.encode()
    magic, version, flags, seq, size, count, pages, before, after, _, digest = LAYOUT.unpack_from(
        body
    )
    assert (magic, version, flags) == (b"JVPGLOG1", 1, 0)
    assert (seq, size, count, pages) == (7, PAGE_SIZE, 5, 3)
    assert (before, after) == (entry.checksum_before, entry.checksum_after)
    assert digest == hashlib.sha256(body[LAYOUT.size :]).digest()
    # And the hand-made entries of these tests are entries.
    forged = forge([(2, page(2))], page_count=4, seq=7)
    assert decode_entry(forged, expected_seq=7).pages == {2: page(2)}


def test_two_encodings_of_one_entry_differ_but_mean_the_same() -> None:
    entry = sample_entry()
    first, second = entry.encode(), entry.encode()
    assert first != second
    assert (
        first[OFFSETS["nonce"].start : OFFSETS["nonce"].stop]
        != (second[OFFSETS["nonce"].start : OFFSETS["nonce"].stop])
    )
    assert decode_entry(first, expected_seq=7) == decode_entry(second, expected_seq=7) == entry


# -- damage -----------------------------------------------------------------------------


def test_every_truncation_is_refused() -> None:
    body = sample_entry().encode()
    for length in range(len(body)):
        assert refused(body[:length]), f"a body cut to {length} of {len(body)} bytes was accepted"


def test_every_flipped_payload_byte_is_refused() -> None:
    body = sample_entry().encode()
    for offset in range(LAYOUT.size, len(body)):
        for bit in (0, 7):
            damaged = bytearray(body)
            damaged[offset] ^= 1 << bit
            assert refused(bytes(damaged)), f"payload byte {offset} bit {bit}"


def test_trailing_bytes_are_refused() -> None:
    assert refused(sample_entry().encode() + b"\x00")


def test_an_entry_read_in_the_wrong_place_is_refused() -> None:
    body = sample_entry().encode()
    for expected in (0, 6, 8, 7 + 2**32):
        with pytest.raises(CorruptDatabase, match="says it is entry 7"):
            decode_entry(body, expected_seq=expected)


@pytest.mark.parametrize("version", [0, 2, 0xFFFF])
def test_an_unknown_format_version_is_refused(version: int) -> None:
    body = forge([(2, page(2))], page_count=4, seq=7, version=version)
    with pytest.raises(CorruptDatabase, match="version"):
        decode_entry(body, expected_seq=7)


@pytest.mark.parametrize("size", [0, 256, 1000, 3072, 131072])
def test_an_impossible_page_size_is_refused(size: int) -> None:
    body = forge([(2, b"\x00" * size)], page_count=4, seq=7, page_size=size)
    assert refused(body)


@pytest.mark.parametrize(
    ("records", "page_count"),
    [
        ([(0, page(0))], 4),  # page numbers start at 1
        ([(5, page(5))], 4),  # beyond the database's end
        ([(2, page(2)), (2, page(9))], 4),  # the same page twice
        ([(3, page(3)), (2, page(2)), (3, page(3))], 4),
    ],
)
def test_impossible_page_numbers_are_refused(
    records: list[tuple[int, bytes]], page_count: int
) -> None:
    with pytest.raises(CorruptDatabase, match="impossible page"):
        decode_entry(forge(records, page_count=page_count, seq=7), expected_seq=7)


def test_a_full_image_without_every_page_is_refused() -> None:
    partial = sample_entry(full_image=True)  # pages 1, 3, 5 of 5
    with pytest.raises(CorruptDatabase, match="full image"):
        decode_entry(partial.encode(), expected_seq=7)
    records = [(n, page(n)) for n in range(1, 5)]
    assert refused(forge(records, page_count=5, seq=7, flags=FLAG_FULL_IMAGE))
    complete = forge(records, page_count=4, seq=7, flags=FLAG_FULL_IMAGE)
    assert decode_entry(complete, expected_seq=7).full_image


@pytest.mark.parametrize("declared", [0, 1, 3, 1000])
def test_a_page_count_the_payload_does_not_hold_is_refused(declared: int) -> None:
    records = [(2, page(2)), (3, page(3))]
    assert refused(forge(records, page_count=4, seq=7, declared_pages=declared))


@pytest.mark.parametrize(
    "payload",
    [b"", b"not zstd at all", zstandard.ZstdCompressor().compress(b"\x00\x00\x00\x02")],
)
def test_a_payload_that_is_not_pages_is_refused(payload: bytes) -> None:
    assert refused(forge([(2, page(2))], page_count=4, seq=7, payload=payload))


# -- damage that only applying can tell --------------------------------------------------


def database_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "base.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    conn.executemany("INSERT INTO t (body) VALUES (?)", [(bytes([n]) * 400,) for n in range(12)])
    conn.commit()
    conn.close()
    return path.read_bytes()


def grow_and_change(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE t SET body = x'00' WHERE id = 1")
    conn.executemany("INSERT INTO t (body) VALUES (?)", [(b"\x07" * 300,)] * 3)


def logged(base: bytes, operation: Callable[[sqlite3.Connection], None]) -> tuple[LogEntry, bytes]:
    """The entry a write of ``operation`` on ``base`` is logged as, and the result."""
    image = MemoryImage(base)
    checksum = checksum_of(image)
    _, change = image.write(operation, checksum)
    assert change is not None and not change.full_image
    entry = LogEntry(
        seq=1,
        page_size=image.page_size,
        page_count=change.page_count,
        pages=change.pages,
        checksum_before=checksum,
        checksum_after=change.checksum_after,
    )
    return entry, image.to_bytes()


@pytest.fixture(params=["memory", "file"])
def open_image(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[bytes], Image]]:
    opened: list[FileImage] = []

    def open_(data: bytes) -> Image:
        if request.param == "memory":
            return MemoryImage(data)
        path = tmp_path / f"replica-{len(opened)}.sqlite"
        path.write_bytes(data)
        opened.append(FileImage(path))
        return opened[-1]

    yield open_
    for image in opened:
        image.close()


def test_a_sound_entry_applies(tmp_path: Path, open_image: Callable[[bytes], Image]) -> None:
    base = database_bytes(tmp_path)
    entry, after = logged(base, grow_and_change)
    assert entry.page_count > len(base) // PAGE_SIZE  # it grows the database
    replica = open_image(base)
    decoded = decode_entry(entry.encode(), expected_seq=1)
    assert apply_entry(replica, decoded, checksum_of(replica)) == entry.checksum_after
    assert replica.to_bytes() == after
    assert checksum_of(replica) == entry.checksum_after


def test_an_entry_for_another_state_is_refused_before_any_page_is_written(
    tmp_path: Path, open_image: Callable[[bytes], Image]
) -> None:
    base = database_bytes(tmp_path)
    entry, _ = logged(base, grow_and_change)
    replica = open_image(base)
    checksum = checksum_of(replica)
    for wrong in (
        replace(entry, checksum_before=entry.checksum_before ^ 1),
        replace(entry, checksum_before=0),
    ):
        with pytest.raises(CorruptDatabase, match="does not follow"):
            apply_entry(replica, wrong, checksum)
    with pytest.raises(CorruptDatabase, match="does not follow"):
        apply_entry(replica, entry, checksum ^ (1 << 63))
    assert replica.to_bytes() == base


def test_an_entry_that_ends_elsewhere_is_refused(
    tmp_path: Path, open_image: Callable[[bytes], Image]
) -> None:
    base = database_bytes(tmp_path)
    entry, _ = logged(base, grow_and_change)
    number = max(n for n in entry.pages if n <= len(base) // PAGE_SIZE and n != 1)
    wrong_page = dict(entry.pages)
    wrong_page[number] = wrong_page[number][:-1] + bytes([wrong_page[number][-1] ^ 1])
    for wrong in (
        replace(entry, checksum_after=entry.checksum_after ^ 1),
        replace(entry, pages=wrong_page),
        replace(entry, full_image=True, pages=dict(entry.pages), checksum_after=0),
    ):
        replica = open_image(base)
        with pytest.raises(CorruptDatabase, match="wrong checksum"):
            apply_entry(replica, wrong, checksum_of(replica))


def test_an_entry_that_cuts_pages_its_header_still_counts_is_refused(
    tmp_path: Path, open_image: Callable[[bytes], Image]
) -> None:
    # The last page is a free leaf: cutting it changes no checksum; only the size the
    # header (page 1, which the checksum covers) declares tells.
    conn = sqlite3.connect(tmp_path / "free-tail.sqlite")
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    conn.executemany("INSERT INTO t (body) VALUES (?)", [(b"\x01" * 400,)] * 12)
    conn.commit()
    conn.execute("DELETE FROM t WHERE id > 9")
    conn.commit()
    conn.close()
    base = (tmp_path / "free-tail.sqlite").read_bytes()
    count = len(base) // PAGE_SIZE
    assert count in freelist_of(MemoryImage(base)).leaves

    def change_one_row(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE t SET body = x'00' WHERE id = 1")

    entry, _ = logged(base, change_one_row)
    assert entry.page_count == count and count not in entry.pages
    replica = open_image(base)
    with pytest.raises(CorruptDatabase, match="header says"):
        apply_entry(replica, replace(entry, page_count=count - 1), checksum_of(replica))
    assert replica.to_bytes() == base


def test_an_entry_of_another_page_size_is_refused(
    tmp_path: Path, open_image: Callable[[bytes], Image]
) -> None:
    base = database_bytes(tmp_path)
    entry, _ = logged(base, grow_and_change)
    replica = open_image(base)
    with pytest.raises(CorruptDatabase, match="page size"):
        apply_entry(replica, replace(entry, page_size=2 * PAGE_SIZE), checksum_of(replica))
    assert replica.to_bytes() == base


def flipped_bits(body: bytes, field: str) -> list[bytes]:
    out = []
    for offset in OFFSETS[field]:
        for bit in range(8):
            damaged = bytearray(body)
            damaged[offset] ^= 1 << bit
            out.append(bytes(damaged))
    return out


@pytest.mark.parametrize(
    "field",
    [name for name, _ in FIELDS if name not in ("page_count", "nonce")],
)
def test_a_flipped_header_bit_is_refused_by_decoding_or_applying(
    tmp_path: Path, field: str
) -> None:
    base = database_bytes(tmp_path)
    entry, _ = logged(base, grow_and_change)
    body = entry.encode()
    for damaged in flipped_bits(body, field):
        try:
            decoded = decode_entry(damaged, expected_seq=1)
        except CorruptDatabase:
            continue
        if decoded == entry:
            continue  # a bit that carries no meaning (an unused flag)
        replica = MemoryImage(base)
        with pytest.raises(CorruptDatabase):
            apply_entry(replica, decoded, checksum_of(replica))


def test_the_nonce_carries_no_meaning(tmp_path: Path) -> None:
    base = database_bytes(tmp_path)
    entry, _ = logged(base, grow_and_change)
    for damaged in flipped_bits(entry.encode(), "nonce"):
        assert decode_entry(damaged, expected_seq=1) == entry


def test_a_flipped_page_count_bit_is_refused_by_decoding_or_applying(tmp_path: Path) -> None:
    base = database_bytes(tmp_path)
    entry, _ = logged(base, grow_and_change)
    body = entry.encode()
    low_byte = OFFSETS["page_count"].stop - 1  # small changes only: no huge allocation
    accepted = []
    for bit in range(8):
        damaged = bytearray(body)
        damaged[low_byte] ^= 1 << bit
        try:
            decoded = decode_entry(bytes(damaged), expected_seq=1)
            replica = MemoryImage(base)
            apply_entry(replica, decoded, checksum_of(replica))
        except CorruptDatabase:
            continue
        accepted.append(decoded.page_count)
    assert accepted == [], f"page counts {accepted} (not {entry.page_count}) were applied"


# -- naming -----------------------------------------------------------------------------


def test_entry_keys_are_under_the_logs_prefix_and_name_their_position() -> None:
    key, log_id = "user_dbs/alice.anki2", "7f3a"
    assert log_prefix(key, log_id) == f"{PREFIX_LOGS}{key}/{log_id}/"
    for seq in (0, 1, 31, 10**15, 10**16 - 1):
        name = entry_key(key, log_id, seq)
        assert name.startswith(log_prefix(key, log_id))
        last = name.rsplit("/", 1)[-1]
        assert len(last) == 16 and last.isdigit()
        assert seq_of(last) == seq
    # Names sort in log order, as a listing returns them.
    names = [entry_key(key, log_id, seq) for seq in (1, 2, 9, 10, 99, 100, 12345)]
    assert sorted(names) == names


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1",
        "000000000000001",  # 15 digits
        "00000000000000001",  # 17 digits
        "000000000000000a",
        "-000000000000001",
        "+000000000000001",
        " 000000000000001",
        "0000000000000001.tmp",
        "0000_00000000_001",
        "\uff10" * 16,  # fullwidth digits
    ],
)
def test_other_names_are_not_entries(name: str) -> None:
    assert seq_of(name) is None


def test_a_name_with_a_trailing_newline_is_not_an_entry() -> None:
    assert seq_of("0000000000000001\n") is None
