"""Data of the original backend, used in place: its users table and its bucket.

The original backend kept each collection at ``user_dbs/{username}.anki2`` (Anki
schema 11, every row ``usn = -1``) and each user as ``{username, name, password_hash:
plain bcrypt $2b$12$, created_at: ISO-8601 string}``, with usernames of any 1-20
characters. Here real Anki makes such a collection, it goes into a bucket on the moto
server with such an item beside it, and the real app, pointed at both, logs the user
in, studies, edits and exports; real Anki then imports the export.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import boto3
import httpx
import pytest

from api.core.names import PREFIX_LOGS
from api.user_collection import collection_key
from tests.collection.apkg_fixtures import _answer, anki_import
from tests.support.app_server import AppServer
from tests.support.moto_server import MotoServer
from tests.support.stored import stored_collection_s3

pytestmark = [pytest.mark.integration, pytest.mark.interop]

PASSWORD = "seed password, from the old days"
CREATED_AT = "2024-03-05T14:22:10.123456"
DEFAULT_NOTES = {f"<b>seed</b> question {i}": f"answer {i}" for i in range(8)}
VERB_NOTES = {"hablar": "to speak", "comer": "to eat", "vivir": "to live", "ñandú": "rhea"}
SEED_REVIEWS = 3


@dataclass(frozen=True)
class SeedCollection:
    body: bytes
    notes: dict[str, str]  # front -> back
    deck_cards: dict[str, int]  # deck name -> cards


@pytest.fixture(scope="module")
def seed_collection(tmp_path_factory: pytest.TempPathFactory) -> SeedCollection:
    """A collection as the original backend kept it: made by Anki, schema 11, usn -1."""
    from anki.collection import Collection

    path = tmp_path_factory.mktemp("seed") / "seed.anki2"
    col = Collection(str(path))
    basic = col.models.by_name("Basic")
    verbs = col.decks.id("Seed::Verbs")
    added = []
    for notes, deck in ((DEFAULT_NOTES, 1), (VERB_NOTES, verbs)):
        for front, back in notes.items():
            note = col.new_note(basic)
            note["Front"], note["Back"] = front, back
            col.add_note(note, deck)
            added.append(note)
    for note, ease in zip(added[:SEED_REVIEWS], (4, 3, 1), strict=True):
        _answer(col, note.card_ids()[0], ease)
    col.close(downgrade=True)

    with closing(sqlite3.connect(path)) as conn:
        for table in ("cards", "notes", "revlog", "graves"):
            conn.execute(f"update {table} set usn = -1")
        for column in ("decks", "dconf", "models"):
            entries = json.loads(conn.execute(f"select {column} from col").fetchone()[0])
            for entry in entries.values():
                entry["usn"] = -1
            conn.execute(f"update col set {column} = ?", (json.dumps(entries),))
        conn.commit()
        assert conn.execute("select ver from col").fetchone() == (11,)
        assert conn.execute("pragma journal_mode").fetchone() == ("delete",)
        assert conn.execute("select count() from revlog").fetchone() == (SEED_REVIEWS,)
    return SeedCollection(
        body=path.read_bytes(),
        notes={**DEFAULT_NOTES, **VERB_NOTES},
        deck_cards={"Default": len(DEFAULT_NOTES), "Seed::Verbs": len(VERB_NOTES)},
    )


def seed_user_item(username: str) -> dict[str, Any]:
    """A users-table item exactly as the original backend wrote it."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
    assert hashed.startswith("$2b$12$")
    return {
        "username": {"S": username},
        "name": {"S": f"Learner {username}"},
        "password_hash": {"S": hashed},
        "created_at": {"S": CREATED_AT},
    }


