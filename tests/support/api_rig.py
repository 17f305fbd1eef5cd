"""An app under test (TestClient) on the local collection store, with either user store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from fastapi.testclient import TestClient

from api.core.config import Settings
from api.main import create_app
from api.services import Services
from auth.accounts import Accounts
from auth.dynamodb import DynamoAuthStateStore, DynamoTokenStates, DynamoUserRepository
from auth.passwords import PasswordHasher
from auth.tokens import TokenService
from auth.users import AuthStateStore, UserRepository
from storage.cache import DiskCache
from storage.media import MediaStore
from storage.objects import ObjectStore
from storage.session import S3SQLiteSession

SECRET = "test-signing-secret-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery"
# The user stores the `rig` fixture can put accounts in (local is the default).
USER_STORES = ("local", "dynamodb")


@dataclass
class Clock:
    """Real time plus an offset the test can move forward."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Rig:
    client: TestClient
    services: Services
    store: ObjectStore
    clock: Clock
    data_dir: Path

    def register(self, username: str, name: str | None = None, password: str = PASSWORD) -> None:
        response = self.client.post(
            "/api/register",
            json={"username": username, "name": name or username.title(), "password": password},
        )
        assert response.status_code == 201, response.text

    def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        response = self.client.post("/api/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    def signed_up(self, username: str) -> dict[str, str]:
        self.register(username)
        return self.login(username)


def dynamodb_tables(
    client: Any = None,
) -> tuple[DynamoUserRepository, DynamoAuthStateStore]:
    client = client or boto3.client("dynamodb", region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]  # tables outlive a test on a shared moto server
    client.create_table(
        TableName=f"users-{suffix}",
        KeySchema=[{"AttributeName": "username", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "username", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(
        TableName=f"auth-{suffix}",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return (
        DynamoUserRepository(client, f"users-{suffix}"),
        DynamoAuthStateStore(client, f"auth-{suffix}"),
    )


def token_states_of(users: UserRepository, auth_state: AuthStateStore) -> DynamoTokenStates | None:
    """What the service reads a token's state with: one BatchGetItem on DynamoDB (as
    api/main.py builds it), the two look-ups side by side otherwise."""
    if isinstance(users, DynamoUserRepository) and isinstance(auth_state, DynamoAuthStateStore):
        return DynamoTokenStates(users.client, users.table, auth_state.table)
    return None


def build_rig(
    tmp_path: Path, users: UserRepository, auth_state: AuthStateStore, store: ObjectStore
) -> Iterator[Rig]:
    clock = Clock()
    accounts = Accounts(
        users,
        auth_state,
        PasswordHasher(rounds=4),
        TokenService(SECRET),
        clock=clock,
        token_states=token_states_of(users, auth_state),
    )
    session = S3SQLiteSession(store, DiskCache(tmp_path / "cache", 64 * 1024 * 1024))
    services = Services(session=session, accounts=accounts, media=MediaStore(store))
    settings = Settings(backend="local", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    with TestClient(create_app(settings, services), raise_server_exceptions=False) as client:
        yield Rig(client, services, store, clock, tmp_path)
