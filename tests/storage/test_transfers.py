"""Presigned uploads and exports against a moto server, over real HTTP; and the keys
they use, for every username the original backend may have (any 1-20 characters)."""

from __future__ import annotations

import functools
import posixpath
import re
import uuid
from pathlib import Path
from urllib.parse import unquote

import boto3
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.schemas.packages import ImportFromUpload
from storage.errors import ObjectNotFound, StoreUnavailable, TooLarge
from storage.transfers import PackageTransfers, learner_segment
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


# --- keys for any username -----------------------------------------------------------

LEGACY_NAMES = [
    "alice",
    "Ana",
    "Ana/Lab1",
    "Ana%2FLab1",
    "Ana%252FLab1",
    "a",
    "a/b",
    "a%2Fb",
    "a%2fb",
    "Maria José",
    "DOMAIN\\ann",
    "100%",
    "%",
    "/",
    "x/",
    "/x",
    "a//b",
    ".",
    "..",
    "...",
    "%2E",
    "%2E%2E",
    "./.",
    "x/..",
    "../x",
    "../..",
    "../user_dbs",
    "tab\there",
    "nul\x00here",
    "next\x85line",
]
# Our registration's usernames: 3-32 of [a-z0-9_.-], lower case.
REGISTERED = st.from_regex(r"[a-z0-9_.-]{3,32}", fullmatch=True)
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


@functools.cache
def offline_transfers() -> PackageTransfers:
    # Presigning is local: no request is made, so no server is needed.
    return PackageTransfers(boto3.client("s3", region_name="us-east-1"), "javumbo-test")


def upload_key(username: str) -> str:
    return offline_transfers().upload_url(username).key


def assert_one_learner_segment(key: str, prefix: str, username: str) -> None:
    parts = key.split("/")
    assert len(parts) == 3, key
    assert parts[0] == prefix
    segment, name = parts[1], parts[2]
    assert segment not in ("", ".", ".."), key
    assert not CONTROL.search(segment), key
    assert re.fullmatch(r"[0-9a-f]{32}\.apkg", name), key
    # Nothing that resolves `..`, drops `.` or collapses `//` moves it.
    assert posixpath.normpath(key) == key
    assert unquote(segment, errors="strict") == username


@pytest.mark.parametrize(
    "username", ["alice", "bob_2", "maria.jose", "a-b", "...", "....", "x..", "..x", "_.-"]
)
def test_registered_usernames_keep_todays_keys(username: str) -> None:
    assert learner_segment(username) == username
    key = upload_key(username)
    assert key.startswith(f"uploads/{username}/")
    assert_one_learner_segment(key, "uploads", username)
    assert PackageTransfers.owns(username, key)


@given(username=REGISTERED)
def test_every_registered_username_is_its_own_segment(username: str) -> None:
    assert learner_segment(username) == username


