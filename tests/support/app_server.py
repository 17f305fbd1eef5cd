"""The real app under uvicorn in a child process, as `make run` serves it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = self.log_path.read_text(errors="replace")
                raise RuntimeError(f"the app exited at start-up:\n{output}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)  # polling for the port to open, bounded by the deadline
        raise TimeoutError(f"the app did not answer on {self.url} within {timeout}s")

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def request_lines(self) -> list[dict[str, object]]:
        """The app's structured request log lines so far."""
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith('{"event":"request"'):
                lines.append(json.loads(line))
        return lines


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