class OldDeployment:
    """The original backend's bucket and users table, as the app's environment names them."""

    def __init__(self, env: dict[str, str], moto: MotoServer) -> None:
        kwargs = {"endpoint_url": moto.url, "region_name": "us-east-1"}
        self.s3 = boto3.client("s3", **kwargs)
        self.dynamodb = boto3.client("dynamodb", **kwargs)
        self.bucket = env["JAVUMBO_BUCKET"]
        self.users_table = env["JAVUMBO_USERS_TABLE"]

    def seed(self, username: str, collection: bytes | None) -> None:
        self.dynamodb.put_item(TableName=self.users_table, Item=seed_user_item(username))
        if collection is not None:
            self.s3.put_object(
                Bucket=self.bucket, Key=f"user_dbs/{username}.anki2", Body=collection
            )

    def user_item(self, username: str) -> dict[str, Any]:
        return dict(
            self.dynamodb.get_item(TableName=self.users_table, Key={"username": {"S": username}})[
                "Item"
            ]
        )

    def keys(self) -> set[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="user_dbs/")
        return {item["Key"] for item in listing.get("Contents", [])}

    def body(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())


@pytest.fixture
def old(aws_env: dict[str, str], moto_server: MotoServer) -> OldDeployment:
    return OldDeployment(aws_env, moto_server)


@pytest.fixture
def app(aws_env: dict[str, str], tmp_path: Path) -> Iterator[AppServer]:
    server = AppServer(aws_env, cwd=tmp_path).start()
    yield server
    server.stop()


