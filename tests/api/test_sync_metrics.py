"""A sync call's request line: the call, its bytes on the wire, full syncs and media
files; on Lambda the sync metrics beside the request's."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard
from fastapi.testclient import TestClient

from tests.api.test_observability import Lines
from tests.support.api_rig import PASSWORD, Rig

SYNC_METRICS = {
    "SyncsStarted",
    "SyncsFinished",
    "SyncConflicts",
    "SyncBytesIn",
    "SyncBytesOut",
    "MediaFilesSynced",
}


@pytest.fixture
def lines() -> Iterator[Lines]:
    from api.observability import log as request_log

    handler = Lines()
    request_log.addHandler(handler)
    yield handler
    request_log.removeHandler(handler)


@pytest.fixture
def on_lambda(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The rig's app as it runs on Lambda: its lines carry embedded metrics."""
    from api.main import create_app

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "javumbo")
    app = create_app(rig.client.app.state.settings, rig.services)  # type: ignore[attr-defined]
    return TestClient(app, raise_server_exceptions=False)


class Device:
    """One device's calls, as Anki makes them: zstd bodies and the anki-sync header."""

    def __init__(self, client: TestClient, session: str = "device-1") -> None:
        self.client = client
        self.session = session
        self.key = ""
        self.sent: list[int] = []  # compressed body sizes, call by call

    def call(
        self, method: str, value: Any = None, *, prefix: str = "sync", raw: bytes = b""
    ) -> httpx.Response:
        data = raw or json.dumps({} if value is None else value).encode()
        body = zstandard.ZstdCompressor().compress(data)
        self.sent.append(len(body))
        header = json.dumps({"v": 11, "k": self.key, "c": "test,1.0,linux", "s": self.session})
        return self.client.post(
            f"/{prefix}/{method}",
            content=body,
            headers={"anki-sync": header, "content-type": "application/octet-stream"},
        )

    def log_in(self, username: str) -> None:
        answer = self.call("hostKey", {"u": username, "p": PASSWORD})
        assert answer.status_code == 200, answer.text
        self.key = json.loads(zstandard.ZstdDecompressor().stream_reader(answer.content).read())[
            "key"
        ]


