"""Seeded collections are sound and studyable; the naive baseline is as naive as claimed."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bench import seeds
from collection.decks import get_current_deck
from collection.review import next_card
from storage.objects import NotModified, StoredObject
from storage.s3 import S3ObjectStore
from storage.session import check_database
from tests.conftest import s3_client_for
from tests.support.moto_server import MotoServer
from tests.support.seed import STUDY_DECK, build_collection


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "c.anki2"
    path.write_bytes(build_collection(400).body)
    return path


def test_seeded_collection_is_sound_and_complete(seeded: Path) -> None:
    check_database(seeded)
    with closing(sqlite3.connect(seeded)) as conn:
        assert conn.execute("select count() from cards").fetchone() == (400,)
        assert conn.execute("select count() from notes").fetchone() == (400,)
        assert conn.execute("pragma journal_mode").fetchone() == ("delete",)
        (orphans,) = conn.execute(
            "select count() from cards where nid not in (select id from notes)"
        ).fetchone()
        assert orphans == 0
        queues = dict(conn.execute("select queue, count() from cards group by queue").fetchall())
        assert {0, 1, 2, -1} <= set(queues)


def test_seeded_collection_has_enough_to_study(seeded: Path) -> None:
    seed = build_collection(400)
    assert seed.due_today >= 100
    with closing(sqlite3.connect(seeded)) as conn:
        assert get_current_deck(conn).name == STUDY_DECK
        shown = next_card(conn, None, now=time.time())
        assert shown.card is not None
        assert shown.counts.review >= 100


def test_seeding_is_repeatable() -> None:
    now = time.time()
    first, second = build_collection(50, now=now), build_collection(50, now=now)
    assert first.cards == second.cards == 50
    assert first.due_today == second.due_today


def test_seeded_collections_are_built_once_a_day_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []

    def build(cards: int) -> Any:
        built.append(cards)
        return build_collection(cards, now=1_700_000_000)

    monkeypatch.setattr(seeds, "build_collection", build)
    stale = tmp_path / seeds.cache_name(30, dt.date(2020, 1, 1), "0" * 12)
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"yesterday's")
    other_size = tmp_path / seeds.cache_name(31, dt.date(2020, 1, 1), "0" * 12)
    other_size.write_bytes(b"kept")

    first = seeds.seeded_collection(30, cache_dir=tmp_path)
    assert seeds.seeded_collection(30, cache_dir=tmp_path) == first
    assert built == [30]  # the second came from the cache
    assert not stale.exists() and other_size.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("30-")) == [
        seeds.cache_name(30, dt.datetime.now(dt.UTC).date(), seeds._fingerprint())
    ]


class CountingStore(S3ObjectStore):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.calls: list[tuple[str, object]] = []

    def get(self, key: str, **conditions: Any) -> StoredObject | NotModified:
        self.calls.append(("get", conditions.get("if_none_match")))
        return super().get(key, **conditions)

    def put(self, key: str, body: bytes, **conditions: Any) -> str:
        self.calls.append(("put", conditions))
        return super().put(key, body, **conditions)


def test_naive_session_downloads_everything_and_writes_unconditionally(
    moto_server: MotoServer, bucket: str, seeded: Path, tmp_path: Path
) -> None:
    from bench.naive import NaiveSession

    store = CountingStore(s3_client_for(moto_server.url), bucket)
    store.put("user_dbs/a.anki2", seeded.read_bytes())
    store.calls.clear()
    one, two = NaiveSession(store, tmp_path / "one"), NaiveSession(store, tmp_path / "two")

    count = "select count() from cards"
    assert one.read("user_dbs/a.anki2", lambda c: c.execute(count).fetchone()[0]) == 400
    # Unconditional, and a read is synced back like a write: download and upload.
    assert store.calls == [("get", None), ("put", {})]

    def add(conn: sqlite3.Connection) -> None:
        conn.execute(
            "insert into cards select (select max(id) from cards) + 1, nid, did, ord, mod, usn,"
            " type, queue, due, ivl, factor, reps, lapses, left, odue, odid, flags, data"
            " from cards limit 1"
        )

    one.write("user_dbs/a.anki2", add)
    assert store.calls[2:] == [("get", None), ("put", {})]  # no If-Match
    assert not isinstance(store.get("user_dbs/a.anki2"), NotModified)

    # Two writers that read the same version: the naive pattern keeps only the last.
    snapshot = store.get("user_dbs/a.anki2")
    assert not isinstance(snapshot, NotModified)
    two.write("user_dbs/a.anki2", add)
    store.put("user_dbs/a.anki2", snapshot.body)  # a writer that started before `two`
    assert one.read("user_dbs/a.anki2", lambda c: c.execute(count).fetchone()[0]) == 401
    assert not list((tmp_path / "one").iterdir())  # no temporary file left behind
