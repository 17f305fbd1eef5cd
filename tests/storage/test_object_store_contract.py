"""One contract, two implementations: S3 (under moto) and the local directory."""

from __future__ import annotations

import hashlib

import pytest

from storage.objects import (
    ANY_ETAG,
    NotModified,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoredObject,
    normalise_etag,
)

KEY = "user_dbs/alice.anki2"


def fetch(store: ObjectStore, key: str = KEY) -> StoredObject:
    result = store.get(key)
    assert isinstance(result, StoredObject)
    return result


def test_put_then_get_returns_bytes_and_md5_etag(store: ObjectStore) -> None:
    body = b"SQLite format 3\x00" + bytes(range(256)) * 4
    etag = store.put(KEY, body)
    got = fetch(store)
    assert got.body == body
    assert normalise_etag(got.etag) == normalise_etag(etag) == hashlib.md5(body).hexdigest()


def test_get_missing_key_raises_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.get("user_dbs/nobody.anki2")


def test_conditional_get_answers_not_modified_for_current_etag(store: ObjectStore) -> None:
    etag = store.put(KEY, b"one")
    assert isinstance(store.get(KEY, if_none_match=etag), NotModified)


def test_conditional_get_returns_body_when_changed(store: ObjectStore) -> None:
    old = store.put(KEY, b"one")
    store.put(KEY, b"two")
    result = store.get(KEY, if_none_match=old)
    assert isinstance(result, StoredObject)
    assert result.body == b"two"


def test_put_if_match_current_etag_succeeds(store: ObjectStore) -> None:
    etag = store.put(KEY, b"one")
    new = store.put(KEY, b"two", if_match=etag)
    assert new != etag
    assert fetch(store).body == b"two"


def test_put_with_stale_if_match_is_refused_and_changes_nothing(store: ObjectStore) -> None:
    stale = store.put(KEY, b"one")
    store.put(KEY, b"two")
    with pytest.raises(PreconditionFailed):
        store.put(KEY, b"three", if_match=stale)
    assert fetch(store).body == b"two"


def test_put_if_match_on_missing_key_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.put(KEY, b"x", if_match='"0123456789abcdef0123456789abcdef"')
    with pytest.raises(ObjectNotFound):
        store.get(KEY)


def test_if_none_match_star_creates_only_once(store: ObjectStore) -> None:
    store.put(KEY, b"first", if_none_match=ANY_ETAG)
    with pytest.raises(PreconditionFailed):
        store.put(KEY, b"second", if_none_match=ANY_ETAG)
    assert fetch(store).body == b"first"


def test_etag_quotes_do_not_matter_for_conditions(store: ObjectStore) -> None:
    etag = store.put(KEY, b"one")
    unquoted = normalise_etag(etag)
    assert isinstance(store.get(KEY, if_none_match=unquoted), NotModified)
    store.put(KEY, b"two", if_match=unquoted)
    assert fetch(store).body == b"two"


def test_head_reports_etag_and_size(store: ObjectStore) -> None:
    etag = store.put(KEY, b"12345")
    info = store.head(KEY)
    assert normalise_etag(info.etag) == normalise_etag(etag)
    assert info.size == 5
    with pytest.raises(ObjectNotFound):
        store.head("user_dbs/nobody.anki2")


def test_delete_removes_and_is_idempotent(store: ObjectStore) -> None:
    store.put(KEY, b"x")
    store.delete(KEY)
    with pytest.raises(ObjectNotFound):
        store.get(KEY)
    store.delete(KEY)


def test_keys_are_independent(store: ObjectStore) -> None:
    store.put("user_dbs/a.anki2", b"a")
    store.put("user_dbs/b.anki2", b"b")
    assert fetch(store, "user_dbs/a.anki2").body == b"a"
    assert fetch(store, "user_dbs/b.anki2").body == b"b"


# Keys that differ only in ways a file system might not keep apart: case, Unicode
# normalisation, `%`-escapes against what they escape, `\` against `/`, a control
# character. Both stores keep every one of them a separate object.
LOOKALIKE_KEYS = [
    "user_dbs/Maria José.anki2",
    "user_dbs/maria josé.anki2",
    "user_dbs/MARIA JOSÉ.anki2",
    "user_dbs/Maria Jose\u0301.anki2",  # the same name, decomposed (NFD)
    "user_dbs/Maria%20Jos%C3%A9.anki2",
    "user_dbs/Ana/Lab1.anki2",
    "user_dbs/Ana%2FLab1.anki2",
    "user_dbs/Ana\\Lab1.anki2",
    "user_dbs/Ana%5CLab1.anki2",
    "user_dbs/100%.anki2",
    "user_dbs/100%25.anki2",
    "user_dbs/tab\there.anki2",
    "user_dbs/nul\x00here.anki2",
    "user_dbs/a@b.example.anki2",
]


def test_lookalike_keys_are_separate_objects(store: ObjectStore) -> None:
    assert len(set(LOOKALIKE_KEYS)) == len(LOOKALIKE_KEYS)
    for n, key in enumerate(LOOKALIKE_KEYS):
        store.put(key, f"body {n}".encode(), if_none_match=ANY_ETAG)
    for n, key in enumerate(LOOKALIKE_KEYS):
        assert fetch(store, key).body == f"body {n}".encode()
        assert store.head(key).size == len(f"body {n}")
    store.delete(LOOKALIKE_KEYS[0])
    assert all(fetch(store, key) for key in LOOKALIKE_KEYS[1:])
