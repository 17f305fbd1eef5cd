"""Figures from timed calls, the proxy's counters and the app's request lines."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    kind: str  # "next", "answer", "read", "add", ...
    seconds: float
    status: int


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
