"""The normal sync's state in both stores: one per learner, conditional updates, a new
sync replacing the old one, expiry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from auth.dynamodb import DynamoAuthStateStore
from auth.local import LocalUserStore
from auth.users import SyncState, SyncStateConflict, SyncStateStore
from tests.support.api_rig import dynamodb_tables


@pytest.fixture(params=["local", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SyncStateStore]:
    if request.param == "local":
        yield LocalUserStore(tmp_path / "users.sqlite3")
        return
    with mock_aws():
        _, auth_state = dynamodb_tables()
        yield DynamoAuthStateStore(auth_state.client, auth_state.table)


def state(session: str, version: int, data: str = "{}", expires_at: int = 2000) -> SyncState:
    return SyncState("alice", session, version, data, expires_at)


def test_updates_are_conditional_on_the_session_and_version(store: SyncStateStore) -> None:
    assert isinstance(store, SyncStateStore)
    assert store.get_sync_state("alice", now=1000) is None
    store.put_sync_state(state("one", 0))
    store.update_sync_state(state("one", 1, '{"a":1}'), expected_version=0)
    assert store.get_sync_state("alice", now=1000) == state("one", 1, '{"a":1}')
    with pytest.raises(SyncStateConflict):  # a stale version
        store.update_sync_state(state("one", 1, '{"b":2}'), expected_version=0)
    # A second device's start replaces it: the first one's updates are refused.
    store.put_sync_state(state("two", 0))
    with pytest.raises(SyncStateConflict):
        store.update_sync_state(state("one", 2), expected_version=1)
    # Deleting with another session's key leaves it; with its own, it is gone.
    store.delete_sync_state("alice", "one")
    assert store.get_sync_state("alice", now=1000) == state("two", 0)
    store.delete_sync_state("alice", "two")
    assert store.get_sync_state("alice", now=1000) is None
    with pytest.raises(SyncStateConflict):
        store.update_sync_state(state("two", 1), expected_version=0)


def test_an_abandoned_sync_expires(store: SyncStateStore) -> None:
    store.put_sync_state(state("one", 0, expires_at=1500))
    assert store.get_sync_state("alice", now=1499) is not None
    assert store.get_sync_state("alice", now=1500) is None
    store.delete_sync_state("alice")
    assert store.get_sync_state("alice", now=0) is None
