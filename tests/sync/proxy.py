"""A proxy in front of one or more app instances for sync tests: it spreads requests
over the instances (in turn, at random from a seed, or as a test routes each path) and
can run a hook before forwarding a given path."""

from __future__ import annotations

import http.client
import itertools
import random
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.support.local_server import LocalServer


class AlternatingProxy(LocalServer):
    """Forwards each request to the next upstream in turn (chunked bodies included)."""

    def __init__(self, upstreams: list[str], *, seed: int | None = None) -> None:
        self.upstreams = [urlsplit(u) for u in upstreams]
        self._turn = itertools.count()
        self._rng = random.Random(seed) if seed is not None else None
        self.hooks: dict[str, Callable[[], None]] = {}
        # When set: the upstream for a path (None: the usual choice).
        self.route: Callable[[str], int | None] | None = None
        self.seen: list[tuple[str, int]] = []  # (path, upstream index)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._body()
                hook = proxy.hooks.pop(self.path, None)
                if hook is not None:
                    hook()
                index = proxy._next(self.path)
                proxy.seen.append((self.path, index))
                target = proxy.upstreams[index]
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                skip = ("connection", "transfer-encoding", "content-length", "host")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _handle  # noqa: N815

        super().__init__(Handler)

    def _next(self, path: str) -> int:
        if self.route is not None and (index := self.route(path)) is not None:
            return index
        if self._rng is not None:
            return self._rng.randrange(len(self.upstreams))
        return next(self._turn) % len(self.upstreams)
