"""Rounds of random changes on two devices (Anki's own client) and in the web app, the
devices syncing between rounds, and what every side holds compared after each round:
shared by the sync tests on every deployment (local files or AWS, one instance or two
behind a proxy)."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from anki.collection import Collection
from anki.sync_pb2 import SyncCollectionResponse

from api.user_collection import collection_key
from storage.objects import ObjectStore
from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.support.stored import open_bytes, stored_collection
from tests.support.waiting import wait_for_clock_past, wait_until
from tests.sync.proxy import AlternatingProxy

Required = SyncCollectionResponse.ChangesRequired
PNG = b"\x89PNG\r\n\x1a\n"
# The kinds of media change the rounds make (``run_rounds`` counts them).
MEDIA_CHANGES = ("device add", "device trash", "web add", "web delete")


@dataclass
class Deployment:
    """Two app instances over one store, and a proxy spreading requests over them."""

    first: AppServer
    second: AppServer
    proxy: AlternatingProxy
    objects: ObjectStore  # where the instances keep collections, staging and media


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


def sync(dev: Device, url: str, user: str, *, media: bool = False, begin: bool = False) -> None:
    """A normal sync; with ``media``, the media sync that follows, waited for: the one
    ``sync_collection`` starts from meta's media usn, or with ``begin`` one started on
    its own (which asks ``msync/begin`` for the usn)."""
    auth = dev.col.sync_login(user, PASSWORD, url + "/")
    out = dev.col.sync_collection(auth, sync_media=media and not begin)
    assert out.required in (Required.NO_CHANGES, Required.NORMAL_SYNC), out
    if media and begin:
        dev.col.sync_media(auth)
    if media:
        wait_for_media(dev.col)


def full_sync(dev: Device, url: str, user: str, *, upload: bool, media: bool = False) -> None:
    """A full upload or download; with ``media``, the media sync that follows it."""
    auth = dev.col.sync_login(user, PASSWORD, url + "/")
    out = dev.col.sync_collection(auth, sync_media=False)
    dev.col.close_for_full_sync()
    server_usn = out.server_media_usn if media else None
    dev.col.full_upload_or_download(auth=auth, server_usn=server_usn, upload=upload)
    dev.col.reopen(after_full_sync=True)
    if media:
        wait_for_media(dev.col)


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


# -- media -----------------------------------------------------------------------------


def picture(seed: object, size: int = 3000) -> bytes:
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return PNG + body[: size - len(PNG)]


def newest_id(col: Collection) -> int:
    """The largest id the device has taken from the clock (notes, cards, reviews, decks,
    note types)."""
    tables = ("notes", "cards", "revlog", "decks", "notetypes")
    return max(int(col.db.scalar(f"select coalesce(max(id), 0) from {t}")) for t in tables)


def wait_for_media(col: Collection, timeout: float = 30) -> None:
    """Until the media sync running in the background ends; its error, if any, is
    raised here (the client reports it once)."""
    wait_until(
        lambda: not col.media_sync_status().active, timeout=timeout, what="the media sync ending"
    )
    col.media_sync_status()


def folder_files(col: Collection) -> dict[str, bytes]:
    folder = Path(col.media.dir())
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def web_files(server: AppServer, headers: dict[str, str]) -> dict[str, bytes]:
    """The learner's media files as the web app lists and serves them."""
    listed = httpx.get(f"{server.url}/api/media", headers=headers, timeout=30).json()
    files = {}
    for item in listed:
        body = httpx.get(
            f"{server.url}/api/media/{item['name']}", headers=headers, timeout=30
        ).content
        assert hashlib.sha1(body).hexdigest() == item["sha1"]
        files[item["name"]] = body
    return files


def assert_same_media(server: AppServer, headers: dict[str, str], *devices: Device) -> None:
    on_server = web_files(server, headers)
    for dev in devices:
        held = folder_files(dev.col)
        differ = sorted(n for n in held.keys() & on_server.keys() if held[n] != on_server[n])
        assert held == on_server, (
            dev.name,
            f"only on the device: {sorted(held.keys() - on_server.keys())}",
            f"only on the server: {sorted(on_server.keys() - held.keys())}",
            f"different: {differ}",
        )


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


def _trashed_by(name: str) -> str:
    """The one device that may trash a file in a round ("a" or "b", by its name)."""
    return "ab"[hashlib.sha1(name.encode()).digest()[0] % 2]


