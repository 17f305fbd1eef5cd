"""Hostile uploads to POST /api/media: every refusal is a 4xx with a `code` and an
`error`, and leaves the learner's files and the object store as they were; names Anki
would store differently are accepted under Anki's name; path-like names in the URL
never reach anything outside the learner's own files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auth.local import LocalUserStore
from storage.local import LocalObjectStore
from tests.support.api_rig import Rig, build_rig

LIMIT = 4096  # the largest media file the app under test takes
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
SEED = b"\x89PNG\r\n\x1a\nthe file every test starts with"
# The object store's own bookkeeping (locks, temporary files, metadata), not objects.
_BOOKKEEPING = (".locks", ".tmp", ".meta")


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """The app on the local store, with media files limited to LIMIT bytes."""
    monkeypatch.setenv("JAVUMBO_MEDIA_MAX_FILE_BYTES", str(LIMIT))
    users = LocalUserStore(tmp_path / "users.sqlite3")
    yield from build_rig(tmp_path, users, users, LocalObjectStore(tmp_path / "objects"))


@pytest.fixture
def alice(rig: Rig) -> dict[str, str]:
    headers = rig.signed_up("alice")
    assert upload(rig, headers, "seed.png", SEED).status_code == 201
    return headers


def upload(
    rig: Rig,
    headers: dict[str, str],
    filename: str,
    data: bytes = PNG,
    name: str | None = None,
) -> httpx.Response:
    form = {} if name is None else {"name": name}
    return rig.client.post(
        "/api/media",
        files={"file": (filename, data, "application/octet-stream")},
        data=form,
        headers=headers,
    )


def stored_objects(rig: Rig) -> dict[str, str]:
    """Every object in the store, by key, with the SHA-1 of its bytes."""
    root = rig.data_dir / "objects"
    return {
        path.relative_to(root).as_posix(): hashlib.sha1(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).parts[0] not in _BOOKKEEPING
    }


def listing(rig: Rig, headers: dict[str, str]) -> list[dict[str, object]]:
    response = rig.client.get("/api/media", headers=headers)
    assert response.status_code == 200
    return response.json()


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"].strip()


REFUSED_NAMES = [
    # (name, status, code)
    ("../evil.png", 422, "media_name_refused"),
    ("a/b.png", 422, "media_name_refused"),
    ("a\\b.png", 422, "media_name_refused"),
    ("..\\..\\evil.png", 422, "media_name_refused"),
    ("/etc/evil.png", 422, "media_name_refused"),
    ("..", 422, "media_name_refused"),  # the name is checked before the type
    (".", 422, "media_name_refused"),
    ("a\x00b.png", 422, "media_name_refused"),
    ("evil.png\x00.html", 422, "media_name_refused"),  # the NUL, before the type
    ("x.html", 415, "unsupported_media"),
    ("x.js", 415, "unsupported_media"),
    ("x.exe", 415, "unsupported_media"),
    ("x.svg.html", 415, "unsupported_media"),
    ("x", 415, "unsupported_media"),
]


@pytest.mark.parametrize("channel", ["name", "filename"])
@pytest.mark.parametrize(("hostile", "status", "code"), REFUSED_NAMES)
def test_hostile_name_is_refused_and_changes_nothing(
    rig: Rig, alice: dict[str, str], channel: str, hostile: str, status: int, code: str
) -> None:
    before, objects = listing(rig, alice), stored_objects(rig)
    if channel == "name":
        response = upload(rig, alice, "ok.png", name=hostile)
    else:
        response = upload(rig, alice, hostile)
    if channel == "filename" and "\x00" in hostile and response.status_code == 201:
        # The client writes a NUL in the part's filename as "%00": a name with no NUL,
        # which is no path either; what matters is that it stays one file of Alice's.
        assert response.json()["name"] == hostile.replace("\x00", "%00")
        assert {k for k in stored_objects(rig) if k not in objects} <= {
            k for k in stored_objects(rig) if k.startswith("user_media/alice/")
        }
        return
    if channel == "filename" and "\x00" in hostile:
        # Sent as "%00" (see above), "evil.png%00.html" is refused for its type instead.
        status, code = (status, code) if hostile.endswith(".png") else (415, "unsupported_media")
    assert_refused(response, status, code)
    assert listing(rig, alice) == before
    assert stored_objects(rig) == objects
    assert not list(rig.data_dir.rglob("evil*"))


def test_empty_file_name_is_refused(rig: Rig, alice: dict[str, str]) -> None:
    before, objects = listing(rig, alice), stored_objects(rig)
    response = upload(rig, alice, "")
    assert 400 <= response.status_code < 500
    body = response.json()
    assert body["code"] and body["error"]
    assert listing(rig, alice) == before
    assert stored_objects(rig) == objects


@pytest.mark.parametrize(
    ("given_name", "stored_name"),
    [
        ("con.png", "con_.png"),  # a Windows device name gets "_", as in Anki
        ("CON.png", "CON_.png"),
        ("lpt1.png", "lpt1_.png"),
        ("a\x01b\x1f\x7f.png", "ab.png"),  # control characters removed, as in Anki
        ("tab\there.png", "tabhere.png"),
        ('[a]<b>:c"d?e*f^g|h.png', "abcdefgh.png"),  # characters Anki takes out
        ("cafe\u0301.png", "caf\u00e9.png"),  # NFC
        ("no\u00a0break.png", "no break.png"),
    ],
)
def test_names_anki_would_change_are_stored_under_anki_name(
    rig: Rig, alice: dict[str, str], given_name: str, stored_name: str
) -> None:
    response = upload(rig, alice, "ok.png", name=given_name)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == stored_name
    assert stored_name in {f["name"] for f in listing(rig, alice)}
    fetched = rig.client.get(f"/api/media/{stored_name}", headers=alice)
    assert fetched.status_code == 200
    assert fetched.content == PNG


@pytest.mark.parametrize(
    ("long_name", "stem"),
    [("x" * 300 + ".png", "x"), ("\u00e9" * 150 + ".png", "\u00e9"), ("猫" * 100 + ".png", "猫")],
)
def test_long_names_are_cut_as_anki_cuts_them(
    rig: Rig, alice: dict[str, str], long_name: str, stem: str
) -> None:
    assert len(long_name.encode()) >= 300
    response = upload(rig, alice, "ok.png", name=long_name)
    assert response.status_code == 201, response.text
    name = response.json()["name"]
    # The stem cut on a character boundary to fit 120 UTF-8 bytes with its extension.
    assert name.endswith(".png")
    assert set(name.removesuffix(".png")) == {stem}
    # (Anki keeps at most 120 - len(extension) - 2 bytes of the stem.)
    assert 119 - len(stem.encode()) < len(name.encode()) <= 119
    assert name in {f["name"] for f in listing(rig, alice)}
    assert rig.client.get(f"/api/media/{name}", headers=alice).content == PNG
    # The long name itself finds the same file (it is cut the same way).
    assert rig.client.get(f"/api/media/{long_name}", headers=alice).content == PNG


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("fake.png", b"GIF89a not a png"),
        ("fake.jpg", PNG),
        ("fake.gif", b"<svg></svg>"),
        ("fake.svg", b"\x89PNG\r\n\x1a\n"),
        ("empty.png", b""),
    ],
)
def test_bytes_that_are_not_what_the_name_says_are_refused(
    rig: Rig, alice: dict[str, str], filename: str, data: bytes
) -> None:
    before, objects = listing(rig, alice), stored_objects(rig)
    assert_refused(upload(rig, alice, filename, data), 415, "unsupported_media")
    assert listing(rig, alice) == before
    assert stored_objects(rig) == objects


def test_file_over_the_size_limit_is_refused(rig: Rig, alice: dict[str, str]) -> None:
    before, objects = listing(rig, alice), stored_objects(rig)
    too_big = PNG.ljust(LIMIT + 1, b"x")
    assert_refused(upload(rig, alice, "big.png", too_big), 413, "media_too_large")
    assert_refused(upload(rig, alice, "big.mp3", b"x" * (10 * LIMIT)), 413, "media_too_large")
    assert listing(rig, alice) == before
    assert stored_objects(rig) == objects
    # The limit itself is allowed.
    assert upload(rig, alice, "edge.png", PNG.ljust(LIMIT, b"x")).status_code == 201


def test_replacing_a_file_with_a_refused_one_keeps_the_old_bytes(
    rig: Rig, alice: dict[str, str]
) -> None:
    objects = stored_objects(rig)
    assert_refused(upload(rig, alice, "seed.png", b"GIF89a"), 415, "unsupported_media")
    assert_refused(upload(rig, alice, "seed.png", PNG.ljust(LIMIT + 1)), 413, "media_too_large")
    assert rig.client.get("/api/media/seed.png", headers=alice).content == SEED
    assert stored_objects(rig) == objects


@pytest.mark.parametrize(
    "path",
    [
        "..%2Fx",
        "..%2F..%2Fuser_dbs%2Falice.anki2",
        "..%2Fbob%2Findex.json",
        "..%2Fbob%2Fsecret.png",
        "%2e%2e%2fbob%2fsecret.png",
        "%2e%2e",
        "..",
        "..%5Cbob%5Csecret.png",
        "bob%2Fsecret.png",
        "files%2F" + "0" * 40,
        "index.json",
        "%00.png",
        "secret.png%00.png",
    ],
)
def test_path_like_names_in_the_url_reach_nothing_else(
    rig: Rig, alice: dict[str, str], path: str
) -> None:
    bob = rig.signed_up("bob")
    assert upload(rig, bob, "secret.png", PNG + b"bob's").status_code == 201
    for headers in (alice, {}):
        response = rig.client.get(f"/api/media/{path}", headers=headers)
        assert response.status_code in (401, 404, 422), (path, response.text)
        assert response.json()["code"]
        assert b"bob's" not in response.content
    response = rig.client.delete(f"/api/media/{path}", headers=alice)
    assert response.status_code in (404, 405, 422), (path, response.text)
    assert rig.client.get("/api/media/secret.png", headers=bob).content == PNG + b"bob's"
    assert rig.client.get("/api/media/seed.png", headers=alice).content == SEED


@pytest.fixture
def fuzzer(rig: Rig) -> dict[str, str]:
    return rig.signed_up("fuzzer")


@pytest.mark.fuzz
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.text(min_size=0, max_size=160))
def test_any_name_is_stored_under_a_safe_name_or_refused(
    rig: Rig, fuzzer: dict[str, str], name: str
) -> None:
    objects = stored_objects(rig)
    try:
        response = upload(rig, fuzzer, "ok.png", name=name + ".png")
    except UnicodeEncodeError:  # a lone surrogate cannot be sent at all
        return
    if response.status_code == 201:
        stored = response.json()["name"]
        assert stored and stored not in (".", "..")
        assert not set(stored) & {"/", "\\", "\x00"}
        assert len(stored.encode()) <= 120
        new = set(stored_objects(rig)) - set(objects)
        assert all(key.startswith("user_media/fuzzer/") for key in new), new
        fetched = rig.client.get(f"/api/media/{quote(stored, safe='')}", headers=fuzzer)
        assert fetched.status_code == 200 and fetched.content == PNG
    else:
        assert 400 <= response.status_code < 500, response.text
        assert_refused(response, response.status_code, response.json()["code"])
        assert stored_objects(rig) == objects
