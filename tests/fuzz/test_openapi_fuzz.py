"""Schemathesis against /openapi.json, signed in: no server error, no answer off-schema."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from api.core.config import Settings
from api.main import create_app
from api.services import Services
from auth.accounts import Accounts
from auth.local import LocalUserStore
from auth.passwords import PasswordHasher
from auth.tokens import TokenService
from storage.cache import DiskCache
from storage.local import LocalObjectStore
from storage.session import S3SQLiteSession

pytestmark = pytest.mark.fuzz

SECRET = "fuzzing-secret-0123456789-0123456789-abcdef"
PASSWORD = "correct horse battery"


def signed_in_app() -> tuple[FastAPI, str]:
    """An app on a private temporary directory, with one learner signed in."""
    root = Path(tempfile.mkdtemp(prefix="javumbo-fuzz-"))
    atexit.register(shutil.rmtree, root, True)
    users = LocalUserStore(root / "users.sqlite3")
    session = S3SQLiteSession(LocalObjectStore(root / "objects"), DiskCache(root / "c", 1 << 26))
    accounts = Accounts(users, users, PasswordHasher(rounds=4), TokenService(SECRET))
    app = create_app(
        Settings(data_dir=root, cache_dir=root / "c"), Services(session=session, accounts=accounts)
    )
    client = TestClient(app)
    client.post(
        "/api/register", json={"username": "fuzzer", "name": "Fuzz", "password": PASSWORD}
    ).raise_for_status()
    token = client.post("/api/login", json={"username": "fuzzer", "password": PASSWORD}).json()[
        "access_token"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    client.post("/api/cards", json={"front": "seed", "back": "card"}, headers=headers)
    return app, token


APP, TOKEN = signed_in_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


# Deleting the account or logging out would end the session every later case uses.
@schema.exclude(path_regex=r"^/api/(me|logout)$", method=r"DELETE|POST").parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})
