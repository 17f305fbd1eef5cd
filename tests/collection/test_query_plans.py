"""The study hot paths stay cheap on a big collection: indexed queries, one parse of `col`.

Every statement the next-card, answer and statistics functions run on a realistic
collection (20 000 cards in a deck tree, a year of review history, some answers today)
is explained with `EXPLAIN QUERY PLAN`: none may walk a whole table (`SCAN cards`,
even through an index); each must `SEARCH`. Checked without statistics, as our own
collections are, and after `ANALYZE`, as Anki leaves them, since statistics can change
SQLite's choices.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import collection.col
from collection import review, stats
from collection.col import Col
from collection.decks import DeckIndex, get_current_deck
from collection.enums import CardQueue
from collection.review import answer, next_card, timing
from collection.review.gathering import gather
from collection.review.queue import _count
from tests.collection.conftest import NOW
from tests.support.seed import STUDY_DECK, build_collection

CARDS = 20_000
# A full pass over a table, even over a covering index, costs the collection's size.
_WHOLE_TABLE = re.compile(r"^SCAN (cards|notes|revlog|c|n|r)\b")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A realistic collection where some cards were answered today."""
    path = tmp_path_factory.mktemp("plans") / "big.anki2"
    path.write_bytes(build_collection(CARDS, now=NOW).body)
    with closing(sqlite3.connect(path)) as conn:
        for _ in range(15):
            shown = next_card(conn, None, now=NOW).card
            assert shown is not None
            answer(conn, shown.card_id, 3, 3000, now=NOW)
        conn.commit()
    return path


@pytest.fixture(params=["plain", "analyzed"])
def big(seeded: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    path = tmp_path / "big.anki2"
    shutil.copyfile(seeded, path)
    if request.param == "analyzed":
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("analyze")
            conn.commit()
    return path


def _readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)


def _plans(conn: sqlite3.Connection, run: Callable[[], Any]) -> dict[str, list[str]]:
    """Run `run`, then the query plan of every statement it executed."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        run()
    finally:
        conn.set_trace_callback(None)
    plans = {}
    for sql in statements:
        if not re.match(r"\s*(select|with|update|delete|insert)", sql, re.IGNORECASE):
            continue  # BEGIN, COMMIT, PRAGMA
        plans[sql] = [row[3] for row in conn.execute(f"explain query plan {sql}")]
    assert plans, "nothing was traced"
    return plans


def _assert_no_table_scans(plans: dict[str, list[str]]) -> None:
    scans = {sql[:160]: plan for sql, plan in plans.items() if any(map(_WHOLE_TABLE.match, plan))}
    assert scans == {}


def _study_ids(conn: sqlite3.Connection) -> list[int]:
    decks = DeckIndex(Col(conn))
    deck = decks.find(STUDY_DECK)
    assert deck is not None
    return decks.subtree(deck)


# --- plans ---------------------------------------------------------------------------


def test_next_card_searches_indexes_only(big: Path) -> None:
    with closing(_readonly(big)) as conn:
        _assert_no_table_scans(_plans(conn, lambda: next_card(conn, None, now=NOW)))
        _assert_no_table_scans(_plans(conn, lambda: review.try_next_card(conn, None, now=NOW)))


def test_the_unbury_check_searches_indexes_only(big: Path) -> None:
    """Until buried cards exist, `lastUnburied` never moves, so the check runs every time."""
    with closing(_readonly(big)) as conn:
        tomorrow = timing(Col(conn), conn, NOW).next_day_at + 1
        plans = _plans(conn, lambda: review.needs_unbury(conn, now=tomorrow))
    assert any("present" in sql for sql in plans), "the buried-card query did not run"
    _assert_no_table_scans(plans)


def test_an_exhausted_deck_explains_itself_with_indexed_probes(big: Path) -> None:
    with closing(sqlite3.connect(big)) as conn:
        conn.execute("update cards set queue = ? where queue >= 0", (CardQueue.SUSPENDED,))
        plans = _plans(conn, lambda: next_card(conn, None, now=NOW))
        shown = next_card(conn, None, now=NOW)
        conn.rollback()
    assert shown.card is None and "suspended" in shown.message
    _assert_no_table_scans(plans)


def test_answering_searches_indexes_only(big: Path) -> None:
    with closing(sqlite3.connect(big)) as conn:
        shown = next_card(conn, None, now=NOW).card
        assert shown is not None
        plans = _plans(conn, lambda: answer(conn, shown.card_id, 1, 2000, now=NOW))
        conn.rollback()
    _assert_no_table_scans(plans)


def test_current_deck_counts_search_the_scheduling_index(big: Path) -> None:
    with closing(_readonly(big)) as conn:
        _assert_no_table_scans(_plans(conn, lambda: get_current_deck(conn)))


def test_deck_stats_search_the_scheduling_index(big: Path) -> None:
    """Statistics need `type` and `ivl`, which the index lacks, so each card of the deck
    is looked up. Once `ANALYZE` has run, SQLite reads the whole table instead for a deck
    holding most of the collection, where that is cheaper (about 6 ms against 10 ms at
    16 000 of 20 000 cards); for any other deck it must use the index."""
    analyzed = _has_statistics(big)
    with closing(_readonly(big)) as conn:
        decks = DeckIndex(Col(conn))
        (total,) = conn.execute("select count() from cards").fetchone()
        for deck_id in decks.by_id:
            ids = decks.subtree(deck_id)
            (share,) = conn.execute(
                f"select count() from cards where did in ({','.join('?' * len(ids))})", ids
            ).fetchone()
            plans = _plans(conn, lambda: stats.deck_stats(conn, deck_id))  # noqa: B023
            (plan,) = (p for sql, p in plans.items() if "sum(case" in sql)
            if analyzed and share > total / 2:
                assert plan in (["SCAN cards"], ["SEARCH cards USING INDEX ix_cards_sched (did=?)"])
                continue
            assert plan == ["SEARCH cards USING INDEX ix_cards_sched (did=?)"], (deck_id, plan)


def _has_statistics(path: Path) -> bool:
    with closing(_readonly(path)) as conn:
        return bool(
            conn.execute("select 1 from sqlite_master where name = 'sqlite_stat1'").fetchone()
        )


def test_gathering_searches_the_scheduling_index(big: Path) -> None:
    """Each of today's queues is read from `ix_cards_sched` (did, queue, due)."""
    with closing(_readonly(big)) as conn:
        col = Col(conn)
        decks = DeckIndex(col)
        deck = decks.find(STUDY_DECK)
        assert deck is not None
        plans = _plans(conn, lambda: gather(conn, col, decks, deck, timing(col, conn, NOW)))
    card_plans = [plan for sql, plan in plans.items() if " from cards " in sql]
    assert len(card_plans) >= 3  # learning, interday learning, reviews (new: if room is left)
    for plan in card_plans:
        assert plan[0].startswith("SEARCH cards USING INDEX ix_cards_sched (did=? AND queue=?"), (
            plan
        )


