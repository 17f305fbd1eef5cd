"""Media in packages: Anki-made packages (both formats) into an in-memory media store,
Anki's rename on a name clash with the references rewritten, no second copy of a file
the learner has, the caps, hostile names, exports with media, and the reference
scanners against Anki's own examples."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import zstandard

from collection.apkg import ImportLimits, ImportSummary, export_package, import_package
from collection.apkg.protobuf import Message
from collection.cards import add_card
from collection.errors import MalformedPackage, PackageTooLarge
from collection.media import (
    collection_media_references,
    hashed_media_name,
    latex_references,
    media_references,
    normalized_media_name,
    notetype_media_references,
    replace_media_references,
    safe_media_name,
)
from collection.schema import create_collection
from tests.collection.apkg_fixtures import (
    FONT_CSS,
    MEDIA_FIELDS,
    MEDIA_FILES,
    AnkiMediaPackages,
    build_anki_media_packages,
    deck_id,
    ensure_deck,
)
from tests.collection.conftest import NOW, dump

MiB = 1024 * 1024
FORMATS = ["legacy", "latest"]


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class DictSink:
    """A media store in a dict, recording what it was asked."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files = dict(files or {})
        self.batches: list[list[str]] = []

    def sha1_of(self, name: str) -> str | None:
        data = self.files.get(name)
        return None if data is None else sha1(data)

    def add_many(self, files: Iterable[tuple[str, bytes]]) -> None:
        assert not isinstance(files, list | tuple | set | dict)  # produced lazily
        batch = []
        for name, data in files:
            self.files[name] = data
            batch.append(name)
        self.batches.append(batch)


class DictSource:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.asked: list[str] = []

    def read(self, name: str) -> bytes | None:
        self.asked.append(name)
        return self.files.get(name)


@pytest.fixture(scope="module")
def anki(tmp_path_factory: pytest.TempPathFactory) -> AnkiMediaPackages:
    return build_anki_media_packages(tmp_path_factory.mktemp("anki-media"))


