"""The app under uvicorn on the local backend, once per module, for Anki's own client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import zstandard

from tests.support.app_server import AppServer, free_port, stop_process
from tests.support.waiting import wait_until

# Small limits, so that "too large" is reachable in a test.
UPLOAD_LIMIT = 1_500_000
DOWNLOAD_LIMIT = 600_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    tmp = tmp_path_factory.mktemp("sync-app")
    env = {
        "JAVUMBO_BACKEND": "local",
        "JAVUMBO_DATA_DIR": str(tmp / "data"),
        "JAVUMBO_CACHE_DIR": str(tmp / "cache"),
        "JAVUMBO_BCRYPT_ROUNDS": "4",
        "JAVUMBO_SYNC_UPLOAD_MAX_BYTES": str(UPLOAD_LIMIT),
        "JAVUMBO_SYNC_DOWNLOAD_MAX_BYTES": str(DOWNLOAD_LIMIT),
    }
    server = AppServer(env, cwd=tmp).start()
    yield server
    server.stop()


class OfficialServer:
    """Anki's own sync server (from the anki package), with the given `user:password`
    accounts (default: one, alice:secret)."""

    def __init__(self, base: Path, accounts: tuple[str, ...] = ("alice:secret",)) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base = base
        self.accounts = accounts
        self.log_path = base / "official.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> OfficialServer:
        env = {
            **os.environ,
            **{f"SYNC_USER{n}": account for n, account in enumerate(self.accounts, 1)},
            "SYNC_BASE": str(self.base / "data"),
            "SYNC_HOST": "127.0.0.1",
            "SYNC_PORT": str(self.port),
        }
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "anki.syncserver"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until_official(self._process, self.url, self.log_path)
        return self

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)


def wait_until_official(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    """Wait for the official server to answer anything (it has no /health)."""

    def answering() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"the official server exited:\n{log_path.read_text()}")
        try:
            httpx.get(f"{url}/", timeout=1)
        except httpx.TransportError:
            return False  # the port is not open yet
        return True

    wait_until(answering, timeout=30, what=f"the official server answering on {url}")


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfficialServer]:
    server = OfficialServer(tmp_path_factory.mktemp("official")).start()
    yield server
    server.stop()


def sync_call(
    base: str,
    method: str,
    body: bytes | None = None,
    *,
    key: str = "",
    version: int = 11,
    raw: bool = False,
    prefix: str = "sync",
) -> httpx.Response:
    """One call as the client makes it: its own connection, zstd body, anki-sync header."""
    header = json.dumps({"v": version, "k": key, "c": "test,1.0,linux", "s": "abc"})
    payload = body if raw else zstandard.ZstdCompressor().compress(body or b'{"_pad":null}')
    with httpx.Client(timeout=60) as client:
        return client.post(
            f"{base}/{prefix}/{method}",
            content=iter([payload]),  # chunked, as the client sends it
            headers={"anki-sync": header, "content-type": "application/octet-stream"},
        )


def host_key(base: str, username: str, password: str) -> str:
    body = json.dumps({"u": username, "p": password}).encode()
    return str(json.loads(decoded(sync_call(base, "hostKey", body)))["key"])


def decoded(response: httpx.Response) -> bytes:
    """A success's body, decompressed, after checking its original size."""
    data = zstandard.ZstdDecompressor().stream_reader(response.content).read()
    assert response.headers["anki-original-size"] == str(len(data))
    return data
