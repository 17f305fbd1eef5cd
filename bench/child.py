"""How the benchmark's helper processes (moto, the proxy) live and die."""

from __future__ import annotations

import json
import sys
from typing import Protocol


class Server(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def serve_until_parent_exits(server: Server) -> None:
    """Announce the server's URL on stdout, then run until stdin closes."""
    print(json.dumps({"url": server.url}), flush=True)
    try:
        sys.stdin.read()  # until the parent closes the pipe (or dies)
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches the whole process group; the parent stops us anyway
    finally:
        server.stop()
