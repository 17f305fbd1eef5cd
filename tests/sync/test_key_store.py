"""Sync host keys in both stores: the same behaviour on SQLite and on DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from auth.dynamodb import DynamoSyncKeyStore
from auth.local import LocalUserStore
from auth.users import SyncKey, SyncKeyStore
from tests.support.api_rig import dynamodb_tables


@pytest.fixture(params=["local", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SyncKeyStore]:
    if request.param == "local":
        yield LocalUserStore(tmp_path / "users.sqlite3")
        return
    with mock_aws():
        _, auth_state = dynamodb_tables()
        yield DynamoSyncKeyStore(auth_state.client, auth_state.table)


def key(n: int, username: str = "alice") -> SyncKey:
    return SyncKey(f"{n:064x}", username, f"device {n}", 100 + n, 100 + n, 0)


def test_keys_are_listed_per_user_and_revoked_one_by_one(store: SyncKeyStore) -> None:
    for n in range(3):
        store.add_sync_key(key(n))
    store.add_sync_key(key(9, "bob"))
    assert store.list_sync_keys("alice") == [key(0), key(1), key(2)]
    assert store.get_sync_key(key(9).key_hash) == key(9, "bob")
    assert store.get_sync_key("f" * 64) is None

    store.touch_sync_key(key(1).key_hash, now=500)
    assert store.get_sync_key(key(1).key_hash).last_used == 500  # type: ignore[union-attr]

    # Someone else's hash: nothing happens.
    store.delete_sync_key("bob", key(0).key_hash)
    assert store.get_sync_key(key(0).key_hash) == key(0)
    store.delete_sync_key("alice", key(0).key_hash)
    assert store.get_sync_key(key(0).key_hash) is None
    assert [k.key_hash for k in store.list_sync_keys("alice")] == [key(1).key_hash, key(2).key_hash]

    store.delete_sync_keys("alice")
    assert store.list_sync_keys("alice") == []
    assert store.get_sync_key(key(2).key_hash) is None
    assert store.list_sync_keys("bob") == [key(9, "bob")]
