"""The render scenario's corpus shows what it claims, and its figures are complete."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing

import pytest

from api.media import web_card
from bench.render import LONG_FIELD_BYTES, Kind, build_corpus, time_rendering
from collection.card_faces import card_face
from collection.col import Col
from collection.decks import DeckIndex


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[sqlite3.Connection, dict[str, Kind]]]:
    path = tmp_path_factory.mktemp("render") / "c.anki2"
    with closing(sqlite3.connect(path)) as conn:
        yield conn, {kind.key: kind for kind in build_corpus(conn)}


def _web(conn: sqlite3.Connection, card_id: int) -> tuple[str, str, str]:
    col = Col(conn)
    web = web_card(card_face(conn, col, DeckIndex(col), card_id), "TOKEN")
    return web.question, web.answer, web.css


def test_every_kind_of_card_renders_as_intended(
    corpus: tuple[sqlite3.Connection, dict[str, Kind]],
) -> None:
    conn, kinds = corpus
    assert list(kinds) == ["basic", "reversed", "cloze", "custom", "long"]
    question, _, _ = _web(conn, kinds["reversed"].card_ids[0])
    assert question.endswith("the apple")  # the reverse card: Back on the front
    clozes = [_web(conn, card_id)[0] for card_id in kinds["cloze"].card_ids]
    assert len(clozes) == 3
    assert "[a city]" in clozes[0] and clozes[1].count("[...]") == 1
    question, answer, css = _web(conn, kinds["custom"].card_ids[0])
    assert "class=hint" in question
    assert "<ruby><rb>日本語</rb><rt>にほんご</rt></ruby>" in answer
    assert '<img src="/api/media/nihongo-no-benkyou.jpg?t=TOKEN">' in answer
    assert answer.count('<audio class="sound" controls') == 2
    assert "(no audio)" not in question
    assert 'url("/api/media/_NotoSerifJP-Regular.woff2?t=TOKEN")' in css
    assert 2000 <= kinds["custom"].css_bytes <= 2200
    _, answer, _ = _web(conn, kinds["long"].card_ids[0])
    assert '<img src="/api/media/krebs-cycle.png?t=TOKEN"' in answer
    assert LONG_FIELD_BYTES <= kinds["long"].field_bytes <= LONG_FIELD_BYTES + 1000
    for kind in kinds.values():
        for card_id in kind.card_ids:
            assert "error" not in _web(conn, card_id)[1].lower(), kind.key


def test_figures_per_kind_and_over_every_run() -> None:
    found = time_rendering(3, warmup=1)
    assert found["runsPerKind"] == 3 and found["warmupPerKind"] == 1
    assert found["modelsJsonBytes"] > 5000
    assert {kind["latencyMs"]["n"] for kind in found["kinds"].values()} == {3}
    assert found["all"]["n"] == 15
    every = found["all"]
    assert 0 < every["p50"] <= every["p95"]
    assert min(k["latencyMs"]["p50"] for k in found["kinds"].values()) <= every["p50"]
