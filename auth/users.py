"""Users and the two stores behind them: who exists, and short-lived auth state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# Failure counters forget themselves a day after the last failure.
FAILURE_MEMORY_SECONDS = 86_400


def failures_key(username: str) -> str:
    """Auth-state key of a username's consecutive login failures."""
    return f"login-failures#{username}"


def revoked_key(token_id: str) -> str:
    """Auth-state key marking a token id as revoked until the token expires."""
    return f"revoked-token#{token_id}"


def sync_key_key(key_hash: str) -> str:
    """Auth-state key of one sync host key, by the SHA-256 (hex) of the key."""
    return f"synckey#{key_hash}"


def sync_keys_of_key(username: str) -> str:
    """Auth-state key of the list of a user's sync host keys (their hashes)."""
    return f"synckeys#{username}"


@dataclass(frozen=True, slots=True)
class User:
    # As stored: lower-case when registered here; an account of the original backend
    # keeps the name it was created with (any case, spaces, unicode, `/`).
    username: str
    name: str
    password_hash: str
    # Bumped to refuse every token issued before (password change, account deletion).
    token_version: int = 0
    created_at: int = 0  # epoch seconds; 0 when unknown


@dataclass(frozen=True, slots=True)
class LoginFailures:
    count: int
    locked_until: float  # epoch seconds; 0 when not locked


class UserRepository(Protocol):
    def get(self, username: str) -> User | None: ...

    def create(self, user: User) -> None:
        """Store a new user; raise ``UserExists`` if the username is taken (atomically)."""
        ...

    def update_password(self, username: str, password_hash: str, *, bump_version: bool) -> User:
        """Replace the hash; with ``bump_version`` every earlier token is refused."""
        ...

    def bump_token_version(self, username: str) -> None: ...

    def delete(self, username: str) -> None: ...


class AuthStateStore(Protocol):
    """Short-lived state that must hold across processes: login failures, revoked tokens."""

    def login_failures(self, username: str, *, now: float) -> LoginFailures: ...

    def record_failure(self, username: str, *, now: float) -> int:
        """Count one more consecutive failure (atomically); return the new count."""
        ...

    def lock(self, username: str, *, until: float, now: float) -> None: ...

    def reset_failures(self, username: str) -> None: ...

    def revoke(self, token_id: str, *, expires_at: int) -> None: ...

    def is_revoked(self, token_id: str, *, now: float) -> bool: ...


class TokenStateReader(Protocol):
    """What a token check needs to know, in as few requests as the store allows."""

    def token_state(self, username: str, token_id: str, *, now: float) -> tuple[User | None, bool]:
        """The user ``username`` (None if gone) and whether ``token_id`` is revoked."""
        ...


@dataclass(frozen=True, slots=True)
class SyncKey:
    """A host key an Anki client syncs with; only its hash is ever stored."""

    key_hash: str  # SHA-256 of the key, hex
    username: str
    device: str  # the client's version string, as it named itself when logging in
    created_at: int  # epoch seconds
    last_used: int  # epoch seconds
    token_version: int  # the user's token version at issue: a password change revokes it


@runtime_checkable
class SyncKeyStore(Protocol):
    """Sync host keys, by hash, and the list of each user's keys (no scan needed)."""

    def add_sync_key(self, key: SyncKey) -> None: ...

    def get_sync_key(self, key_hash: str) -> SyncKey | None: ...

    def touch_sync_key(self, key_hash: str, *, now: int) -> None:
        """Record a use of the key (its ``last_used``); nothing if it is gone."""
        ...

    def list_sync_keys(self, username: str) -> list[SyncKey]: ...

    def delete_sync_key(self, username: str, key_hash: str) -> None: ...

    def delete_sync_keys(self, username: str) -> None:
        """Remove every key of ``username`` (the account is deleted)."""
        ...


def sync_state_key(username: str) -> str:
    """Auth-state key of a learner's normal sync in progress (one at a time)."""
    return f"syncstate#{username}"


# A sync left unfinished is forgotten after this long.
SYNC_STATE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class SyncState:
    """A normal sync in progress, as every instance serving its calls sees it.

    ``session`` is the client's per-run key (the ``s`` of its header); ``version``
    counts the updates of the state, and every update is conditional on it, so two
    instances never both advance one sync. ``data`` is the rest, as JSON text: what
    the sync layer (api/sync/normal.py) keeps between calls.
    """

    username: str
    session: str
    version: int
    data: str
    expires_at: int


class SyncStateConflict(Exception):
    """The sync state is not the one expected: another sync replaced it, or it is gone."""


@runtime_checkable
class SyncStateStore(Protocol):
    """At most one normal sync per learner, shared by every process."""

    def put_sync_state(self, state: SyncState) -> None:
        """Store ``state``, replacing any other sync of the learner."""
        ...

    def get_sync_state(self, username: str, *, now: float) -> SyncState | None: ...

    def update_sync_state(self, state: SyncState, *, expected_version: int) -> None:
        """Replace the learner's state if it still has ``state.session`` and
        ``expected_version``; ``SyncStateConflict`` otherwise."""
        ...

    def delete_sync_state(self, username: str, session: str | None = None) -> None:
        """Forget the learner's sync (only if it is ``session``'s, when given)."""
        ...
