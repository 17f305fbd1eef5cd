"""Normal (incremental) sync with Anki's own client over HTTP: two devices and the web
app changing one collection in rounds, on one instance and on two instances serving
alternate requests; a web write in the middle of a sync; abort and a second device;
a collection written the old way (usn -1)."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard
from anki.collection import Collection
from anki.decks import DeckId
from anki.errors import SyncError
from anki.sync_pb2 import SyncCollectionResponse

from api.user_collection import collection_key
from storage.cache import DiskCache
from storage.local import LocalObjectStore
from storage.session import S3SQLiteSession
from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.support.stored import open_bytes, stored_collection
from tests.sync.conftest import host_key
from tests.sync.proxy import AlternatingProxy

pytestmark = [pytest.mark.interop, pytest.mark.integration]

Required = SyncCollectionResponse.ChangesRequired


@dataclass
class Deployment:
    """Two app instances over one store, and a proxy alternating between them."""

    data_dir: Path
    first: AppServer
    second: AppServer
    proxy: AlternatingProxy

    @property
    def objects(self) -> LocalObjectStore:
        return LocalObjectStore(self.data_dir / "objects")


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
    yield Deployment(tmp / "data", servers[0], servers[1], proxy)
    proxy.stop()
    for server in servers:
        server.stop()


# -- devices and what they hold --------------------------------------------------------


@dataclass
class Device:
    col: Collection
    name: str
    owned_decks: list[int] = field(default_factory=list)


def device(tmp_path: Path, name: str) -> Device:
    folder = tmp_path / name
    folder.mkdir()
    return Device(Collection(str(folder / "collection.anki2")), name)


def fill(col: Collection) -> None:
    """Several note types, nested decks, a review history, card data."""
    french = col.decks.id("Languages::French")
    for front, back in [("bonjour", "hello"), ("chat", "<i>cat</i>"), ("日本語", "🦉")]:
        note = col.new_note(col.models.by_name("Basic (and reversed card)"))
        note["Front"], note["Back"] = front, back
        note.tags = ["vocab"]
        col.add_note(note, french)
    for text in ("{{c1::Paris}} is in {{c2::France}}", "{{c1::Lima}} is in Peru"):
        cloze = col.new_note(col.models.by_name("Cloze"))
        cloze["Text"] = text
        col.add_note(cloze, 1)
    for n in range(6):
        note = col.new_note(col.models.by_name("Basic"))
        note["Front"], note["Back"] = f"front {n}", f"back {n}"
        col.add_note(note, 1)
    answer_some(col, 4, random.Random(1))
    col.db.execute(
        "update cards set data = ? where id = (select min(id) from cards)",
        '{"s":3.1,"d":5.2,"dr":0.9,"cd":"{\\"x\\":\\"é\\"}"}',
    )


def answer_some(col: Collection, count: int, rng: random.Random, parity: int | None = None) -> None:
    """Answer up to ``count`` cards from the top of the queue (only while the top card
    is one of ``parity``'s: the scheduler answers the top card only)."""
    for _ in range(count):
        card = col.sched.getCard()
        if card is None or (parity is not None and card.id % 3 != parity):
            return
        col.sched.answerCard(card, rng.choice([1, 2, 3, 4]))


def sync(dev: Device, url: str, user: str) -> None:
    auth = dev.col.sync_login(user, PASSWORD, url + "/")
    out = dev.col.sync_collection(auth, sync_media=False)
    assert out.required in (Required.NO_CHANGES, Required.NORMAL_SYNC), out


def full_sync(dev: Device, url: str, user: str, *, upload: bool) -> None:
    auth = dev.col.sync_login(user, PASSWORD, url + "/")
    dev.col.sync_collection(auth, sync_media=False)
    dev.col.close_for_full_sync()
    dev.col.full_upload_or_download(auth=auth, server_usn=None, upload=upload)
    dev.col.reopen(after_full_sync=True)


_NOTES = "select id, guid, mid, mod, tags, flds from notes order by id"
_CARDS = (
    "select id, nid, did, ord, mod, type, queue, due, ivl, factor, reps, lapses, left,"
    " odue, odid, flags, data from cards order by id"
)
_REVLOG = "select id, cid, ease, ivl, lastIvl, factor, time, type from revlog order by id"


def _cards(rows: list[Any]) -> list[tuple[Any, ...]]:
    # The server keeps a card's data as it was written; Anki re-encodes what it
    # receives (its own key order; "" for none, where the web app writes "{}").
    return [(*r[:-1], json.loads(r[-1] or "{}")) for r in rows]


def client_view(col: Collection) -> dict[str, Any]:
    return {
        "notes": [tuple(r) for r in col.db.all(_NOTES)],
        "cards": _cards(col.db.all(_CARDS)),
        "revlog": [tuple(r) for r in col.db.all(_REVLOG)],
        "decks": sorted((d.id, d.name) for d in col.decks.all_names_and_ids()),
        "notetypes": sorted((m.id, m.name) for m in col.models.all_names_and_ids()),
    }


def server_view(conn: sqlite3.Connection) -> dict[str, Any]:
    decks = json.loads(conn.execute("select decks from col").fetchone()[0])
    models = json.loads(conn.execute("select models from col").fetchone()[0])
    return {
        "notes": conn.execute(_NOTES).fetchall(),
        "cards": _cards(conn.execute(_CARDS).fetchall()),
        "revlog": conn.execute(_REVLOG).fetchall(),
        "decks": sorted((d["id"], d["name"]) for d in decks.values()),
        "notetypes": sorted((m["id"], m["name"]) for m in models.values()),
    }


def stored(deployment: Deployment, user: str) -> sqlite3.Connection:
    return open_bytes(stored_collection(deployment.objects, collection_key(user)))


def assert_same(deployment: Deployment, user: str, *devices: Device) -> None:
    conn = stored(deployment, user)
    server = server_view(conn)
    for table in ("cards", "notes", "revlog"):
        pending = conn.execute(f"select count() from {table} where usn = -1").fetchone()[0]
        assert pending == 0, table
    for dev in devices:
        view = client_view(dev.col)
        for key in server:
            assert view[key] == server[key], (dev.name, key)


# -- random changes ------------------------------------------------------------------


def device_changes(dev: Device, rng: random.Random, parity: int) -> None:
    """Changes a device makes between syncs, to objects only it touches (id % 3 ==
    parity), so that no two sides change one object in the same second."""
    col = dev.col
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["add", "add", "edit", "delete", "deck", "answer", "suspend"])
        mine = [nid for nid in col.find_notes("") if nid % 3 == parity]
        if op == "add" or not mine:
            model = col.models.by_name(rng.choice(["Basic", "Basic (and reversed card)"]))
            note = col.new_note(model)
            note["Front"], note["Back"] = f"{dev.name} {rng.random():.6f}", "back"
            note.tags = [rng.choice(["a", "b", dev.name])]
            col.add_note(note, rng.choice([1, *dev.owned_decks]))
        elif op == "edit":
            note = col.get_note(rng.choice(mine))
            note.fields[0] = f"edited by {dev.name} {rng.random():.6f}"
            col.update_note(note)
        elif op == "delete":
            col.remove_notes([rng.choice(mine)])
        elif op == "deck":
            dev.owned_decks.append(col.decks.id(f"{dev.name} deck {rng.randint(0, 10**6)}"))
        elif op == "answer":
            answer_some(col, 2, rng, parity)
        else:
            cards = [cid for cid in col.find_cards("") if cid % 3 == parity]
            if cards:
                col.sched.suspend_cards([rng.choice(cards)])


