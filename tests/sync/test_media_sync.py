"""Media sync with Anki's own client over HTTP: a device's files reach the learner's
media store (and the web app's card links), the web app's files reach devices,
deletions travel both ways, both client paths (with and without ``begin``), downloads
in several rounds under a small byte cap, and hostile uploads refused with nothing
changed; beside Anki's own server where behaviour is in doubt."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard
from anki.collection import Collection
from anki.sync_pb2 import SyncCollectionResponse

from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.sync.conftest import OfficialServer, decoded, host_key, sync_call
from tests.sync.rounds import PNG, folder_files, picture, wait_for_media, web_files

pytestmark = [pytest.mark.interop, pytest.mark.integration]

Required = SyncCollectionResponse.ChangesRequired

# Small limits, so that several download rounds and "too large" are reachable.
DOWNLOAD_CAP = 10_000  # bytes of files per downloadFiles answer
FILE_LIMIT = 200_000  # the media store's largest file
UPLOAD_CAP = 300_000  # the largest compressed uploadChanges body
_LINK = re.compile(r"/api/media/([^?\"'\s)]+)\?t=([^\"'\s)&]+)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    tmp = tmp_path_factory.mktemp("media-sync-app")
    env = {
        "JAVUMBO_BACKEND": "local",
        "JAVUMBO_DATA_DIR": str(tmp / "data"),
        "JAVUMBO_CACHE_DIR": str(tmp / "cache"),
        "JAVUMBO_BCRYPT_ROUNDS": "4",
        "JAVUMBO_SYNC_MEDIA_DOWNLOAD_MAX_BYTES": str(DOWNLOAD_CAP),
        "JAVUMBO_MEDIA_MAX_FILE_BYTES": str(FILE_LIMIT),
        "JAVUMBO_SYNC_MEDIA_UPLOAD_MAX_BYTES": str(UPLOAD_CAP),
    }
    server = AppServer(env, cwd=tmp).start()
    yield server
    server.stop()


def device(tmp_path: Path, name: str) -> Collection:
    folder = tmp_path / name
    folder.mkdir()
    return Collection(str(folder / "collection.anki2"))


def sound(seed: int) -> bytes:
    return b"ID3" + hashlib.sha256(f"s{seed}".encode()).digest() * 40


def sync_media(col: Collection, auth: Any) -> None:
    col.sync_media(auth)  # asks begin for the server's media usn
    wait_for_media(col)


def media_calls(server: AppServer, method: str) -> int:
    return sum(1 for line in server.request_lines() if line.get("route") == f"/msync/{method}")


def full_upload(col: Collection, server_url: str, user: str, password: str = PASSWORD) -> Any:
    auth = col.sync_login(user, password, server_url + "/")
    out = col.sync_collection(auth, sync_media=False)
    assert out.required == Required.FULL_UPLOAD
    col.close_for_full_sync()
    col.full_upload_or_download(auth=auth, server_usn=None, upload=True)
    col.reopen(after_full_sync=True)
    return auth


def full_download_with_media(col: Collection, server_url: str, user: str) -> Any:
    """A fresh device: sync_collection with media asks for a full download, which then
    syncs media in the background from meta's media usn (no begin)."""
    auth = col.sync_login(user, PASSWORD, server_url + "/")
    out = col.sync_collection(auth, sync_media=True)
    assert out.required == Required.FULL_DOWNLOAD
    col.close_for_full_sync()
    col.full_upload_or_download(auth=auth, server_usn=out.server_media_usn, upload=False)
    col.reopen(after_full_sync=True)
    wait_for_media(col)
    return auth


