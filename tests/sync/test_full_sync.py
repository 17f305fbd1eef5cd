"""Full sync with Anki's own client over HTTP: log in, meta, upload, download; the
envelope's errors; refused uploads; limits; host keys and their revocation."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard
from anki.collection import Collection
from anki.errors import SyncError, SyncErrorKind
from anki.sync_pb2 import SyncCollectionResponse

from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.sync.conftest import OfficialServer, decoded, host_key, sync_call

pytestmark = [pytest.mark.interop, pytest.mark.integration]

Required = SyncCollectionResponse.ChangesRequired


def device(tmp_path: Path, name: str) -> Collection:
    folder = tmp_path / name
    folder.mkdir()
    return Collection(str(folder / "collection.anki2"))


def fill(col: Collection) -> None:
    """Notes of two note types in nested decks, answered cards, FSRS-like card data,
    an options group and a tag."""
    french = col.decks.id("Languages::French")
    conf = col.decks.add_config_returning_id("Intense")
    deck = col.decks.get(french)
    deck["conf"] = conf
    col.decks.save(deck)
    for front, back in [("bonjour", "hello"), ("chat", "<i>cat</i>"), ("日本語", "🦉")]:
        note = col.new_note(col.models.by_name("Basic (and reversed card)"))
        note["Front"], note["Back"] = front, back
        note.tags = ["vocab"]
        col.add_note(note, french)
    cloze = col.new_note(col.models.by_name("Cloze"))
    cloze["Text"] = "{{c1::Paris}} is in {{c2::France}}"
    col.add_note(cloze, 1)
    col.sched.get_queued_cards()
    for _ in range(3):
        card = col.sched.getCard()
        assert card is not None
        col.sched.answerCard(card, 3)
    col.db.execute(
        "update cards set data = ? where id = (select min(id) from cards)",
        '{"s":3.1,"d":5.2,"dr":0.9,"cd":{"x":"é"}}',
    )


def full_sync(col: Collection, server: AppServer, *, upload: bool, user: str) -> Any:
    auth = col.sync_login(user, PASSWORD, server.url + "/")
    out = col.sync_collection(auth, sync_media=False)
    col.close_for_full_sync()
    col.full_upload_or_download(auth=auth, server_usn=None, upload=upload)
    col.reopen(after_full_sync=True)
    return out


def rows(col: Collection, query: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in col.db.all(query)]


def test_upload_then_download_on_another_device(server: AppServer, tmp_path: Path) -> None:
    headers = signed_up(server, "alice")
    first = device(tmp_path, "first")
    fill(first)
    auth = first.sync_login("alice", PASSWORD, server.url + "/")
    out = first.sync_collection(auth, sync_media=False)
    # A fresh device with cards against a server whose collection is empty: upload.
    assert out.required == Required.FULL_UPLOAD
    first.close_for_full_sync()
    first.full_upload_or_download(auth=auth, server_usn=None, upload=True)
    first.reopen(after_full_sync=True)
    assert first.sync_collection(auth, sync_media=False).required == Required.NO_CHANGES

    # The web API sees the uploaded collection.
    decks = httpx.get(f"{server.url}/api/decks", headers=headers).json()["decks"]
    assert {d["name"]: d["cardCount"] for d in decks} == {
        "Default": 2,
        "Languages": 6,  # subdecks included
        "Languages::French": 6,
    }
    review = httpx.get(f"{server.url}/api/review", headers=headers).json()
    assert review["card"] is not None

    second = device(tmp_path, "second")
    out = second.sync_collection(auth, sync_media=False)
    assert out.required == Required.FULL_DOWNLOAD
    second.close_for_full_sync()
    second.full_upload_or_download(auth=auth, server_usn=None, upload=False)
    second.reopen(after_full_sync=True)
    for query in (
        "select id, guid, mid, mod, usn, tags, flds, flags, data from notes order by id",
        "select * from cards order by id",
        "select * from revlog order by id",
    ):
        assert rows(second, query) == rows(first, query), query
    assert rows(first, "select data from cards where data like '%cd%'") == [
        ('{"s":3.1,"d":5.2,"dr":0.9,"cd":{"x":"é"}}',)
    ]
    assert len(rows(first, "select * from revlog")) == 3
    for one, two in zip(
        sorted(first.models.all(), key=lambda m: m["id"]),
        sorted(second.models.all(), key=lambda m: m["id"]),
        strict=True,
    ):
        assert one == two
    assert sorted(first.decks.all(), key=lambda d: d["id"]) == sorted(
        second.decks.all(), key=lambda d: d["id"]
    )
    assert first.decks.all_config() == second.decks.all_config()
    assert sorted(second.tags.all()) == ["vocab"]
    # The download bumped the server's usn, as Anki's server does.
    assert second.sync_collection(auth, sync_media=False).required == Required.NO_CHANGES
    first.close()
    second.close()


def test_wrong_password_is_an_auth_error(server: AppServer, tmp_path: Path) -> None:
    signed_up(server, "bob")
    col = device(tmp_path, "bob")
    with pytest.raises(SyncError) as caught:
        col.sync_login("bob", "wrong password", server.url + "/")
    assert caught.value.kind == SyncErrorKind.AUTH
    col.close()


def test_envelope_errors(server: AppServer, official: OfficialServer) -> None:
    signed_up(server, "carol")
    ours = host_key(server.url, "carol", PASSWORD)
    theirs = host_key(official.url, "alice", "secret")
    for base, key in ((server.url, ours), (official.url, theirs)):
        wrong = sync_call(base, "meta", b'{"v":11,"cv":"x"}', key="not-a-key")
        assert wrong.status_code == 403, base
        assert "anki-original-size" not in wrong.headers
        assert sync_call(base, "meta", b'{"v":11,"cv":"x"}', key=key, version=7).status_code == 400
        assert sync_call(base, "meta", b'{"v":12,"cv":"x"}', key=key).status_code == 501
        meta = json.loads(decoded(sync_call(base, "meta", b'{"v":11,"cv":"x"}', key=key)))
        assert set(meta) >= {"mod", "scm", "usn", "ts", "msg", "cont", "hostNum", "empty"}
        assert meta["cont"] is True and meta["empty"] is True
        if base == server.url:
            assert meta["media_usn"] == 0
        bad_login = sync_call(base, "hostKey", b'{"u":"carol","p":"nope"}')
        assert bad_login.status_code == 403
    unknown = sync_call(server.url, "noSuchThing", key=ours)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/plain")


def _collection_state(server: AppServer, headers: dict[str, str]) -> Any:
    return httpx.get(f"{server.url}/api/decks", headers=headers).json()


def test_refused_uploads_change_nothing(server: AppServer, tmp_path: Path) -> None:
    headers = signed_up(server, "dave")
    col = device(tmp_path, "dave")
    fill(col)
    full_sync(col, server, upload=True, user="dave")
    key = host_key(server.url, "dave", PASSWORD)
    meta_before = json.loads(decoded(sync_call(server.url, "meta", b'{"v":11,"cv":"x"}', key=key)))
    state = _collection_state(server, headers)
    col.close()
    good = (tmp_path / "dave" / "collection.anki2").read_bytes()

    corrupt = bytearray(good)
    page = 4096
    corrupt[3 * page : 3 * page + 200] = os.urandom(200)
    orphan_path = tmp_path / "orphan.anki2"
    orphan_path.write_bytes(good)
    with sqlite3.connect(orphan_path) as conn:
        conn.execute("delete from notes where id = (select min(id) from notes)")
    conn.close()
    bodies = {
        "zero bytes": b"",
        "a zstd frame of nothing": zstandard.ZstdCompressor().compress(b""),
        "not SQLite": zstandard.ZstdCompressor().compress(b"hello, this is not a database" * 50),
        "damaged": zstandard.ZstdCompressor().compress(bytes(corrupt)),
        "cards without notes": zstandard.ZstdCompressor().compress(orphan_path.read_bytes()),
    }
    for what, body in bodies.items():
        answer = sync_call(server.url, "upload", body, key=key, raw=True)
        assert answer.status_code == 200, what
        text = decoded(answer).decode()
        assert text != "OK" and "not accepted" in text, (what, text)
    meta_after = json.loads(decoded(sync_call(server.url, "meta", b'{"v":11,"cv":"x"}', key=key)))
    assert {k: meta_after[k] for k in ("mod", "scm", "usn", "empty")} == {
        k: meta_before[k] for k in ("mod", "scm", "usn", "empty")
    }
    assert _collection_state(server, headers) == state


def test_too_large_both_ways(server: AppServer, tmp_path: Path) -> None:
    signed_up(server, "erin")
    col = device(tmp_path, "erin")
    # Random hex compresses to about half: a collection over the download limit and
    # under the upload limit.
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"], note["Back"] = "big", os.urandom(800_000).hex()
    col.add_note(note, 1)
    full_sync(col, server, upload=True, user="erin")
    auth = col.sync_login("erin", PASSWORD, server.url + "/")
    col.close_for_full_sync()
    # The client does not show the body of an error answer to a download: it reports
    # the status. A raw request reads the sentence.
    with pytest.raises(Exception, match="413"):
        col.full_upload_or_download(auth=auth, server_usn=None, upload=False)
    col.reopen(after_full_sync=True)  # the backend reopened it after the failure
    key = host_key(server.url, "erin", PASSWORD)
    meta = json.loads(decoded(sync_call(server.url, "meta", b'{"v":11,"cv":"x"}', key=key)))
    refused = sync_call(server.url, "download", key=key)
    assert refused.status_code == 413
    # This server has no CDN for downloads past its limit (JAVUMBO_SYNC_DOWNLOAD_URL).
    assert "JAVUMBO_SYNC_DOWNLOAD_URL" in refused.text and "Export it" in refused.text
    # Refusing changed nothing (no usn bump).
    again = json.loads(decoded(sync_call(server.url, "meta", b'{"v":11,"cv":"x"}', key=key)))
    assert again["usn"] == meta["usn"] and again["mod"] == meta["mod"]

    # An upload over the limit: the client shows the server's sentence.
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"], note["Back"] = "bigger", os.urandom(1_000_000).hex()
    col.add_note(note, 1)
    col.close_for_full_sync()
    with pytest.raises(Exception, match=r"\.colpkg") as caught:
        col.full_upload_or_download(auth=auth, server_usn=None, upload=True)
    assert "MB compressed" in str(caught.value) and "choose 'download'" in str(caught.value)
    col.reopen(after_full_sync=True)  # the backend reopened it after the failure
    assert json.loads(decoded(sync_call(server.url, "meta", b'{"v":11,"cv":"x"}', key=key))) | {
        "ts": 0
    } == again | {"ts": 0}
    col.close()


def test_password_change_and_revocation(server: AppServer, tmp_path: Path) -> None:
    headers = signed_up(server, "fay")
    col = device(tmp_path, "fay")
    auth = col.sync_login("fay", PASSWORD, server.url + "/")
    col.sync_collection(auth, sync_media=False)
    keys = httpx.get(f"{server.url}/api/me/sync-keys", headers=headers).json()
    assert (len(keys) == 1 and "python" in keys[0]["device"].lower()) or keys[0]["device"]
    assert set(keys[0]) == {"id", "device", "created", "lastUsed"}

    # Revoking one key: that device must log in again.
    gone = httpx.delete(f"{server.url}/api/me/sync-keys/{keys[0]['id']}", headers=headers)
    assert gone.status_code == 204
    assert httpx.get(f"{server.url}/api/me/sync-keys", headers=headers).json() == []
    with pytest.raises(SyncError) as caught:
        col.sync_collection(auth, sync_media=False)
    assert caught.value.kind == SyncErrorKind.AUTH
    missing = httpx.delete(f"{server.url}/api/me/sync-keys/{keys[0]['id']}", headers=headers)
    assert missing.status_code == 404

    # A password change revokes every key.
    auth = col.sync_login("fay", PASSWORD, server.url + "/")
    col.sync_collection(auth, sync_media=False)
    changed = httpx.put(
        f"{server.url}/api/me/password",
        json={"current_password": PASSWORD, "new_password": "another long password"},
        headers=headers,
    )
    assert changed.status_code == 200
    with pytest.raises(SyncError) as caught:
        col.sync_collection(auth, sync_media=False)
    assert caught.value.kind == SyncErrorKind.AUTH
    new_headers = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert httpx.get(f"{server.url}/api/me/sync-keys", headers=new_headers).json() == []
    col.close()
