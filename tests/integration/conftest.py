"""Two app instances under uvicorn, in aws mode, sharing one moto server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app_server import AppServer
from tests.support.aws_env import provision
from tests.support.moto_server import MotoServer


@pytest.fixture
def aws_env(moto_server: MotoServer, tmp_path: Path) -> dict[str, str]:
    return provision(moto_server, tmp_path)


@pytest.fixture
def two_instances(aws_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[AppServer, AppServer]]:
    servers = []
    try:
        for name in ("a", "b"):
            env = {**aws_env, "JAVUMBO_CACHE_DIR": str(tmp_path / f"cache-{name}")}
            servers.append(AppServer(env, cwd=tmp_path).start())
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()