@pytest.fixture
def ours(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    path = tmp_path / "ours.anki2"
    with closing(sqlite3.connect(path)) as conn:
        create_collection(conn, now=NOW)
        conn.commit()
        yield conn


def package_of(anki: AnkiMediaPackages, fmt: str) -> Path:
    return anki.legacy if fmt == "legacy" else anki.latest


def fronts_and_backs(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    return {
        tuple(flds.split("\x1f")[:2])  # type: ignore[misc]
        for (flds,) in conn.execute("select flds from notes")
    }


# --- importing Anki's packages ------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_file_arrives_with_its_bytes(
    anki: AnkiMediaPackages, ours: sqlite3.Connection, fmt: str
) -> None:
    sink = DictSink()
    summary = import_package(ours, package_of(anki, fmt), now=NOW, media=sink)

    assert sink.files == MEDIA_FILES
    assert len(sink.batches) == 1
    assert summary.media_files_added == len(MEDIA_FILES)
    assert summary.media_files_skipped == 0
    assert summary.notes_added == len(MEDIA_FIELDS)
    assert fronts_and_backs(ours) == set(MEDIA_FIELDS.values())  # no reference changed


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_clash_is_renamed_with_the_hash_and_references_follow(
    anki: AnkiMediaPackages, ours: sqlite3.Connection, fmt: str
) -> None:
    mine = {
        "pic.png": b"the learner's own picture",
        "a&b.jpg": b"the learner's own ampersand",
        "_font.woff": b"the learner's own font",
        "say hi.mp3": MEDIA_FILES["say hi.mp3"],  # the same file
    }
    sink = DictSink(mine)
    summary = import_package(ours, package_of(anki, fmt), now=NOW, media=sink)

    pic = f"pic-{sha1(MEDIA_FILES['pic.png'])}.png"
    amp = f"a&b-{sha1(MEDIA_FILES['a&b.jpg'])}.jpg"
    # The learner's files are untouched; the package's versions arrive renamed, except
    # the note type's file, which Anki never renames (the learner's is kept).
    assert sink.files == {**mine, pic: MEDIA_FILES["pic.png"], amp: MEDIA_FILES["a&b.jpg"]}
    assert sorted(sink.batches[0]) == sorted([pic, amp])
    assert summary.media_files_added == 2
    fields = fronts_and_backs(ours)
    assert (f'<img src="{pic}">', "[sound:say hi.mp3]") in fields
    # written with an entity, so the new name is escaped as Anki escapes it
    assert (f"<img src='a&amp;b-{sha1(MEDIA_FILES['a&b.jpg'])}.jpg'>", "an ampersand") in fields
    (csum_source,) = ours.execute("select sfld from notes where flds like '%pic-%'").fetchone()
    assert csum_source == f" {pic} "  # sort field computed from the rewritten field


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_the_learner_has_are_not_stored_again(
    anki: AnkiMediaPackages, ours: sqlite3.Connection, fmt: str
) -> None:
    sink = DictSink({"pic.png": MEDIA_FILES["pic.png"]})
    first = import_package(ours, package_of(anki, fmt), now=NOW, media=sink)
    assert first.media_files_added == len(MEDIA_FILES) - 1
    assert "pic.png" not in sink.batches[0]

    again = import_package(ours, package_of(anki, fmt), now=NOW + 60, media=sink)
    assert again.media_files_added == 0
    assert sink.batches[1:] == []  # nothing to store: the sink is not even called
    assert sink.files == MEDIA_FILES


def test_a_renamed_file_already_stored_is_not_stored_again(
    anki: AnkiMediaPackages, tmp_path: Path
) -> None:
    pic = f"pic-{sha1(MEDIA_FILES['pic.png'])}.png"
    sink = DictSink({"pic.png": b"other", pic: MEDIA_FILES["pic.png"]})
    with closing(sqlite3.connect(tmp_path / "c.anki2")) as conn:
        create_collection(conn, now=NOW)
        summary = import_package(conn, anki.latest, now=NOW, media=sink)
        assert pic not in sink.batches[0]
        assert summary.media_files_added == len(MEDIA_FILES) - 1
        assert (f'<img src="{pic}">', "[sound:say hi.mp3]") in fronts_and_backs(conn)


@pytest.mark.parametrize("fmt", FORMATS)
def test_without_a_media_store_files_are_counted_as_skipped(
    anki: AnkiMediaPackages, ours: sqlite3.Connection, fmt: str
) -> None:
    summary = import_package(ours, package_of(anki, fmt), now=NOW)
    assert summary.media_files_added == 0
    assert summary.media_files_skipped == len(MEDIA_FILES)
    assert fronts_and_backs(ours) == set(MEDIA_FIELDS.values())


# --- hand-made packages: caps and hostile names -----------------------------------------


def _collection_bytes(*cards: tuple[str, str]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.anki2"
        with closing(sqlite3.connect(path)) as conn:
            create_collection(conn, now=NOW)
            for front, back in cards or (("front", "back"),):
                add_card(conn, front, back, now=NOW)
            conn.commit()
        return path.read_bytes()


def _zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def _legacy(
    path: Path, listed: dict[str, str], members: dict[str, bytes], *cards: tuple[str, str]
) -> Path:
    return _zip(
        path,
        [
            ("collection.anki2", _collection_bytes(*cards)),
            ("media", json.dumps(listed).encode()),
            *members.items(),
        ],
    )


def test_hostile_names_are_skipped_and_counted(ours: sqlite3.Connection, tmp_path: Path) -> None:
    hostile = ["../evil", "a/b", "", "..", ".", "a\\b", "/etc/passwd", "nul\x00.png", "???"]
    listed = {str(i): name for i, name in enumerate(hostile)}
    listed["20"] = "ok.png"
    listed["21"] = "missing.png"  # no member 21
    listed["x"] = "not-a-member-number.png"
    members = {str(i): b"evil" for i in range(len(hostile))} | {"20": b"fine"}
    package = _legacy(tmp_path / "hostile.apkg", listed, members)

    sink = DictSink()
    summary = import_package(ours, package, now=NOW, media=sink)
    assert sink.files == {"ok.png": b"fine"}
    assert summary.media_files_added == 1
    assert summary.media_files_skipped == len(hostile) + 2
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


def test_names_are_normalized_as_anki_does_and_references_follow(
    ours: sqlite3.Connection, tmp_path: Path
) -> None:
    listed = {"0": "con.jpg", "1": "cafe\u0301.png", "2": "dup.png", "3": "dup.png"}
    members = {"0": b"device", "1": b"nfd", "2": b"first", "3": b"second"}
    package = _legacy(
        tmp_path / "names.apkg",
        listed,
        members,
        ('<img src="con.jpg">', "[sound:cafe\u0301.png]"),
    )
    sink = DictSink()
    summary = import_package(ours, package, now=NOW, media=sink)
    assert sink.files == {"con_.jpg": b"device", "caf\u00e9.png": b"nfd", "dup.png": b"first"}
    assert summary.media_files_skipped == 1  # the second file named dup.png
    assert fronts_and_backs(ours) >= {('<img src="con_.jpg">', "[sound:caf\u00e9.png]")}


def test_too_many_members_give_nothing_to_the_sink(
    ours: sqlite3.Connection, tmp_path: Path
) -> None:
    listed = {str(i): f"f{i}.png" for i in range(60)}
    package = _legacy(tmp_path / "many.apkg", listed, {str(i): b"x" for i in range(60)})
    before = dump(ours)
    sink = DictSink()
    with pytest.raises(PackageTooLarge):
        import_package(ours, package, now=NOW, limits=ImportLimits(max_members=50), media=sink)
    assert sink.files == {} and sink.batches == []
    assert dump(ours) == before


def test_a_legacy_member_too_large_gives_nothing_to_the_sink(
    ours: sqlite3.Connection, tmp_path: Path
) -> None:
    listed = {"0": "small.png", "1": "huge.png"}
    package = _legacy(tmp_path / "big.apkg", listed, {"0": b"ok", "1": bytes(3 * MiB)})
    assert package.stat().st_size < MiB
    before = dump(ours)
    sink = DictSink()
    with pytest.raises(PackageTooLarge):
        import_package(ours, package, now=NOW, limits=ImportLimits(max_bytes=2 * MiB), media=sink)
    assert sink.files == {} and sink.batches == []
    assert dump(ours) == before


def _zstd(data: bytes, declared: bool) -> bytes:
    buffer = io.BytesIO()
    compressor = zstandard.ZstdCompressor(write_content_size=declared)
    with compressor.stream_writer(buffer, size=len(data) if declared else -1, closefd=False) as w:
        w.write(data)
    return buffer.getvalue()


@pytest.mark.parametrize("declared", [True, False])
def test_a_current_member_too_large_after_zstd_gives_nothing_to_the_sink(
    anki: AnkiMediaPackages, ours: sqlite3.Connection, tmp_path: Path, declared: bool
) -> None:
    """Anki's current package with its picture replaced by a zstd frame of 3 MiB."""
    with zipfile.ZipFile(anki.latest) as source:
        listed = zstandard.ZstdDecompressor().decompressobj().decompress(source.read("media"))
        members = [(i.filename, source.read(i)) for i in source.infolist()]
    names = [e.string(1) for e in Message(listed).messages(1)]
    pic_member = str(names.index("pic.png"))
    members = [
        (name, _zstd(bytes(3 * MiB), declared) if name == pic_member else data)
        for name, data in members
    ]
    package = _zip(tmp_path / "bomb.apkg", members)
    before = dump(ours)
    sink = DictSink()
    with pytest.raises(PackageTooLarge):
        import_package(ours, package, now=NOW, limits=ImportLimits(max_bytes=2 * MiB), media=sink)
    assert sink.files == {} and sink.batches == []
    assert dump(ours) == before


def test_a_damaged_media_member_is_refused_before_the_sink(
    ours: sqlite3.Connection, tmp_path: Path, anki: AnkiMediaPackages
) -> None:
    with zipfile.ZipFile(anki.latest) as source:
        members = [(i.filename, source.read(i)) for i in source.infolist()]
    members = [(n, b"not zstd at all" if n == "0" else d) for n, d in members]
    package = _zip(tmp_path / "damaged.apkg", members)
    sink = DictSink()
    with pytest.raises(MalformedPackage):
        import_package(ours, package, now=NOW, media=sink)
    assert sink.batches == []


# --- exporting --------------------------------------------------------------------------


def _package_media(package: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package) as archive:
        listed = json.loads(archive.read("media"))
        numbered = {i.filename for i in archive.infolist() if i.filename.isdigit()}
        assert numbered == set(listed)
        assert sorted(listed, key=int) == [str(i) for i in range(len(listed))]
        return {name: archive.read(member) for member, name in listed.items()}


def test_an_export_carries_what_the_notes_and_note_types_reference(
    ours: sqlite3.Connection, tmp_path: Path
) -> None:
    add_card(
        ours,
        '<img src="pic.png"> <img src="https://example.com/x.png">',
        "[sound:a&amp;b.mp3]",
        now=NOW,
    )
    add_card(ours, "[latex]x^2[/latex]", '<img src="gone.png">', now=NOW)
    (models,) = ours.execute("select models from col").fetchone()
    models = json.loads(models)
    for model in models.values():
        model["css"] += FONT_CSS
        model["tmpls"][0]["qfmt"] += '<script src="_helper.js"></script>'
    ours.execute("update col set models = ?", (json.dumps(models),))
    ours.commit()
    latex = latex_references("[latex]x^2[/latex]", svg=False)[0]
    store = {
        "pic.png": b"picture",
        "a&b.mp3": b"sound",
        "_font.woff": b"font",
        "_helper.js": b"script",
        latex: b"latex image",
        "unused.png": b"nobody references me",
    }
    source = DictSource(store)
    summary = export_package(ours, tmp_path / "out.apkg", now=NOW, media=source)

    expected = {k: v for k, v in store.items() if k != "unused.png"}
    assert _package_media(tmp_path / "out.apkg") == expected
    assert summary.media_files == len(expected)
    assert "gone.png" in source.asked  # asked for, not found, left out
    assert not any(name.startswith("http") for name in source.asked)


def test_a_deck_export_carries_only_that_decks_media(
    ours: sqlite3.Connection, tmp_path: Path
) -> None:
    ensure_deck(ours, "Elsewhere", NOW)
    add_card(ours, '<img src="mine.png">', "b", now=NOW)
    add_card(ours, '<img src="other.png">', "b", deck_id(ours, "Elsewhere"), now=NOW)
    ours.commit()
    source = DictSource({"mine.png": b"1", "other.png": b"2"})
    export_package(ours, tmp_path / "deck.apkg", deck_id=1, now=NOW, media=source)
    assert _package_media(tmp_path / "deck.apkg") == {"mine.png": b"1"}


def test_without_a_source_the_media_map_is_empty(ours: sqlite3.Connection, tmp_path: Path) -> None:
    add_card(ours, '<img src="pic.png">', "b", now=NOW)
    ours.commit()
    summary = export_package(ours, tmp_path / "none.apkg", now=NOW)
    assert _package_media(tmp_path / "none.apkg") == {}
    assert summary.media_files == 0


def test_our_export_imports_back_with_its_media(ours: sqlite3.Connection, tmp_path: Path) -> None:
    add_card(ours, '<img src="pic.png">', "[sound:s.mp3]", now=NOW)
    ours.commit()
    export_package(
        ours, tmp_path / "round.apkg", now=NOW, media=DictSource({"pic.png": b"p", "s.mp3": b"s"})
    )
    with closing(sqlite3.connect(tmp_path / "fresh.anki2")) as conn:
        create_collection(conn, now=NOW)
        sink = DictSink()
        summary = import_package(conn, tmp_path / "round.apkg", now=NOW, media=sink)
    assert sink.files == {"pic.png": b"p", "s.mp3": b"s"}
    assert summary == ImportSummary(notes_added=1, cards_added=1, media_files_added=2)


# --- references ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ('<img src="a.png">', ["a.png"]),
        ("<img src='a b.png'>", ["a b.png"]),
        ("<IMG SRC=a.png>", ["a.png"]),
        ("<img src=a.png alt=x>", ["a.png"]),  # unquoted: up to the space
        ('<img alt="x > y" src="a.png">', ["a.png"]),  # '>' inside quotes
        ('<audio src="s.mp3"></audio><video src="v.mp4"></video>', ["s.mp3", "v.mp4"]),
        ('<object data="o.swf"></object><source src="t.ogg">', ["o.swf", "t.ogg"]),
        ("[sound:hello world.mp3]", ["hello world.mp3"]),
        ("[sound:fo&amp;o.mp3]", ["fo&o.mp3"]),  # Anki's own example
        ('<img src="a&amp;b.png">', ["a&b.png"]),
        ('<img src="a&b.png">', ["a&b.png"]),  # a bare '&' stays as it is
        ('<img src="https://example.com/a.png"><img src="HTTP://x/y.png">', []),
        ('<img src="data:image/png;base64,AAAA">', []),
        ("[sound:https://example.com/a.mp3]", []),
        ("[anki:tts][en_US]say [sound:inside.mp3][/anki:tts][sound:after.mp3]", ["after.mp3"]),
        ('[sound:b.mp3]<img src="a.png">', ["a.png", "b.mp3"]),  # tags first, as Anki
        ("<img>", []),
        ("[sound:]", []),
        ("<imgsrc=a.png>", []),
    ],
)
def test_media_references(field: str, expected: list[str]) -> None:
    assert media_references(field) == expected


