"""Media files on AWS (the app under uvicorn, S3 and DynamoDB on a moto server): large
files are downloaded from a presigned S3 URL, small ones answered directly, and
uploads at the same moment all survive."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.app_server import AppServer, signed_up
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.integration

REDIRECT_BYTES = 1024
PNG = b"\x89PNG\r\n\x1a\n"
BIG = PNG + bytes(range(256)) * 16  # over REDIRECT_BYTES
SMALL = b"ID3\x03\x00 a short sound"
_LINK = re.compile(r"/api/media/[^\"'\s)]+\?t=[^\"'\s)&]+")


@pytest.fixture
def app(aws_env: dict[str, str], tmp_path: Path) -> Iterator[AppServer]:
    server = AppServer(
        {**aws_env, "JAVUMBO_MEDIA_REDIRECT_BYTES": str(REDIRECT_BYTES)}, cwd=tmp_path
    ).start()
    yield server
    server.stop()


def client(app: AppServer, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=app.url, headers=headers, timeout=30, follow_redirects=False)


def upload(learner: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return learner.post("/api/media", files={"file": (name, data, "application/octet-stream")})


def test_large_file_redirects_to_a_presigned_download_small_one_is_answered(
    app: AppServer, moto_server: MotoServer
) -> None:
    with client(app, signed_up(app, "alice")) as alice:
        assert upload(alice, "big picture.png", BIG).status_code == 201
        assert upload(alice, "small.mp3", SMALL).status_code == 201

        response = alice.get("/api/media/big%20picture.png")
        assert response.status_code == 307
        location = response.headers["location"]
        assert location.startswith(moto_server.url)
        assert "alice" in urlsplit(location).path  # the learner's own object
        download = httpx.get(location, timeout=30)  # no token: the URL itself grants it
        assert download.status_code == 200
        assert download.content == BIG
        assert download.headers["content-type"] == "image/png"
        assert download.headers["content-disposition"].startswith("inline")

        small = alice.get("/api/media/small.mp3")
        assert small.status_code == 200
        assert small.content == SMALL
        assert small.headers["content-type"] == "audio/mpeg"

        # A rendered card's link (media token, no bearer header) is redirected too.
        added = alice.post(
            "/api/cards",
            json={"front": '<img src="big picture.png">', "back": "[sound:small.mp3]"},
        )
        card = alice.get(f"/api/cards/{added.json()['cardId']}").json()
        links = [html.unescape(link) for link in _LINK.findall(card["question"] + card["answer"])]
        # The picture on both sides (the answer repeats the question), then the sound.
        assert [urlsplit(link).path for link in links] == [
            "/api/media/big%20picture.png",
            "/api/media/big%20picture.png",
            "/api/media/small.mp3",
        ]
        with httpx.Client(base_url=app.url, timeout=30) as browser:
            by_link = browser.get(links[0])
            assert by_link.status_code == 307
            assert httpx.get(by_link.headers["location"], timeout=30).content == BIG
            sound = browser.get(links[-1])
            assert sound.status_code == 200
            assert sound.content == SMALL


def test_uploads_at_the_same_moment_all_survive(app: AppServer) -> None:
    headers = signed_up(app, "alice")
    rounds, per_round = 3, 2
    barrier = threading.Barrier(per_round)
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def uploader(worker: int) -> None:
        try:
            with client(app, headers) as learner:
                for round_ in range(rounds):
                    name = f"file-{round_}-{worker}.png"
                    barrier.wait(timeout=30)
                    results[name] = upload(learner, name, PNG + name.encode()).status_code
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=uploader, args=(w,)) for w in range(per_round)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    expected = {f"file-{r}-{w}.png" for r in range(rounds) for w in range(per_round)}
    assert results == dict.fromkeys(expected, 201)

    with client(app, headers) as alice:
        listed = alice.get("/api/media").json()
        assert {f["name"] for f in listed} == expected
        for name in expected:
            assert alice.get(f"/api/media/{name}").content == PNG + name.encode()
