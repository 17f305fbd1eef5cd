"""The note and note type routes, status code by status code."""

from __future__ import annotations

import pytest

from tests.support.api_rig import Rig


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    return rig.signed_up("alice")


def notetype(rig: Rig, headers: dict[str, str], name: str) -> dict[str, object]:
    response = rig.client.get("/api/notetypes", headers=headers)
    assert response.status_code == 200
    (found,) = (t for t in response.json() if t["name"] == name)
    return dict(found)


def test_note_types_list_kind_fields_and_templates(rig: Rig, alice: dict[str, str]) -> None:
    cloze = notetype(rig, alice, "Cloze")
    assert cloze["kind"] == "cloze"
    assert cloze["fields"] == ["Text", "Back Extra"]
    assert cloze["templates"] == [
        {
            "name": "Cloze",
            "question": "{{cloze:Text}}",
            "answer": "{{cloze:Text}}<br>\n{{Back Extra}}",
        }
    ]
    reversed_ = notetype(rig, alice, "Basic (and reversed card)")
    assert reversed_["kind"] == "standard"
    assert [t["name"] for t in reversed_["templates"]] == ["Card 1", "Card 2"]  # type: ignore[union-attr]


def test_add_a_cloze_note_and_study_its_cards(rig: Rig, alice: dict[str, str]) -> None:
    cloze = notetype(rig, alice, "Cloze")
    created = rig.client.post(
        "/api/notes",
        json={
            "noteTypeId": cloze["id"],
            "fields": {"Text": "{{c1::Paris}} is the capital of {{c2::France::country}}"},
            "tags": ["geo"],
        },
        headers=alice,
    )
    assert created.status_code == 201, created.text
    note = created.json()
    assert len(note["cardIds"]) == 2
    assert note["tags"] == ["geo"]
    assert note["fields"] == {
        "Text": "{{c1::Paris}} is the capital of {{c2::France::country}}",
        "Back Extra": "",
    }

    shown = rig.client.get("/api/review", headers=alice).json()
    assert shown["cardId"] == note["cardIds"][0]
    assert shown["front"] == "[...] is the capital of France"
    assert shown["back"] == "Paris is the capital of France"
    assert 'class="cloze"' in shown["card"]["question"]
    assert ".cloze" in shown["card"]["css"]

    card = rig.client.get(f"/api/cards/{note['cardIds'][1]}", headers=alice).json()
    assert card["front"] == note["fields"]["Text"]  # raw, for editing
    assert "[country]" in card["question"]


def test_edit_adds_cards_and_keeps_the_rest(rig: Rig, alice: dict[str, str]) -> None:
    cloze = notetype(rig, alice, "Cloze")
    note = rig.client.post(
        "/api/notes",
        json={"noteTypeId": cloze["id"], "fields": {"Text": "{{c1::a}}"}},
        headers=alice,
    ).json()
    edited = rig.client.put(
        f"/api/notes/{note['noteId']}",
        json={"fields": {"Text": "{{c1::a}} {{c2::b}}"}, "tags": ["new"]},
        headers=alice,
    )
    assert edited.status_code == 200, edited.text
    assert len(edited.json()["cardIds"]) == 2
    assert edited.json()["tags"] == ["new"]
    # PUT /api/cards edits the first two fields of any note type, and generates too.
    card_id = note["cardIds"][0]
    put = rig.client.put(
        f"/api/cards/{card_id}",
        json={"front": "{{c1::a}} {{c2::b}} {{c3::c}}", "back": "extra"},
        headers=alice,
    )
    assert put.status_code == 200, put.text
    again = rig.client.get(f"/api/notes/{note['noteId']}", headers=alice).json()
    assert len(again["cardIds"]) == 3
    assert again["fields"]["Back Extra"] == "extra"


def test_refusals(rig: Rig, alice: dict[str, str]) -> None:
    cloze = notetype(rig, alice, "Cloze")
    basic = notetype(rig, alice, "Basic")
    before = rig.client.get("/api/decks", headers=alice).json()

    none = rig.client.post(
        "/api/notes", json={"noteTypeId": cloze["id"], "fields": {"Text": "plain"}}, headers=alice
    )
    assert none.status_code == 422
    assert none.json()["code"] == "no_cards"
    assert "cloze" in none.json()["error"].lower()

    unknown = rig.client.post(
        "/api/notes", json={"noteTypeId": basic["id"], "fields": {"Nope": "x"}}, headers=alice
    )
    assert unknown.status_code == 422
    assert "Nope" in unknown.json()["error"]

    missing_type = rig.client.post(
        "/api/notes", json={"noteTypeId": 999, "fields": {"Front": "x"}}, headers=alice
    )
    assert missing_type.status_code == 404
    assert rig.client.put("/api/notes/999", json={"tags": []}, headers=alice).status_code == 404
    assert rig.client.get("/api/notes/999", headers=alice).status_code == 404
    assert rig.client.delete("/api/notes/999", headers=alice).status_code == 404
    bad_type = rig.client.post(
        "/api/notes", json={"noteTypeId": basic["id"], "fields": {"Front": 3}}, headers=alice
    )
    assert bad_type.status_code == 422
    # Nothing was added by any of them.
    assert rig.client.get("/api/decks", headers=alice).json() == before


def test_another_learners_note_is_not_found(rig: Rig, alice: dict[str, str]) -> None:
    basic = notetype(rig, alice, "Basic")
    note = rig.client.post(
        "/api/notes", json={"noteTypeId": basic["id"], "fields": {"Front": "mine"}}, headers=alice
    ).json()
    bob = rig.signed_up("bob")
    assert rig.client.get(f"/api/notes/{note['noteId']}", headers=bob).status_code == 404
    assert rig.client.delete(f"/api/notes/{note['noteId']}", headers=bob).status_code == 404
    assert rig.client.get(f"/api/notes/{note['noteId']}", headers=alice).status_code == 200
