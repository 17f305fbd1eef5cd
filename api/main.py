"""The composition root: reads the settings and wires concrete classes together.

Building the services is deferred to the first request that needs them, so importing
this module (a Lambda cold start) creates no AWS client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.core.config import MiB, Settings, get_settings
from api.core.cors import (
    CORS_ALLOW_HEADERS,
    CORS_ALLOW_METHODS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
)
from api.errors import install_error_handlers
from api.media import s3_presigner
from api.middleware import BodySizeLimit, SecurityHeaders
from api.observability import RequestLog, configure_request_log
from api.routes import (
    auth,
    cards,
    decks,
    health,
    me,
    media,
    msync,
    notes,
    notetypes,
    packages,
    presets,
    review,
    scheduler,
    session,
    sync,
    sync_keys,
)
from api.routes._responses import document_error_schema, errors
from api.services import Services
from api.starter import StarterDeck
from api.sync.envelope import UPLOAD_DRAIN_BYTES
from api.web import install_docs, install_web_app
from auth.accounts import Accounts
from auth.passwords import PasswordHasher
from auth.tokens import TokenService
from auth.users import AuthStateStore, SyncKeyStore, TokenStateReader, UserRepository
from collection.schema import new_collection_bytes
from storage.cache import DiskCache
from storage.media import MediaLimits, MediaStore
from storage.objects import ObjectStore
from storage.s3 import S3ObjectStore
from storage.session import LogPolicy, S3SQLiteSession
from storage.transfers import PackageTransfers, SyncDownloads


def build_object_store(settings: Settings) -> ObjectStore:
    if settings.backend == "aws":
        from storage.s3 import make_s3_client

        assert settings.bucket is not None  # guaranteed by Settings validation
        client = make_s3_client(
            connect_timeout=settings.aws_connect_timeout,
            read_timeout=settings.aws_read_timeout,
            endpoint_url=settings.aws_endpoint_url,
        )
        return S3ObjectStore(client, settings.bucket)
    from storage.local import LocalObjectStore

    return LocalObjectStore(settings.data_dir / "objects")


def build_accounts(settings: Settings) -> Accounts:
    users: UserRepository
    auth_state: AuthStateStore
    token_states: TokenStateReader | None
    sync_keys: SyncKeyStore | None
    if settings.backend == "aws":
        from auth.dynamodb import (
            DynamoAuthStateStore,
            DynamoSyncKeyStore,
            DynamoTokenStates,
            DynamoUserRepository,
            make_dynamodb_client,
        )
        from auth.signing_key import secrets_manager_secret

        assert settings.users_table is not None and settings.auth_table is not None
        client = make_dynamodb_client(
            connect_timeout=settings.aws_connect_timeout, read_timeout=settings.aws_read_timeout
        )
        users = DynamoUserRepository(client, settings.users_table)
        auth_state = DynamoAuthStateStore(client, settings.auth_table)
        token_states = DynamoTokenStates(client, settings.users_table, settings.auth_table)
        sync_keys = DynamoSyncKeyStore(client, settings.auth_table)
        if settings.jwt_secret is not None:
            secret = settings.jwt_secret.get_secret_value()
        else:
            assert settings.jwt_secret_arn is not None
            secret = secrets_manager_secret(settings.jwt_secret_arn)
    else:
        from auth.local import LocalUserStore
        from auth.signing_key import local_secret

        users = auth_state = sync_keys = LocalUserStore(settings.data_dir / "users.sqlite3")
        token_states = None
        secret = (
            settings.jwt_secret.get_secret_value()
            if settings.jwt_secret is not None
            else local_secret(settings.data_dir)
        )
    return Accounts(
        users,
        auth_state,
        PasswordHasher(settings.bcrypt_rounds),
        TokenService(secret, ttl_seconds=settings.token_ttl_seconds),
        token_states=token_states,
        sync_keys=sync_keys,
    )


def build_services(settings: Settings) -> Services:
    store = build_object_store(settings)
    cache = DiskCache(settings.cache_dir, settings.cache_max_bytes)
    transfers = None
    presigner = None
    sync_downloads = None
    if isinstance(store, S3ObjectStore):
        transfers = PackageTransfers(store.client, store.bucket)
        presigner = s3_presigner(store.client, store.bucket)
        if settings.sync_download_url is not None:
            sync_downloads = build_sync_downloads(settings, store)
    media_limits = MediaLimits(
        max_file_bytes=settings.media_max_file_bytes, max_files=settings.media_max_files
    )
    return Services(
        session=S3SQLiteSession(
            store, cache, log_policy=LogPolicy(compaction_entries=settings.compaction_entries)
        ),
        accounts=build_accounts(settings),
        media=MediaStore(store, limits=media_limits, presigner=presigner),
        transfers=transfers,
        sync_downloads=sync_downloads,
    )


def build_sync_downloads(settings: Settings, store: S3ObjectStore) -> SyncDownloads:
    import boto3

    from storage.s3 import make_presign_client

    assert settings.sync_download_url is not None
    region = boto3.session.Session().region_name or "us-east-1"
    signer = make_presign_client(region=region, endpoint_url=settings.aws_endpoint_url)
    return SyncDownloads(
        store.client, store.bucket, signer=signer, public_url=settings.sync_download_url
    )


class LazyServices:
    """Builds ``Services`` once, on first use, from any thread."""

    def __init__(self, factory: Callable[[], Services]) -> None:
        self._factory = factory
        self._services: Services | None = None
        self._lock = threading.Lock()

    def get(self) -> Services:
        if self._services is None:
            with self._lock:
                if self._services is None:
                    self._services = self._factory()
        return self._services


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Javumbo",
        summary="Anki-compatible flashcards: one real Anki collection per learner, kept in S3.",
        version="0.1.0",
        # Served from files in the app instead of a CDN (api/web.py).
        docs_url=None,
        redoc_url=None,
        responses=errors(
            _400="The body is not valid JSON",
            _413="The body is too large",
            _500="The collection could not be opened (it is not modified), or a bug",
            _503="Storage or accounts are unavailable; nothing was changed. See Retry-After",
        ),
    )
    app.state.settings = settings
    # Checked now, so that a bad file stops start-up instead of failing registrations.
    starter = StarterDeck.checked(settings.starter_deck) if settings.starter_deck else None
    app.state.new_collection = starter.collection_bytes if starter else new_collection_bytes
    app.state.starter_media = starter.media_files if starter else None
    app.state.services = LazyServices(
        (lambda: services) if services is not None else (lambda: build_services(settings))
    )
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        # A full sync upload answers its own limit with a sentence the client shows
        # (api/routes/sync.py), so the middleware lets it read (and drop) the rest.
        overrides={
            "/api/import": settings.import_max_bytes,
            "/sync/upload": UPLOAD_DRAIN_BYTES + MiB,
        },
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=list(CORS_ALLOW_METHODS),
            allow_headers=list(CORS_ALLOW_HEADERS),
            expose_headers=list(CORS_EXPOSE_HEADERS),
            max_age=CORS_MAX_AGE_SECONDS,
        )
    app.add_middleware(SecurityHeaders)
    # Added last, so outermost: it sees every answer, 413s and 500s included.
    app.add_middleware(RequestLog, on_lambda=settings.on_lambda)
    configure_request_log()
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(me.router)
    app.include_router(decks.router)
    app.include_router(presets.router)
    app.include_router(cards.router)
    app.include_router(notes.router)
    app.include_router(notetypes.router)
    app.include_router(media.router)
    app.include_router(review.router)
    app.include_router(scheduler.router)
    app.include_router(packages.router)
    app.include_router(session.router)
    app.include_router(sync_keys.router)
    app.include_router(sync.router)
    app.include_router(msync.router)
    install_docs(app)
    if settings.web_dir is not None:
        install_web_app(app, settings.web_dir)
    document_error_schema(app)
    return app


app = create_app()
