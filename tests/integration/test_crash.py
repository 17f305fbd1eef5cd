"""A server killed with SIGKILL in the middle of a burst of writes loses nothing."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import boto3
import httpx
import pytest

from api.core.names import PREFIX_LOGS
from storage.pagelog import seq_of
from tests.support.app_server import AppServer, signed_up
from tests.support.moto_server import MotoServer
from tests.support.stored import open_bytes, stored_collection_s3

pytestmark = pytest.mark.integration


def fronts_of(body: bytes) -> list[str]:
    conn = open_bytes(body)
    try:
        return sorted(row[0].split("\x1f")[0] for row in conn.execute("select flds from notes"))
    finally:
        conn.close()


def s3_fronts(env: dict[str, str], moto: MotoServer) -> tuple[list[str], int]:
    """The fronts the store holds (snapshot and log), and the log position they are at."""
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    key = "user_dbs/alice.anki2"
    body = stored_collection_s3(s3, env["JAVUMBO_BUCKET"], key)
    listing = s3.list_objects_v2(Bucket=env["JAVUMBO_BUCKET"], Prefix=f"{PREFIX_LOGS}{key}/")
    seqs = [seq_of(item["Key"].rsplit("/", 1)[1]) for item in listing.get("Contents", [])]
    return fronts_of(body), max((s for s in seqs if s is not None), default=0)


def test_sigkill_during_writes_then_restart(
    aws_env: dict[str, str], moto_server: MotoServer, tmp_path: Path
) -> None:
    env = {**aws_env, "JAVUMBO_CACHE_DIR": str(tmp_path / "cache")}
    server = AppServer(env, cwd=tmp_path).start()
    headers = signed_up(server, "alice")

    acknowledged: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            for i in range(500):
                if stop.is_set():
                    return
                front = f"w{n}-{i}"
                try:
                    response = client.post("/api/cards", json={"front": front, "back": "a"})
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(front)
                        if len(acknowledged) >= 20:
                            enough.set()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    assert enough.wait(60), "the burst never got going"
    server.kill()  # SIGKILL, mid-burst
    stop.set()
    for t in threads:
        t.join(30)

    restarted = AppServer(env, cwd=tmp_path).start()
    try:
        in_s3, seq = s3_fronts(env, moto_server)
        assert set(acknowledged) <= set(in_s3)  # every acknowledged write is durable
        assert len(set(in_s3)) == len(in_s3)  # none twice
        with httpx.Client(base_url=restarted.url, headers=headers, timeout=30) as client:
            listing = client.get("/api/decks/1/cards", params={"perPage": 500}).json()
        assert sorted(c["front"] for c in listing["cards"]) == in_s3  # served = S3
        cache = tmp_path / "cache"
        assert list((cache / "work").iterdir()) == []
        entries = list(cache.glob("*.entry"))
        assert entries, "the restarted server should have cached the collection"
        for entry in entries:  # clean (it has a state) and current
            state = json.loads(entry.with_suffix(".state").read_text())
            assert state["seq"] == seq
            assert fronts_of(entry.read_bytes()) == in_s3
    finally:
        restarted.stop()
