"""Normal (incremental) sync with Anki's own client over HTTP: two devices and the web
app changing one collection in rounds, on one instance and on two instances serving
alternate requests; a web write in the middle of a sync; abort and a second device;
a collection written the old way (usn -1)."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from anki.collection import Collection
from anki.sync_pb2 import SyncCollectionResponse

from api.user_collection import collection_key
from storage.local import LocalObjectStore
from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.support.stored import open_bytes, stored_collection
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
        '{"s":3.1,"d":5.2,"dr":0.9,"cd":{"x":"é"}}',
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
    # The web app writes a new card's data as "" and Anki as "{}": both say "none".
    return [(*r[:-1], r[-1] or "{}") for r in rows]


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
