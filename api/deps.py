"""Request dependencies, each declared once as an ``Annotated`` alias.

A dependency that does not block is ``async``: FastAPI runs a plain ``def`` in its
thread pool, a hop per dependency on every request. Those that wait on a store
(building the services on first use, the token's checks) stay plain functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer

from api.core.config import Settings
from api.media import LearnerMedia
from api.services import Services
from api.user_collection import UserCollection, collection_key, start_revalidation
from auth.accounts import Accounts
from auth.errors import InvalidToken
from auth.tokens import TokenClaims
from auth.users import User
from storage.session import S3SQLiteSession

# auto_error=False: a missing token is our 401 (with our message), not FastAPI's.
_bearer = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services.get()
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_session(services: ServicesDep) -> S3SQLiteSession:
    return services.session


async def get_accounts(services: ServicesDep) -> Accounts:
    return services.accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


async def get_signed_claims(
    accounts: AccountsDep, token: Annotated[str | None, Depends(_bearer)]
) -> TokenClaims:
    """The claims of a token whose signature holds: not yet trusted (``Authenticated``)."""
    if not token:
        raise InvalidToken("missing bearer token")
    return accounts.verify_signature(token)


SignedClaims = Annotated[TokenClaims, Depends(get_signed_claims)]


def get_authenticated(
    request: Request, accounts: AccountsDep, claims: SignedClaims
) -> tuple[User, TokenClaims]:
    user = accounts.check_claims(claims)
    request.state.username = user.username  # for the request's log line
    return user, claims


Authenticated = Annotated[tuple[User, TokenClaims], Depends(get_authenticated)]


async def get_current_user(authenticated: Authenticated) -> User:
    return authenticated[0]


async def get_current_claims(authenticated: Authenticated) -> TokenClaims:
    return authenticated[1]


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[S3SQLiteSession, Depends(get_session)]
CurrentUser = Annotated[User, Depends(get_current_user)]
CurrentClaims = Annotated[TokenClaims, Depends(get_current_claims)]


async def get_new_collection(request: Request) -> Callable[[], bytes]:
    """Makes a new learner's first collection (with the starter deck, when one is set)."""
    new_collection: Callable[[], bytes] = request.app.state.new_collection
    return new_collection


NewCollectionDep = Annotated[Callable[[], bytes], Depends(get_new_collection)]
StarterMedia = Callable[[], Iterator[tuple[str, bytes]]]


async def get_arrived_at() -> float:
    """When the request reached its dependencies: what its reads must be current as of."""
    return time.time()


ArrivedAt = Annotated[float, Depends(get_arrived_at)]


async def get_prefetch(
    request: Request, session: SessionDep, claims: SignedClaims
) -> Future[float] | None:
    """For a GET, the collection's revalidation, started once the token's signature
    holds so that it overlaps the token's checks. A write starts none: its first
    attempt trusts the cache, and its conditional PUT is the check."""
    if request.method != "GET":
        return None
    return start_revalidation(session, collection_key(claims.username))


PrefetchDep = Annotated[Future[float] | None, Depends(get_prefetch)]


# FastAPI resolves these in order: the arrival time, then the revalidation (after the
# signature), then the token's checks while it runs. The routes get the collection
# only once the checks have passed.
async def get_starter_media(request: Request) -> StarterMedia | None:
    """The starter deck's media files, when a starter deck is set (api/starter.py)."""
    starter_media: StarterMedia | None = request.app.state.starter_media
    return starter_media


StarterMediaDep = Annotated[StarterMedia | None, Depends(get_starter_media)]


@dataclass(frozen=True, slots=True)
class LearnerCollections:
    """Makes a learner's ``UserCollection``, knowing what a new one starts with: an
    empty collection or the starter deck's, whose media files are stored first."""

    services: Services
    new_collection: Callable[[], bytes]
    starter_media: StarterMedia | None

    def of(
        self,
        username: str,
        *,
        current_since: float | None = None,
        prefetch: Future[float] | None = None,
    ) -> UserCollection:
        before_create = None
        if self.starter_media is not None:
            media, files = LearnerMedia(self.services.media, username), self.starter_media

            def before_create() -> None:
                media.add_many(files())

        return UserCollection(
            self.services.session,
            username,
            self.new_collection,
            current_since=current_since,
            prefetch=prefetch,
            before_create=before_create,
        )


async def get_learner_collections(
    services: ServicesDep, new_collection: NewCollectionDep, starter_media: StarterMediaDep
) -> LearnerCollections:
    return LearnerCollections(services, new_collection, starter_media)


LearnerCollectionsDep = Annotated[LearnerCollections, Depends(get_learner_collections)]


async def get_user_collection(
    collections: LearnerCollectionsDep,
    arrived_at: ArrivedAt,
    prefetch: PrefetchDep,
    user: CurrentUser,
) -> UserCollection:
    return collections.of(user.username, current_since=arrived_at, prefetch=prefetch)


CollectionDep = Annotated[UserCollection, Depends(get_user_collection)]


async def get_learner_media(services: ServicesDep, user: CurrentUser) -> LearnerMedia:
    return LearnerMedia(services.media, user.username)


MediaDep = Annotated[LearnerMedia, Depends(get_learner_media)]


async def get_media_token(accounts: AccountsDep, authenticated: Authenticated) -> str:
    """The token rendered cards put in their media links (api/media.py): it ends when
    the request's access token ends, by expiry or logout."""
    user, claims = authenticated
    return accounts.media_token(user, claims)


MediaTokenDep = Annotated[str, Depends(get_media_token)]


def get_media_reader(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Depends(_bearer)],
    t: Annotated[
        str | None, Query(description="A media token from a rendered card's link.")
    ] = None,
) -> LearnerMedia:
    """Whose media a GET may read: the bearer token's learner, or the media token's
    (`?t=`) when a browser follows a link in a rendered card."""
    accounts = services.accounts
    if token:
        claims = accounts.verify_signature(token)
    elif t:
        claims = accounts.verify_media_token(t)
    else:
        raise InvalidToken("missing bearer token")
    user = accounts.check_claims(claims)
    request.state.username = user.username
    return LearnerMedia(services.media, user.username)


MediaReaderDep = Annotated[LearnerMedia, Depends(get_media_reader)]
