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
# Media links in rendered cards (`<img src=...?t=...>`) carry a token of their own: a
# browser cannot add a bearer header to an image, and this one opens nothing but the
# learner's media files.
MEDIA_AUDIENCE = "javumbo-media"
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
        return self._issue(username, token_version, AUDIENCE, now, uuid.uuid4().hex)

    def issue_media(
        self, username: str, token_version: int, token_id: str, *, now: float | None = None
    ) -> str:
        """A token that lets a browser fetch the learner's media files, and nothing else.

        It shares `token_id` with the access token it was issued under, so logging that
        token out ends its media links too; it never outlives that token."""
        return self._issue(username, token_version, MEDIA_AUDIENCE, now, token_id)

    def _issue(
        self, username: str, token_version: int, audience: str, now: float | None, token_id: str
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": username,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "iss": ISSUER,
            "aud": audience,
            "jti": token_id,
            "ver": token_version,
        }
        return str(jwt.encode(claims, self._secret, algorithm=ALGORITHM))

    def decode(self, token: str) -> TokenClaims:
        """Check signature (HS256 only), expiry, issuer and audience; raise ``InvalidToken``."""
        return self._decode(token, AUDIENCE)

    def decode_media(self, token: str) -> TokenClaims:
        """``decode`` for a token of ``issue_media``; an API token is not one."""
        return self._decode(token, MEDIA_AUDIENCE)

    def _decode(self, token: str, audience: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=audience,
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
