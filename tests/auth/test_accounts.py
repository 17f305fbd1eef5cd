"""Accounts.authenticate: what it refuses, on both user stores, and that its two
look-ups (the user's token version, the token's revocation) run side by side."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto import mock_aws

from auth.accounts import Accounts
from auth.errors import AuthStoreUnavailable, InvalidToken
from auth.local import LocalUserStore
from auth.passwords import PasswordHasher
from auth.tokens import TokenService
from auth.users import AuthStateStore, LoginFailures, User, UserRepository
from tests.support.api_rig import PASSWORD, SECRET, USER_STORES, dynamodb_tables


class Meeting:
    """The user read and the revocation read each wait here for the other, once: they
    get through only if both are in flight at the same time."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=5)
        self.armed = False
        self.threads: set[str] = set()

    def attend(self) -> None:
        if self.armed:
            self.threads.add(threading.current_thread().name)
            self.barrier.wait()


@dataclass
class MeetingUsers:
    """A user repository whose ``get`` attends the meeting; the rest is the real store's."""

    inner: UserRepository
    meeting: Meeting
    error: Exception | None = None

    def get(self, username: str) -> User | None:
        self.meeting.attend()
        if self.error is not None:
            raise self.error
        return self.inner.get(username)

    def create(self, user: User) -> None:
        self.inner.create(user)

    def update_password(self, username: str, password_hash: str, *, bump_version: bool) -> User:
        return self.inner.update_password(username, password_hash, bump_version=bump_version)

    def bump_token_version(self, username: str) -> None:
        self.inner.bump_token_version(username)

    def delete(self, username: str) -> None:
        self.inner.delete(username)


@dataclass
class MeetingAuthState:
    """An auth-state store whose ``is_revoked`` attends the meeting."""

    inner: AuthStateStore
    meeting: Meeting
    error: Exception | None = None

    def login_failures(self, username: str, *, now: float) -> LoginFailures:
        return self.inner.login_failures(username, now=now)

    def record_failure(self, username: str, *, now: float) -> int:
        return self.inner.record_failure(username, now=now)

    def lock(self, username: str, *, until: float, now: float) -> None:
        self.inner.lock(username, until=until, now=now)

    def reset_failures(self, username: str) -> None:
        self.inner.reset_failures(username)

    def revoke(self, token_id: str, *, expires_at: int) -> None:
        self.inner.revoke(token_id, expires_at=expires_at)

    def is_revoked(self, token_id: str, *, now: float) -> bool:
        self.meeting.attend()
        if self.error is not None:
            raise self.error
        return self.inner.is_revoked(token_id, now=now)


@dataclass
class Setup:
    accounts: Accounts
    users: MeetingUsers
    auth_state: MeetingAuthState
    meeting: Meeting

    def signed_up(self, username: str = "alice") -> str:
        self.accounts.register(username, username.title(), PASSWORD)
        return self.accounts.login(username, PASSWORD).access_token


@pytest.fixture(params=USER_STORES)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    with mock_aws():
        users: UserRepository
        auth_state: AuthStateStore
        if request.param == "dynamodb":
            users, auth_state = dynamodb_tables()
        else:
            users = auth_state = LocalUserStore(tmp_path / "users.sqlite3")
        meeting = Meeting()
        meeting_users = MeetingUsers(users, meeting)
        meeting_state = MeetingAuthState(auth_state, meeting)
        accounts = Accounts(
            meeting_users, meeting_state, PasswordHasher(rounds=4), TokenService(SECRET)
        )
        yield Setup(accounts, meeting_users, meeting_state, meeting)


def test_the_two_lookups_run_side_by_side(setup: Setup) -> None:
    token = setup.signed_up()
    setup.meeting.armed = True
    # One after the other, the first look-up would wait alone and break the barrier.
    user, claims = setup.accounts.authenticate(token)
    assert (user.username, claims.username) == ("alice", "alice")
    assert not setup.meeting.barrier.broken
    assert len(setup.meeting.threads) == 2


def test_a_revoked_token_is_refused_with_the_lookups_side_by_side(setup: Setup) -> None:
    token = setup.signed_up()
    setup.accounts.logout(setup.accounts.authenticate(token)[1])
    setup.meeting.armed = True
    with pytest.raises(InvalidToken, match="revoked"):
        setup.accounts.authenticate(token)
    assert not setup.meeting.barrier.broken


def test_a_bumped_token_version_refuses_older_tokens(setup: Setup) -> None:
    old = setup.signed_up()
    user, _ = setup.accounts.authenticate(old)
    setup.accounts.revoke_all_tokens(user)
    with pytest.raises(InvalidToken, match="no longer valid"):
        setup.accounts.authenticate(old)
    fresh = setup.accounts.login("alice", PASSWORD).access_token
    assert setup.accounts.authenticate(fresh)[0].token_version == 1


def test_a_password_change_refuses_older_tokens(setup: Setup) -> None:
    old = setup.signed_up()
    user, _ = setup.accounts.authenticate(old)
    new = setup.accounts.change_password(user, PASSWORD, "another long password")
    with pytest.raises(InvalidToken):
        setup.accounts.authenticate(old)
    assert setup.accounts.authenticate(new.access_token)[0].username == "alice"


def test_a_deleted_user_is_refused(setup: Setup) -> None:
    token = setup.signed_up()
    setup.accounts.delete(setup.accounts.authenticate(token)[0])
    with pytest.raises(InvalidToken, match="no longer valid"):
        setup.accounts.authenticate(token)


def test_a_token_signed_elsewhere_is_refused_before_any_lookup(setup: Setup) -> None:
    setup.signed_up()
    forged = TokenService("another-secret-that-is-long-enough-0123456789").issue("alice", 0)
    setup.users.error = setup.auth_state.error = AssertionError("looked up")
    with pytest.raises(InvalidToken):
        setup.accounts.verify_signature(forged)
    with pytest.raises(InvalidToken):
        setup.accounts.authenticate(forged)


def test_verified_claims_are_not_yet_trusted(setup: Setup) -> None:
    token = setup.signed_up()
    claims = setup.accounts.verify_signature(token)
    setup.accounts.logout(claims)
    assert setup.accounts.verify_signature(token) == claims  # the signature still holds
    with pytest.raises(InvalidToken, match="revoked"):
        setup.accounts.check_claims(claims)


@pytest.mark.parametrize("failing", ["users", "auth_state"])
def test_an_unavailable_store_is_still_reported_as_such(setup: Setup, failing: str) -> None:
    token = setup.signed_up()
    outage = AuthStoreUnavailable("DynamoDB GetItem failed")
    if failing == "users":
        setup.users.error = outage
    else:
        setup.auth_state.error = outage
    with pytest.raises(AuthStoreUnavailable):
        setup.accounts.authenticate(token)
