"""The processes a benchmark runs: moto, the latency proxy and app instances.

Each child is started with a pipe on its standard input and serves until that pipe
closes, so none of them outlives the benchmark, even when it is killed.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from tests.support.app_server import (
    free_port,
    read_request_lines,
    stop_process,
    wait_until_healthy,
)

ROOT = Path(__file__).resolve().parents[1]
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM if the benchmark dies (even from
    SIGKILL, which runs no `finally`), so no server outlives it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _first_line(stream: IO[bytes], timeout: float) -> bytes:
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no answer within {timeout}s")
    return stream.readline()


class Child:
    """`python -m <module> <args>`, which prints one JSON line when it is ready."""

    def __init__(self, module: str, *args: str, timeout: float = 30) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (our own modules, no shell)
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            preexec_fn=_die_with_parent,  # children are started from the main thread only
        )
        assert self.process.stdout is not None
        try:
            line = _first_line(self.process.stdout, timeout)
            if not line:
                raise RuntimeError(f"{module} exited at start-up ({self.process.wait(5)})")
            self.info: dict[str, Any] = json.loads(line)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return str(self.info["url"])

    def stop(self) -> None:
        if self.process.poll() is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class App:
    """The app under uvicorn (no access log: the app's own request lines are the log)."""

    def __init__(self, app: str, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{app.replace(':', '-')}-{self.port}.log"
        self.env = dict(env)  # what the app was given, on top of this process's environment
        self._env = {**os.environ, **env}
        self._app = app
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> App:
        return self.launch().wait(timeout)

    def launch(self) -> App:
        """Start the process; `wait` for it to answer (start several, then wait for each)."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [
                    sys.executable, "-m", "uvicorn", self._app,
                    "--host", "127.0.0.1", "--port", str(self.port),
                    "--app-dir", str(ROOT), "--no-access-log", "--log-level", "warning",
                ],
                cwd=ROOT,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        return self

    def wait(self, timeout: float = 60) -> App:
        assert self.process is not None, "launch() first"
        try:
            wait_until_healthy(self.process, self.url, self.log_path, self._app, timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def request_lines(self) -> list[dict[str, Any]]:
        """The app's structured request lines so far (one JSON object per request)."""
        return read_request_lines(self.log_path)