def test_replacing_references_as_anki_does() -> None:
    # Anki's test: `<img src='foo.jpg'>` with foo.jpg mapped to bar.jpg
    assert replace_media_references("<img src='foo.jpg'>", {"foo.jpg": "bar.jpg"}.get) == (
        "<img src='bar.jpg'>"
    )
    renamed = replace_media_references(
        '<img src="a&amp;b.png"> [sound:a&amp;b.png] [sound:c.mp3]',
        {"a&b.png": "x&y.png"}.get,
    )
    assert renamed == '<img src="x&amp;y.png"> [sound:x&amp;y.png] [sound:c.mp3]'
    assert replace_media_references("no refs", lambda name: "x") == "no refs"


def test_note_type_references() -> None:
    notetype = {
        "css": (
            '@import "_base.css"; .a { background: url("_bg.png"); }'
            " .b { background: url('_b2.png') } @font-face { src: url(_font.ttf ) }"
            ' .c { background: url("no-underscore.png") }'
        ),
        "tmpls": [
            {
                "qfmt": '<script src="_lib.js"></script>{{Front}}<img src=_pic.png>',
                "afmt": "[sound:_ding.mp3] {{Back}} <img src=\"plain.png\"> '_quoted.txt'",
            }
        ],
    }
    assert notetype_media_references(notetype) == {
        "_base.css",
        "_bg.png",
        "_b2.png",
        "_font.ttf",
        "_lib.js",
        "_pic.png",
        "_ding.mp3",
        "_quoted.txt",
    }
    assert notetype_media_references({"css": '@import url("_a/b.css");', "tmpls": []}) == set()


