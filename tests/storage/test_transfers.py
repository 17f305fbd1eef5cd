"""Presigned uploads and exports against a moto server, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from storage.objects import ObjectNotFound
from storage.transfers import PackageTransfers, TooLarge
from tests.conftest import s3_client_for
from tests.support.moto_server import MotoServer


@pytest.fixture
def transfers(moto_server: MotoServer, bucket: str) -> PackageTransfers:
    return PackageTransfers(s3_client_for(moto_server.url), bucket, expires_in=600)


def test_presigned_upload_then_download(transfers: PackageTransfers, tmp_path: Path) -> None:
    upload = transfers.upload_url("alice")
    assert upload.key.startswith("uploads/alice/")
    assert upload.expires_in <= 3600
    body = b"PK\x03\x04" + b"package bytes" * 1000
    put = httpx.put(upload.url, content=body, headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 200, put.text
    target = tmp_path / "in.apkg"
    assert transfers.download(upload.key, target, max_bytes=1 << 20) == len(body)
    assert target.read_bytes() == body
    with pytest.raises(TooLarge):
        transfers.download(upload.key, tmp_path / "x", max_bytes=100)
    transfers.delete(upload.key)
    with pytest.raises(ObjectNotFound):
        transfers.download(upload.key, tmp_path / "y", max_bytes=1 << 20)


@pytest.mark.parametrize(
    ("key", "owned"),
    [
        ("uploads/alice/abc.apkg", True),
        ("uploads/bob/abc.apkg", False),
        ("uploads/alice/../bob/abc.apkg", False),
        ("uploads/alice/", False),
        ("user_dbs/alice.anki2", False),
        ("uploads/alicex/abc.apkg", False),
    ],
)
def test_only_the_learners_own_uploads_can_be_imported(key: str, owned: bool) -> None:
    assert PackageTransfers.owns("alice", key) is owned


def test_published_export_downloads_as_an_attachment(
    transfers: PackageTransfers, tmp_path: Path
) -> None:
    source = tmp_path / "export.apkg"
    source.write_bytes(b"exported" * 100)
    url = transfers.publish_export("alice", source, "Javumbo-2026-11-25.apkg")
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == source.read_bytes()
    assert "Javumbo-2026-11-25.apkg" in response.headers["content-disposition"]