def test_media_travel_between_devices_and_the_web_app(server: AppServer, tmp_path: Path) -> None:
    headers = signed_up(server, "alice")
    first = device(tmp_path, "first")
    written = {}
    for i in range(24):
        written[first.media.write_data(f"pic{i}.png", picture(i))] = picture(i)
    for i in range(8):
        written[first.media.write_data(f"sound{i}.mp3", sound(i))] = sound(i)
    assert len(written) == 32
    note = first.new_note(first.models.by_name("Basic"))
    note["Front"] = '<img src="pic0.png"> [sound:sound0.mp3]'
    note["Back"] = "".join(f'<img src="pic{i}.png">' for i in range(1, 24))
    first.add_note(note, 1)
    card_id = note.cards()[0].id
    auth = full_upload(first, server.url, "alice")

    begins = media_calls(server, "begin")
    sync_media(first, auth)
    assert media_calls(server, "begin") == begins + 1
    assert media_calls(server, "uploadChanges") >= 2  # 25 files at most per zip

    # In the learner's media store, byte for byte; and behind a rendered card's links.
    assert web_files(server, headers) == written
    card = httpx.get(f"{server.url}/api/cards/{card_id}", headers=headers, timeout=30).json()
    links = _LINK.findall(card["question"])
    assert [name for name, _ in links] == ["pic0.png", "sound0.mp3"]
    for name, token in links:  # as a browser follows them, without the bearer header
        got = httpx.get(f"{server.url}/api/media/{name}", params={"t": token}, timeout=30)
        assert got.status_code == 200 and got.content == written[name]

    # Another device gets them all: more than 25 files, in answers cut at the cap.
    downloads = media_calls(server, "downloadFiles")
    second = device(tmp_path, "second")
    full_download_with_media(second, server.url, "alice")
    assert folder_files(second) == written
    # 32 files of ~3 KB under a 10 KB cap: several files per answer, never all 25.
    rounds = media_calls(server, "downloadFiles") - downloads
    assert 32 // 4 <= rounds <= 32 // 2

    # A picture uploaded in the web app and a note using it.
    web_pic = picture(1000)
    stored = httpx.post(
        f"{server.url}/api/media",
        headers=headers,
        files={"file": ("Web Pic.png", web_pic, "image/png")},
        timeout=30,
    )
    assert stored.status_code == 201, stored.text
    web_name = stored.json()["name"]
    basic = first.models.by_name("Basic")
    assert basic is not None
    added = httpx.post(
        f"{server.url}/api/notes",
        headers=headers,
        json={
            "noteTypeId": basic["id"],
            "fields": {"Front": f'<img src="{web_name}">', "Back": "from the web"},
            "deckId": 1,
        },
        timeout=30,
    )
    assert added.status_code == 201, added.text
    # The first device: media on its own (the collection changed on the server too).
    sync_media(first, auth)
    assert folder_files(first)[web_name] == web_pic
    # A new device: the note and its picture, by a full download with media.
    third = device(tmp_path, "third")
    full_download_with_media(third, server.url, "alice")
    assert folder_files(third)[web_name] == web_pic
    assert third.find_notes('"back:from the web"')

    # Deletions: on a device, then in the web app.
    first.media.trash_files(["pic1.png", "sound1.mp3"])
    sync_media(first, auth)
    on_web = web_files(server, headers)
    assert "pic1.png" not in on_web and "sound1.mp3" not in on_web
    assert httpx.delete(
        f"{server.url}/api/media/pic2.png", headers=headers, timeout=30
    ).status_code == (204)
    sync_media(first, auth)
    assert "pic2.png" not in folder_files(first)
    # The second device, unchanged since its download, gets every change through
    # sync_collection(sync_media=True) (meta's media usn, no begin).
    assert second.sync_collection(auth, sync_media=True).required in (
        Required.NO_CHANGES,
        Required.NORMAL_SYNC,
    )
    wait_for_media(second)
    expected = {n: b for n, b in written.items() if n not in ("pic1.png", "sound1.mp3", "pic2.png")}
    assert folder_files(second) == {**expected, web_name: web_pic}
    assert folder_files(first) == {**expected, web_name: web_pic}
    assert web_files(server, headers) == {**expected, web_name: web_pic}
    for col in (first, second, third):
        col.close()


# -- raw calls: the protocol's edges, and hostile uploads --------------------------------


def msync(base: str, method: str, body: bytes, key: str, *, raw: bool = False) -> httpx.Response:
    return sync_call(base, method, body, key=key, prefix="msync", raw=raw)


