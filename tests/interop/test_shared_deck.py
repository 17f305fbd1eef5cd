"""A shared deck as Anki exports it, through the API: imported with its media, every
card shown as Anki shows it (media at token links a browser can follow without the
bearer header), studied with the text a plain client shows, and exported back into
real Anki with every file and every card intact."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.collection.apkg_fixtures import anki_import
from tests.interop.shared_deck import (
    BASIC_BACK,
    BASIC_DECK,
    BASIC_FRONT,
    CLOZE_DECK,
    CONTENT_TYPES,
    MEDIA,
    AnkiCard,
    SharedDeck,
    build_shared_deck,
)
from tests.support.api_rig import PASSWORD, Rig

pytestmark = pytest.mark.interop

FORMATS = ("legacy", "current")

# A media link as a rendered card carries it, and a sound made playable.
_LINK = re.compile(r"/api/media/([^?\"'\s)]+)\?t=([^\"'\s)&]+)")
_AUDIO = re.compile(
    r'<audio class="sound" controls preload="none" src="([^"]*)" data-file="([^"]*)"></audio>'
)
_PLAY = re.compile(r"\[anki:play:([qa]):(\d+)\]")
_SRC = re.compile(r"""\ssrc\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')]*)""")


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> SharedDeck:
    return build_shared_deck(tmp_path_factory.mktemp("shared-deck"))


@dataclass
class Learner:
    headers: dict[str, str]
    summary: dict[str, Any]


def import_deck(rig: Rig, deck: SharedDeck, form: str, username: str = "alice") -> Learner:
    headers = rig.signed_up(username)
    package = deck.packages[form]
    response = rig.client.post(
        "/api/import",
        files={"file": (package.name, package.read_bytes(), "application/octet-stream")},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return Learner(headers, response.json())


@pytest.fixture(params=FORMATS)
def alice(request: pytest.FixtureRequest, rig: Rig, deck: SharedDeck) -> Learner:
    return import_deck(rig, deck, request.param)


# -- comparing our HTML with Anki's ------------------------------------------------------


@dataclass
class Links:
    """What a side's links point at: (file name, token) for every media link, and
    (file name, link) for every sound player."""

    media: list[tuple[str, str]]
    sounds: list[tuple[str, str]]


def ours_as_anki(side: str) -> tuple[str, Links]:
    """Our rendered side with every sound player turned into a neutral `[sound-file:x]`
    and every media link back into the file name it points at."""
    sounds: list[tuple[str, str]] = []

    def player(found: re.Match[str]) -> str:
        name = html.unescape(found.group(2))
        sounds.append((name, html.unescape(found.group(1))))
        return f"[sound-file:{name}]"

    text = _AUDIO.sub(player, side)
    media: list[tuple[str, str]] = []

    def link(found: re.Match[str]) -> str:
        name = unquote(found.group(1))
        media.append((name, found.group(2)))
        return name

    return _LINK.sub(link, text), Links(media, sounds)


def anki_as_neutral(card: AnkiCard, side: str) -> str:
    """Anki's side with each `[anki:play:q|a:N]` replaced by its sound's file name."""

    def play(found: re.Match[str]) -> str:
        sounds = card.question_sounds if found.group(1) == "q" else card.answer_sounds
        return f"[sound-file:{sounds[int(found.group(2))]}]"

    return _PLAY.sub(play, side)


def links_in(side: str) -> list[str]:
    """Every `src` of a tag and every `url(...)` of a style block, as written."""
    styles = "".join(re.findall(r"<style>(.*?)</style>", side, re.DOTALL))
    return [html.unescape(s) for s in _SRC.findall(side)] + _CSS_URL.findall(styles)


def media_token_of(rig: Rig, headers: dict[str, str], card_id: int) -> str:
    card = rig.client.get(f"/api/cards/{card_id}", headers=headers).json()
    tokens = {t for _, t in _LINK.findall(card["question"] + card["answer"])}
    assert len(tokens) == 1, tokens
    return tokens.pop()


def card_with_media(deck: SharedDeck) -> int:
    return next(c.card_id for c in deck.cards.values() if "cat.png" in c.question)


# -- the tests ---------------------------------------------------------------------------


def test_import_stores_every_media_file(rig: Rig, alice: Learner) -> None:
    assert alice.summary["mediaFilesAdded"] == len(MEDIA)
    assert alice.summary["mediaFilesSkipped"] == 0
    listed = rig.client.get("/api/media", headers=alice.headers)
    assert listed.status_code == 200
    assert sorted(f["name"] for f in listed.json()) == sorted(MEDIA)


def test_every_card_is_shown_as_anki_shows_it(rig: Rig, deck: SharedDeck, alice: Learner) -> None:
    bearer = alice.headers["Authorization"].removeprefix("Bearer ")
    for card_id, card in deck.cards.items():
        response = rig.client.get(f"/api/cards/{card_id}", headers=alice.headers)
        assert response.status_code == 200, (card_id, response.text)  # the id survived
        got = response.json()
        tokens: set[str] = set()
        for side, theirs in (("question", card.question), ("answer", card.answer)):
            ours, links = ours_as_anki(got[side])
            assert ours == anki_as_neutral(card, theirs), (card.note_type, card.ord, side)
            # Every local reference became a media link: none was left as a bare name.
            written = links_in(got[side])
            assert all(link.startswith("/api/media/") for link in written), written
            assert len(links.media) + len(links.sounds) == len(written), card_id
            for name, link in links.sounds:
                pointed = _LINK.fullmatch(link)
                assert pointed is not None and unquote(pointed[1]) == name
            tokens |= {token for _, token in links.media}
        css_tokens = {token for _, token in _LINK.findall(got["css"])}
        # One media token for the whole response, and not the bearer token.
        assert len(tokens | css_tokens) <= 1 and bearer not in tokens | css_tokens
        token = next(iter(tokens | css_tokens), "")
        expected_css = deck.note_type_css[card.note_type].replace(
            'url("_bg.png")', f'url("/api/media/_bg.png?t={token}")'
        )
        assert got["css"] == expected_css, card.note_type


def test_media_links_open_with_their_token_alone(
    rig: Rig, deck: SharedDeck, alice: Learner
) -> None:
    links: dict[str, str] = {}
    for card_id in deck.cards:
        got = rig.client.get(f"/api/cards/{card_id}", headers=alice.headers).json()
        for side in (got["question"], got["answer"], got["css"]):
            for found in _LINK.finditer(html.unescape(side)):
                links[unquote(found[1])] = found[0]
    assert set(links) == set(MEDIA)  # the CSS-only background included

    for name, link in links.items():
        response = rig.client.get(link)  # no Authorization header
        assert response.status_code == 200, (name, response.text)
        assert response.content == MEDIA[name]
        assert response.headers["content-type"] == CONTENT_TYPES[name.rpartition(".")[2]]

    link = links["cat.png"]
    path, _, token = link.partition("?t=")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for refused in (f"{path}?t={tampered}", path, f"{path}?t="):
        response = rig.client.get(refused)
        assert response.status_code == 401, (refused, response.text)
        assert response.json()["code"]

    # Bob's media token opens Bob's files only: Alice's are not his.
    bob = rig.signed_up("bob")
    added = rig.client.post(
        "/api/cards", json={"front": '<img src="cat.png">', "back": "b"}, headers=bob
    )
    bob_token = media_token_of(rig, bob, added.json()["cardId"])
    assert bob_token != token
    response = rig.client.get(f"{path}?t={bob_token}")
    assert response.status_code == 404
    assert response.json()["code"] == "media_not_found"

    # The media token opens files and nothing else: not as a bearer token, not for
    # listing or deleting files, not for the collection.
    as_bearer = {"Authorization": f"Bearer {token}"}
    for method, url, headers in (
        ("GET", "/api/decks", as_bearer),
        ("GET", "/api/media", as_bearer),
        ("GET", path, as_bearer),
        ("GET", f"/api/media?t={token}", {}),
        ("DELETE", link, {}),
        ("GET", f"/api/export?t={token}", {}),
    ):
        assert rig.client.request(method, url, headers=headers).status_code == 401, url
    assert rig.client.get(link).content == MEDIA["cat.png"]

    # A new password retires the links made before it.
    changed = rig.client.put(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "another long password"},
        headers=alice.headers,
    )
    assert changed.status_code == 200
    assert rig.client.get(link).status_code == 401


