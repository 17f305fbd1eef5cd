"""Normal (incremental) sync with Anki's own client over HTTP: two devices and the web
app changing one collection in rounds, on one instance and on two instances serving
alternate requests; a web write in the middle of a sync; abort and a second device;
a collection written the old way (usn -1)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard
from anki.errors import SyncError

from api.user_collection import collection_key
from storage.cache import DiskCache
from storage.local import LocalObjectStore
from storage.session import S3SQLiteSession
from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.sync.conftest import host_key
from tests.sync.proxy import AlternatingProxy
from tests.sync.rounds import (
    MEDIA_CHANGES,
    Deployment,
    Device,
    assert_same,
    device,
    fill,
    full_sync,
    run_rounds,
    stored,
    sync,
)

pytestmark = [pytest.mark.interop, pytest.mark.integration]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("normal-sync")
    servers = []
    for name in ("first", "second"):
        env = {
            "JAVUMBO_BACKEND": "local",
            "JAVUMBO_DATA_DIR": str(tmp / "data"),
            "JAVUMBO_CACHE_DIR": str(tmp / f"cache-{name}"),
            "JAVUMBO_BCRYPT_ROUNDS": "4",
            # Small chunks, so that the server's rows cross in several.
            "JAVUMBO_SYNC_CHUNK_MAX_BYTES": "3000",
        }
        (tmp / name).mkdir()
        servers.append(AppServer(env, cwd=tmp / name).start())
    proxy = AlternatingProxy([s.url for s in servers], seed=11).start()
    objects = LocalObjectStore(tmp / "data" / "objects")
    yield Deployment(servers[0], servers[1], proxy, objects)
    proxy.stop()
    for server in servers:
        server.stop()


def test_two_devices_and_the_web_app_stay_on_one_collection(
    deployment: Deployment, tmp_path: Path
) -> None:
    done = run_rounds(deployment, deployment.first.url, tmp_path, "rounds", rounds=6, media=True)
    assert min(done[kind] for kind in MEDIA_CHANGES) > 0, done


def test_calls_of_one_sync_may_land_on_different_instances(
    deployment: Deployment, tmp_path: Path
) -> None:
    before = len(deployment.proxy.seen)
    run_rounds(deployment, deployment.proxy.url, tmp_path, "instances", rounds=3)
    for method in ("applyChanges", "chunk", "applyChunk", "sanityCheck2", "finish"):
        served = {i for path, i in deployment.proxy.seen[before:] if path == f"/sync/{method}"}
        assert served == {0, 1}, method


# -- a web write during a sync, abort, a second device ----------------------------------


def test_a_web_write_before_finish_ends_the_sync_in_409_and_nothing_is_lost(
    deployment: Deployment, tmp_path: Path
) -> None:
    user = "midway"
    headers = signed_up(deployment.first, user)
    a = device(tmp_path, "a")
    fill(a.col)
    url = deployment.proxy.url
    full_sync(a, url, user, upload=True)
    note = a.col.new_note(a.col.models.by_name("Basic"))
    note["Front"] = "made on the device"
    a.col.add_note(note, 1)
    basic = a.col.models.by_name("Basic")
    assert basic is not None

    def web_write() -> None:
        answer = httpx.post(
            f"{deployment.first.url}/api/notes",
            headers=headers,
            json={"noteTypeId": basic["id"], "fields": {"Front": "made on the web"}},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text

    deployment.proxy.hooks["/sync/finish"] = web_write
    auth = a.col.sync_login(user, PASSWORD, url + "/")
    with pytest.raises(SyncError) as failed:
        a.col.sync_collection(auth, sync_media=False)
    assert "only one copy of anki can sync" in str(failed.value).lower()  # 409
    assert "/sync/finish" not in deployment.proxy.hooks
    # Rolled back on the device, refused on the server: both kept their own change.
    fronts = {a.col.get_note(n).fields[0] for n in a.col.find_notes("")}
    assert "made on the device" in fronts and "made on the web" not in fronts
    server = stored(deployment, user)
    flds = {row[0].split("\x1f")[0] for row in server.execute("select flds from notes")}
    assert "made on the web" in flds and "made on the device" not in flds
    # The next sync is clean and carries both.
    sync(Device(a.col, "a"), url, user)
    fronts = {a.col.get_note(n).fields[0] for n in a.col.find_notes("")}
    assert {"made on the device", "made on the web"} <= fronts
    assert_same(deployment, user, a)


def call(base: str, method: str, body: Any, *, key: str, session: str) -> tuple[int, Any]:
    """One sync call with the session key ``session``: (status, decoded JSON or text)."""
    header = json.dumps({"v": 11, "k": key, "c": "test,1.0,linux", "s": session})
    payload = zstandard.ZstdCompressor().compress(json.dumps(body).encode())
    with httpx.Client(timeout=60) as client:
        answer = client.post(
            f"{base}/sync/{method}",
            content=iter([payload]),
            headers={"anki-sync": header, "content-type": "application/octet-stream"},
        )
    if answer.status_code != 200:
        return answer.status_code, answer.text
    return 200, json.loads(zstandard.ZstdDecompressor().stream_reader(answer.content).read())


def test_a_second_device_starting_cancels_the_first_and_abort_ends_a_sync(
    deployment: Deployment, tmp_path: Path
) -> None:
    user = "racer"
    signed_up(deployment.first, user)
    a = device(tmp_path, "a")
    fill(a.col)
    url = deployment.proxy.url
    full_sync(a, url, user, upload=True)
    key = host_key(url, user, PASSWORD)
    pad = {"_pad": None}
    start = {"minUsn": 0, "lnewer": False, "graves": None}
    no_graves = {"chunk": {"cards": [], "notes": [], "decks": []}}

    # Nothing started: 409, as Anki's server answers.
    assert call(url, "chunk", pad, key=key, session="none")[0] == 409
    status, graves = call(url, "start", start, key=key, session="one")
    assert status == 200 and graves == {"cards": [], "notes": [], "decks": []}
    assert call(url, "applyGraves", no_graves, key=key, session="one") == (200, None)
    # A second device starts: the first one's next call is refused.
    assert call(url, "start", start, key=key, session="two")[0] == 200
    status, text = call(url, "applyChanges", {"changes": {}}, key=key, session="one")
    assert status == 409 and "only one client" in text
    # The second one goes on, then aborts; aborting again is harmless.
    status, changes = call(
        url, "applyChanges", {"changes": {"models": [], "decks": [[], []], "tags": []}},
        key=key, session="two",
    )  # fmt: skip
    assert status == 200 and {m["name"] for m in changes["models"]} >= {"Basic", "Cloze"}
    status, chunk = call(url, "chunk", pad, key=key, session="two")
    assert status == 200 and chunk["cards"]
    assert call(url, "abort", pad, key=key, session="two") == (200, None)
    assert call(url, "abort", pad, key=key, session="two") == (200, None)
    assert call(url, "chunk", pad, key=key, session="two")[0] == 409
    # Nothing staged is left behind, and the device syncs cleanly afterwards.
    assert deployment.objects.list(f"sync_staging/{user}/") == []
    note = a.col.new_note(a.col.models.by_name("Basic"))
    note["Front"] = "after the abort"
    a.col.add_note(note, 1)
    sync(Device(a.col, "a"), url, user)
    assert_same(deployment, user, a)


# -- a collection written the old way ---------------------------------------------------


def write_stored(deployment: Deployment, user: str, tmp_path: Path, op: Any) -> None:
    session = S3SQLiteSession(deployment.objects, DiskCache(tmp_path / "cache", 1 << 30))
    session.write(collection_key(user), op)


def old_note_edit(conn: sqlite3.Connection) -> None:
    conn.execute("update notes set usn = -1, mod = mod + 1 where id = (select max(id) from notes)")
    conn.execute("update col set mod = mod + 1")


def test_rows_written_the_old_way_sync_to_a_device_on_the_first_try(
    deployment: Deployment, tmp_path: Path
) -> None:
    user = "oldway"
    signed_up(deployment.first, user)
    a = device(tmp_path, "a")
    fill(a.col)
    url = deployment.first.url
    full_sync(a, url, user, upload=True)

    def old_backend_writes(conn: sqlite3.Connection) -> None:
        # What the original backend did: changes stamped -1 and no grave usn rule.
        conn.execute("update notes set flds = 'old way' || char(31) || 'x', usn = -1,"
                     " mod = mod + 5 where id = (select min(id) from notes)")  # fmt: skip
        conn.execute("update cards set queue = -1, usn = -1, mod = mod + 5"
                     " where id = (select max(id) from cards)")  # fmt: skip
        tags = json.loads(conn.execute("select tags from col").fetchone()[0])
        tags["oldtag"] = -1
        conn.execute("update col set tags = ?, mod = mod + 1", (json.dumps(tags),))

    write_stored(deployment, user, tmp_path, old_backend_writes)
    sync(a, url, user)
    assert_same(deployment, user, a)
    first = a.col.get_note(a.col.db.scalar("select min(id) from notes"))
    assert first.fields[0] == "old way"
    assert a.col.db.scalar("select queue from cards where id = (select max(id) from cards)") == -1
    # A new device downloads it and syncs normally at once.
    write_stored(deployment, user, tmp_path, old_note_edit)
    b = device(tmp_path, "b")
    full_sync(b, url, user, upload=False)
    sync(b, url, user)
    sync(a, url, user)
    assert_same(deployment, user, a, b)


def test_every_web_answer_moves_the_collections_modification_time(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A device compares col.mod to decide whether to sync at all: a web write that
    leaves it unchanged is never synced to a device that was current."""
    user = "modstamp"
    headers = signed_up(deployment.first, user)
    a = device(tmp_path, "a")
    fill(a.col)
    full_sync(a, deployment.first.url, user, upload=True)
    card = a.col.db.scalar("select min(id) from cards where queue = 1")
    assert card is not None  # a learning card
    before = stored(deployment, user).execute("select mod from col").fetchone()[0]
    answer = httpx.post(
        f"{deployment.first.url}/api/review",
        headers=headers,
        json={"cardId": card, "ease": 3},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    after = stored(deployment, user).execute("select mod from col").fetchone()[0]
    assert after != before


def test_finish_on_an_instance_whose_copy_trails_the_collection_succeeds(
    deployment: Deployment, tmp_path: Path
) -> None:
    """An instance trusts its cached copy for a write's first try (a stale copy only
    makes the write lose its race and try again): finish must not take that copy's
    fingerprint for a collection that moved."""
    user = "stalecopy"
    signed_up(deployment.first, user)
    proxy = deployment.proxy
    a, b = device(tmp_path, "a"), device(tmp_path, "b")
    fill(a.col)
    try:
        proxy.route = lambda path: 0
        full_sync(a, proxy.url, user, upload=True)
        proxy.route = lambda path: 1  # the second instance caches the collection
        full_sync(b, proxy.url, user, upload=False)
        for finish_on in (0, 1):
            note = a.col.new_note(a.col.models.by_name("Basic"))
            note["Front"] = f"finished on {finish_on}"
            a.col.add_note(note, 1)
            # Everything on the first instance, but the second time finish goes to
            # the second, whose copy is as it was before the first time.
            proxy.route = lambda path, i=finish_on: i if path == "/sync/finish" else 0
            sync(a, proxy.url, user)
            assert_same(deployment, user, a)
    finally:
        proxy.route = None
    sync(b, proxy.url, user)
    assert_same(deployment, user, a, b)
