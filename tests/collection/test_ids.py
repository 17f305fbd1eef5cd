"""Ids from the clock, bumped past existing ones; guids in Anki's base91."""

from __future__ import annotations

import re
import sqlite3

from collection.ids import BASE91_ALPHABET, base91, free_row_id, guid64, ms, next_id, next_row_id
from tests.collection.conftest import NOW

GUID = re.compile("[" + re.escape(BASE91_ALPHABET) + "]{1,10}")


def decode91(text: str) -> int:
    value = 0
    for char in text:
        value = value * len(BASE91_ALPHABET) + BASE91_ALPHABET.index(char)
    return value


def test_the_alphabet_is_anki_s():
    # anki.utils.base91: string.ascii_letters + string.digits + _BASE91_EXTRA_CHARS
    from anki.utils import base91 as anki_base91

    assert len(BASE91_ALPHABET) == len(set(BASE91_ALPHABET)) == 91
    for n in (1, 90, 91, 12345678901234, 2**64 - 1):
        assert base91(n) == anki_base91(n)


def test_guids_are_random_64_bit_numbers_in_base91():
    guids = [guid64() for _ in range(2000)]
    assert len(set(guids)) == len(guids)
    assert all(GUID.fullmatch(g) for g in guids)
    assert all(0 < decode91(g) < 2**64 for g in guids)
    # 91**9 < 2**64 < 91**10: nearly all guids use the full ten characters.
    assert sum(len(g) == 10 for g in guids) > 1800


def test_next_id_is_now_in_ms_or_one_past_the_largest():
    assert ms(NOW) == 1710084612345
    assert next_id([], NOW) == ms(NOW)
    assert next_id([1, 5], NOW) == ms(NOW)
    assert next_id([ms(NOW)], NOW) == ms(NOW) + 1
    assert next_id([ms(NOW) + 10], NOW) == ms(NOW) + 11


def test_next_row_id_looks_at_the_table(conn: sqlite3.Connection):
    assert next_row_id(conn, "cards", NOW) == ms(NOW)
    conn.execute(
        "insert into cards values (?, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '')",
        (ms(NOW) + 3,),
    )
    assert next_row_id(conn, "cards", NOW) == ms(NOW) + 4
    assert next_row_id(conn, "notes", NOW) == ms(NOW)


def test_free_row_id_is_the_wanted_id_or_past_every_later_one(conn: sqlite3.Connection):
    wanted = ms(NOW)
    assert free_row_id(conn, "revlog", wanted) == wanted
    insert = "insert into revlog values (?, 1, -1, 3, 1, 0, 2500, 1000, 1)"
    conn.execute(insert, (wanted - 5,))  # earlier ids do not matter
    assert free_row_id(conn, "revlog", wanted) == wanted
    conn.execute(insert, (wanted,))
    assert free_row_id(conn, "revlog", wanted) == wanted + 1
    conn.execute(insert, (wanted + 40,))  # a later id pushes past itself, never between
    assert free_row_id(conn, "revlog", wanted) == wanted + 41
    assert next_row_id(conn, "revlog", NOW) == wanted + 41
