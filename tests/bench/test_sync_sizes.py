"""The full-sync size table: seeded collections, their compressed size, the limit."""

from __future__ import annotations

from bench.sync_sizes import LIMIT, Measured, measure, table


def test_measures_a_collection_and_a_longer_history() -> None:
    plain, longer = measure(300), measure(300, extra_reviews=4)
    assert plain.cards == longer.cards == 300
    assert longer.revlog > plain.revlog + 3 * 200  # most of the cards were studied
    assert plain.compressed_bytes < plain.file_bytes < longer.file_bytes
    assert plain.fits and LIMIT == 4_400_000


def test_the_table_marks_what_passes_the_limit() -> None:
    rendered = table([Measured(1_000, 2_000, 500_000, 130_000), Measured(9, 9, 9, LIMIT + 1)])
    assert "| 1,000 | 2,000 | 0.5 MB | 0.13 MB | no |" in rendered
    assert rendered.endswith("| **yes** |")
