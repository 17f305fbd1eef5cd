"""Figures from timed calls, the proxy's counters and the app's request lines."""

from __future__ import annotations

import bisect
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from storage.keys import PREFIX_LOGS


@dataclass(frozen=True)
class Call:
    kind: str  # "next", "answer", "read", "add", ...
    seconds: float
    status: int
    start: float = 0.0  # time.monotonic() when it was sent
    request_id: str = ""

    @property
    def end(self) -> float:
        return self.start + self.seconds


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_ms(calls: Iterable[Call]) -> dict[str, float]:
    ms = [call.seconds * 1000 for call in calls]
    return {
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "mean": round(sum(ms) / len(ms), 2) if ms else math.nan,
        "n": len(ms),
    }


def per_call(total: float, calls: int) -> float:
    return round(total / calls, 3) if calls else math.nan


def aws_figures(proxy: dict[str, Any], calls: int) -> dict[str, Any]:
    """S3 (and other services) per API call, from the proxy's counters."""
    services: dict[str, Any] = proxy["services"]
    s3 = services.get("s3", {})
    up, down = s3.get("bytesUp", 0), s3.get("bytesDown", 0)
    other = {
        name: {"requests": stats["requests"], "requestsPerCall": per_call(stats["requests"], calls)}
        for name, stats in services.items()
        if name != "s3"
    }
    return {
        "s3": {
            "requests": s3.get("requests", 0),
            "requestsPerCall": per_call(s3.get("requests", 0), calls),
            "bytesUp": up,
            "bytesDown": down,
            "bytesPerCall": per_call(up + down, calls),
            "bytesDownPerCall": per_call(down, calls),
            "methods": s3.get("methods", {}),
            "statuses": s3.get("statuses", {}),
        },
        "otherAws": other,
        # New connections to AWS while measuring: clients (and their connection pools)
        # built once per process and kept alive open none.
        "awsConnectionsOpened": proxy["connections"],
    }


def app_figures(lines: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Cache outcomes, conflicts and storage requests per route from the request lines."""
    cache = Counter(str(line["cache"]) for line in lines)
    touched = cache["hit"] + cache["revalidated"] + cache["miss"]
    routes: dict[str, dict[str, Any]] = {}
    for key in sorted({(str(line["method"]), str(line["route"])) for line in lines}):
        mine = [line for line in lines if (line["method"], line["route"]) == key]
        requests = [int(line["storageRequests"]) for line in mine]
        routes[" ".join(key)] = {
            "calls": len(mine),
            "storageRequestsPerCall": per_call(sum(requests), len(mine)),
            "storageRequestsMax": max(requests),
            "storageBytesInPerCall": per_call(
                sum(int(x["storageBytesIn"]) for x in mine), len(mine)
            ),
            "storageBytesOutPerCall": per_call(
                sum(int(x["storageBytesOut"]) for x in mine), len(mine)
            ),
            "cache": dict(Counter(str(line["cache"]) for line in mine)),
            "serverLatencyMsP50": round(percentile([float(x["latencyMs"]) for x in mine], 50), 2),
        }
    return {
        "requests": len(lines),
        "cache": dict(cache),
        # Served without downloading the collection: a hit (writes trust the cache and
        # let the conditional PUT find out) or a revalidation answered 304.
        "cacheHitRate": round((cache["hit"] + cache["revalidated"]) / touched, 4)
        if touched
        else None,
        "conflictsRetried": sum(int(line["conflictsRetried"]) for line in lines),
        "status5xx": sum(1 for line in lines if int(line["status"]) >= 500),
        "routes": routes,
    }


# --- AWS requests per API call ---------------------------------------------------------


def s3_key(path: str) -> str:
    """The object key of a path-style S3 request path (`/bucket/key`); "" for the bucket."""
    parts = path.split("/", 2)
    return parts[2] if len(parts) == 3 else ""


def attribute(
    calls: Sequence[Call], events: Sequence[dict[str, Any]]
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Each call's proxy events (those that arrived while it was in flight), and the
    events that arrived while no call was. For calls made one at a time (one learner):
    concurrent calls overlap and cannot be told apart this way."""
    order = sorted(range(len(calls)), key=lambda i: calls[i].start)
    starts = [calls[i].start for i in order]
    mine: list[list[dict[str, Any]]] = [[] for _ in calls]
    between: list[dict[str, Any]] = []
    for event in events:
        at = bisect.bisect_right(starts, float(event["start"])) - 1
        if at >= 0 and float(event["start"]) <= calls[order[at]].end:
            mine[order[at]].append(event)
        else:
            between.append(event)
    return mine, between


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:  # None, not NaN: the report is JSON
        return {"median": None, "mean": None, "min": None, "max": None}
    return {
        "median": float(statistics.median(values)),
        "mean": round(sum(values) / len(values), 1),
        "min": float(min(values)),
        "max": float(max(values)),
    }


def write_figures(
    calls: Sequence[Call],
    events: Sequence[dict[str, Any]],
    lines: Sequence[dict[str, Any]],
    snapshot_key: str,
    kind: str = "answer",
) -> dict[str, Any]:
    """What the writes of one learner's session sent to S3, one by one, from the proxy.

    A write that also stores the snapshot next to its log entry is a compaction (with
    whole-file writes, storing the snapshot is the write itself: no log, no compaction).
    The others are "plain": each should be one request, the PUT of its entry.
    """
    mine, between = attribute(calls, [e for e in events if e["service"] == "s3"])
    by_id = {str(line["requestId"]): line for line in lines}
    log_prefix = f"{PREFIX_LOGS}{snapshot_key}/"
    plain: list[tuple[Call, list[dict[str, Any]]]] = []
    compacting: list[tuple[Call, list[dict[str, Any]]]] = []
    for call, found in zip(calls, mine, strict=True):
        if call.kind != kind:
            continue
        puts = [s3_key(e["path"]) for e in found if e["method"] == "PUT"]
        folds = snapshot_key in puts and any(key.startswith(log_prefix) for key in puts)
        (compacting if folds else plain).append((call, found))
    writes = plain + compacting

    def up(found: list[dict[str, Any]]) -> int:
        return sum(int(e["up"]) for e in found)

    plain_lines = [by_id[c.request_id] for c, _ in plain if c.request_id in by_id]
    return {
        "writes": len(writes),
        "bytesUp": _summary([up(found) for _, found in writes]),
        "s3Requests": _summary([len(found) for _, found in writes]),
        "compactions": len(compacting),
        "compactionBytesUp": _summary([up(found) for _, found in compacting]),
        "compactionS3Requests": _summary([len(found) for _, found in compacting]),
        "plain": {
            "writes": len(plain),
            "s3RequestsMax": max((len(found) for _, found in plain), default=0),
            "methods": dict(Counter(e["method"] for _, found in plain for e in found)),
            "bytesDown": sum(int(e["down"]) for _, found in plain for e in found),
            "cache": dict(Counter(str(line["cache"]) for line in plain_lines)),
            "requestLines": len(plain_lines),
        },
        # Requests no call was in flight for (work the app did in the background).
        "between": {"s3Requests": len(between), "bytesUp": up(between)},
    }
