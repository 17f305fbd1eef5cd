"""Request dependencies, each declared once as an ``Annotated`` alias."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from api.core.config import Settings
from api.services import Services
from api.user_collection import UserCollection
from auth.accounts import Accounts
from auth.errors import InvalidToken
from auth.tokens import TokenClaims
from auth.users import User
from storage.session import S3SQLiteSession

# auto_error=False: a missing token is our 401 (with our message), not FastAPI's.
_bearer = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services.get()
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> S3SQLiteSession:
    return services.session


def get_accounts(services: ServicesDep) -> Accounts:
    return services.accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


def get_authenticated(
    request: Request, accounts: AccountsDep, token: Annotated[str | None, Depends(_bearer)]
) -> tuple[User, TokenClaims]:
    if not token:
        raise InvalidToken("missing bearer token")
    user, claims = accounts.authenticate(token)
    request.state.username = user.username  # for the request's log line
    return user, claims


Authenticated = Annotated[tuple[User, TokenClaims], Depends(get_authenticated)]


def get_current_user(authenticated: Authenticated) -> User:
    return authenticated[0]


def get_current_claims(authenticated: Authenticated) -> TokenClaims:
    return authenticated[1]


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[S3SQLiteSession, Depends(get_session)]
CurrentUser = Annotated[User, Depends(get_current_user)]
CurrentClaims = Annotated[TokenClaims, Depends(get_current_claims)]


def get_new_collection(request: Request) -> Callable[[], bytes]:
    """Makes a new learner's first collection (with the starter deck, when one is set)."""
    new_collection: Callable[[], bytes] = request.app.state.new_collection
    return new_collection


NewCollectionDep = Annotated[Callable[[], bytes], Depends(get_new_collection)]


def get_user_collection(
    session: SessionDep, user: CurrentUser, new_collection: NewCollectionDep
) -> UserCollection:
    return UserCollection(session, user.username, new_collection)


CollectionDep = Annotated[UserCollection, Depends(get_user_collection)]