def web_changes(base: str, headers: dict[str, str], col: Collection, rng: random.Random) -> None:
    """Changes made in the web app, to objects with id % 3 == 2 (ids as a synced
    device sees them)."""
    notetypes = {m.name: m.id for m in col.models.all_names_and_ids()}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as web:
        for _ in range(rng.randint(1, 3)):
            op = rng.choice(["note", "card", "delete", "answer", "deck"])
            notes = [nid for nid in col.find_notes("") if nid % 3 == 2]
            cards = [cid for cid in col.find_cards("-is:suspended") if cid % 3 == 2]
            if op == "note" or (op == "delete" and not notes):
                answer = web.post(
                    "/api/notes",
                    json={
                        "noteTypeId": notetypes["Basic"],
                        "fields": {"Front": f"web {rng.random():.6f}", "Back": "w"},
                        "tags": ["web"],
                    },
                )
                assert answer.status_code == 201, answer.text
            elif op == "delete":
                answer = web.delete(f"/api/notes/{rng.choice(notes)}")
                assert answer.status_code == 204, answer.text
            elif op == "card" and cards:
                cid = rng.choice(cards)
                answer = web.put(f"/api/cards/{cid}", json={"front": f"web edit {cid}"})
                assert answer.status_code in (200, 422), answer.text  # 422: not Basic-like
            elif op == "answer" and cards:
                answer = web.post("/api/review", json={"cardId": rng.choice(cards), "ease": 3})
                assert answer.status_code in (200, 409), answer.text
            elif op == "deck":
                answer = web.post("/api/decks", json={"name": f"Web {rng.randint(0, 10**6)}"})
                assert answer.status_code == 201, answer.text
        # A web answer that counts toward no deck leaves col.mod as it was (see
        # test_every_web_answer_moves_the_collections_modification_time), and a device
        # whose col.mod equals the server's has nothing to sync: a last write that
        # stamps col.mod keeps the rounds about the sync itself.
        answer = web.post("/api/decks", json={"name": f"Web {rng.randint(0, 10**6)}"})
        assert answer.status_code == 201, answer.text


def run_rounds(deployment: Deployment, url: str, tmp_path: Path, user: str, rounds: int) -> None:
    headers = signed_up(deployment.first, user)
    a, b = device(tmp_path, "a"), device(tmp_path, "b")
    fill(a.col)
    full_sync(a, url, user, upload=True)
    full_sync(b, url, user, upload=False)
    assert_same(deployment, user, a, b)
    rng = random.Random(user)
    for _ in range(rounds):
        device_changes(a, rng, 0)
        # Ids are milliseconds (at least the largest + 1): two devices adding in the
        # same millisecond would pick the same id, in Anki as here.
        time.sleep(0.05)
        device_changes(b, rng, 1)
        sync(a, url, user)
        sync(b, url, user)
        sync(a, url, user)
        assert_same(deployment, user, a, b)
        web_changes(deployment.first.url, headers, a.col, rng)
        sync(a, url, user)
        sync(b, url, user)
        assert_same(deployment, user, a, b)


def test_two_devices_and_the_web_app_stay_on_one_collection(
    deployment: Deployment, tmp_path: Path
) -> None:
    run_rounds(deployment, deployment.first.url, tmp_path, "rounds", rounds=6)


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
    a.col.add_note(note, DeckId(1))
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
    staged = (deployment.data_dir / "objects" / "sync_staging" / user).rglob("*")
    assert not [path for path in staged if path.is_file()]
    note = a.col.new_note(a.col.models.by_name("Basic"))
    note["Front"] = "after the abort"
    a.col.add_note(note, DeckId(1))
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