def test_review_shows_the_text_a_plain_client_shows(
    rig: Rig, deck: SharedDeck, alice: Learner
) -> None:
    decks = {
        d["name"]: d["id"]
        for d in rig.client.get("/api/decks", headers=alice.headers).json()["decks"]
    }

    basic = rig.client.get(
        "/api/review", params={"deckId": decks[BASIC_DECK]}, headers=alice.headers
    )
    assert basic.status_code == 200
    shown = basic.json()
    assert deck.cards[shown["cardId"]].question.endswith("[anki:play:q:0]")
    assert (shown["front"], shown["back"]) == (BASIC_FRONT, BASIC_BACK)

    cloze = rig.client.get(
        "/api/review", params={"deckId": decks[CLOZE_DECK]}, headers=alice.headers
    )
    shown = cloze.json()
    card = deck.cards[shown["cardId"]]
    assert card.note_type == "Cloze"
    question = {
        0: "[city] is the capital of France, on the Seine",
        1: "Paris is the capital of [...], on the Seine",
        2: "Paris is the capital of France, on the [...]",
    }[card.ord]
    assert shown["front"] == question == card.question_text
    # The answer's own text, as Anki's html_to_text_line gives it (spaces and all).
    assert shown["back"] == card.answer_text
    assert shown["back"].startswith("Paris is the capital of France, on the Seine")
    assert shown["back"].endswith("caf\u00e9 photo.jpg")
    assert (shown["card"]["front"], shown["card"]["back"]) == (shown["front"], shown["back"])


def test_export_opens_in_anki_with_every_file_and_card(
    rig: Rig, deck: SharedDeck, alice: Learner, tmp_path: Path
) -> None:
    response = rig.client.get("/api/export", headers=alice.headers)
    assert response.status_code == 200
    package = tmp_path / "export.apkg"
    package.write_bytes(response.content)
    (tmp_path / "anki").mkdir()
    col = anki_import(package, tmp_path / "anki" / "collection.anki2")
    try:
        folder = Path(col.media.dir())
        arrived = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        assert arrived == MEDIA
        assert list(col.media.check().missing) == []
        shown = {}
        for card_id in col.find_cards(""):
            card = col.get_card(card_id)
            shown[(card.note().guid, card.ord)] = (card.question(), card.answer())
        expected = {(c.guid, c.ord): (c.question, c.answer) for c in deck.cards.values()}
        assert shown == expected
    finally:
        col.close()