def test_latex_references_match_ankis_examples() -> None:
    assert latex_references("a[latex]one<br>and<div>two[/latex]b", svg=False) == [
        "latex-ef30b3f4141c33a5bf7044b0d1961d3399c05d50.png"
    ]
    assert latex_references("[$]<b>hello</b>&nbsp; world[/$]", svg=True) == [
        "latex-060219fbf3ddb74306abddaf4504276ad793b029.svg"
    ]
    assert latex_references("[$$]math &amp; stuff[/$$]", svg=False) == [
        "latex-8899f3f849ffdef6e4e9f2f34a923a1f608ebc07.png"
    ]


def test_file_names_as_anki_makes_them() -> None:
    assert normalized_media_name("foo.jpg") == "foo.jpg"
    assert normalized_media_name('con.jpg[]><:"/?*^\\|\0\r\n') == "con_.jpg"
    assert normalized_media_name("test.") == "test._"
    assert normalized_media_name("test ") == "test _"
    assert normalized_media_name("x" * 240 + ".jpg") == "x" * 115 + ".jpg"
    assert hashed_media_name("test.jpg", sha1(b"hello")) == (
        "test-aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d.jpg"
    )
    assert hashed_media_name("test.mp3", sha1(b"hello1")) == (
        "test-88fdd585121a4ccb3d1540527aee53a77c77abb8.mp3"
    )
    for unsafe in ("", ".", "..", "../x", "a/b", "a\\b", "x\0y", "::"):
        assert safe_media_name(unsafe) is None, unsafe


