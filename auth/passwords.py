"""Password hashing with passlib.

``bcrypt_sha256`` pre-hashes with HMAC-SHA256, so every byte of a long password
counts (plain bcrypt silently ignores everything after byte 72). Hashes made with an
older scheme or cost are upgraded on the next successful login.
"""

from __future__ import annotations

from passlib.context import CryptContext

DEFAULT_ROUNDS = 12


class PasswordHasher:
    def __init__(self, rounds: int = DEFAULT_ROUNDS) -> None:
        self._context = CryptContext(
            schemes=["bcrypt_sha256", "bcrypt"],
            deprecated=["bcrypt"],
            bcrypt_sha256__rounds=rounds,
            bcrypt__rounds=rounds,
        )
        # Verified against when the user does not exist, so that an unknown username
        # costs the same time as a wrong password.
        self._dummy_hash = self._context.hash("not a real password, only for timing")

    def hash(self, password: str) -> str:
        return str(self._context.hash(password))

    def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Return (matches, replacement hash if the stored one should be upgraded)."""
        if password_hash is None:
            self._context.verify(password, self._dummy_hash)
            return False, None
        ok, new_hash = self._context.verify_and_update(password, password_hash)
        return bool(ok), new_hash
