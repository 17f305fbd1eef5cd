"""The `col` row's JSON: parsed at most once per operation, written back with col.mod."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import collection.col as col_module
from collection.col import Col, mark_modified
from collection.errors import MalformedCollection
from collection.ids import ms
from tests.collection.conftest import NOW, dump


def col_row(conn: sqlite3.Connection) -> dict[str, object]:
    cursor = conn.execute("select mod, conf, decks from col")
    mod, conf, decks = cursor.fetchone()
    return {"mod": mod, "conf": json.loads(conf), "decks": json.loads(decks)}


def test_each_column_is_parsed_once_and_only_when_read(
    conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
):
    parsed: list[str] = []
    real_loads = json.loads
    monkeypatch.setattr(col_module.json, "loads", lambda s: parsed.append(s) or real_loads(s))
    col = Col(conn)
    for _ in range(3):
        assert col.conf["curDeck"] == 1
        assert "1" in col.decks
    assert len(parsed) == 2
    assert col.decks is col.decks


def test_save_writes_only_changed_columns_and_stamps_mod(conn: sqlite3.Connection):
    before = col_row(conn)
    models_before = conn.execute("select models from col").fetchone()
    col = Col(conn)
    col.conf["nextPos"] = 7
    assert col.models  # read, not changed
    col.mark_changed("conf")
    col.save(now=NOW + 60)
    after = col_row(conn)
    assert after["mod"] == ms(NOW + 60) != before["mod"]
    assert after["conf"]["nextPos"] == 7
    assert after["decks"] == before["decks"]
    assert conn.execute("select models from col").fetchone() == models_before


def test_saving_nothing_writes_nothing(conn: sqlite3.Connection):
    before = dump(conn)
    col = Col(conn)
    col.conf["nextPos"] = 99  # mutated but never marked: not saved
    col.save(now=NOW + 60)
    assert dump(conn) == before
    assert not conn.in_transaction


def test_a_column_never_read_cannot_be_marked(conn: sqlite3.Connection):
    with pytest.raises(ValueError, match="never read"):
        Col(conn).mark_changed("decks")


def test_mark_modified_stamps_milliseconds(conn: sqlite3.Connection):
    mark_modified(conn, now=NOW + 1.5)
    assert col_row(conn)["mod"] == ms(NOW) + 1500


def test_writes_are_left_uncommitted(conn: sqlite3.Connection, col_path: Path):
    col = Col(conn)
    col.conf["nextPos"] = 5
    col.mark_changed("conf")
    col.save(now=NOW + 1)
    assert conn.in_transaction
    with closing(sqlite3.connect(col_path)) as other:
        (conf,) = other.execute("select conf from col").fetchone()
    assert json.loads(conf)["nextPos"] == 1


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("update col set decks = 'not json'", "not valid JSON"),
        ("update col set decks = '[1, 2]'", "not a JSON object"),
        ("delete from col", "0 col rows"),
        ("drop table col", "not an Anki collection"),
    ],
)
def test_a_malformed_col_row_is_reported(conn: sqlite3.Connection, sql: str, message: str):
    conn.execute(sql)
    with pytest.raises(MalformedCollection, match=message):
        Col(conn).decks  # noqa: B018
