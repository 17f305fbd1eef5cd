"""The benchmark's collections, built once a day and kept under `.cache/`.

Building a collection takes about 14 s at 100 000 cards (`tests/support/seed.py`), so
each size is kept as a file named after its size, the day (UTC) it was built for and
a hash of the code that builds it: a new day or a change to the seeding or the schema
builds it again, and the older files of that size are removed. The day matters
because a collection is built "as of now": which cards are due, and what a year of
study left behind, is relative to the day it was built for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path

from bench.servers import ROOT
from tests.support.seed import build_collection

CACHE_DIR = ROOT / ".cache" / "bench-collections"
# What a seeded collection's bytes depend on, besides its size and the day.
_SOURCES = (ROOT / "tests" / "support" / "seed.py", *sorted((ROOT / "collection").glob("*.py")))


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for source in _SOURCES:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def cache_name(cards: int, day: dt.date, fingerprint: str) -> str:
    return f"{cards}-{day.isoformat()}-{fingerprint}.anki2"


def seeded_collection(cards: int, *, cache_dir: Path = CACHE_DIR) -> bytes:
    """The bytes of a `cards`-card collection for today, from the cache or built now."""
    day = dt.datetime.now(dt.UTC).date()
    path = cache_dir / cache_name(cards, day, _fingerprint())
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    body = build_collection(cards).body
    cache_dir.mkdir(parents=True, exist_ok=True)
    for old in cache_dir.glob(f"{cards}-*.anki2"):
        old.unlink(missing_ok=True)
    fd, staging = tempfile.mkstemp(dir=cache_dir, prefix=".seed-")
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    os.replace(staging, path)  # whole or not at all, even if two runs race
    return body
