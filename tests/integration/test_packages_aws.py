"""Large packages on AWS: presigned upload then import by key; big exports answer 303."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from tests.support.app_server import AppServer, signed_up
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.integration


@pytest.fixture
def app(aws_env: dict[str, str], tmp_path: Path) -> Iterator[AppServer]:
    # Any export bigger than 1 KiB goes through S3, so the redirect is exercised.
    server = AppServer({**aws_env, "JAVUMBO_EXPORT_REDIRECT_BYTES": "1024"}, cwd=tmp_path).start()
    yield server
    server.stop()


def learner(app: AppServer, name: str) -> httpx.Client:
    return httpx.Client(base_url=app.url, headers=signed_up(app, name), timeout=30)


def objects(env: dict[str, str], moto: MotoServer, prefix: str) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    listing = s3.list_objects_v2(Bucket=env["JAVUMBO_BUCKET"], Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_big_export_redirects_to_a_presigned_download(
    app: AppServer, aws_env: dict[str, str], moto_server: MotoServer
) -> None:
    with learner(app, "alice") as alice:
        alice.post("/api/cards", json={"front": "q", "back": "a"}).raise_for_status()
        response = alice.get("/api/export")
        assert response.status_code == 303
        location = response.headers["location"]
        assert objects(aws_env, moto_server, "exports/alice/")
        download = httpx.get(location, timeout=30)  # no token: the URL itself grants it
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            assert "collection.anki2" in archive.namelist()


def test_presigned_upload_then_import_by_key(
    app: AppServer, aws_env: dict[str, str], moto_server: MotoServer
) -> None:
    with learner(app, "alice") as alice, learner(app, "bob") as bob:
        for i in range(3):
            alice.post("/api/cards", json={"front": f"q{i}", "back": "a"}).raise_for_status()
        package = httpx.get(alice.get("/api/export").headers["location"], timeout=30).content

        upload = bob.post("/api/import/upload-url")
        assert upload.status_code == 200
        ticket = upload.json()
        assert ticket["key"].startswith("uploads/bob/")
        assert ticket["method"] == "PUT"
        assert 0 < ticket["expiresIn"] <= 3600
        put = httpx.put(
            ticket["url"],
            content=package,
            headers={"Content-Type": "application/octet-stream"},
            timeout=30,
        )
        assert put.status_code == 200

        # Alice cannot import Bob's upload, and nobody can import outside uploads/.
        assert alice.post("/api/import", json={"key": ticket["key"]}).status_code == 404
        assert alice.post("/api/import", json={"key": "user_dbs/bob.anki2"}).status_code == 404

        imported = bob.post("/api/import", json={"key": ticket["key"]})
        assert imported.status_code == 200, imported.text
        assert imported.json()["notesAdded"] == 3
        assert objects(aws_env, moto_server, "uploads/bob/") == []  # consumed
        fronts = [c["front"] for c in bob.get("/api/decks/1/cards").json()["cards"]]
        assert sorted(fronts) == ["q0", "q1", "q2"]
        gone = bob.post("/api/import", json={"key": ticket["key"]})
        assert gone.status_code == 404
