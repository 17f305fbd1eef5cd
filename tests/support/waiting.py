"""Waiting on a condition, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# How often a condition is asked again; it bounds how late a wait notices, not how long.
POLL_SECONDS = 0.02


def wait_until(condition: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """The first truthy value `condition()` gives, asked until `timeout` seconds have
    passed; TimeoutError naming `what` otherwise. `condition` may raise to stop early."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(POLL_SECONDS)


def wait_for_clock_past(stamp_ms: int, *, slack_ms: int = 5_000) -> None:
    """Until the wall clock (in ms) is past `stamp_ms`: Anki takes a new id from the
    clock, so two devices adding in the same millisecond would take the same one. The
    wait is at most a millisecond or two, so it spins rather than sleeps."""
    if stamp_ms - time.time_ns() // 1_000_000 > slack_ms:
        raise ValueError(f"{stamp_ms} is more than {slack_ms} ms ahead of the clock")
    while time.time_ns() // 1_000_000 <= stamp_ms:
        pass
