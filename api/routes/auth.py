"""Signing up, signing in and out."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import AccountsDep, CurrentClaims, LearnerCollectionsDep
from api.routes._responses import SIGNED_IN, errors
from api.schemas.accounts import LoginRequest, RegisterRequest, TokenOut, UserOut
from auth.accounts import Session
from storage.objects import StorageError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["auth"])

_LOGIN_ERRORS = errors(
    _401="Wrong username or password", _429="Too many failed logins; see Retry-After"
)


def _token(session: Session) -> TokenOut:
    return TokenOut(
        access_token=session.access_token, username=session.user.username, name=session.user.name
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=errors(_409="The username is taken"),
)
def register(
    body: RegisterRequest,
    accounts: AccountsDep,
    collections: LearnerCollectionsDep,
) -> UserOut:
    """Create an account and its Anki collection (empty, or with the starter deck)."""
    user = accounts.register(body.username, body.name, body.password)
    try:
        collections.of(user.username).ensure_exists()
    except StorageError:
        # The account stands; the collection is created on first use instead.
        log.warning("collection of new user %s not created yet", user.username, exc_info=True)
    return UserOut(username=user.username, name=user.name)


@router.post("/login", responses=_LOGIN_ERRORS)
def login(body: LoginRequest, accounts: AccountsDep) -> TokenOut:
    """Exchange username and password for a bearer token."""
    return _token(accounts.login(body.username, body.password))


@router.post("/token", responses=_LOGIN_ERRORS)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], accounts: AccountsDep) -> TokenOut:
    """The same as /api/login, as an OAuth2 password form (used by /docs' Authorize)."""
    return _token(accounts.login(form.username, form.password))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=SIGNED_IN)
def logout(claims: CurrentClaims, accounts: AccountsDep) -> Response:
    """Revoke the token this request carries."""
    accounts.logout(claims)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
