"""Account operations: register, log in (with throttling), tokens, password, deletion.

This module knows nothing about collections: the API layer creates and deletes the
learner's collection around these calls.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from auth.errors import (
    InvalidCredentials,
    InvalidSyncKey,
    InvalidToken,
    SyncKeyNotFound,
    TooManyAttempts,
    UserExists,
)
from auth.passwords import PasswordHasher
from auth.tokens import TokenClaims, TokenService
from auth.users import (
    AuthStateStore,
    SyncKey,
    SyncKeyStore,
    SyncStateStore,
    TokenStateReader,
    User,
    UserRepository,
)


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


# The longest username a login looks up: as long as a login request allows. Longer
# names cannot belong to anyone, and would exceed what a DynamoDB key may hold.
MAX_LOGIN_USERNAME = 64

# Sync host keys: the id a learner sees is this many hex digits of the key's hash;
# a learner keeps at most so many keys (the least recently used goes first); a key's
# last use is recorded at most once per this many seconds.
SYNC_KEY_ID_LENGTH = 12
MAX_SYNC_KEYS = 50
SYNC_KEY_TOUCH_SECONDS = 60
MAX_DEVICE_LENGTH = 100


def sync_key_hash(key: str) -> str:
    """What is stored of a sync host key: SHA-256 is enough for 256 random bits."""
    return hashlib.sha256(key.encode()).hexdigest()


def normalise_username(username: str) -> str:
    """How registration stores a username: without surrounding spaces, lower-case."""
    return username.strip().lower()


class SideBySideLookups:
    """A token's two look-ups (the user, the revocation) as two requests run side by
    side: one round trip."""

    def __init__(self, users: UserRepository, auth_state: AuthStateStore) -> None:
        self.users = users
        self.auth_state = auth_state

    def token_state(self, username: str, token_id: str, *, now: float) -> tuple[User | None, bool]:
        revoked = _lookups.submit(self.auth_state.is_revoked, token_id, now=now)
        user = self.users.get(username)
        return user, revoked.result()


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
        token_states: TokenStateReader | None = None,
        sync_keys: SyncKeyStore | None = None,
        sync_states: SyncStateStore | None = None,
    ) -> None:
        self.users = users
        self.auth_state = auth_state
        # A store that reads both items in one request says so (DynamoDB: BatchGetItem).
        self.token_states = token_states or SideBySideLookups(users, auth_state)
        self.hasher = hasher
        self.tokens = tokens
        # Both auth-state stores keep sync keys too; another may be given.
        if sync_keys is None and isinstance(auth_state, SyncKeyStore):
            sync_keys = auth_state
        self.sync_keys = sync_keys
        # A normal sync in progress is kept with the auth state (both stores keep it).
        if sync_states is None and isinstance(auth_state, SyncStateStore):
            sync_states = auth_state
        self.sync_states = sync_states
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
        """Check the password of the user ``find_user`` names; a token for the stored name.

        Failures are counted per stored username (per normalised name when nobody has
        it), so every spelling that reaches one account shares one counter.
        """
        now = self.clock()
        user = self._check_login(username, password, now=now)
        return Session(self.tokens.issue(user.username, user.token_version, now=now), user)

    def _check_login(self, username: str, password: str, *, now: float) -> User:
        """The user whose password this is, throttled as logins are (see ``login``)."""
        given = username.strip()
        if not given or len(given) > MAX_LOGIN_USERNAME:
            self.hasher.verify(password, None)  # costs what any failed login costs
            raise InvalidCredentials("wrong username or password")
        user = self.find_user(given)
        throttle_key = user.username if user else normalise_username(given)
        failures = self.auth_state.login_failures(throttle_key, now=now)
        if failures.locked_until > now:
            raise TooManyAttempts(math.ceil(failures.locked_until - now))
        ok, upgraded = self.hasher.verify(password, user.password_hash if user else None)
        if user is None or not ok:
            count = self.auth_state.record_failure(throttle_key, now=now)
            pause = self.throttle.pause_after(count)
            if pause:
                self.auth_state.lock(throttle_key, until=now + pause, now=now)
            raise InvalidCredentials("wrong username or password")
        if failures.count:
            self.auth_state.reset_failures(throttle_key)
        if upgraded is not None:
            user = self.users.update_password(user.username, upgraded, bump_version=False)
        return user

    # -- sync host keys (an Anki client's login) ------------------------------------

    def _sync_key_store(self) -> SyncKeyStore:
        if self.sync_keys is None:
            raise InvalidSyncKey("this backend keeps no sync keys")
        return self.sync_keys

    def issue_sync_key(self, username: str, password: str, device: str) -> str:
        """A new random host key for an Anki client, after the password is checked
        (and throttled) exactly as a login's. Only its hash is stored."""
        store = self._sync_key_store()
        now = self.clock()
        user = self._check_login(username, password, now=now)
        key = secrets.token_urlsafe(32)
        stamp = int(now)
        existing = store.list_sync_keys(user.username)
        for old in sorted(existing, key=lambda k: (k.last_used, k.created_at))[
            : max(0, len(existing) - MAX_SYNC_KEYS + 1)
        ]:
            store.delete_sync_key(user.username, old.key_hash)
        store.add_sync_key(
            SyncKey(
                key_hash=sync_key_hash(key),
                username=user.username,
                device=device.strip()[:MAX_DEVICE_LENGTH],
                created_at=stamp,
                last_used=stamp,
                token_version=user.token_version,
            )
        )
        return key

    def sync_user(self, key: str) -> User:
        """The learner a host key speaks for; ``InvalidSyncKey`` if it is unknown,
        revoked, issued before a password change, or its learner is gone."""
        if not key or len(key) > 256:
            raise InvalidSyncKey("no such sync key")
        store = self._sync_key_store()
        key_hash = sync_key_hash(key)
        found = store.get_sync_key(key_hash)
        if found is None:
            raise InvalidSyncKey("no such sync key")
        user = self.users.get(found.username)
        if user is None or user.token_version != found.token_version:
            raise InvalidSyncKey("the sync key is no longer valid")
        now = int(self.clock())
        if now - found.last_used >= SYNC_KEY_TOUCH_SECONDS:
            store.touch_sync_key(key_hash, now=now)
        return user

    def list_sync_keys(self, user: User) -> list[SyncKey]:
        """The learner's keys that still work (those outdated by a password change are
        removed as they are found)."""
        store = self._sync_key_store()
        keys = []
        for key in store.list_sync_keys(user.username):
            if key.token_version != user.token_version:
                store.delete_sync_key(user.username, key.key_hash)
            else:
                keys.append(key)
        return keys

    def revoke_sync_key(self, user: User, key_id: str) -> None:
        """Revoke the learner's key whose id (``SYNC_KEY_ID_LENGTH`` hex digits of its
        hash) is ``key_id``; ``SyncKeyNotFound`` if none."""
        store = self._sync_key_store()
        for key in store.list_sync_keys(user.username):
            if sync_key_id(key) == key_id:
                store.delete_sync_key(user.username, key.key_hash)
                return
        raise SyncKeyNotFound(key_id)

    def find_user(self, username: str) -> User | None:
        """The account a login name means: the name exactly as given, else its normal form.

        Accounts registered here are stored lower-case; accounts made by the original
        backend keep the name they were created with ("Maria José", "Bob", "Ana/Lab1"),
        which registration today would refuse. Surrounding spaces never count. The
        exact name is tried first so that an old "Bob" still reaches Bob even after
        someone registers "bob"; "BOB" reaches "bob" unless a "BOB" exists.
        """
        given = username.strip()
        if not given:
            return None
        user = self.users.get(given)
        normalised = normalise_username(given)
        if user is None and normalised != given:
            user = self.users.get(normalised)
        return user

    def authenticate(self, token: str) -> tuple[User, TokenClaims]:
        """The user a bearer token speaks for; ``InvalidToken`` for any reason not to trust it."""
        claims = self.verify_signature(token)
        return self.check_claims(claims), claims

    def verify_signature(self, token: str) -> TokenClaims:
        """The claims of a token this service signed and that has not expired.

        The first half of ``authenticate``, with no store request: the token may still
        be revoked or outdated, so nothing may be answered on these claims until
        ``check_claims`` has accepted them.
        """
        return self.tokens.decode(token)

    def media_token(self, user: User, claims: TokenClaims) -> str:
        """A token for the learner's media links, tied to the access token of `claims`
        (see ``TokenService.issue_media``)."""
        now = min(self.clock(), claims.expires_at - self.tokens.ttl_seconds)
        return self.tokens.issue_media(user.username, user.token_version, claims.token_id, now=now)

    def verify_media_token(self, token: str) -> TokenClaims:
        """The claims of a media token; ``check_claims`` then says whose it still is."""
        return self.tokens.decode_media(token)

    def check_claims(self, claims: TokenClaims) -> User:
        """The user verified claims speak for; ``InvalidToken`` if the token was revoked,
        its version is older than the user's, or the user is gone."""
        user, revoked = self.token_states.token_state(
            claims.username, claims.token_id, now=self.clock()
        )
        if revoked:
            raise InvalidToken("the token has been revoked")
        if user is None or user.token_version != claims.token_version:
            raise InvalidToken("the token is no longer valid")
        return user

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
        if self.sync_keys is not None:
            self.sync_keys.delete_sync_keys(user.username)
        self.users.delete(user.username)


def sync_key_id(key: SyncKey) -> str:
    """How a learner names one of their sync keys: the start of its hash."""
    return key.key_hash[:SYNC_KEY_ID_LENGTH]


__all__ = [
    "MAX_LOGIN_USERNAME",
    "Accounts",
    "LoginThrottle",
    "Session",
    "SideBySideLookups",
    "UserExists",
    "normalise_username",
    "sync_key_hash",
    "sync_key_id",
]
