"""What can go wrong with identity; ``api/errors.py`` maps each onto HTTP."""

from __future__ import annotations


class AuthError(Exception):
    """Base class of identity failures."""


class UserExists(AuthError):
    """The username is taken (usernames compare case-insensitively)."""


class UserNotFound(AuthError):
    """No user has this username."""


class InvalidCredentials(AuthError):
    """Wrong username or password; deliberately does not say which."""


class InvalidToken(AuthError):
    """The bearer token is missing, malformed, expired, forged or revoked."""


class TooManyAttempts(AuthError):
    """Logins for this username are paused after repeated failures."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry after {retry_after}s")
        self.retry_after = retry_after


class AuthStoreUnavailable(AuthError):
    """The user store (DynamoDB) failed or could not be reached."""


class SigningKeyError(AuthError):
    """The token signing secret is missing or too weak; the app cannot start."""


class InvalidSyncKey(AuthError):
    """A sync host key that is unknown, revoked, or outdated by a password change."""


class SyncKeyNotFound(AuthError):
    """The learner has no sync host key with this id."""
