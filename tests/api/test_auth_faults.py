"""Accounts when S3 or DynamoDB fail, with faults injected on the wire to a moto server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from api.user_collection import UserCollection, collection_key
from auth.local import LocalUserStore
from storage.objects import ObjectNotFound, StoredObject
from storage.s3 import S3ObjectStore
from tests.conftest import s3_client_for
from tests.support.api_rig import PASSWORD, Rig, build_rig, dynamodb_tables
from tests.support.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_rig(tmp_path: Path, bucket: str, proxy: FaultProxy) -> Iterator[Rig]:
    users = LocalUserStore(tmp_path / "users.sqlite3")
    yield from build_rig(tmp_path, users, users, S3ObjectStore(s3_client_for(proxy.url), bucket))


def test_registration_survives_a_failed_collection_upload(s3_rig: Rig, proxy: FaultProxy) -> None:
    proxy.inject(Fault("PUT", "status", status=500, times=1))
    response = s3_rig.client.post(
        "/api/register", json={"username": "alice", "name": "Alice", "password": PASSWORD}
    )
    assert response.status_code == 201
    with pytest.raises(ObjectNotFound):
        s3_rig.store.get(collection_key("alice"))
    # The learner can sign in, and the collection is created on first use.
    assert s3_rig.login("alice")
    collection = UserCollection(s3_rig.services.session, "alice")
    assert collection.read(lambda conn: conn.execute("SELECT ver FROM col").fetchone()[0]) == 11
    assert isinstance(s3_rig.store.get(collection_key("alice")), StoredObject)


@pytest.fixture
def dynamo_rig(tmp_path: Path, proxy: FaultProxy) -> Iterator[Rig]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=proxy.url,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
    )
    users, auth_state = dynamodb_tables(client)
    from storage.local import LocalObjectStore

    yield from build_rig(tmp_path, users, auth_state, LocalObjectStore(tmp_path / "objects"))


@pytest.mark.parametrize(
    "fault",
    [
        Fault("POST", "status", status=500, times=10),
        Fault("POST", "status", status=400, code="ThrottlingException", times=10),
        Fault("POST", "reset", times=10),
    ],
    ids=["500", "throttled", "reset"],
)
def test_failing_dynamodb_is_503_and_service_resumes(
    dynamo_rig: Rig, proxy: FaultProxy, fault: Fault
) -> None:
    dynamo_rig.register("alice")
    proxy.inject(fault)
    for call in (
        lambda: dynamo_rig.client.post(
            "/api/register", json={"username": "bob", "name": "Bob", "password": PASSWORD}
        ),
        lambda: dynamo_rig.client.post(
            "/api/login", json={"username": "alice", "password": PASSWORD}
        ),
    ):
        response = call()
        assert response.status_code == 503, response.text
        assert int(response.headers["Retry-After"]) > 0
        assert "Traceback" not in response.text
    fault.times = 0
    assert dynamo_rig.login("alice")
    dynamo_rig.register("bob")
