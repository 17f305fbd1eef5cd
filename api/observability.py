"""One structured log line per request; on Lambda the same figures become metrics.

The line is JSON: request id, user, route, status, latency, the cache outcome and the
storage requests, bytes and conflicts the request cost. Nothing else: no bodies, no
card contents, no tokens or passwords. On Lambda the line carries CloudWatch's
embedded metric format, so the figures are metrics without any API call.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage.metrics import StorageStats, collecting

NAMESPACE = "Javumbo"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

log = logging.getLogger("javumbo.request")


def configure_request_log() -> None:
    """Request lines go to stdout as bare JSON (what CloudWatch's EMF parser reads)."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
    context = scope.get("aws.context")
    aws_id = getattr(context, "aws_request_id", None)
    return str(aws_id) if aws_id else uuid.uuid4().hex


def _emf(record: dict[str, Any]) -> dict[str, Any]:
    metrics = [
        {"Name": "Latency", "Unit": "Milliseconds"},
        {"Name": "Requests", "Unit": "Count"},
        {"Name": "Errors5xx", "Unit": "Count"},
        {"Name": "S3Requests", "Unit": "Count"},
        {"Name": "ConflictsRetried", "Unit": "Count"},
        {"Name": "CacheMisses", "Unit": "Count"},
        {"Name": "CollectionBytes", "Unit": "Bytes"},
    ]
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": [[], ["Route"]], "Metrics": metrics}
            ],
        },
        "Route": record["route"],
        "Latency": record["latencyMs"],
        "Requests": 1,
        "Errors5xx": int(record["status"] >= 500),
        "S3Requests": record["storageRequests"],
        "ConflictsRetried": record["conflictsRetried"],
        "CacheMisses": int(record["cache"] == "miss"),
        "CollectionBytes": record["collectionBytes"],
    }


def _unrouted(scope: Scope, status: int) -> str:
    # The docs pages are plain routes with fixed paths; anything else is a 404.
    return str(scope.get("path")) if status < 400 else "unmatched"


class RequestLog:
    """Pure ASGI middleware: times the request and writes its line, whatever happens."""

    def __init__(self, app: ASGIApp, *, on_lambda: bool) -> None:
        self.app = app
        # On Lambda the line also carries the embedded metrics (Settings.on_lambda).
        self.on_lambda = on_lambda

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        stats = StorageStats()
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            with collecting(stats):
                await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            record: dict[str, Any] = {
                "event": "request",
                "requestId": request_id,
                "user": scope.get("state", {}).get("username"),
                "method": scope.get("method"),
                "route": getattr(route, "path_format", None) or _unrouted(scope, status),
                "status": status,
                "latencyMs": round((time.perf_counter() - started) * 1000, 2),
                "cache": stats.cache,
                "storageRequests": stats.store_requests,
                "storageBytesIn": stats.bytes_in,
                "storageBytesOut": stats.bytes_out,
                "conflictsRetried": stats.conflicts_retried,
                "collectionBytes": stats.database_bytes,
                # Of the bytes out: log entries appended, snapshots written by compaction.
                "logBytes": stats.log_bytes,
                "compactedBytes": stats.compacted_bytes,
            }
            if self.on_lambda:
                record |= _emf(record)
            log.info(json.dumps(record, separators=(",", ":")))
