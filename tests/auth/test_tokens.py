"""Every kind of forged or stale token is refused, and a good one is accepted."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from jose import jwt

from auth.errors import InvalidToken, SigningKeyError
from auth.tokens import ALGORITHM, AUDIENCE, ISSUER, TokenService

SECRET = "s" * 40


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "jti": "abc",
        "ver": 0,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_issued_token_decodes_to_its_claims() -> None:
    service = TokenService(SECRET, ttl_seconds=3600)
    decoded = service.decode(service.issue("alice", 3))
    assert decoded.username == "alice"
    assert decoded.token_version == 3
    assert decoded.expires_at - decoded.issued_at == 3600
    assert len(decoded.token_id) >= 16


def test_each_token_gets_its_own_id() -> None:
    service = TokenService(SECRET)
    assert (
        service.decode(service.issue("a", 0)).token_id
        != service.decode(service.issue("a", 0)).token_id
    )


FORGERIES = {
    "wrong-secret": lambda: jwt.encode(claims(), "x" * 40, algorithm=ALGORITHM),
    "alg-none": lambda: f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}.",
    "hs512": lambda: jwt.encode(claims(), SECRET, algorithm="HS512"),
    "wrong-audience": lambda: jwt.encode(claims(aud="someone-else"), SECRET, algorithm=ALGORITHM),
    "wrong-issuer": lambda: jwt.encode(claims(iss="evil"), SECRET, algorithm=ALGORITHM),
    "expired": lambda: jwt.encode(
        claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        SECRET,
        algorithm=ALGORITHM,
    ),
    "no-exp": lambda: jwt.encode(claims(exp=None), SECRET, algorithm=ALGORITHM),
    "no-jti": lambda: jwt.encode(claims(jti=None), SECRET, algorithm=ALGORITHM),
    "no-version": lambda: jwt.encode(claims(ver=None), SECRET, algorithm=ALGORITHM),
    "bad-version": lambda: jwt.encode(claims(ver="x"), SECRET, algorithm=ALGORITHM),
    "tampered-payload": lambda: ".".join(
        [
            (good := TokenService(SECRET).issue("alice", 0)).split(".")[0],
            b64(claims(sub="mallory")),
            good.split(".")[2],
        ]
    ),
    "garbage": lambda: "not.a.token",
    "empty": lambda: "",
}


@pytest.mark.parametrize("make", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_or_stale_tokens_are_refused(make: Any) -> None:
    with pytest.raises(InvalidToken):
        TokenService(SECRET).decode(make())


def test_a_correctly_made_token_passes_the_same_checks() -> None:
    # The forgeries above differ from this one in one respect each.
    decoded = TokenService(SECRET).decode(jwt.encode(claims(), SECRET, algorithm=ALGORITHM))
    assert decoded.username == "alice"


def test_short_secrets_are_refused() -> None:
    with pytest.raises(SigningKeyError, match="32 bytes"):
        TokenService("too short")
