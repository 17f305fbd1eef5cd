"""A full download, or a media file, too large for one Lambda answer, on the AWS backend
under moto: the API answers 303 to a presigned GET on the CDN, which Anki's own client
follows. The CDN
is a stand-in that forwards to the moto server and runs the distribution's real
CloudFront Function (tests/support/cdn.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
import zstandard
from anki.collection import Collection

from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.support.aws_env import provision
from tests.support.cdn import CdnStandIn
from tests.support.moto_server import MotoServer
from tests.sync.conftest import decoded, host_key, sync_call
from tests.sync.test_full_sync import device, fill, full_sync, rows
from tests.sync.test_media_sync import full_upload, sync_media

pytestmark = [pytest.mark.interop, pytest.mark.integration]

DOWNLOAD_LIMIT = 300_000  # compressed bytes sent in one answer
META = b'{"v":11,"cv":"x"}'


@dataclass
class Deployment:
    server: AppServer
    cdn: CdnStandIn
    bucket: str
    s3: Any
    env: dict[str, str]  # the instance's environment


@pytest.fixture(scope="module")
def deployment(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("large-downloads")
    env = provision(moto_server, tmp)
    cdn = CdnStandIn(moto_server.url).start()
    env |= {
        "JAVUMBO_SYNC_DOWNLOAD_MAX_BYTES": str(DOWNLOAD_LIMIT),
        "JAVUMBO_SYNC_DOWNLOAD_URL": cdn.url,
    }
    server = AppServer(env, cwd=tmp).start()
    s3 = boto3.client("s3", endpoint_url=moto_server.url, region_name="us-east-1")
    yield Deployment(server, cdn, env["JAVUMBO_BUCKET"], s3, env)
    server.stop()
    cdn.stop()


def _big_collection(tmp_path: Path, name: str) -> Collection:
    col = device(tmp_path, name)
    fill(col)
    # Random hex compresses to about half: well past the one-answer limit.
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"], note["Back"] = "big", os.urandom(400_000).hex()
    col.add_note(note, 1)
    return col


def test_a_collection_too_large_for_one_answer_downloads_through_the_cdn(
    deployment: Deployment, tmp_path: Path
) -> None:
    signed_up(deployment.server, "grace")
    first = _big_collection(tmp_path, "first")
    full_sync(first, deployment.server, upload=True, user="grace")
    before = len(deployment.cdn.seen)

    second = device(tmp_path, "second")
    full_sync(second, deployment.server, upload=False, user="grace")

    # The real client followed the 303 to the CDN, and got every row.
    fetched = deployment.cdn.seen[before:]
    assert len(fetched) == 1
    assert urlsplit(fetched[0]).path.startswith(f"/{deployment.bucket}/sync_downloads/grace/")
    for query in (
        "select id, guid, mid, flds, tags from notes order by id",
        "select id, nid, did, ord, queue, type, ivl, due, data from cards order by id",
        "select id, cid, ease, ivl, type from revlog order by id",
    ):
        assert rows(second, query) == rows(first, query)
    assert second.decks.all_names_and_ids() == first.decks.all_names_and_ids()
    # Both devices are on the server's collection: a normal sync finds nothing to do.
    auth = second.sync_login("grace", PASSWORD, deployment.server.url + "/")
    assert second.sync_collection(auth, sync_media=False).required == 0  # NO_CHANGES
    first.close()
    second.close()

    # The request's line counts a full sync and the bytes that went out through the CDN.
    (line,) = [
        entry
        for entry in deployment.server.request_lines()
        if entry.get("syncMethod") == "download" and entry["status"] == 303
    ]
    assert line["fullSync"] == "download"
    assert line["syncBytesOut"] > DOWNLOAD_LIMIT


def test_the_redirect_is_a_short_lived_signed_get_of_the_compressed_file(
    deployment: Deployment, tmp_path: Path
) -> None:
    signed_up(deployment.server, "heidi")
    col = _big_collection(tmp_path, "heidi")
    full_sync(col, deployment.server, upload=True, user="heidi")
    col.close()
    key = host_key(deployment.server.url, "heidi", PASSWORD)
    usn = json.loads(decoded(sync_call(deployment.server.url, "meta", META, key=key)))["usn"]

    answer = sync_call(deployment.server.url, "download", key=key)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(deployment.cdn.url + "/")
    assert "X-Amz-Expires=" in location and "X-Amz-Signature=" in location
    # A download bumps the usn as Anki's server does, redirected or not.
    after = json.loads(decoded(sync_call(deployment.server.url, "meta", META, key=key)))
    assert after["usn"] == usn + 1

    fetched = httpx.get(location, timeout=60)
    assert fetched.status_code == 200
    data = decoded(fetched)  # checks anki-original-size against the decompressed body
    assert data.startswith(b"SQLite format 3\x00")
    assert len(fetched.content) > DOWNLOAD_LIMIT
    # Without a valid signature S3 refuses, and the CDN adds no size to a refusal.
    path = urlsplit(location).path
    unsigned = httpx.get(f"{deployment.cdn.url}{path}", timeout=60)
    assert unsigned.status_code == 403
    assert "anki-original-size" not in unsigned.headers

    # The stored object is the learner's, under the expiring prefix, with its size.
    stored_key = path.removeprefix(f"/{deployment.bucket}/")
    head = deployment.s3.head_object(Bucket=deployment.bucket, Key=stored_key)
    assert stored_key.startswith("sync_downloads/heidi/")
    assert head["Metadata"] == {"anki-original-size": str(len(data))}
    assert (
        zstandard.ZstdDecompressor().decompress(fetched.content, max_output_size=len(data)) == data
    )


def test_a_media_file_too_large_for_one_answer_reaches_the_device_through_the_cdn(
    deployment: Deployment, tmp_path: Path
) -> None:
    headers = signed_up(deployment.server, "ivan")
    col = device(tmp_path, "ivan")
    fill(col)
    auth = full_upload(col, deployment.server.url, "ivan")
    # Random bytes do not compress: one file past what one answer carries.
    big = b"ID3" + os.urandom(DOWNLOAD_LIMIT + 100_000)
    stored = httpx.post(
        f"{deployment.server.url}/api/media",
        headers=headers,
        files={"file": ("long.mp3", big, "audio/mpeg")},
        timeout=60,
    )
    assert stored.status_code == 201, stored.text
    before = len(deployment.cdn.seen)

    sync_media(col, auth)

    assert (Path(col.media.dir()) / "long.mp3").read_bytes() == big
    (fetched,) = deployment.cdn.seen[before:]
    assert urlsplit(fetched).path.startswith(f"/{deployment.bucket}/sync_downloads/ivan/")
    (line,) = [
        entry
        for entry in deployment.server.request_lines()
        if entry.get("route") == "/msync/downloadFiles" and entry["status"] == 303
    ]
    assert line["mediaFiles"] == 1 and line["syncBytesOut"] > DOWNLOAD_LIMIT
    col.close()


@pytest.fixture(scope="module")
def tiny_answers(
    deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    """An instance on the same data whose answers pass the CDN past 150 bytes: so that
    a normal sync's unchunked answers (start's deletions, applyChanges) take it too."""
    tmp = tmp_path_factory.mktemp("tiny-answers")
    env = deployment.env | {
        "JAVUMBO_CACHE_DIR": str(tmp / "cache"),
        "JAVUMBO_SYNC_DOWNLOAD_MAX_BYTES": "150",
    }
    server = AppServer(env, cwd=tmp).start()
    yield server
    server.stop()


def test_a_normal_sync_s_large_answers_go_through_the_cdn(
    deployment: Deployment, tiny_answers: AppServer, tmp_path: Path
) -> None:
    headers = signed_up(tiny_answers, "judy")
    col = device(tmp_path, "judy")
    fill(col)
    kept = col.note_count()
    bulk = col.decks.id("Bulk")
    for number in range(150):
        note = col.new_note(col.models.by_name("Basic"))
        note["Front"], note["Back"] = f"front {number}", f"back {number}"
        col.add_note(note, bulk)
    full_sync(col, tiny_answers, upload=True, user="judy")
    # Deleted in the web app: the device learns of 150 notes and their cards in start's
    # deletions, one answer that cannot be chunked.
    deleted = httpx.delete(f"{tiny_answers.url}/api/decks/{bulk}", headers=headers, timeout=60)
    assert deleted.status_code == 204, deleted.text
    before = len(deployment.cdn.seen)

    auth = col.sync_login("judy", PASSWORD, tiny_answers.url + "/")
    col.sync_collection(auth, sync_media=False)

    assert col.note_count() == kept
    assert col.decks.id_for_name("Bulk") is None
    assert len(deployment.cdn.seen) > before
    redirected = {
        entry["syncMethod"]
        for entry in tiny_answers.request_lines()
        if entry.get("syncMethod") and entry["status"] == 303
    }
    assert {"start", "applyChanges"} <= redirected
    # The next sync finds both sides equal (the sanity check passed in the last one).
    assert col.sync_collection(auth, sync_media=False).required == 0  # NO_CHANGES
    col.close()
