"""The real app under uvicorn in a child process, as `make run` serves it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppServer:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env}
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: nobody reads a pipe while the app runs, and a full pipe
        # would block the app's logging.
        self.log_path = cwd / f"app-{self.port}.log"

    def start(self, timeout: float = 30) -> AppServer:
        log_file = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--app-dir",
                str(ROOT),
            ],
            cwd=self._cwd,
            env=self._env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        log_file.close()  # the child has its own descriptor
        wait_until_healthy(self._process, self.url, self.log_path, "the app", timeout)
        return self

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process)

    def request_lines(self) -> list[dict[str, Any]]:
        """The app's structured request log lines so far."""
        return read_request_lines(self.log_path)


def wait_until_healthy(
    process: subprocess.Popen[bytes], url: str, log_path: Path, name: str, timeout: float
) -> None:
    """Wait for `GET /health` to answer 200; fail early if the process exits."""

    def healthy() -> bool:
        if process.poll() is not None:
            output = log_path.read_text(errors="replace")
            raise RuntimeError(f"{name} exited at start-up:\n{output}")
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False  # the port is not open yet

    wait_until(healthy, timeout=timeout, what=f"{name} answering on {url}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def read_request_lines(log_path: Path) -> list[dict[str, Any]]:
    """The structured request lines (one JSON object per request) in an app's log."""
    return [
        json.loads(line)
        for line in log_path.read_text(errors="replace").splitlines()
        if line.startswith('{"event":"request"')
    ]


def signed_up(server: AppServer, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Register a learner on ``server``, log in, and return the bearer header."""
    httpx.post(
        f"{server.url}/api/register",
        json={"username": username, "name": username, "password": password},
        timeout=60,
    ).raise_for_status()
    token = httpx.post(
        f"{server.url}/api/login", json={"username": username, "password": password}, timeout=60
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}
