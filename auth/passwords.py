"""Password hashing with passlib.

``bcrypt_sha256`` pre-hashes with HMAC-SHA256, so every byte of a long password
counts (plain bcrypt silently ignores everything after byte 72). Hashes made with an
older scheme or cost are upgraded on the next successful login.

Plain bcrypt hashes (``$2b$``, ``$2a$``, ``$2y$``: the original backend's, made with
the ``bcrypt`` library) are checked the way that library made them: on the first 72
bytes of the UTF-8 password, NUL bytes included. passlib cannot do that with
``bcrypt`` 5, which refuses longer passwords where earlier versions truncated them,
and passlib refuses NUL bytes; either refusal would turn a login into an error.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passlib.context import CryptContext

log = logging.getLogger(__name__)

DEFAULT_ROUNDS = 12
# Plain bcrypt reads no more of the password than this.
BCRYPT_MAX_BYTES = 72


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
        """Return (matches, replacement hash if the stored one should be upgraded).

        A stored hash in no known format never matches (and costs what a wrong
        password costs); it is logged, not raised, so that a login answers 401.
        """
        context, dummy = self._context()
        scheme = context.identify(password_hash) if password_hash else None
        if password_hash is None or scheme is None:
            if password_hash is not None:
                log.warning("a stored password hash is in no known format")
            context.verify(password, dummy)
            return False, None
        if scheme == "bcrypt":
            ok = _plain_bcrypt_matches(password, password_hash)
            return ok, str(context.hash(password)) if ok else None
        try:
            matched, new_hash = context.verify_and_update(password, password_hash)
        except ValueError:  # passlib's MalformedHashError: recognised, but damaged
            log.warning("a stored %s hash is malformed", scheme)
            return False, None
        return bool(matched), new_hash


def _plain_bcrypt_matches(password: str, password_hash: str) -> bool:
    """Check a plain bcrypt hash as the ``bcrypt`` library made it (see the module doc)."""
    import bcrypt

    secret = password.encode("utf-8")[:BCRYPT_MAX_BYTES]
    try:
        return bool(bcrypt.checkpw(secret, password_hash.encode("ascii")))
    except (ValueError, UnicodeEncodeError):  # a malformed hash: invalid salt or cost
        log.warning("a stored bcrypt hash is malformed")
        return False
