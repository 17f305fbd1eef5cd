"""The media routes: upload, list, fetch (by bearer or by a card's link), delete, check."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from tests.support.api_rig import Rig

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
MP3 = b"ID3\x03\x00" + b"\x11" * 64


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    return rig.signed_up("alice")


def upload(rig: Rig, headers: dict[str, str], filename: str, data: bytes, **form: str):
    files = {"file": (filename, data)}
    return rig.client.post("/api/media", files=files, data=form, headers=headers)


def add_note(rig: Rig, headers: dict[str, str], note_type: str, fields: dict[str, str]) -> dict:
    types = rig.client.get("/api/notetypes", headers=headers).json()
    (found,) = (t for t in types if t["name"] == note_type)
    response = rig.client.post(
        "/api/notes", json={"noteTypeId": found["id"], "fields": fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_upload_list_fetch_delete(rig: Rig, alice: dict[str, str]) -> None:
    created = upload(rig, alice, "cat.png", PNG)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "cat.png"
    assert created.json()["size"] == len(PNG)
    renamed = upload(rig, alice, "whatever.mp3", MP3, name="Café meow.mp3")
    assert renamed.json()["name"] == "Café meow.mp3"

    listed = rig.client.get("/api/media", headers=alice).json()
    assert [f["name"] for f in listed] == ["Café meow.mp3", "cat.png"]

    got = rig.client.get("/api/media/cat.png", headers=alice)
    assert got.status_code == 200
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    sound = rig.client.get("/api/media/Caf%C3%A9%20meow.mp3", headers=alice)
    assert (sound.content, sound.headers["content-type"]) == (MP3, "audio/mpeg")

    assert rig.client.delete("/api/media/cat.png", headers=alice).status_code == 204
    assert rig.client.get("/api/media/cat.png", headers=alice).status_code == 404
    assert rig.client.delete("/api/media/cat.png", headers=alice).status_code == 404


def test_the_same_name_with_other_bytes_replaces_the_file(rig: Rig, alice: dict[str, str]):
    upload(rig, alice, "a.png", PNG)
    other = PNG + b"more"
    assert upload(rig, alice, "a.png", other).status_code == 201
    assert rig.client.get("/api/media/a.png", headers=alice).content == other


def test_media_needs_a_token_and_is_the_learners_own(rig: Rig, alice: dict[str, str]) -> None:
    upload(rig, alice, "cat.png", PNG)
    assert rig.client.get("/api/media/cat.png").status_code == 401
    assert rig.client.get("/api/media/cat.png?t=not-a-token").status_code == 401
    bob = rig.signed_up("bob")
    assert rig.client.get("/api/media/cat.png", headers=bob).status_code == 404
    assert rig.client.get("/api/media", headers=bob).json() == []
    # An API token is not a media token, and a media token opens nothing but media.
    api_token = alice["Authorization"].removeprefix("Bearer ")
    assert rig.client.get(f"/api/media/cat.png?t={api_token}").status_code == 401


def test_rendered_cards_link_media_a_browser_can_fetch(rig: Rig, alice: dict[str, str]) -> None:
    upload(rig, alice, "cat.png", PNG)
    upload(rig, alice, "meow.mp3", MP3)
    note = add_note(
        rig, alice, "Basic", {"Front": 'What says <img src="cat.png">?', "Back": "[sound:meow.mp3]"}
    )
    shown = rig.client.get("/api/review", headers=alice).json()
    assert shown["cardId"] == note["cardIds"][0]
    # A Basic note's sides stay its fields, as plain-text clients always had them.
    assert shown["front"] == 'What says <img src="cat.png">?'
    question, answer = shown["card"]["question"], shown["card"]["answer"]
    assert question.startswith("<style>")
    (img,) = re.findall(r'<img src="([^"]+)"', question)
    (audio,) = re.findall(r'<audio [^>]*src="([^"]+)"', answer)
    for url, body in ((img, PNG), (audio, MP3)):
        assert url.startswith("/api/media/")
        fetched = rig.client.get(url.replace("&amp;", "&"))  # no bearer header
        assert fetched.status_code == 200, url
        assert fetched.content == body
    assert unquote(img.split("?")[0]).endswith("/cat.png")


def test_check_media_reports_unused_and_missing(rig: Rig, alice: dict[str, str]) -> None:
    upload(rig, alice, "used.png", PNG)
    upload(rig, alice, "unused.png", PNG + b"x")
    add_note(rig, alice, "Basic", {"Front": '<img src="used.png"> <img src="gone.png">'})
    report = rig.client.post("/api/media/check", headers=alice).json()
    assert report == {"unused": ["unused.png"], "missing": ["gone.png"], "deleted": []}
    assert len(rig.client.get("/api/media", headers=alice).json()) == 2

    cleaned = rig.client.post("/api/media/check", json={"deleteUnused": True}, headers=alice)
    assert cleaned.json()["deleted"] == ["unused.png"]
    assert [f["name"] for f in rig.client.get("/api/media", headers=alice).json()] == ["used.png"]


def test_deleting_notes_leaves_their_media(rig: Rig, alice: dict[str, str]) -> None:
    upload(rig, alice, "cat.png", PNG)
    note = add_note(rig, alice, "Basic", {"Front": '<img src="cat.png">'})
    assert rig.client.delete(f"/api/notes/{note['noteId']}", headers=alice).status_code == 204
    assert rig.client.get("/api/media/cat.png", headers=alice).status_code == 200


def test_logging_out_ends_the_media_links(rig: Rig, alice: dict[str, str]) -> None:
    upload(rig, alice, "cat.png", PNG)
    add_note(rig, alice, "Basic", {"Front": '<img src="cat.png">'})
    question = rig.client.get("/api/review", headers=alice).json()["question"]
    (link,) = re.findall(r'<img src="([^"]+)"', question)
    assert rig.client.get(link).status_code == 200
    assert rig.client.post("/api/logout", headers=alice).status_code == 204
    assert rig.client.get(link).status_code == 401


def test_a_name_that_cannot_be_used_is_422_whatever_its_extension(rig: Rig, alice: dict[str, str]):
    for name in ("..", ".", "../x.png"):
        refused = upload(rig, alice, "f.png", PNG, name=name)
        assert refused.status_code == 422, name
        assert refused.json()["code"] == "media_name_refused"
    assert rig.client.get("/api/media", headers=alice).json() == []
