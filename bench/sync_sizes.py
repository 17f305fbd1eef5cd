"""`python -m bench.sync_sizes`: which collections fit through a full sync on Lambda.

A full sync carries the whole collection file, zstd-compressed (as Anki's client and
this server compress: the default level), in one request or answer; on Lambda that
must stay under `JAVUMBO_SYNC_UPLOAD_MAX_BYTES`/`_DOWNLOAD_MAX_BYTES` (about 4.4 MB,
what fits base64-encoded in the 6 MB payload). This builds seeded collections
(`tests/support/seed.py`: a year of study, about two reviews logged per card) of
increasing size, and the same with a longer review history (more `revlog` rows per
studied card, as years of study leave), and prints a Markdown table: cards and revlog
rows, the file's size, its compressed size, and whether it passes the limit. Seconds.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass

import zstandard

from api.core.config import Settings
from tests.support.seed import DAY, build_collection

LIMIT: int = Settings.model_fields["sync_upload_max_bytes"].default
SIZES = (1_000, 5_000, 10_000, 20_000, 30_000, 35_000, 40_000, 100_000)
# (cards, extra reviews logged per studied card)
LONG_HISTORY = ((2_000, 10), (5_000, 10), (10_000, 10), (15_000, 10), (20_000, 10))


@dataclass(frozen=True)
class Measured:
    cards: int
    revlog: int
    file_bytes: int
    compressed_bytes: int

    @property
    def fits(self) -> bool:
        return self.compressed_bytes <= LIMIT


def measure(cards: int, extra_reviews: int = 0) -> Measured:
    body = build_collection(cards).body
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.deserialize(body)
        if extra_reviews:
            _log_reviews(conn, extra_reviews)
            conn.execute("vacuum")
            body = conn.serialize()
        (revlog,) = conn.execute("select count() from revlog").fetchone()
    finally:
        conn.close()
    compressed = zstandard.ZstdCompressor().compress(body)
    return Measured(cards, revlog, len(body), len(compressed))


def _log_reviews(conn: sqlite3.Connection, per_card: int) -> None:
    """`per_card` more reviews of every card that is not new, spread over two years."""
    rng = random.Random(per_card)  # noqa: S311 (test data, not secrets)
    (first,) = conn.execute("select min(id) from cards").fetchone()
    start_ms = first - 2 * 365 * DAY * 1000
    studied = conn.execute("select id, factor from cards where type != 0").fetchall()
    rows = []
    for number, (card_id, factor) in enumerate(studied):
        for review in range(per_card):
            when = start_ms + (review * len(studied) + number) * 1000 + rng.randint(0, 999)
            ivl = rng.randint(1, 200)
            ease = rng.choices((1, 2, 3, 4), (1, 2, 12, 2))[0]
            time_ms = rng.randint(1_500, 40_000)
            rows.append((when, card_id, 0, ease, ivl, max(ivl // 2, 1), factor, time_ms, 1))
    conn.executemany("insert or ignore into revlog values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def table(rows: list[Measured]) -> str:
    lines = [
        f"| cards | revlog rows | file | zstd | over {LIMIT / 1e6:.1f} MB? |",
        "| ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.cards:,} | {row.revlog:,} | {row.file_bytes / 1e6:.1f} MB "
            f"| {row.compressed_bytes / 1e6:.2f} MB | {'no' if row.fits else '**yes**'} |"
        )
    return "\n".join(lines)


def main() -> None:
    rows = [measure(cards) for cards in SIZES]
    rows += [measure(cards, extra) for cards, extra in LONG_HISTORY]
    print(table(rows))


if __name__ == "__main__":
    main()
