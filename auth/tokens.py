"""Access tokens: HS256 JWTs made and checked with python-jose."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from jose import JWTError, jwt

from auth.errors import InvalidToken, SigningKeyError

ALGORITHM = "HS256"
ISSUER = "javumbo"
AUDIENCE = "javumbo-api"
MIN_SECRET_BYTES = 32
_REQUIRED = ("sub", "exp", "iat", "iss", "aud", "jti", "ver")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    username: str
    token_id: str
    token_version: int
    issued_at: int
    expires_at: int


class TokenService:
    def __init__(self, secret: str, *, ttl_seconds: int = 3600) -> None:
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise SigningKeyError(
                f"the token signing secret must be at least {MIN_SECRET_BYTES} bytes long"
            )
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def issue(self, username: str, token_version: int, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": username,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": uuid.uuid4().hex,
            "ver": token_version,
        }
        return str(jwt.encode(claims, self._secret, algorithm=ALGORITHM))

    def decode(self, token: str) -> TokenClaims:
        """Check signature (HS256 only), expiry, issuer and audience; raise ``InvalidToken``."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require_" + name: True for name in ("exp", "iat", "sub", "jti")},
            )
        except JWTError as error:
            raise InvalidToken(str(error)) from None
        if any(name not in claims for name in _REQUIRED):
            raise InvalidToken("the token lacks required claims")
        try:
            return TokenClaims(
                username=str(claims["sub"]),
                token_id=str(claims["jti"]),
                token_version=int(claims["ver"]),
                issued_at=int(claims["iat"]),
                expires_at=int(claims["exp"]),
            )
        except (TypeError, ValueError):
            raise InvalidToken("the token's claims are malformed") from None