def device_media_changes(dev: Device, rng: random.Random, done: Counter[str]) -> None:
    """Files a device adds (under names only it uses, with a note showing each) and
    trashes (files every side held before this round, that only this device may trash
    in it: see ``_trashed_by``).

    Both limits keep clear of a bug in Anki's client: when one media sync brings it the
    deletion of a file it no longer has (deleted on both sides, or its own deletion
    coming back because the server's usn did not move by one per uploaded change, as
    after deleting a file it never uploaded), its `remove_files` stops at that file, and
    files deleted after it in the same batch are marked removed but stay on disk (seen
    in the client's own debug log; rslib `media/files.rs`). Anki's own server sends the
    same batches.
    """
    col = dev.col
    synced = sorted(n for n in folder_files(col) if _trashed_by(n) == dev.name)
    for _ in range(rng.randint(1, 3)):
        if synced and rng.random() < 0.35:
            col.media.trash_files([synced.pop(rng.randrange(len(synced)))])
            done["device trash"] += 1
            continue
        wanted = f"{dev.name}-{rng.randint(0, 10**9)}.png"
        name = col.media.write_data(wanted, picture(wanted, rng.randint(200, 4000)))
        note = col.new_note(col.models.by_name("Basic"))
        note["Front"], note["Back"] = f'{dev.name} media <img src="{name}">', "back"
        col.add_note(note, 1)
        done["device add"] += 1


def web_changes(base: str, headers: dict[str, str], col: Collection, rng: random.Random) -> None:
    """Changes made in the web app, to objects with id % 3 == 2 (ids as a synced
    device sees them)."""
    notetypes = {m.name: m.id for m in col.models.all_names_and_ids()}
    deleted: set[int] = set()  # here, not yet on the device
    with httpx.Client(base_url=base, headers=headers, timeout=30) as web:
        for _ in range(rng.randint(1, 3)):
            op = rng.choice(["note", "card", "delete", "answer", "deck"])
            notes = [n for n in col.find_notes("") if n % 3 == 2 and n not in deleted]
            unsuspended = col.db.all("select id, nid from cards where queue != -1 order by id")
            cards = [cid for cid, nid in unsuspended if cid % 3 == 2 and nid not in deleted]
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
                nid = rng.choice(notes)
                answer = web.delete(f"/api/notes/{nid}")
                assert answer.status_code == 204, answer.text
                deleted.add(nid)
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


def web_media_changes(
    base: str, headers: dict[str, str], rng: random.Random, done: Counter[str]
) -> None:
    """Files the web app uploads and deletes (any file: every side has synced)."""
    with httpx.Client(base_url=base, headers=headers, timeout=30) as web:
        for _ in range(rng.randint(1, 3)):
            held = sorted(item["name"] for item in web.get("/api/media").json())
            if held and rng.random() < 0.4:
                answer = web.delete(f"/api/media/{rng.choice(held)}")
                assert answer.status_code == 204, answer.text
                done["web delete"] += 1
                continue
            name = f"web-{rng.randint(0, 10**9)}.png"
            body = picture(name, rng.randint(200, 4000))
            answer = web.post("/api/media", files={"file": (name, body, "image/png")})
            assert answer.status_code == 201, answer.text
            assert answer.json()["name"] == name
            done["web add"] += 1


def run_rounds(
    deployment: Deployment,
    url: str,
    tmp_path: Path,
    user: str,
    rounds: int,
    *,
    media: bool = False,
) -> Counter[str]:
    """Device A full-uploads and B full-downloads; then, each round, both devices
    change things and sync (A, B, A), and the web app changes things and both sync
    again; A, B and the stored collection (and, with ``media``, the media files on
    A, B and the server) are compared after each half of a round. Returns how many
    media changes of each kind were made."""
    done: Counter[str] = Counter()
    headers = signed_up(deployment.first, user)
    a, b = device(tmp_path, "a"), device(tmp_path, "b")
    fill(a.col)
    if media:
        device_media_changes(a, random.Random(f"{user} media"), done)
    full_sync(a, url, user, upload=True, media=media)
    full_sync(b, url, user, upload=False, media=media)
    assert_same(deployment, user, a, b)
    if media:
        assert_same_media(deployment.first, headers, a, b)
    rng = random.Random(user)
    for _ in range(rounds):
        device_changes(a, rng, 0)
        if media:
            device_media_changes(a, rng, done)
        # Ids are milliseconds (at least the largest + 1): two devices adding in the
        # same millisecond would pick the same id, in Anki as here.
        wait_for_clock_past(newest_id(a.col))
        device_changes(b, rng, 1)
        if media:
            device_media_changes(b, rng, done)
        sync(a, url, user, media=media)
        sync(b, url, user, media=media)
        sync(a, url, user, media=media)
        assert_same(deployment, user, a, b)
        if media:
            assert_same_media(deployment.first, headers, a, b)
            web_media_changes(deployment.first.url, headers, rng, done)
        web_changes(deployment.first.url, headers, a.col, rng)
        sync(a, url, user, media=media)
        sync(b, url, user, media=media, begin=True)
        assert_same(deployment, user, a, b)
        if media:
            assert_same_media(deployment.first, headers, a, b)
    a.col.close()
    b.col.close()
    return done
