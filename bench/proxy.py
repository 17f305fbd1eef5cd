"""An HTTP proxy in front of the moto server that adds AWS-like latency and counts.

Every request is forwarded unchanged after a delay: `s3_latency` for S3, `other_latency`
for the other services (DynamoDB, Secrets Manager), told apart by the service named in
the request's SigV4 credential scope. A bandwidth limit (800 Mbit/s unless told
otherwise; 0 turns it off) also charges each body its transfer time, both ways: a body
of n bytes waits n / bandwidth more, the request's before it is forwarded and the
answer's before it is returned. Each transfer pays on its own: connections do not
share the bandwidth. Requests, bytes each way, methods and statuses are counted per
service, and every request is kept as an event (when, what, how many bytes), so the
benchmark can tell which API call caused which AWS requests.

It is threaded (one thread per client connection), speaks HTTP/1.1 with keep-alive on
both sides (one upstream connection per client connection) and disables Nagle, so it
adds well under a millisecond of its own. `/__bench/stats` (GET) and `/__bench/reset`
(POST) read and reset the counters and events, `/__bench/events` (GET) lists the events,
and `/__bench/latency` (POST, JSON `{"s3Ms": .., "otherMs": ..}`) changes the latencies.

Run as `python -m bench.proxy --upstream URL ...`: it prints its URL as one JSON line and
serves until its standard input closes, so it never outlives the benchmark.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from bench.child import serve_until_parent_exits

CONTROL_PREFIX = "/__bench/"
_HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length")
)
_UPSTREAM_TIMEOUT = 60.0
DEFAULT_BANDWIDTH_MBPS = 800.0


def bytes_per_second(mbps: float) -> float | None:
    """A bandwidth in Mbit/s as bytes per second; None (no limit) for 0."""
    if mbps < 0:
        raise ValueError(f"a bandwidth cannot be negative: {mbps}")
    return mbps * 1e6 / 8 if mbps else None


def transfer_seconds(size: int, bandwidth: float | None) -> float:
    """How long `size` bytes take at `bandwidth` bytes per second (None: no limit)."""
    return size / bandwidth if bandwidth and size > 0 else 0.0


def service_of(headers: Any) -> str:
    """`s3`, `dynamodb`, `secretsmanager`, ...: the service a signed request is for."""
    authorization = headers.get("Authorization") or ""
    marker = "Credential="
    if marker in authorization:
        scope = authorization.split(marker, 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            return scope[3]
    target = headers.get("X-Amz-Target") or ""
    if target.startswith("DynamoDB"):
        return "dynamodb"
    if target.startswith("secretsmanager"):
        return "secretsmanager"
    return "s3"


def request_delay(
    service: str,
    body_bytes: int,
    *,
    s3_latency: float,
    other_latency: float,
    bandwidth: float | None,
) -> float:
    """The wait before a request is forwarded: its service's latency, then its body's
    transfer. (The answer's body waits `transfer_seconds` on its way back.)"""
    latency = s3_latency if service == "s3" else other_latency
    return latency + transfer_seconds(body_bytes, bandwidth)


@dataclass(frozen=True)
class Event:
    """One forwarded request: when it arrived and was answered (`time.monotonic()`, the
    same clock in every process of the machine), what it was, and its bodies' sizes."""

    start: float
    end: float
    service: str
    method: str
    path: str  # without the query
    query: str
    status: int
    up: int
    down: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "service": self.service,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "up": self.up,
            "down": self.down,
        }


@dataclass
class ServiceStats:
    requests: int = 0
    bytes_up: int = 0  # request bodies, client to AWS
    bytes_down: int = 0  # response bodies, AWS to client
    methods: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "bytesUp": self.bytes_up,
            "bytesDown": self.bytes_down,
            "methods": dict(self.methods),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of new connections must not be refused


