"""Export and import over HTTP on the local backend (the files stream both ways)."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from pathlib import Path

import pytest

from api.user_collection import collection_key
from tests.support.api_rig import Rig
from tests.support.stored import stored_collection


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    headers = rig.signed_up("alice")
    deck = rig.client.post("/api/decks", json={"name": "Español::Verbos"}, headers=headers)
    for i, front in enumerate(["hablar", "comer", "vivir"]):
        rig.client.post(
            "/api/cards",
            json={"front": f"<b>{front}</b>", "back": f"to {i}", "deckId": deck.json()["id"]},
            headers=headers,
        )
    rig.client.post("/api/cards", json={"front": "default card", "back": "x"}, headers=headers)
    return headers


def stored(rig: Rig, username: str) -> bytes:
    """The current collection as stored (the snapshot with its log applied)."""
    return stored_collection(rig.store, collection_key(username))


def package_notes(content: bytes, tmp_path: Path) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert set(archive.namelist()) == {"collection.anki2", "media"}
        (tmp_path / "c.anki2").write_bytes(archive.read("collection.anki2"))
    conn = sqlite3.connect(tmp_path / "c.anki2")
    return sorted(row[0].split("\x1f")[0] for row in conn.execute("select flds from notes"))


def test_export_the_whole_collection(rig: Rig, alice: dict[str, str], tmp_path: Path) -> None:
    response = rig.client.get("/api/export", headers=alice)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "Javumbo-" in disposition and ".apkg" in disposition
    assert package_notes(response.content, tmp_path) == [
        "<b>comer</b>",
        "<b>hablar</b>",
        "<b>vivir</b>",
        "default card",
    ]


def test_export_one_deck(rig: Rig, alice: dict[str, str], tmp_path: Path) -> None:
    decks = {
        d["name"]: d["id"] for d in rig.client.get("/api/decks", headers=alice).json()["decks"]
    }
    response = rig.client.get(f"/api/decks/{decks['Español']}/export", headers=alice)
    assert response.status_code == 200
    assert "Espanol" in response.headers["content-disposition"]  # ASCII-safe file name
    assert package_notes(response.content, tmp_path) == [
        "<b>comer</b>",
        "<b>hablar</b>",
        "<b>vivir</b>",
    ]
    assert rig.client.get("/api/decks/424242/export", headers=alice).status_code == 404


def test_import_adds_then_skips(rig: Rig, alice: dict[str, str]) -> None:
    package = rig.client.get("/api/export", headers=alice).content
    bob = rig.signed_up("bob")
    files = {"file": ("alice.apkg", package, "application/octet-stream")}
    first = rig.client.post("/api/import", files=files, headers=bob)
    assert first.status_code == 200
    assert first.json()["notesAdded"] == 4
    assert first.json()["cardsAdded"] == 4
    assert (first.json()["mediaFilesAdded"], first.json()["mediaFilesSkipped"]) == (0, 0)
    names = {d["name"] for d in rig.client.get("/api/decks", headers=bob).json()["decks"]}
    assert {"Español", "Español::Verbos"} <= names
    before = stored(rig, "bob")
    again = rig.client.post("/api/import", files=files, headers=bob)
    assert again.json()["notesAdded"] == 0
    assert again.json()["notesSkipped"] == 4
    assert stored(rig, "bob") == before  # nothing written at all


def zip_with(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def collection_with_trigger(tmp_path: Path) -> bytes:
    path = tmp_path / "evil.anki2"
    from collection.schema import create_collection

    conn = sqlite3.connect(path)
    create_collection(conn)
    conn.execute("create trigger evil after insert on notes begin delete from cards; end")
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda tmp: b"definitely not a zip", 415),
        (lambda tmp: zip_with({"media": b"{}"}), 415),
        (lambda tmp: zip_with({"collection.anki2": b"SQLite format 3\x00" + b"\x00" * 500}), 422),
        (
            lambda tmp: zip_with(
                {"collection.anki2": collection_with_trigger(tmp), "media": b"{}"}
            ),
            422,
        ),
        (lambda tmp: zip_with({"../collection.anki2": b"x", "media": b"{}"}), 422),
    ],
    ids=["not-a-zip", "no-collection", "corrupt-sqlite", "trigger", "traversal"],
)
def test_hostile_uploads_are_refused_and_change_nothing(
    rig: Rig, alice: dict[str, str], tmp_path: Path, make: object, status: int
) -> None:
    before = stored(rig, "alice")
    body = make(tmp_path)  # type: ignore[operator]
    response = rig.client.post(
        "/api/import", files={"file": ("x.apkg", body, "application/octet-stream")}, headers=alice
    )
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert stored(rig, "alice") == before


def test_upload_without_a_file_field_is_refused(rig: Rig, alice: dict[str, str]) -> None:
    response = rig.client.post("/api/import", data={"other": "x"}, headers=alice)
    assert response.status_code == 415
    response = rig.client.post(
        "/api/import", content=b"raw", headers={**alice, "content-type": "application/zip"}
    )
    assert response.status_code == 415


def test_upload_urls_are_for_aws_only(rig: Rig, alice: dict[str, str]) -> None:
    assert rig.client.post("/api/import/upload-url", headers=alice).status_code == 400
    response = rig.client.post("/api/import", json={"key": "uploads/alice/x.apkg"}, headers=alice)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/export"),
        ("GET", "/api/decks/1/export"),
        ("POST", "/api/import"),
        ("POST", "/api/import/upload-url"),
    ],
)
def test_package_routes_need_a_token(rig: Rig, method: str, path: str) -> None:
    assert rig.client.request(method, path).status_code == 401


def test_another_learners_deck_cannot_be_exported(rig: Rig, alice: dict[str, str]) -> None:
    decks = {
        d["name"]: d["id"] for d in rig.client.get("/api/decks", headers=alice).json()["decks"]
    }
    bob = rig.signed_up("bob")
    response = rig.client.get(f"/api/decks/{decks['Español']}/export", headers=bob)
    assert response.status_code == 404
    assert "hablar" not in response.text


def test_uploads_over_the_import_limit_are_413(rig: Rig, alice: dict[str, str]) -> None:
    from fastapi.testclient import TestClient

    from api.core.config import Settings
    from api.main import create_app

    settings = Settings(data_dir=rig.data_dir, cache_dir=rig.data_dir / "c", import_max_bytes=4096)
    client = TestClient(create_app(settings, rig.services))
    before = stored(rig, "alice")
    big = zip_with({"collection.anki2": b"x" * 20_000})
    response = client.post(
        "/api/import", files={"file": ("big.apkg", big, "application/octet-stream")}, headers=alice
    )
    assert response.status_code == 413
    assert stored(rig, "alice") == before