def upload_zip(entries: dict[str, bytes], meta: Any, *, deflate: bool = False) -> bytes:
    buffer = io.BytesIO()
    kind = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", compression=kind) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
        archive.writestr("_meta", json.dumps(meta))
    return buffer.getvalue()


def lying_bomb() -> bytes:
    """A deflated entry of 50 MB of zeros whose headers say it is 100 bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("0", b"\0" * 50_000_000)
        archive.writestr("_meta", json.dumps([["bomb.png", "0"]]))
    data = bytearray(buffer.getvalue())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        struct.pack_into("<I", data, at + offset, 100)
    return bytes(data)


def media_state(base: str, key: str) -> Any:
    changes = msync(base, "mediaChanges", b'{"lastUsn":0}', key)
    return json.loads(decoded(changes))


def test_the_calls_answer_as_anki_server_does(server: AppServer, official: OfficialServer) -> None:
    signed_up(server, "bob")
    ours = host_key(server.url, "bob", PASSWORD)
    theirs = host_key(official.url, "alice", "secret")
    for base, key in ((server.url, ours), (official.url, theirs)):
        # begin: the usn, and the host key as the session key; an empty version is a 400.
        began = json.loads(decoded(msync(base, "begin", b'{"v":"anki,26.09.3,linux"}', key)))
        assert began == {"data": {"usn": began["data"]["usn"], "sk": key}, "err": ""}
        assert msync(base, "begin", b'{"v":""}', key).status_code == 400
        assert msync(base, "begin", b"{}", key).status_code == 400
        legacy = httpx.get(f"{base}/msync/begin", params={"k": key, "v": "anki,2.1.50"})
        assert json.loads(legacy.content)["data"]["sk"] == key
        assert httpx.get(f"{base}/msync/begin", params={"k": key, "v": ""}).status_code == 400
        assert httpx.get(f"{base}/msync/begin", params={"k": "nope", "v": "x"}).status_code == 403
        assert msync(base, "begin", b'{"v":"x"}', "not-a-key").status_code == 403

        usn = began["data"]["usn"]
        meta = [["edge-a.png", "0"], ["edge-b.png", "1"], ["edge-gone.png", None]]
        body = upload_zip({"0": picture(1), "1": picture(2)}, meta)
        answer = json.loads(decoded(msync(base, "uploadChanges", body, key)))
        assert answer == {"data": [3, usn + 2], "err": ""}
        # Deleting one, re-sending the other unchanged (no change), and an older
        # client's "" for a deletion.
        meta = [["edge-a.png", ""], ["edge-b.png", "0"]]
        answer = json.loads(
            decoded(msync(base, "uploadChanges", upload_zip({"0": picture(2)}, meta), key))
        )
        assert answer == {"data": [2, usn + 3], "err": ""}
        rows = json.loads(
            decoded(msync(base, "mediaChanges", f'{{"lastUsn":{usn}}}'.encode(), key))
        )
        assert rows == {
            "data": [
                ["edge-b.png", usn + 2, hashlib.sha1(picture(2)).hexdigest()],
                ["edge-a.png", usn + 3, ""],
            ],
            "err": "",
        }
        zipped = zipfile.ZipFile(
            io.BytesIO(decoded(msync(base, "downloadFiles", b'{"files":["edge-b.png"]}', key)))
        )
        assert json.loads(zipped.read("_meta")) == {"0": "edge-b.png"}
        assert zipped.read("0") == picture(2)
        missing = msync(base, "downloadFiles", b'{"files":["edge-a.png"]}', key)
        assert missing.status_code == 409
        too_many = json.dumps({"files": [f"f{i}.png" for i in range(26)]}).encode()
        assert msync(base, "downloadFiles", too_many, key).status_code == 400
        count = len([r for r in media_state(base, key)["data"] if r[2]])
        sanity = msync(base, "mediaSanity", f'{{"local":{count}}}'.encode(), key)
        assert json.loads(decoded(sanity)) == {"data": "OK", "err": ""}
        sanity = msync(base, "mediaSanity", f'{{"local":{count + 1}}}'.encode(), key)
        assert json.loads(decoded(sanity)) == {"data": "mediaSanity", "err": ""}


HOSTILE = {
    "a separator in a name": upload_zip({"0": picture(1)}, [["a/b.png", "0"]]),
    "a name not in NFC": upload_zip({"0": picture(1)}, [["e\u0301.png", "0"]]),
    "a name over 255 bytes": upload_zip({"0": picture(1)}, [["x" * 300 + ".png", "0"]]),
    "more than 25 changes": upload_zip(
        {str(i): picture(i) for i in range(26)}, [[f"m{i}.png", str(i)] for i in range(26)]
    ),
    "an empty file": upload_zip({"0": b""}, [["empty.png", "0"]]),
    "no _meta": upload_zip({"0": picture(1)}, []).replace(b"_meta", b"_nope"),
}


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_uploads_anki_server_refuses_are_refused_here(
    server: AppServer, official: OfficialServer, what: str
) -> None:
    user = f"hostile{sorted(HOSTILE).index(what)}"
    signed_up(server, user)
    ours = host_key(server.url, user, PASSWORD)
    theirs = host_key(official.url, "alice", "secret")
    for base, key in ((server.url, ours), (official.url, theirs)):
        before = media_state(base, key)
        answer = msync(base, "uploadChanges", HOSTILE[what], key)
        assert answer.status_code == 400, (base, answer.text)
        assert media_state(base, key) == before


def test_hostile_uploads_change_nothing(server: AppServer) -> None:
    headers = signed_up(server, "carol")
    key = host_key(server.url, "carol", PASSWORD)
    good = upload_zip({"0": picture(7)}, [["kept.png", "0"]])
    assert msync(server.url, "uploadChanges", good, key).status_code == 200
    before = (media_state(server.url, key), web_files(server, headers))
    ok_meta = [["fine.png", "0"], ["kept.png", None]]
    entries_26 = {str(i): picture(i) for i in range(26)}
    hostile = {
        # Refused here though Anki's server would take them: an entry a client never
        # writes, a name this store would keep under another one.
        "an entry named ../evil": upload_zip(
            {"0": picture(1), "../evil": picture(2)}, [["fine.png", "0"], ["evil.png", "../evil"]]
        ),
        "a name normalisation changes": upload_zip({"0": picture(1)}, [["a:b.png", "0"]]),
        # (Anki's server on Linux takes a backslash as part of the name.)
        "a backslash in a name": upload_zip({"0": picture(1)}, [["a\\b.png", "0"]]),
        "a Windows device name": upload_zip({"0": picture(1)}, [["con.png", "0"]]),
        "a file over the limit": upload_zip(
            {"0": picture(1), "1": picture(2, FILE_LIMIT + 1)},
            [["fine.png", "0"], ["big.png", "1"]],
        ),
        "a bomb whose headers lie": lying_bomb(),
        "an honest bomb": upload_zip({"0": b"\0" * 50_000_000}, [["bomb.png", "0"]], deflate=True),
        "more than 26 zip entries": upload_zip({**entries_26, "26": b"x"}, ok_meta),
        "_meta naming a missing entry": upload_zip({"0": picture(1)}, [["x.png", "9"]]),
        "_meta naming itself": upload_zip({"0": picture(1)}, [["x.png", "_meta"]]),
        "_meta not a list": upload_zip({"0": picture(1)}, {"0": "x.png"}),
        "not a zip": b"hello, not a zip" * 10,
        "nothing": b"",
    }
    for what, body in hostile.items():
        answer = msync(server.url, "uploadChanges", body, key)
        assert answer.status_code == 400, (what, answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith("text/plain")
        assert (media_state(server.url, key), web_files(server, headers)) == before, what
    # A request body over its limit, as a client would send it.
    files = {str(i): PNG + os.urandom(FILE_LIMIT // 2) for i in range(4)}
    huge = zstandard.ZstdCompressor().compress(
        upload_zip(files, [[f"huge{i}.png", str(i)] for i in range(4)])
    )
    assert len(huge) > UPLOAD_CAP
    answer = msync(server.url, "uploadChanges", huge, key, raw=True)
    assert answer.status_code == 413 and "MB" in answer.text
    assert (media_state(server.url, key), web_files(server, headers)) == before
