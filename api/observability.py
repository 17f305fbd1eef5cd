"""One structured log line per request; on Lambda the same figures become metrics.

The line is JSON: request id, user, route, status, latency, the cache outcome and the
storage requests, bytes and conflicts the request cost. Nothing else: no bodies, no
card contents, no tokens or passwords. On Lambda the line carries CloudWatch's
embedded metric format, so the figures are metrics without any API call.

A call of Anki's sync protocol (``/sync/*``, ``/msync/*``) adds its figures: the call
(``syncMethod``), the bytes of its bodies as they crossed the wire (zstd-compressed),
a full sync done (``fullSync``: its direction) and media files added or deleted
(``mediaFiles``). The routes leave the last two in ``request.state``
(``full_sync``, ``media_files``); the rest is seen here.
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

_SYNC_PREFIXES = ("/sync/", "/msync/")
# The protocol's calls: what ``syncMethod`` (and the SyncMethod dimension) may be; any
# other name a client sends is logged as "unknown", so the dimension stays small.
SYNC_METHODS = frozenset(
    {
        *("hostKey", "meta", "upload", "download"),
        *("start", "applyGraves", "applyChanges", "chunk", "applyChunk"),
        *("sanityCheck2", "finish", "abort"),
        *("begin", "mediaChanges", "uploadChanges", "downloadFiles", "mediaSanity"),
    }
)
_FULL_SYNC_DIRECTIONS = ("upload", "download")
# A sync call answered: in the answer (200) or through the downloads CDN (303).
_ANSWERED = (200, 303)

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


def _sync_figures(
    scope: Scope, status: int, bytes_in: int, bytes_out: int
) -> dict[str, Any] | None:
    """A sync call's figures for its line, or None for any other request."""
    path = str(scope.get("path", ""))
    if not path.startswith(_SYNC_PREFIXES):
        return None
    name = path.rsplit("/", 1)[-1]
    state = scope.get("state", {})
    direction = state.get("full_sync")
    media_files = state.get("media_files")
    # A download too large for one answer is a 303; its bytes go out through the CDN.
    redirected = state.get("redirected_bytes")
    redirected = redirected if status == 303 and type(redirected) is int else 0
    ok = status == 200 or redirected > 0
    return {
        "syncMethod": name if name in SYNC_METHODS else "unknown",
        "syncBytesIn": bytes_in,
        "syncBytesOut": bytes_out + redirected,
        "fullSync": direction if ok and direction in _FULL_SYNC_DIRECTIONS else None,
        "mediaFiles": media_files if ok and type(media_files) is int else 0,
    }


def _sync_emf(record: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The sync metrics, as further directives of the line and the values they name."""
    method, status = record["syncMethod"], record["status"]
    counts = [
        {"Name": "SyncsStarted", "Unit": "Count"},
        {"Name": "SyncsFinished", "Unit": "Count"},
        {"Name": "SyncConflicts", "Unit": "Count"},
        {"Name": "SyncBytesIn", "Unit": "Bytes"},
        {"Name": "SyncBytesOut", "Unit": "Bytes"},
        {"Name": "MediaFilesSynced", "Unit": "Count"},
    ]
    directives: list[dict[str, Any]] = [
        {"Namespace": NAMESPACE, "Dimensions": [[]], "Metrics": counts},
        # Each call's latency on its own: an upload or a download against the 30 s limit.
        {
            "Namespace": NAMESPACE,
            "Dimensions": [["SyncMethod"]],
            "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}],
        },
    ]
    values: dict[str, Any] = {
        "SyncMethod": method,
        "SyncsStarted": int(method == "start" and status in _ANSWERED),
        "SyncsFinished": int(method == "finish" and status in _ANSWERED),
        "SyncConflicts": int(status == 409),
        "SyncBytesIn": record["syncBytesIn"],
        "SyncBytesOut": record["syncBytesOut"],
        "MediaFilesSynced": record["mediaFiles"],
    }
    if record["fullSync"] is not None:
        directives.append(
            {
                "Namespace": NAMESPACE,
                "Dimensions": [[], ["Direction"]],
                "Metrics": [{"Name": "FullSyncs", "Unit": "Count"}],
            }
        )
        values |= {"FullSyncs": 1, "Direction": record["fullSync"]}
    return directives, values


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
        bytes_in = bytes_out = 0
        started = time.perf_counter()

        async def receive_counted() -> Message:
            nonlocal bytes_in
            message = await receive()
            if message["type"] == "http.request":
                bytes_in += len(message.get("body", b""))
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        try:
            with collecting(stats):
                await self.app(scope, receive_counted, send_with_id)
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
            sync = _sync_figures(scope, status, bytes_in, bytes_out)
            if sync is not None:
                record |= sync
            if self.on_lambda:
                record |= _emf(record)
                if sync is not None:
                    directives, values = _sync_emf(record)
                    record["_aws"]["CloudWatchMetrics"].extend(directives)
                    record |= values
            log.info(json.dumps(record, separators=(",", ":")))
