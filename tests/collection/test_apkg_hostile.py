"""Hostile uploads: every one is refused with the right error, before anything is
written to the collection, without writing outside the private temporary directory
(which is gone afterwards) and within bounded memory."""

from __future__ import annotations

import io
import random
import sqlite3
import stat
import struct
import tempfile
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import zstandard

from collection.apkg import ImportLimits, import_package
from collection.cards import add_card
from collection.errors import CollectionError, MalformedPackage, NotAPackage, PackageTooLarge
from collection.schema import create_collection
from tests.collection.conftest import NOW, dump

MiB = 1024 * 1024
MEMORY_CAP = 64 * MiB
Member = tuple[str | zipfile.ZipInfo, bytes]


def _zip(members: list[Member], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of one test
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def _collection_bytes(*statements: str) -> bytes:
    """A valid schema-11 collection with one card, then `statements` applied."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.anki2"
        with closing(sqlite3.connect(path)) as conn:
            create_collection(conn, now=NOW)
            add_card(conn, "front", "back", now=NOW)
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        return path.read_bytes()


def _legacy_package(collection: bytes, *extra: Member) -> bytes:
    return _zip([("collection.anki2", collection), ("media", b"{}"), *extra])


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`collection.anki2` that unpacks to 1 GiB of zeros, in a zip of ~5 MiB, written
    without ever holding or storing the 1 GiB."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.apkg"
    # Level 1 is fast, and zeros shrink about as well as at level 9.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("collection.anki2", "w", force_zip64=True) as member:
            chunk = bytes(MiB)
            for _ in range(1024):
                member.write(chunk)
        archive.writestr("media", "{}")
    assert path.stat().st_size < 16 * MiB
    return path


def _zstd_bomb(size: int, *, declared: bool) -> bytes:
    buffer = io.BytesIO()
    compressor = zstandard.ZstdCompressor(level=1, write_content_size=declared)
    with compressor.stream_writer(buffer, size=size if declared else -1, closefd=False) as writer:
        chunk = bytes(MiB)
        for _ in range(size // MiB):
            writer.write(chunk)
    return buffer.getvalue()


def _latest_package(collection_zstd: bytes) -> bytes:
    return _zip(
        [("meta", b"\x08\x03"), ("collection.anki21b", collection_zstd), ("media", b"")],
        zipfile.ZIP_STORED,
    )


def _lying_sizes() -> bytes:
    """A member whose directory entry declares 1000 bytes but whose data is 2 MiB."""
    data = bytearray(_zip([("collection.anki2", bytes(2 * MiB)), ("media", b"{}")]))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        assert struct.unpack_from("<I", data, at + offset)[0] == 2 * MiB
        struct.pack_into("<I", data, at + offset, 1000)
    return bytes(data)


def _symlink() -> bytes:
    info = zipfile.ZipInfo("collection.anki2")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3
    return _zip([(info, b"/etc/passwd"), ("media", b"{}")])


def _encrypted() -> bytes:
    """The encryption flag set (zipfile clears it when writing, so it is patched in)."""
    data = bytearray(_legacy_package(_collection_bytes()))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        (flags,) = struct.unpack_from("<H", data, at + offset)
        struct.pack_into("<H", data, at + offset, flags | 0x1)
    return bytes(data)


def _truncated() -> bytes:
    whole = _collection_bytes()
    return _legacy_package(whole[: len(whole) // 2])


CASES: dict[str, tuple[Callable[[], bytes], type[CollectionError]]] = {
    "random bytes": (lambda: random.Random(7).randbytes(4096), NotAPackage),
    "an empty file": (lambda: b"", NotAPackage),
    "text": (lambda: b"front;back\n" * 100, NotAPackage),
    "a zip without a collection": (lambda: _zip([("media", b"{}")]), NotAPackage),
    "only the dummy collection of a new package": (
        lambda: _zip([("meta", b"\x08\x03"), ("collection.anki2", _collection_bytes())]),
        NotAPackage,
    ),
    "a parent path": (
        lambda: _legacy_package(_collection_bytes(), ("../collection.anki2", b"x")),
        MalformedPackage,
    ),
    "an absolute path": (
        lambda: _legacy_package(_collection_bytes(), ("/etc/x", b"x")),
        MalformedPackage,
    ),
    "a nested parent path": (
        lambda: _legacy_package(_collection_bytes(), ("0/../../x", b"x")),
        MalformedPackage,
    ),
    "a backslash parent path": (
        lambda: _legacy_package(_collection_bytes(), ("..\\collection.anki2", b"x")),
        MalformedPackage,
    ),
    "a symlink": (_symlink, MalformedPackage),
    "a duplicate member": (
        lambda: _legacy_package(_collection_bytes(), ("collection.anki2", b"other")),
        MalformedPackage,
    ),
    "an unexpected member": (
        lambda: _legacy_package(_collection_bytes(), ("run.sh", b"rm -rf /")),
        MalformedPackage,
    ),
    "a folder": (lambda: _legacy_package(_collection_bytes(), ("1/", b"")), MalformedPackage),
    "an encrypted member": (_encrypted, MalformedPackage),
    "sizes that lie": (_lying_sizes, MalformedPackage),
    "random bytes for a database": (
        lambda: _legacy_package(random.Random(3).randbytes(64 * 1024)),
        MalformedPackage,
    ),
    "a truncated database": (_truncated, MalformedPackage),
    "a trigger": (
        lambda: _legacy_package(
            _collection_bytes("create trigger t after insert on notes begin delete from cards; end")
        ),
        MalformedPackage,
    ),
    "a view": (
        lambda: _legacy_package(_collection_bytes("create view v as select id from notes")),
        MalformedPackage,
    ),
    "a virtual table": (
        lambda: _legacy_package(_collection_bytes("create virtual table v using fts4(x)")),
        MalformedPackage,
    ),
    "a generated column": (
        lambda: _legacy_package(
            _collection_bytes(
                "alter table notes add column x blob generated always as (zeroblob(1e9))"
            )
        ),
        MalformedPackage,
    ),
    "note types that are not JSON": (
        lambda: _legacy_package(_collection_bytes("update col set models = '{not json'")),
        MalformedPackage,
    ),
    "a lone surrogate in JSON": (
        lambda: _legacy_package(
            _collection_bytes(
                'update col set decks = replace(decks, \'"desc": ""\', \'"desc": "\\ud800"\')'
            )
        ),
        MalformedPackage,
    ),
    "deeply nested JSON": (
        lambda: _legacy_package(_collection_bytes(f"update col set decks = '{'[' * 100_000}'")),
        MalformedPackage,
    ),
    "a note of a missing note type": (
        lambda: _legacy_package(_collection_bytes("update notes set mid = 42")),
        MalformedPackage,
    ),
    "a card due that is text": (
        lambda: _legacy_package(_collection_bytes("update cards set due = 'soon'")),
        MalformedPackage,
    ),
    "schema 18 claimed by schema 11 tables": (
        lambda: _legacy_package(_collection_bytes("update col set ver = 18")),
        MalformedPackage,
    ),
    "an unknown format version": (
        lambda: _zip([("meta", b"\x08\x63"), ("collection.anki2", _collection_bytes())]),
        MalformedPackage,
    ),
    "a media list that is not JSON": (
        lambda: _zip([("collection.anki2", _collection_bytes()), ("media", b"[1, 2")]),
        MalformedPackage,
    ),
    "a collection that is not zstd": (
        lambda: _latest_package(_collection_bytes()),
        MalformedPackage,
    ),
    # Run with an 8 MiB limit (see the test): refused from the declared size.
    "a member larger than the limit": (
        lambda: _zip([("collection.anki2", bytes(9 * MiB)), ("media", b"{}")], zipfile.ZIP_STORED),
        PackageTooLarge,
    ),
}


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temporary files go to `scratch`, the working directory is `cwd`; both must be
    empty after every import."""
    for name in ("scratch", "cwd"):
        (tmp_path / name).mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    monkeypatch.chdir(tmp_path / "cwd")
    yield tmp_path
    assert list((tmp_path / "scratch").iterdir()) == []
    assert list((tmp_path / "cwd").iterdir()) == []


@pytest.fixture
def target(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "target.anki2"
    with closing(sqlite3.connect(path)) as conn:
        create_collection(conn, now=NOW)
        add_card(conn, "mine", "keep me", now=NOW)
        conn.commit()
        add_card(conn, "uncommitted", "also kept", now=NOW)  # the caller's open transaction
        yield conn


def refuse(
    conn: sqlite3.Connection,
    package: Path,
    error: type[CollectionError],
    limits: ImportLimits | None = None,
) -> CollectionError:
    before = dump(conn)
    tracemalloc.start()
    try:
        with pytest.raises(error) as raised:
            import_package(conn, package, now=NOW, limits=limits or ImportLimits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert dump(conn) == before
    assert peak < MEMORY_CAP, f"{peak / MiB:.0f} MiB"
    assert str(raised.value)
    return raised.value


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_package_is_refused(case: str, sandbox: Path, target: sqlite3.Connection) -> None:
    build, error = CASES[case]
    package = sandbox / "upload.apkg"
    package.write_bytes(build())
    limits = ImportLimits(max_bytes=8 * MiB) if "limit" in case else None
    refuse(target, package, error, limits)
    package.unlink()


def test_each_refusal_has_a_stable_code() -> None:
    codes = {NotAPackage: "not_a_package", PackageTooLarge: "package_too_large",
             MalformedPackage: "package_malformed"}  # fmt: skip
    for error, code in codes.items():
        assert issubclass(error, CollectionError) and error.code == code


def test_a_zip_bomb_is_refused_before_it_is_unpacked(
    zip_bomb: Path, sandbox: Path, target: sqlite3.Connection
) -> None:
    raised = refuse(target, zip_bomb, PackageTooLarge)
    assert "1073741824" in str(raised)


@pytest.mark.parametrize("declared", [True, False])
def test_a_zstd_bomb_stops_at_the_limit(
    declared: bool, sandbox: Path, target: sqlite3.Connection
) -> None:
    package = sandbox / "bomb.apkg"
    package.write_bytes(_latest_package(_zstd_bomb(300 * MiB, declared=declared)))
    assert package.stat().st_size < MiB
    refuse(target, package, PackageTooLarge)
    package.unlink()


def test_too_many_members(sandbox: Path, target: sqlite3.Connection) -> None:
    package = sandbox / "many.apkg"
    media = [(str(i), b"x") for i in range(60)]
    package.write_bytes(_legacy_package(_collection_bytes(), *media))
    refuse(target, package, PackageTooLarge, ImportLimits(max_members=50))
    package.unlink()


def test_the_default_member_limit(sandbox: Path, target: sqlite3.Connection) -> None:
    """100 001 empty media members: refused from the zip's end record, before
    `zipfile` builds an index of them."""
    package = sandbox / "many.apkg"
    with zipfile.ZipFile(package, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("collection.anki2", _collection_bytes())
        for i in range(100_000):
            archive.writestr(str(i), b"")
    refuse(target, package, PackageTooLarge)
    package.unlink()


@pytest.mark.interop
def test_a_schema_18_collection_with_a_broken_blob(
    sandbox: Path, target: sqlite3.Connection, tmp_path: Path
) -> None:
    from tests.collection.apkg_fixtures import build_anki_packages

    anki = build_anki_packages(tmp_path / "anki")
    with zipfile.ZipFile(anki.packages["latest.apkg"]) as archive:
        raw = (
            zstandard.ZstdDecompressor()
            .decompressobj()
            .decompress(archive.read("collection.anki21b"))
        )
    database = tmp_path / "broken.db"
    database.write_bytes(raw)
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("update notetypes set config = x'ffffffff'")
        conn.commit()
    package = sandbox / "broken.apkg"
    package.write_bytes(_latest_package(zstandard.ZstdCompressor().compress(database.read_bytes())))
    raised = refuse(target, package, MalformedPackage)
    assert "protobuf" in str(raised)
    package.unlink()


def test_a_valid_package_still_imports(sandbox: Path, target: sqlite3.Connection) -> None:
    """The baseline the refusals are measured against."""
    package = sandbox / "fine.apkg"
    package.write_bytes(_legacy_package(_collection_bytes()))
    summary = import_package(target, package, now=NOW, limits=ImportLimits())
    assert (summary.notes_added, summary.cards_added) == (1, 1)
    package.unlink()


def _flip(data: bytes, rng: random.Random, skip: int = 0) -> bytes:
    damaged = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        damaged[rng.randrange(skip, len(damaged))] = rng.randrange(256)
    return bytes(damaged)


def test_damaged_packages_fail_only_with_our_errors(
    sandbox: Path, target: sqlite3.Connection
) -> None:
    """Random damage to the zip or to the database inside it: each import either
    succeeds or raises one of our errors, and a refusal changes nothing."""
    rng = random.Random(20261125)
    database = _collection_bytes()
    packages = [_legacy_package(database), _latest_package(zstandard.compress(database))]
    package = sandbox / "damaged.apkg"
    outcomes = {"refused": 0, "imported": 0}
    for attempt in range(300):
        if attempt % 2:
            data = _flip(rng.choice(packages), rng)
        else:
            # Past the 100-byte header, so that SQLite still opens the file.
            data = _legacy_package(_flip(database, rng, skip=100))
        package.write_bytes(data)
        before = dump(target)
        try:
            import_package(target, package, now=NOW, limits=ImportLimits())
        except CollectionError:
            assert dump(target) == before
            outcomes["refused"] += 1
        else:
            outcomes["imported"] += 1
        target.rollback()
    package.unlink()
    assert min(outcomes.values()) > 0, outcomes