def test_collection_media_references(ours: sqlite3.Connection) -> None:
    add_card(ours, '<img src="cafe\u0301.png">', "[sound:s.mp3] [latex]y[/latex]", now=NOW)
    add_card(ours, '<img src="http://remote/x.png">', "plain", now=NOW)
    (models,) = ours.execute("select models from col").fetchone()
    models = json.loads(models)
    for model in models.values():
        model["css"] += FONT_CSS
    ours.execute("update col set models = ?", (json.dumps(models),))
    assert collection_media_references(ours) == {
        "caf\u00e9.png",
        "s.mp3",
        latex_references("[latex]y[/latex]", svg=False)[0],
        "_font.woff",
    }


def test_scanners_stay_fast_on_hostile_text() -> None:
    """Openings without a close, many times over: linear, as Anki's regexes are."""
    start = time.perf_counter()
    for hostile in ("[sound:" * 100_000, "[anki:tts][" * 50_000, "<img src" * 50_000):
        assert media_references(hostile) == []
    assert latex_references("[latex]" * 50_000 + "[$]" * 50_000, svg=False) == []
    css = "_" * 100_000 + "\nx)" + "url(" * 20_000 + "'_" * 20_000
    assert notetype_media_references({"css": css, "tmpls": [{"qfmt": "'_" * 50_000}]}) == set()
    # Linear: well under a second; quadratic: minutes. Room for a loaded machine.
    assert time.perf_counter() - start < 30
