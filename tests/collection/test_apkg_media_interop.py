"""Our packages with media, imported by real Anki: every file lands in Anki's media
folder with the same bytes, and Anki's media check finds nothing missing."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from collection.apkg import export_package
from collection.cards import add_card
from collection.schema import create_collection
from tests.collection.apkg_fixtures import FONT_CSS, anki_import
from tests.collection.conftest import NOW

pytestmark = pytest.mark.interop

STORE = {
    "pic.png": b"\x89PNG a picture",
    "say hi.mp3": b"ID3 a greeting",
    "a&b.jpg": b"\xff\xd8 an ampersand",
    "caf\u00e9.gif": b"GIF89a accents",
    "_font.woff": b"wOFF a font",
    "unused.png": b"not referenced: stays out of the package",
}


class DictSource:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read(self, name: str) -> bytes | None:
        return self.files.get(name)


def test_anki_imports_our_media(tmp_path: Path) -> None:
    path = tmp_path / "ours.anki2"
    with closing(sqlite3.connect(path)) as conn:
        create_collection(conn, now=NOW)
        add_card(conn, '<img src="pic.png">', "[sound:say hi.mp3]", now=NOW)
        add_card(conn, "<img src='a&amp;b.jpg'>", '<img src="caf\u00e9.gif">', now=NOW)
        add_card(conn, '<img src="not-in-the-store.png">', "x", now=NOW)
        (models,) = conn.execute("select models from col").fetchone()
        models = json.loads(models)
        for model in models.values():
            model["css"] += FONT_CSS
        conn.execute("update col set models = ?", (json.dumps(models),))
        conn.commit()
        package = tmp_path / "ours.apkg"
        summary = export_package(conn, package, now=NOW, media=DictSource(STORE))
    assert summary.media_files == 5

    (tmp_path / "anki").mkdir()
    col = anki_import(package, tmp_path / "anki" / "collection.anki2")
    try:
        folder = Path(col.media.dir())
        arrived = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        assert arrived == {k: v for k, v in STORE.items() if k != "unused.png"}
        check = col.media.check()
        assert list(check.missing) == ["not-in-the-store.png"]  # the one we never had
        assert list(check.unused) == []
        fronts = {col.get_note(n)["Front"] for n in col.find_notes("")}
        assert '<img src="pic.png">' in fronts
    finally:
        col.close()