@pytest.mark.parametrize(
    ("where", "args"),
    [
        ("queue = ?", (CardQueue.NEW,)),
        ("queue = ? and due <= ?", (CardQueue.REVIEW, 400)),
        ("queue in (?, ?)", (CardQueue.SUSPENDED, CardQueue.USER_BURIED)),
        ("queue >= 0", ()),
        ("1", ()),
    ],
)
def test_count_searches_the_scheduling_index(big: Path, where: str, args: tuple[int, ...]) -> None:
    with closing(_readonly(big)) as conn:
        ids = _study_ids(conn)
        plans = _plans(conn, lambda: _count(conn, ids, where, *args, cap=200))
    for plan in plans.values():
        assert any(
            line.startswith("SEARCH cards USING COVERING INDEX ix_cards_sched") for line in plan
        ), plan
        _assert_no_table_scans({"count": plan})


# --- the faster queries answer exactly what the plain ones did -------------------------

_OLD_ANY_BURIED = "select 1 from cards where queue in (?, ?) limit 1"


@pytest.mark.parametrize("queue", [None, CardQueue.SCHED_BURIED, CardQueue.USER_BURIED])
@pytest.mark.parametrize("where", ["first", "last", "orphan"])
def test_the_unbury_check_finds_what_a_scan_finds(big: Path, queue: int | None, where: str) -> None:
    with closing(sqlite3.connect(big)) as conn:
        tomorrow = timing(Col(conn), conn, NOW).next_day_at + 1
        if queue is not None:
            order = "desc" if where == "last" else "asc"
            (card_id,) = conn.execute(
                f"select id from cards order by did {order}, id limit 1"
            ).fetchone()
            conn.execute("update cards set queue = ? where id = ?", (queue, card_id))
            if where == "orphan":  # in a deck missing from col.decks
                conn.execute("update cards set did = 424242 where id = ?", (card_id,))
        expected = conn.execute(
            _OLD_ANY_BURIED, (CardQueue.SCHED_BURIED, CardQueue.USER_BURIED)
        ).fetchone()
        assert review.needs_unbury(conn, now=tomorrow) is (expected is not None)
        assert review.needs_unbury(conn, now=tomorrow) is (queue is not None)
        conn.rollback()


