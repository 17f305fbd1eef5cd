"""Fixtures shared by the whole suite."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from auth.local import LocalUserStore
from auth.users import AuthStateStore, UserRepository
from storage.local import LocalObjectStore
from tests.support.api_rig import USER_STORES, Rig, build_rig, dynamodb_tables
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer

# Tests never talk to real AWS: fake credentials and a fixed region for every client.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the moto server (directly, or through `bucket` or `proxy`) talks
    to a real server over HTTP: an integration test, whether its module says so or not."""
    for item in items:
        if "moto_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server over real HTTP for the whole run; tests use their own buckets."""
    server = MotoServer().start()
    yield server
    server.stop()


def s3_client_for(endpoint: str, attempts: int = 1):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "total_max_attempts": attempts},
            connect_timeout=2,
            read_timeout=10,
        ),
    )


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    """A fault-injecting HTTP proxy in front of the moto server."""
    proxy = FaultProxy(moto_server.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def bucket(moto_server: MotoServer, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on the moto server, named after the test."""
    # Readable, and unique even when parametrized names share their first 45 characters.
    readable = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:45]
    unique = hashlib.sha1(request.node.nodeid.encode(), usedforsecurity=False).hexdigest()[:10]
    name = f"t-{readable.strip('-')}-{unique}"
    client = s3_client_for(moto_server.url)
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    """The app with users in a local SQLite file, or in DynamoDB (moto) for tests that
    parametrize it: ``pytest.mark.parametrize("rig", USER_STORES, indirect=True)``.

    Only accounts and tokens depend on the user store, so only their tests run on both.
    """
    with mock_aws():
        users: UserRepository
        auth_state: AuthStateStore
        store = getattr(request, "param", "local")
        assert store in USER_STORES, store
        if store == "dynamodb":
            users, auth_state = dynamodb_tables()
        else:
            users = auth_state = LocalUserStore(tmp_path / "users.sqlite3")
        yield from build_rig(tmp_path, users, auth_state, LocalObjectStore(tmp_path / "objects"))