class LatencyProxy:
    def __init__(
        self,
        upstream: str,
        *,
        s3_latency: float = 0.020,
        other_latency: float = 0.005,
        bandwidth_bytes_per_s: float | None = None,
    ) -> None:
        target = urlsplit(upstream)
        if target.hostname is None or target.port is None:
            raise ValueError(f"upstream needs a host and a port: {upstream!r}")
        self.upstream_host, self.upstream_port = target.hostname, target.port
        self.s3_latency = s3_latency
        self.other_latency = other_latency
        self.bandwidth = bandwidth_bytes_per_s
        self._lock = threading.Lock()
        self._stats: dict[str, ServiceStats] = {}
        self._events: list[Event] = []
        self._in_flight = 0
        self._connections = 0  # that carried AWS requests: reused clients open none
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- counters -------------------------------------------------------------------

    def count(self, event: Event) -> None:
        with self._lock:
            stats = self._stats.setdefault(event.service, ServiceStats())
            stats.requests += 1
            stats.bytes_up += event.up
            stats.bytes_down += event.down
            stats.methods[event.method] += 1
            stats.statuses[event.status] += 1
            self._events.append(event)

    def in_flight(self, change: int) -> None:
        with self._lock:
            self._in_flight += change

    def connected(self) -> None:
        with self._lock:
            self._connections += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "connections": self._connections,
                "inFlight": self._in_flight,
                "services": {name: stats.as_dict() for name, stats in sorted(self._stats.items())},
            }

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event.as_dict() for event in self._events]

    def reset(self) -> None:
        with self._lock:
            self._stats.clear()
            self._events.clear()
            self._connections = 0

    def set_latency(self, *, s3: float, other: float) -> None:
        with self._lock:
            self.s3_latency, self.other_latency = s3, other

    def delay_for(self, service: str, body_bytes: int) -> float:
        return request_delay(
            service,
            body_bytes,
            s3_latency=self.s3_latency,
            other_latency=self.other_latency,
            bandwidth=self.bandwidth,
        )

    # -- serving --------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LatencyProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            _upstream: http.client.HTTPConnection | None = None
            _counted = False  # this connection, once it carried an AWS request

            def log_message(self, format: str, *args: object) -> None:
                pass

            def finish(self) -> None:
                if self._upstream is not None:
                    self._upstream.close()
                super().finish()

            def _read_body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _connection(self) -> http.client.HTTPConnection:
                if self._upstream is None:
                    conn = http.client.HTTPConnection(
                        proxy.upstream_host, proxy.upstream_port, timeout=_UPSTREAM_TIMEOUT
                    )
                    conn.connect()
                    assert conn.sock is not None
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._upstream = conn
                return self._upstream

            def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                for attempt in range(2):
                    reused = self._upstream is not None
                    conn = self._connection()
                    try:
                        conn.request(self.command, self.path, body=body, headers=headers)
                        answer = conn.getresponse()
                        data = answer.read()
                    except (http.client.HTTPException, ConnectionError, TimeoutError):
                        conn.close()
                        self._upstream = None
                        # A kept-alive connection the server had closed: retry once, fresh.
                        if attempt or not reused:
                            raise
                        continue
                    if answer.will_close:
                        conn.close()
                        self._upstream = None
                    return answer.status, answer.reason, answer.getheaders(), data
                raise AssertionError("unreachable")

            def _control(self, body: bytes) -> None:
                answer: Any
                if self.path.startswith(CONTROL_PREFIX + "events"):
                    answer = proxy.events()
                else:
                    if self.path.startswith(CONTROL_PREFIX + "reset"):
                        proxy.reset()
                    elif self.path.startswith(CONTROL_PREFIX + "latency"):
                        asked = json.loads(body)
                        proxy.set_latency(
                            s3=float(asked["s3Ms"]) / 1000, other=float(asked["otherMs"]) / 1000
                        )
                    answer = proxy.snapshot()
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self) -> None:
                arrived = time.monotonic()
                body = self._read_body()
                if self.path.startswith(CONTROL_PREFIX):
                    self._control(body)
                    return
                if not self._counted:
                    self._counted = True
                    proxy.connected()
                proxy.in_flight(+1)
                try:
                    self._relay(arrived, body)
                finally:
                    proxy.in_flight(-1)

            def _relay(self, arrived: float, body: bytes) -> None:
                service = service_of(self.headers)
                time.sleep(proxy.delay_for(service, len(body)))
                try:
                    status, reason, headers, data = self._forward(body)
                except (OSError, http.client.HTTPException) as error:
                    self.send_error(502, f"upstream failed: {error}")
                    return
                time.sleep(transfer_seconds(len(data), proxy.bandwidth))
                path, _, query = self.path.partition("?")
                proxy.count(
                    Event(
                        start=arrived,
                        end=time.monotonic(),
                        service=service,
                        method=self.command,
                        path=unquote(path),
                        query=query,
                        status=status,
                        up=len(body),
                        down=len(data),
                    )
                )
                self.send_response(status, reason)
                for key, value in headers:
                    name = key.lower()
                    if name not in _HOP_BY_HOP and name not in ("server", "date"):
                        self.send_header(key, value)
                    elif name == "content-length" and self.command == "HEAD":
                        self.send_header(key, value)  # the object's size, for HeadObject
                if self.command != "HEAD" and status not in (204, 304):
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self.end_headers()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--s3-latency-ms", type=float, default=20.0)
    parser.add_argument("--other-latency-ms", type=float, default=5.0)
    parser.add_argument(
        "--bandwidth-mbps", type=float, default=DEFAULT_BANDWIDTH_MBPS, help="0: unlimited"
    )
    args = parser.parse_args(argv)
    proxy = LatencyProxy(
        args.upstream,
        s3_latency=args.s3_latency_ms / 1000,
        other_latency=args.other_latency_ms / 1000,
        bandwidth_bytes_per_s=bytes_per_second(args.bandwidth_mbps),
    ).start()
    serve_until_parent_exits(proxy)


if __name__ == "__main__":
    main()
