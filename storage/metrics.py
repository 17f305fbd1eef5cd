"""Per-request storage figures, gathered without passing a collector through every call.

A request (the API's middleware) starts a `StorageStats` with `collecting()`; the
stores and the session add to whichever one is current. Outside a request nothing
is collected.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

CacheOutcome = Literal["hit", "revalidated", "miss", "none"]

# Later outcomes outrank earlier ones within a request: a miss is what matters most.
_RANK: dict[CacheOutcome, int] = {"none": 0, "hit": 1, "revalidated": 2, "miss": 3}


@dataclass
class StorageStats:
    store_requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    cache: CacheOutcome = "none"
    conflicts_retried: int = 0
    # The size of the database the request read or wrote (the session's last figure).
    database_bytes: int = 0
    # Log entries appended and snapshots written by compaction (bytes, before HTTP).
    log_bytes: int = 0
    compacted_bytes: int = 0

    def saw_cache(self, outcome: CacheOutcome) -> None:
        if _RANK[outcome] > _RANK[self.cache]:
            self.cache = outcome


_current: ContextVar[StorageStats | None] = ContextVar("javumbo_storage_stats", default=None)


def current() -> StorageStats | None:
    return _current.get()


@contextmanager
def collecting(stats: StorageStats) -> Iterator[StorageStats]:
    token = _current.set(stats)
    try:
        yield stats
    finally:
        _current.reset(token)


def count_request(*, bytes_in: int = 0, bytes_out: int = 0) -> None:
    stats = _current.get()
    if stats is not None:
        stats.store_requests += 1
        stats.bytes_in += bytes_in
        stats.bytes_out += bytes_out


def count_received(size: int) -> None:
    stats = _current.get()
    if stats is not None:
        stats.bytes_in += size


def count_sent(size: int) -> None:
    stats = _current.get()
    if stats is not None:
        stats.bytes_out += size
