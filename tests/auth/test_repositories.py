"""The user repositories keep the same promises on DynamoDB (moto) and on SQLite."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from auth.accounts import SideBySideLookups
from auth.errors import UserExists, UserNotFound
from auth.local import LocalUserStore
from auth.users import AuthStateStore, TokenStateReader, User, UserRepository
from tests.support.api_rig import dynamodb_tables, token_states_of
from tests.support.moto_server import MotoServer


@pytest.fixture(params=["local", "dynamodb"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[UserRepository, AuthStateStore]]:
    if request.param == "local":
        local = LocalUserStore(tmp_path / "users.sqlite3")
        yield local, local
        return
    with mock_aws():
        yield dynamodb_tables()


@pytest.fixture(params=["local", "dynamodb"])
def shared_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[UserRepository, AuthStateStore]]:
    """As ``stores``, with DynamoDB behind the moto server over HTTP: in-process moto
    does not make one item's updates atomic across threads, which the real service and
    the server (one request at a time) do. For the tests of concurrent writers."""
    if request.param == "local":
        local = LocalUserStore(tmp_path / "users.sqlite3")
        yield local, local
        return
    server: MotoServer = request.getfixturevalue("moto_server")
    client = boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1")
    yield dynamodb_tables(client)


def alice(**changes: object) -> User:
    fields: dict[str, object] = {"username": "alice", "name": "Alice", "password_hash": "h"}
    fields.update(changes)
    return User(**fields)  # type: ignore[arg-type]


def test_create_get_delete(stores: tuple[UserRepository, AuthStateStore]) -> None:
    users, _ = stores
    users.create(alice(created_at=1700000000))
    assert users.get("alice") == alice(created_at=1700000000)
    users.delete("alice")
    assert users.get("alice") is None


def test_create_is_conditional(stores: tuple[UserRepository, AuthStateStore]) -> None:
    users, _ = stores
    users.create(alice())
    with pytest.raises(UserExists):
        users.create(alice(name="Impostor", password_hash="other"))
    user = users.get("alice")
    assert user is not None and user.name == "Alice"


@pytest.mark.integration  # DynamoDB behind the moto server
def test_concurrent_registrations_of_one_name_have_one_winner(
    shared_stores: tuple[UserRepository, AuthStateStore],
) -> None:
    users, _ = shared_stores
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            users.create(alice(name=f"contender-{n}"))
        except UserExists:
            return
        winners.append(f"contender-{n}")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    user = users.get("alice")
    assert user is not None and user.name == winners[0]


def test_password_update_bumps_version_on_request(
    stores: tuple[UserRepository, AuthStateStore],
) -> None:
    users, _ = stores
    users.create(alice())
    assert users.update_password("alice", "h2", bump_version=True).token_version == 1
    assert users.update_password("alice", "h3", bump_version=False).token_version == 1
    users.bump_token_version("alice")
    user = users.get("alice")
    assert user is not None and (user.password_hash, user.token_version) == ("h3", 2)
    with pytest.raises(UserNotFound):
        users.update_password("nobody", "h", bump_version=True)


@pytest.mark.integration  # DynamoDB behind the moto server
def test_failure_counter_is_atomic_under_concurrency(
    shared_stores: tuple[UserRepository, AuthStateStore],
) -> None:
    _, state = shared_stores
    now = 1_000_000.0
    threads = [
        threading.Thread(target=lambda: [state.record_failure("alice", now=now) for _ in range(5)])
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.login_failures("alice", now=now).count == 20
    state.reset_failures("alice")
    assert state.login_failures("alice", now=now).count == 0


def test_failure_counter_expires(stores: tuple[UserRepository, AuthStateStore]) -> None:
    _, state = stores
    state.record_failure("alice", now=1_000_000)
    state.lock("alice", until=1_000_030, now=1_000_000)
    assert state.login_failures("alice", now=1_000_010).locked_until == 1_000_030
    a_day_later = 1_000_000 + 86_400 + 1
    assert state.login_failures("alice", now=a_day_later).count == 0
    assert state.record_failure("alice", now=a_day_later) == 1


def test_revocation_lasts_until_the_token_expires(
    stores: tuple[UserRepository, AuthStateStore],
) -> None:
    _, state = stores
    state.revoke("jti-1", expires_at=2_000)
    assert state.is_revoked("jti-1", now=1_000)
    assert not state.is_revoked("jti-2", now=1_000)
    assert not state.is_revoked("jti-1", now=2_001)


def token_states(users: UserRepository, auth_state: AuthStateStore) -> TokenStateReader:
    return token_states_of(users, auth_state) or SideBySideLookups(users, auth_state)


def test_a_token_state_is_the_user_and_the_revocation(
    stores: tuple[UserRepository, AuthStateStore],
) -> None:
    users, state = stores
    reader = token_states(users, state)
    users.create(User(username="alice", name="Alice", password_hash="h", created_at=5))
    state.revoke("jti-1", expires_at=2_000)

    user, revoked = reader.token_state("alice", "jti-1", now=1_000)
    assert user is not None and (user.username, user.name, user.token_version) == (
        "alice",
        "Alice",
        0,
    )
    assert revoked
    assert reader.token_state("alice", "jti-2", now=1_000) == (user, False)
    assert reader.token_state("alice", "jti-1", now=2_001) == (user, False)  # expired
    assert reader.token_state("bob", "jti-1", now=1_000) == (None, True)
    users.bump_token_version("alice")
    bumped, _ = reader.token_state("alice", "jti-2", now=1_000)
    assert bumped is not None and bumped.token_version == 1


def test_a_dynamodb_token_state_is_one_request() -> None:
    with mock_aws():
        users, state = dynamodb_tables()
        reader = token_states_of(users, state)
        assert reader is not None
        users.create(User(username="alice", name="Alice", password_hash="h"))
        sent: list[str] = []
        reader.client.meta.events.register(
            "before-call.dynamodb", lambda model, **_: sent.append(model.name)
        )
        assert reader.token_state("alice", "jti-1", now=1_000)[0] is not None
        assert sent == ["BatchGetItem"]


def test_keys_dynamodb_leaves_unprocessed_are_read_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with mock_aws():
        users, state = dynamodb_tables()
        reader = token_states_of(users, state)
        assert reader is not None
        users.create(User(username="alice", name="Alice", password_hash="h"))
        state.revoke("jti-1", expires_at=2_000)
        batch = reader.client.batch_get_item

        def throttled(**kwargs: Any) -> Any:
            # DynamoDB answered nothing: every key comes back unprocessed.
            batch(**kwargs)
            return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}

        monkeypatch.setattr(reader.client, "batch_get_item", throttled)
        user, revoked = reader.token_state("alice", "jti-1", now=1_000)
        assert user is not None and user.username == "alice"
        assert revoked


def test_local_users_file_is_private(tmp_path: Path) -> None:
    import stat

    LocalUserStore(tmp_path / "users.sqlite3")
    assert stat.S_IMODE((tmp_path / "users.sqlite3").stat().st_mode) == 0o600
