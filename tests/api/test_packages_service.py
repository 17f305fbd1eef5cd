"""Exports and imports below the router (api/packages.py): files, uploads, no HTTP."""

from __future__ import annotations

import sqlite3
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from api.errors import UploadNotFound
from api.packages import (
    export_package_file,
    import_package_file,
    import_upload,
    publish_if_large,
)
from api.user_collection import UserCollection
from collection import cards, decks
from collection.errors import DeckNotFound, PackageTooLarge
from storage.cache import DiskCache
from storage.local import LocalObjectStore
from storage.objects import ObjectNotFound
from storage.session import S3SQLiteSession
from storage.transfers import PackageTransfers
from tests.conftest import s3_client_for
from tests.support.moto_server import MotoServer


def learner(tmp_path: Path, username: str) -> UserCollection:
    session = S3SQLiteSession(
        LocalObjectStore(tmp_path / "objects"), DiskCache(tmp_path / "cache", 1 << 26)
    )
    collection = UserCollection(session, username)
    collection.ensure_exists()
    return collection


def with_cards(collection: UserCollection, deck: str, fronts: list[str]) -> int:
    now = time.time()

    def add(conn: sqlite3.Connection) -> int:
        deck_id = decks.create_deck(conn, deck, now=now).id
        for front in fronts:
            cards.add_card(conn, front, "back", deck_id, now=now)
        return deck_id

    return collection.write(add)


def card_count(collection: UserCollection) -> int:
    return collection.read(lambda conn: conn.execute("select count() from cards").fetchone()[0])


@pytest.fixture
def transfers(moto_server: MotoServer, bucket: str) -> PackageTransfers:
    return PackageTransfers(s3_client_for(moto_server.url), bucket, expires_in=600)


def test_a_deck_export_round_trips_into_another_learner(tmp_path: Path) -> None:
    alice = learner(tmp_path, "alice")
    deck_id = with_cards(alice, "Spanish::Verbs", ["ser", "estar"])
    with_cards(alice, "Other", ["not exported"])

    exported = export_package_file(alice, deck_id, now=time.time())
    try:
        assert "Verbs" in exported.filename
        assert exported.filename.endswith(".apkg")
        assert zipfile.is_zipfile(exported.path)
        bob = learner(tmp_path, "bob")
        summary = import_package_file(bob, exported.path, max_bytes=1 << 26, now=time.time())
    finally:
        exported.path.unlink(missing_ok=True)
    assert summary.notes_added == 2
    assert card_count(bob) == 2


def test_exporting_a_missing_deck_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = learner(tmp_path, "alice")
    # A private temporary directory: other workers' scratch files never show up in it.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(DeckNotFound):
        export_package_file(alice, 424242, now=time.time())
    assert list(scratch.iterdir()) == []


def test_small_exports_are_answered_directly(tmp_path: Path) -> None:
    alice = learner(tmp_path, "alice")
    exported = export_package_file(alice, None, now=time.time())
    try:
        assert publish_if_large(exported, "alice", None, redirect_bytes=1) is None
        assert exported.path.exists()  # the caller sends it
    finally:
        exported.path.unlink(missing_ok=True)


@pytest.mark.integration  # presigned URLs need the moto server
def test_large_exports_are_published_and_the_file_removed(
    tmp_path: Path, transfers: PackageTransfers
) -> None:
    alice = learner(tmp_path, "alice")
    with_cards(alice, "Big", [f"card {i}" for i in range(20)])
    exported = export_package_file(alice, None, now=time.time())
    url = publish_if_large(exported, "alice", transfers, redirect_bytes=1)
    assert url is not None
    assert not exported.path.exists()
    downloaded = httpx.get(url)
    assert downloaded.status_code == 200
    assert downloaded.content[:2] == b"PK"
    assert exported.filename in downloaded.headers["content-disposition"]


def put_upload(transfers: PackageTransfers, username: str, body: bytes) -> str:
    upload = transfers.upload_url(username)
    put = httpx.put(upload.url, content=body, headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 200, put.text
    return upload.key


@pytest.mark.integration  # presigned URLs need the moto server
def test_an_upload_is_imported_once_then_deleted(
    tmp_path: Path, transfers: PackageTransfers
) -> None:
    alice = learner(tmp_path, "alice")
    with_cards(alice, "Course", ["a", "b", "c"])
    exported = export_package_file(alice, None, now=time.time())
    key = put_upload(transfers, "bob", exported.path.read_bytes())
    exported.path.unlink()

    bob = learner(tmp_path, "bob")
    summary = import_upload(bob, transfers, key, max_bytes=1 << 26, now=time.time())
    assert summary.notes_added == 3
    assert card_count(bob) == 3
    with pytest.raises(ObjectNotFound):
        transfers.download(key, tmp_path / "again.apkg", max_bytes=1 << 26)
    with pytest.raises(UploadNotFound):
        import_upload(bob, transfers, key, max_bytes=1 << 26, now=time.time())


@pytest.mark.integration  # presigned URLs need the moto server
def test_another_learners_upload_is_not_found(tmp_path: Path, transfers: PackageTransfers) -> None:
    key = put_upload(transfers, "alice", b"PK whatever")
    bob = learner(tmp_path, "bob")
    with pytest.raises(UploadNotFound):
        import_upload(bob, transfers, key, max_bytes=1 << 26, now=time.time())
    # Still there for its owner.
    assert transfers.download(key, tmp_path / "kept.apkg", max_bytes=1 << 26) > 0


@pytest.mark.integration  # presigned URLs need the moto server
def test_an_oversized_upload_is_refused_and_kept(
    tmp_path: Path, transfers: PackageTransfers
) -> None:
    key = put_upload(transfers, "alice", b"x" * 4096)
    alice = learner(tmp_path, "alice")
    with pytest.raises(PackageTooLarge):
        import_upload(alice, transfers, key, max_bytes=1024, now=time.time())
    assert card_count(alice) == 0
    assert transfers.download(key, tmp_path / "kept.apkg", max_bytes=1 << 20) == 4096