def directives(line: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = line["_aws"]["CloudWatchMetrics"]
    return found


def declared(line: dict[str, Any]) -> set[str]:
    return {m["Name"] for d in directives(line) for m in d["Metrics"]}


def assert_well_formed(line: dict[str, Any]) -> None:
    """Every metric and dimension a directive names has its value on the line."""
    for directive in directives(line):
        assert directive["Namespace"] == "Javumbo"
        for metric in directive["Metrics"]:
            assert isinstance(line[metric["Name"]], int | float), metric
        for dimensions in directive["Dimensions"]:
            for name in dimensions:
                assert isinstance(line[name], str), name


def test_a_full_download_logs_each_call_with_its_bytes(rig: Rig, lines: Lines) -> None:
    headers = rig.signed_up("alice")
    device = Device(rig.client)
    lines.records.clear()
    device.log_in("alice")
    meta = device.call("meta", {"v": 11, "cv": "test"})
    download = device.call("download")
    assert (meta.status_code, download.status_code) == (200, 200)
    rig.client.get("/api/decks", headers=headers)

    host_key, meta_line, download_line, web = lines.records
    assert [line["syncMethod"] for line in (host_key, meta_line, download_line)] == [
        "hostKey",
        "meta",
        "download",
    ]
    assert download_line["route"] == "/sync/{method}"
    assert (meta_line["user"], download_line["user"]) == ("alice", "alice")
    # The bodies as they crossed the wire: compressed, both ways.
    assert [line["syncBytesIn"] for line in (host_key, meta_line, download_line)] == device.sent
    assert meta_line["syncBytesOut"] == len(meta.content)
    assert download_line["syncBytesOut"] == len(download.content) > 1000
    assert [line["fullSync"] for line in (host_key, meta_line, download_line)] == [
        None,
        None,
        "download",
    ]
    assert download_line["mediaFiles"] == 0
    assert "_aws" not in download_line  # metrics only on Lambda
    assert "syncMethod" not in web  # the web app's lines are as before


def test_on_lambda_syncs_started_finished_and_conflicts_are_metrics(
    rig: Rig, on_lambda: TestClient, lines: Lines
) -> None:
    rig.signed_up("alice")
    first, second = Device(on_lambda, "device-1"), Device(on_lambda, "device-2")
    first.log_in("alice")
    second.key = first.key
    first.sent.clear()
    lines.records.clear()
    assert first.call("start", {"minUsn": 0, "lnewer": False}).status_code == 200
    assert first.call("finish").status_code == 200
    # A second device's start cancels the first device's sync: its next call is a 409.
    assert first.call("start", {"minUsn": 0, "lnewer": False}).status_code == 200
    assert second.call("start", {"minUsn": 0, "lnewer": False}).status_code == 200
    assert first.call("finish").status_code == 409

    start, finish, _, _, refused = lines.records
    for line in lines.records:
        assert_well_formed(line)
        assert declared(line) >= SYNC_METRICS
        assert "FullSyncs" not in declared(line)
    assert (start["syncMethod"], start["SyncMethod"], start["SyncsStarted"]) == (
        "start",
        "start",
        1,
    )
    assert (start["SyncsFinished"], start["SyncConflicts"]) == (0, 0)
    assert (finish["SyncsStarted"], finish["SyncsFinished"], finish["SyncConflicts"]) == (0, 1, 0)
    assert (refused["status"], refused["SyncsFinished"], refused["SyncConflicts"]) == (409, 0, 1)
    assert sum(line["SyncsStarted"] for line in lines.records) == 3
    assert start["SyncBytesIn"] == start["syncBytesIn"] == first.sent[0]
    assert start["SyncBytesOut"] == start["syncBytesOut"] > 0
    # Each call's latency also by SyncMethod; the totals stay dimensionless.
    by_method = [d for d in directives(finish) if d["Dimensions"] == [["SyncMethod"]]]
    assert [m["Name"] for d in by_method for m in d["Metrics"]] == ["Latency"]


def test_on_lambda_a_full_sync_is_counted_with_its_direction(
    rig: Rig, on_lambda: TestClient, lines: Lines
) -> None:
    rig.signed_up("alice")
    device = Device(on_lambda)
    device.log_in("alice")
    lines.records.clear()
    assert device.call("meta", {"v": 11, "cv": "test"}).status_code == 200
    assert device.call("download").status_code == 200
    refused = device.call("upload", raw=b"not a collection")
    assert refused.status_code == 200  # a refusal the client shows, as on Anki's server

    meta, download, upload = lines.records
    assert "FullSyncs" not in meta
    assert (download["fullSync"], download["FullSyncs"], download["Direction"]) == (
        "download",
        1,
        "download",
    )
    assert {"FullSyncs"} == {
        m["Name"]
        for d in directives(download)
        if d["Dimensions"] == [[], ["Direction"]]
        for m in d["Metrics"]
    }
    assert_well_formed(download)
    assert upload["fullSync"] is None and "FullSyncs" not in upload


@pytest.mark.interop
def test_a_full_upload_is_counted_once_it_replaced_the_collection(
    rig: Rig, on_lambda: TestClient, lines: Lines, tmp_path: Path
) -> None:
    from anki.collection import Collection

    col = Collection(str(tmp_path / "collection.anki2"))
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"], note["Back"] = "bonjour", "hello"
    col.add_note(note, 1)
    col.close(downgrade=False)
    rig.signed_up("alice")
    device = Device(on_lambda)
    device.log_in("alice")
    lines.records.clear()
    answer = device.call("upload", raw=(tmp_path / "collection.anki2").read_bytes())
    assert zstandard.ZstdDecompressor().stream_reader(answer.content).read() == b"OK"
    [upload] = lines.records
    assert (upload["fullSync"], upload["FullSyncs"], upload["Direction"]) == (
        "upload",
        1,
        "upload",
    )
    assert upload["syncBytesIn"] == device.sent[-1]
    assert_well_formed(upload)


def _upload_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        meta = []
        for number, (name, body) in enumerate(files.items()):
            archive.writestr(str(number), body)
            meta.append([name, str(number)])
        archive.writestr("_meta", json.dumps(meta))
    return buffer.getvalue()


def test_on_lambda_media_files_synced_both_ways(
    rig: Rig, on_lambda: TestClient, lines: Lines
) -> None:
    rig.signed_up("alice")
    device = Device(on_lambda)
    device.log_in("alice")
    files = {"owl.png": b"\x89PNG\r\n\x1a\n" + b"o" * 300, "hoot.mp3": b"ID3" + b"h" * 500}
    lines.records.clear()
    uploaded = device.call("uploadChanges", prefix="msync", raw=_upload_zip(files))
    assert uploaded.status_code == 200, uploaded.text
    downloaded = device.call("downloadFiles", {"files": list(files)}, prefix="msync")
    assert downloaded.status_code == 200, downloaded.text
    assert device.call("mediaSanity", {"local": 2}, prefix="msync").status_code == 200

    upload, download, sanity = lines.records
    assert [line["syncMethod"] for line in lines.records] == [
        "uploadChanges",
        "downloadFiles",
        "mediaSanity",
    ]
    assert upload["route"] == "/msync/uploadChanges"
    assert (upload["mediaFiles"], upload["MediaFilesSynced"]) == (2, 2)
    assert (download["mediaFiles"], download["MediaFilesSynced"]) == (2, 2)
    assert download["syncBytesOut"] == len(downloaded.content)
    assert sanity["MediaFilesSynced"] == 0
    for line in lines.records:
        assert_well_formed(line)


def test_an_unknown_call_is_logged_as_unknown(
    rig: Rig, on_lambda: TestClient, lines: Lines
) -> None:
    device = Device(on_lambda)
    assert device.call("dropEverything").status_code == 404
    assert device.call("x" * 300, prefix="msync").status_code == 404
    for line in lines.records[-2:]:
        assert (line["syncMethod"], line["SyncMethod"]) == ("unknown", "unknown")
        assert_well_formed(line)
