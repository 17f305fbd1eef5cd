"""`JAVUMBO_STARTER_DECK`: every new learner starts with the course deck, over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.app_server import AppServer, signed_up

pytestmark = [pytest.mark.integration, pytest.mark.interop]

COURSE = "Biology 101::Cells"
NOTES = [("cell", "the unit of life"), ("nucleus", "holds the DNA"), ("ribosome", "makes proteins")]


@pytest.fixture(scope="module")
def course_deck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course deck as an instructor exports it from Anki: notes, no scheduling."""
    from anki.collection import Collection, ExportAnkiPackageOptions
    from anki.decks import DeckId

    root = tmp_path_factory.mktemp("course")
    col = Collection(str(root / "instructor.anki2"))
    deck = DeckId(col.decks.id(COURSE))
    basic = col.models.by_name("Basic")
    for front, back in NOTES:
        note = col.new_note(basic)
        note["Front"], note["Back"] = front, back
        col.add_note(note, deck)
    package = root / "course.apkg"
    col.export_anki_package(
        out_path=str(package),
        options=ExportAnkiPackageOptions(
            with_scheduling=False, with_deck_configs=True, with_media=False, legacy=False
        ),
        limit=None,
    )
    col.close()
    return package


PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
SOUND = b"ID3\x03\x00" + bytes(range(64, 128))


@pytest.fixture(scope="module")
def course_deck_with_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course deck whose note shows a picture and plays a sound."""
    from anki.collection import Collection, ExportAnkiPackageOptions
    from anki.decks import DeckId

    root = tmp_path_factory.mktemp("course-media")
    col = Collection(str(root / "instructor.anki2"))
    deck = DeckId(col.decks.id(COURSE))
    col.media.write_data("cell diagram.png", PICTURE)
    col.media.write_data("cell.mp3", SOUND)
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"] = 'What is this? <img src="cell diagram.png">'
    note["Back"] = "a cell [sound:cell.mp3]"
    col.add_note(note, deck)
    package = root / "course.apkg"
    col.export_anki_package(
        out_path=str(package),
        options=ExportAnkiPackageOptions(
            with_scheduling=False, with_deck_configs=True, with_media=True, legacy=False
        ),
        limit=None,
    )
    col.close()
    return package


def local_env(tmp_path: Path, starter: Path) -> dict[str, str]:
    return {
        "JAVUMBO_BACKEND": "local",
        "JAVUMBO_DATA_DIR": str(tmp_path / "data"),
        "JAVUMBO_CACHE_DIR": str(tmp_path / "cache"),
        "JAVUMBO_BCRYPT_ROUNDS": "4",
        "JAVUMBO_STARTER_DECK": str(starter),
    }


@pytest.fixture
def app_with_course(tmp_path: Path, course_deck: Path) -> Iterator[AppServer]:
    server = AppServer(local_env(tmp_path, course_deck), cwd=tmp_path).start()
    yield server
    server.stop()


def test_new_learners_start_with_the_course_deck(app_with_course: AppServer) -> None:
    for learner in ("student1", "student2"):
        headers = signed_up(app_with_course, learner)
        decks = httpx.get(f"{app_with_course.url}/api/decks", headers=headers).json()["decks"]
        by_name = {deck["name"]: deck for deck in decks}
        assert by_name[COURSE]["cardCount"] == len(NOTES)
        assert by_name["Biology 101"]["cardCount"] == len(NOTES)
        listed = httpx.get(
            f"{app_with_course.url}/api/decks/{by_name[COURSE]['id']}/cards?perPage=50",
            headers=headers,
        ).json()
        assert sorted((c["front"], c["back"]) for c in listed["cards"]) == sorted(NOTES)
        shown = httpx.get(
            f"{app_with_course.url}/api/review?deckId={by_name[COURSE]['id']}", headers=headers
        ).json()
        assert shown["cardId"] and shown["front"] in {front for front, _ in NOTES}

    # Each learner has a copy of their own: student2 deleting a card changes no one else's.
    deleted = httpx.delete(f"{app_with_course.url}/api/cards/{shown['cardId']}", headers=headers)
    assert deleted.status_code == 204
    third = signed_up(app_with_course, "student3")
    decks = httpx.get(f"{app_with_course.url}/api/decks", headers=third).json()["decks"]
    assert {d["name"]: d["cardCount"] for d in decks}[COURSE] == len(NOTES)


def test_new_learners_get_the_course_decks_media(
    tmp_path: Path, course_deck_with_media: Path
) -> None:
    server = AppServer(local_env(tmp_path, course_deck_with_media), cwd=tmp_path).start()
    try:
        for learner in ("student1", "student2"):
            headers = signed_up(server, learner)
            decks = httpx.get(f"{server.url}/api/decks", headers=headers).json()["decks"]
            (course,) = (d["id"] for d in decks if d["name"] == COURSE)
            shown = httpx.get(f"{server.url}/api/review?deckId={course}", headers=headers).json()
            assert shown["question"] is not None and "<img" in shown["question"], shown
            links = re.findall(r'(?:<img|<audio)[^>]* src="([^"]+)"', shown["answer"])
            assert len(links) == 2
            fetched = {httpx.get(server.url + link.replace("&amp;", "&")).content for link in links}
            assert fetched == {PICTURE, SOUND}  # with only the link's token, no header
            files = httpx.get(f"{server.url}/api/media", headers=headers).json()
            assert sorted(f["name"] for f in files) == ["cell diagram.png", "cell.mp3"]
    finally:
        server.stop()


@pytest.mark.parametrize("problem", ["missing", "not a package"])
def test_a_bad_starter_deck_stops_start_up_naming_it(tmp_path: Path, problem: str) -> None:
    starter = tmp_path / "course.apkg"
    if problem == "not a package":
        starter.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    server = AppServer(local_env(tmp_path, starter), cwd=tmp_path)
    with pytest.raises(RuntimeError, match="JAVUMBO_STARTER_DECK"):
        server.start()
