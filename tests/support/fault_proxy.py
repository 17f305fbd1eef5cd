"""An HTTP proxy in front of a server that injects real network faults.

Requests are forwarded unchanged; a rule can instead answer with an error status,
reset the connection (RST, as a dropped network does), or forward the request and
then reset instead of returning the answer ("applied, but the response was lost").
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Literal
from urllib.parse import urlsplit

from tests.support.local_server import LocalServer

Action = Literal["status", "reset", "forward_then_reset", "slow"]


@dataclass
class Fault:
    method: str
    action: Action
    status: int = 500
    code: str = "InternalError"
    times: int = 1  # how many matching requests it hits; then it is spent
    target: str | None = None  # only requests whose X-Amz-Target contains this (DynamoDB)
    delay: float = 0.0  # "slow": wait this long, then forward


@dataclass
class FaultProxy(LocalServer):
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        target = urlsplit(self.upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.requests.append((self.command, self.path))
                fault = proxy._take(self.command, self.headers.get("X-Amz-Target", ""))
                if fault is not None and fault.action == "reset":
                    self._reset()
                    return
                if fault is not None and fault.action == "status":
                    payload = (
                        b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
                    )
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault is not None and fault.action == "slow":
                    time.sleep(fault.delay)  # the injected fault: a slow dependency
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                if fault is not None and fault.action == "forward_then_reset":
                    self._reset()
                    return
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _reset(self) -> None:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

        super().__init__(Handler)
        self._lock = threading.Lock()

    def _take(self, method: str, amz_target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.target is not None and fault.target not in amz_target:
                    continue
                if fault.method == method and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)
