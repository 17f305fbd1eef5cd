"""Password hashing with passlib.

``bcrypt_sha256`` pre-hashes with HMAC-SHA256, so every byte of a long password
counts (plain bcrypt silently ignores everything after byte 72). Hashes made with an
older scheme or cost are upgraded on the next successful login.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passlib.context import CryptContext

DEFAULT_ROUNDS = 12


class PasswordHasher:
    """Hashes and verifies passwords; builds nothing until a password is first handled.

    Most requests carry a token and never touch a password, so a new process (a Lambda
    cold start) should not pay for passlib's import or for the dummy hash below.
    """

    def __init__(self, rounds: int = DEFAULT_ROUNDS) -> None:
        self.rounds = rounds
        self._built: tuple[CryptContext, str] | None = None
        self._lock = threading.Lock()

    def _context(self) -> tuple[CryptContext, str]:
        with self._lock:
            if self._built is None:
                from passlib.context import CryptContext

                context = CryptContext(
                    schemes=["bcrypt_sha256", "bcrypt"],
                    deprecated=["bcrypt"],
                    bcrypt_sha256__rounds=self.rounds,
                    bcrypt__rounds=self.rounds,
                )
                # Verified against when the user does not exist, so that an unknown
                # username costs the same time as a wrong password. Made on the first
                # call of either kind, so that the first call is no tell either.
                dummy = context.hash("not a real password, only for timing")
                self._built = (context, dummy)
            return self._built

    def hash(self, password: str) -> str:
        context, _ = self._context()
        return str(context.hash(password))

    def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Return (matches, replacement hash if the stored one should be upgraded)."""
        context, dummy = self._context()
        if password_hash is None:
            context.verify(password, dummy)
            return False, None
        ok, new_hash = context.verify_and_update(password, password_hash)
        return bool(ok), new_hash