def test_the_unbury_check_on_an_empty_collection(conn: sqlite3.Connection) -> None:
    tomorrow = timing(Col(conn), conn, NOW).next_day_at + 1
    assert review.needs_unbury(conn, now=tomorrow) is False


# --- each JSON column of `col` is parsed at most once per call -------------------------


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts `col` column parses: through `Col` and by any direct `json.loads`."""
    counts: Counter[str] = Counter()
    load, loads = collection.col._load, json.loads

    def counting_load(conn: sqlite3.Connection, column: Any) -> dict[str, Any]:
        counts[column] += 1
        return load(conn, column)

    texts: dict[str, str] = {}

    def counting_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        for column, value in texts.items():
            if text == value:
                counts[f"json.loads({column})"] += 1
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(collection.col, "_load", counting_load)
    monkeypatch.setattr(json, "loads", counting_loads)
    counts.texts = texts  # type: ignore[attr-defined]
    return counts


def _remember_col_texts(conn: sqlite3.Connection, counts: Counter[str]) -> None:
    row = conn.execute("select conf, models, decks, dconf from col").fetchone()
    counts.texts.update(zip(("conf", "models", "decks", "dconf"), row, strict=True))  # type: ignore[attr-defined]
    counts.clear()


def _assert_each_parsed_at_most_once(counts: Counter[str]) -> None:
    assert counts, "nothing was parsed"
    too_often = {column: n for column, n in counts.items() if n > 1}
    assert too_often == {}
    # Every parse went through Col: nobody parsed a column behind its back.
    direct = sum(n for column, n in counts.items() if column.startswith("json.loads"))
    through_col = sum(n for column, n in counts.items() if not column.startswith("json.loads"))
    assert direct == through_col


@pytest.mark.parametrize("deck", ["current", "explicit"])
def test_next_card_parses_each_column_once(seeded: Path, parses: Counter[str], deck: str) -> None:
    with closing(_readonly(seeded)) as conn:
        deck_id = None if deck == "current" else _study_ids(conn)[0]
        _remember_col_texts(conn, parses)
        assert next_card(conn, deck_id, now=NOW).card is not None
    _assert_each_parsed_at_most_once(parses)


def test_try_next_card_parses_each_column_once(seeded: Path, parses: Counter[str]) -> None:
    with closing(_readonly(seeded)) as conn:
        tomorrow = timing(Col(conn), conn, NOW).next_day_at + 1
        _remember_col_texts(conn, parses)
        shown = review.try_next_card(conn, None, now=tomorrow)  # the unbury check runs too
        assert shown is not None and shown.card is not None
    _assert_each_parsed_at_most_once(parses)


@pytest.mark.parametrize("key", [None, "retry-key-1"])
def test_answer_parses_each_column_once(
    seeded: Path, tmp_path: Path, parses: Counter[str], key: str | None
) -> None:
    path = tmp_path / "copy.anki2"
    shutil.copyfile(seeded, path)
    with closing(sqlite3.connect(path)) as conn:
        shown = next_card(conn, None, now=NOW).card
        assert shown is not None
        _remember_col_texts(conn, parses)
        answer(conn, shown.card_id, 3, 1500, now=NOW, idempotency_key=key)
    _assert_each_parsed_at_most_once(parses)


def test_try_next_card_defers_to_the_unbury(conn: sqlite3.Connection) -> None:
    from collection.cards import add_card

    buried = add_card(conn, "b", "back", now=NOW).card_id
    waiting = add_card(conn, "w", "back", now=NOW).card_id
    conn.execute("update cards set queue = ? where id = ?", (CardQueue.USER_BURIED, buried))
    tomorrow = timing(Col(conn), conn, NOW).next_day_at + 1
    assert review.try_next_card(conn, None, now=tomorrow) is None
    review.unbury_on_new_day(conn, now=tomorrow)
    shown = review.try_next_card(conn, None, now=tomorrow)
    assert shown is not None and shown.card is not None
    assert shown.card.card_id == buried  # back in the new queue, ahead of `waiting`
    assert shown == next_card(conn, None, now=tomorrow)
    assert waiting != buried
