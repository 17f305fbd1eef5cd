"""Account operations: register, log in (with throttling), tokens, password, deletion.

This module knows nothing about collections: the API layer creates and deletes the
learner's collection around these calls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from auth.errors import InvalidCredentials, InvalidToken, TooManyAttempts, UserExists
from auth.passwords import PasswordHasher
from auth.tokens import TokenClaims, TokenService
from auth.users import AuthStateStore, User, UserRepository


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    """After ``free_failures`` consecutive failures, pause logins, doubling each time."""

    free_failures: int = 5
    first_pause_seconds: float = 30.0
    max_pause_seconds: float = 15 * 60.0

    def pause_after(self, failures: int) -> float:
        if failures < self.free_failures:
            return 0.0
        doublings = min(failures - self.free_failures, 32)
        return min(self.max_pause_seconds, self.first_pause_seconds * 2.0**doublings)


@dataclass(frozen=True, slots=True)
class Session:
    """A successful login: the token and who it is for."""

    access_token: str
    user: User


# Threads start on first use only; nothing is spent at import (a Lambda cold start).
_lookups = ThreadPoolExecutor(max_workers=8, thread_name_prefix="auth-lookup")


def normalise_username(username: str) -> str:
    return username.strip().lower()


class Accounts:
    def __init__(
        self,
        users: UserRepository,
        auth_state: AuthStateStore,
        hasher: PasswordHasher,
        tokens: TokenService,
        *,
        throttle: LoginThrottle | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.users = users
        self.auth_state = auth_state
        self.hasher = hasher
        self.tokens = tokens
        self.throttle = throttle or LoginThrottle()
        self.clock = clock

    def register(self, username: str, name: str, password: str) -> User:
        user = User(
            username=normalise_username(username),
            name=name,
            password_hash=self.hasher.hash(password),
            created_at=int(self.clock()),
        )
        self.users.create(user)  # conditional: raises UserExists
        return user

    def login(self, username: str, password: str) -> Session:
        username = normalise_username(username)
        now = self.clock()
        failures = self.auth_state.login_failures(username, now=now)
        if failures.locked_until > now:
            raise TooManyAttempts(math.ceil(failures.locked_until - now))
        user = self.users.get(username)
        ok, upgraded = self.hasher.verify(password, user.password_hash if user else None)
        if user is None or not ok:
            count = self.auth_state.record_failure(username, now=now)
            pause = self.throttle.pause_after(count)
            if pause:
                self.auth_state.lock(username, until=now + pause, now=now)
            raise InvalidCredentials("wrong username or password")
        if failures.count:
            self.auth_state.reset_failures(username)
        if upgraded is not None:
            user = self.users.update_password(username, upgraded, bump_version=False)
        return Session(self.tokens.issue(user.username, user.token_version, now=now), user)

    def authenticate(self, token: str) -> tuple[User, TokenClaims]:
        """The user a bearer token speaks for; ``InvalidToken`` for any reason not to trust it."""
        claims = self.tokens.decode(token)
        # Two independent look-ups on every request: side by side, one round trip.
        revoked = _lookups.submit(self.auth_state.is_revoked, claims.token_id, now=self.clock())
        user = self.users.get(claims.username)
        if revoked.result():
            raise InvalidToken("the token has been revoked")
        if user is None or user.token_version != claims.token_version:
            raise InvalidToken("the token is no longer valid")
        return user, claims

    def logout(self, claims: TokenClaims) -> None:
        self.auth_state.revoke(claims.token_id, expires_at=claims.expires_at)

    def check_password(self, user: User, password: str) -> None:
        ok, _ = self.hasher.verify(password, user.password_hash)
        if not ok:
            raise InvalidCredentials("the password is wrong")

    def change_password(self, user: User, current: str, new: str) -> Session:
        self.check_password(user, current)
        updated = self.users.update_password(
            user.username, self.hasher.hash(new), bump_version=True
        )
        return Session(self.tokens.issue(updated.username, updated.token_version), updated)

    def revoke_all_tokens(self, user: User) -> None:
        self.users.bump_token_version(user.username)

    def delete(self, user: User) -> None:
        self.users.delete(user.username)


__all__ = ["Accounts", "LoginThrottle", "Session", "UserExists", "normalise_username"]