@pytest.mark.parametrize(
    ("username", "segment"),
    [
        ("Ana/Lab1", "Ana%2FLab1"),
        ("a%2Fb", "a%252Fb"),
        ("100%", "100%25"),
        ("Maria José", "Maria José"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...", "..."),
        ("%2E%2E", "%252E%252E"),
        ("../x", "..%2Fx"),
        ("x/..", "x%2F.."),
        ("tab\there", "tab%09here"),
        ("nul\x00here", "nul%00here"),
        ("next\x85line", "next%C2%85line"),
        ("lone\ud800", "lone%ED%A0%80"),
    ],
)
def test_the_learners_segment(username: str, segment: str) -> None:
    assert learner_segment(username) == segment


@pytest.mark.parametrize("username", LEGACY_NAMES)
def test_every_legacy_key_is_one_segment_under_the_prefix(username: str) -> None:
    assert_one_learner_segment(upload_key(username), "uploads", username)


@pytest.mark.parametrize("username", [".", "..", "./.", "x/..", "../x", "../..", "../user_dbs"])
def test_dot_names_never_make_a_dot_segment(username: str) -> None:
    key = upload_key(username)
    assert "." not in key.split("/") and ".." not in key.split("/"), key
    assert key.startswith("uploads/")


def test_each_learner_owns_only_their_own_uploads() -> None:
    keys = {username: upload_key(username) for username in LEGACY_NAMES}
    assert len(set(keys.values())) == len(keys)
    for owner in LEGACY_NAMES:
        for username, key in keys.items():
            assert PackageTransfers.owns(owner, key) is (owner == username), (owner, key)


@pytest.mark.parametrize(
    ("username", "key", "owned"),
    [
        # Prefix overlap: "Ana"'s segment is never the start of "Ana/Lab1"'s keys.
        ("Ana", "uploads/Ana/Lab1/x.apkg", False),
        ("Ana", "uploads/Ana%2FLab1/x.apkg", False),
        ("Ana/Lab1", "uploads/Ana%2FLab1/x.apkg", True),
        ("Ana/Lab1", "uploads/Ana/Lab1/x.apkg", False),  # the raw name is not a segment
        ("Ana/Lab1", "uploads/Ana/x.apkg", False),
        # Percent-encoding that does not encode `%` would make these two one.
        ("a", "uploads/a%2Fb/x.apkg", False),
        ("a/b", "uploads/a%2Fb/x.apkg", True),
        ("a%2Fb", "uploads/a%2Fb/x.apkg", False),
        ("a%2Fb", "uploads/a%252Fb/x.apkg", True),
        ("a/b", "uploads/a%2fb/x.apkg", False),  # the encoding has one spelling
        # Dot names own their escaped segment only.
        ("..", "uploads/../x.apkg", False),
        ("..", "uploads/%2E%2E/x.apkg", True),
        ("%2E%2E", "uploads/%2E%2E/x.apkg", False),
        (".", "uploads/./x.apkg", False),
        (".", "uploads/%2E/x.apkg", True),
        ("...", "uploads/.../x.apkg", True),
        ("x/..", "uploads/x/../x.apkg", False),
        # The name after the learner's segment is one plain part.
        ("alice", "uploads/alice/x.apkg/", False),
        ("alice", "uploads/alice/./x.apkg", False),
        ("alice", "uploads/alice/.", False),
        ("alice", "uploads/alice/..", False),
        ("alice", "uploads/alice/x\x00.apkg", False),
        ("alice", "uploads//alice/x.apkg", False),
        ("alice", "exports/alice/x.apkg", False),
        ("alice", "/uploads/alice/x.apkg", False),
        ("", "uploads//x.apkg", False),
    ],
)
def test_ownership_compares_the_exact_segment(username: str, key: str, owned: bool) -> None:
    assert PackageTransfers.owns(username, key) is owned


@settings(max_examples=500, deadline=None)
@given(username=st.text(min_size=1, max_size=20))
def test_every_username_has_one_segment_that_round_trips(username: str) -> None:
    key = upload_key(username)
    assert_one_learner_segment(key, "uploads", username)
    assert PackageTransfers.owns(username, key)
    # The learner can send it back: it fits the import body.
    assert ImportFromUpload(key=key).key == key


@settings(max_examples=500, deadline=None)
@given(names=st.lists(st.text(min_size=1, max_size=20), min_size=2, max_size=6, unique=True))
def test_no_two_usernames_share_a_segment_or_an_upload(names: list[str]) -> None:
    assert len({learner_segment(name) for name in names}) == len(names)
    keys = {name: upload_key(name) for name in names}
    for owner in names:
        for username, key in keys.items():
            assert PackageTransfers.owns(owner, key) is (owner == username)


def test_an_empty_username_has_no_segment() -> None:
    with pytest.raises(ValueError, match="username"):
        learner_segment("")


def listing(transfers: PackageTransfers, prefix: str) -> list[str]:
    response = transfers.client.list_objects_v2(Bucket=transfers.bucket, Prefix=prefix)
    return [item["Key"] for item in response.get("Contents", [])]


@pytest.mark.parametrize(
    "username", ["Ana/Lab1", "../x", "..", ".", "...", "a%2Fb", "Maria José", "tab\there"]
)
def test_legacy_names_upload_and_export_under_their_own_segment(
    moto_server: MotoServer, tmp_path: Path, username: str
) -> None:
    # A bucket of its own per name, so the listings show this learner's objects only.
    bucket = f"t-legacy-{uuid.uuid4().hex[:12]}"
    client = s3_client_for(moto_server.url)
    client.create_bucket(Bucket=bucket)
    transfers = PackageTransfers(client, bucket, expires_in=600)
    segment = learner_segment(username)
    upload = transfers.upload_url(username)
    body = b"PK\x03\x04" + username.encode("utf-8") * 10
    put = httpx.put(upload.url, content=body, headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 200, put.text
    # The browser's PUT lands exactly at the key: no dot segment for a client to resolve.
    assert listing(transfers, "") == [upload.key]
    assert upload.key.startswith(f"uploads/{segment}/")
    assert PackageTransfers.owns(username, upload.key)
    target = tmp_path / "in.apkg"
    assert transfers.download(upload.key, target, max_bytes=1 << 20) == len(body)
    transfers.delete(upload.key)

    source = tmp_path / "export.apkg"
    source.write_bytes(b"exported" * 100)
    url = transfers.publish_export(username, source, "Javumbo-2026-11-25.apkg")
    (key,) = listing(transfers, "")
    assert_one_learner_segment(key, "exports", username)
    assert httpx.get(url).content == source.read_bytes()


def test_a_failed_export_upload_is_a_store_outage(moto_server: MotoServer, tmp_path: Path) -> None:
    """An error answer to the export's upload is StoreUnavailable (503), not a 500."""
    gone = PackageTransfers(s3_client_for(moto_server.url), "no-such-bucket-here", expires_in=60)
    package = tmp_path / "export.apkg"
    package.write_bytes(b"PK\x03\x04" + b"x" * 100)
    with pytest.raises(StoreUnavailable, match="PUT"):
        gone.publish_export("alice", package, "export.apkg")