def log_in(app: AppServer, username: str, password: str = PASSWORD) -> httpx.Client:
    response = httpx.post(
        f"{app.url}/api/login", json={"username": username, "password": password}, timeout=60
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    return httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def deck_list(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/api/decks")
    assert response.status_code == 200, response.text
    body = response.json()
    return list(body["decks"] if isinstance(body, dict) else body)


def export_package(client: httpx.Client) -> bytes:
    response = client.get("/api/export")
    if response.status_code == 303:  # a large export: a presigned download
        response = httpx.get(response.headers["location"], timeout=60)
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("username", ["learner", "Maria José", "Ana/Lab1"])
def test_an_old_learner_studies_edits_and_exports_in_place(
    app: AppServer,
    old: OldDeployment,
    seed_collection: SeedCollection,
    tmp_path: Path,
    username: str,
) -> None:
    old.seed(username, seed_collection.body)
    key = f"user_dbs/{username}.anki2"
    assert collection_key(username) == key  # where the original backend put it

    with log_in(app, username) as learner:
        me = learner.get("/api/me").json()
        assert me == {"username": username, "name": f"Learner {username}"}

        decks = {d["name"]: d for d in deck_list(learner)}
        for name, cards in seed_collection.deck_cards.items():
            assert decks[name]["cardCount"] == cards
        default = decks["Default"]["id"]
        stats = learner.get(f"/api/decks/{default}/stats")
        assert stats.status_code == 200, stats.text
        assert stats.json()["total"] == len(DEFAULT_NOTES)
        assert stats.json()["counts"]["New"] == len(DEFAULT_NOTES) - SEED_REVIEWS

        answered = []
        for _ in range(5):
            shown = learner.get("/api/review", params={"deckId": default})
            assert shown.status_code == 200, shown.text
            card = shown.json()["card"]
            assert card is not None, shown.json()
            result = learner.post(
                "/api/review", json={"cardId": card["cardId"], "ease": 3, "timeTaken": 4000}
            )
            assert result.status_code == 200, result.text
            answered.append(card["cardId"])

        original = learner.get(f"/api/cards/{answered[0]}").json()
        assert seed_collection.notes[original["front"]] == original["back"]
        edited = learner.put(
            f"/api/cards/{answered[0]}", json={"front": "edited front", "back": "edited back"}
        )
        assert edited.status_code == 200, edited.text
        after = learner.get(f"/api/cards/{answered[0]}").json()
        assert (after["front"], after["back"]) == ("edited front", "edited back")
        package = tmp_path / "export.apkg"
        package.write_bytes(export_package(learner))

    # The same collection was changed in place: no other collection key, no copy; the
    # changes went to its log, and the snapshot with its log is the current collection.
    assert old.keys() == {key}
    log = old.s3.list_objects_v2(Bucket=old.bucket, Prefix=f"{PREFIX_LOGS}{key}/")
    assert log.get("KeyCount", 0) >= 5 + 1  # 5 answers and the edit, at least
    stored = stored_collection_s3(old.s3, old.bucket, key)
    assert stored != seed_collection.body
    with closing(sqlite3.connect(tmp_path / "stored.anki2")) as conn:
        conn.deserialize(stored)
        assert conn.execute("select ver from col").fetchone() == (11,)
        assert conn.execute("select count() from revlog").fetchone() == (SEED_REVIEWS + 5,)

    expected = dict(seed_collection.notes)
    del expected[original["front"]]
    expected["edited front"] = "edited back"
    col = anki_import(package, tmp_path / "anki.anki2")
    try:
        notes = {col.get_note(n)["Front"]: col.get_note(n)["Back"] for n in col.find_notes("")}
        assert notes == expected
        assert {d.name for d in col.decks.all_names_and_ids()} >= set(seed_collection.deck_cards)
        assert col.db.scalar("select count() from revlog") == SEED_REVIEWS + 5
    finally:
        col.close()

    item = old.user_item(username)
    assert item["password_hash"]["S"].startswith("$bcrypt-sha256$")
    assert item["created_at"] == {"S": CREATED_AT}
    assert item["name"] == {"S": f"Learner {username}"}
    with log_in(app, username) as again:  # on the upgraded hash
        assert again.get("/api/me").json()["username"] == username


def test_a_lower_case_old_name_logs_in_however_it_is_typed(
    app: AppServer, old: OldDeployment, seed_collection: SeedCollection
) -> None:
    old.seed("learner", seed_collection.body)
    with log_in(app, "  LEARNER ") as learner:
        assert learner.get("/api/me").json()["username"] == "learner"
        assert len(deck_list(learner)) >= 3
    wrong = httpx.post(
        f"{app.url}/api/login", json={"username": "Learner", "password": "wrong"}, timeout=60
    )
    assert wrong.status_code == 401


def test_an_old_name_that_would_escape_user_dbs_gets_its_own_safe_key(
    app: AppServer, old: OldDeployment, seed_collection: SeedCollection
) -> None:
    # Where the original backend would have put "../x": left alone, never read.
    old.seed("../x", seed_collection.body)
    old.seed("x", None)
    with log_in(app, "../x") as learner:
        assert learner.get("/api/me").json()["username"] == "../x"
        created = learner.post("/api/cards", json={"front": "mine", "back": "only"})
        assert created.status_code == 201, created.text
        assert [d["cardCount"] for d in deck_list(learner) if d["name"] == "Default"] == [1]
    assert old.keys() == {"user_dbs/../x.anki2", "user_dbs/..%2Fx.anki2.escaped"}
    assert old.body("user_dbs/../x.anki2") == seed_collection.body
    with log_in(app, "x") as neighbour:  # "x" has nothing of "../x"
        assert [d["cardCount"] for d in deck_list(neighbour) if d["name"] == "Default"] == [0]


def test_the_stored_collection_still_opens_in_anki_after_study(
    app: AppServer, old: OldDeployment, seed_collection: SeedCollection, tmp_path: Path
) -> None:
    from anki.collection import Collection

    old.seed("opener", seed_collection.body)
    with log_in(app, "opener") as learner:
        card = learner.get("/api/review").json()["card"]
        assert card is not None
        answer = {"cardId": card["cardId"], "ease": 4, "timeTaken": 2000}
        assert learner.post("/api/review", json=answer).status_code == 200
    # The snapshot object is a complete collection (it may trail the log), and so is
    # the current collection, snapshot and log together, which has the answer.
    key = "user_dbs/opener.anki2"
    for name, body, reviews in [
        ("snapshot", old.body(key), None),
        ("current", stored_collection_s3(old.s3, old.bucket, key), SEED_REVIEWS + 1),
    ]:
        path = tmp_path / f"{name}.anki2"
        path.write_bytes(body)
        col = Collection(str(path))
        try:
            assert col.note_count() == len(seed_collection.notes)
            if reviews is not None:
                assert col.db.scalar("select count() from revlog") == reviews
            problems, _ = col.fix_integrity()
            assert [p for p in problems.splitlines() if "rebuilt" not in p.lower()] == []
        finally:
            col.close()
        shutil.rmtree(tmp_path / f"{name}.media", ignore_errors=True)
