"""The real app under faults injected on the wire between it and AWS (a moto server).

Each fault gives the learner a clear 503 with Retry-After (or the right success), no
traceback, nothing lost or duplicated, and service resumes when the fault clears.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.support.aws_env import provision
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.moto_server import MotoServer
from tests.support.stored import open_bytes, stored_collection_s3

pytestmark = pytest.mark.integration


@pytest.fixture
def env(moto_server: MotoServer, tmp_path: Path, proxy: FaultProxy) -> dict[str, str]:
    return {
        **provision(moto_server, tmp_path),
        "AWS_ENDPOINT_URL": proxy.url,
        "JAVUMBO_AWS_READ_TIMEOUT": "2",
    }


@pytest.fixture
def app(env: dict[str, str], tmp_path: Path) -> Iterator[AppServer]:
    server = AppServer(env, cwd=tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def learner(app: AppServer) -> httpx.Client:
    client = httpx.Client(base_url=app.url, headers=signed_up(app, "alice"), timeout=30)
    assert client.get("/api/decks").status_code == 200  # warm: cache and clients built
    return client


def stored_fronts(env: dict[str, str], moto: MotoServer, tmp_path: Path) -> list[str]:
    """The card fronts in the collection as S3 holds it (snapshot and log), read behind
    the app's back."""
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
    conn = open_bytes(stored_collection_s3(s3, env["JAVUMBO_BUCKET"], "user_dbs/alice.anki2"))
    try:
        return sorted(row[0].split("\x1f")[0] for row in conn.execute("select flds from notes"))
    finally:
        conn.close()


def assert_clear_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert "Traceback" not in response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "fault",
    [
        Fault("PUT", "status", status=500, times=10),
        Fault("PUT", "status", status=503, code="SlowDown", times=10),
        Fault("PUT", "reset", times=10),
    ],
    ids=["500", "503-slowdown", "reset"],
)
def test_failing_uploads_are_503_and_lose_nothing(
    learner: httpx.Client,
    proxy: FaultProxy,
    env: dict[str, str],
    moto_server: MotoServer,
    tmp_path: Path,
    fault: Fault,
) -> None:
    assert learner.post("/api/cards", json={"front": "kept", "back": "a"}).status_code == 201
    proxy.inject(fault)
    assert_clear_503(learner.post("/api/cards", json={"front": "refused", "back": "a"}))
    proxy.clear()
    # What the learner sees and what S3 holds agree: the refused card is nowhere.
    assert stored_fronts(env, moto_server, tmp_path) == ["kept"]
    listed = learner.get("/api/decks/1/cards").json()["cards"]
    assert [c["front"] for c in listed] == ["kept"]
    assert learner.post("/api/cards", json={"front": "after", "back": "a"}).status_code == 201
    assert stored_fronts(env, moto_server, tmp_path) == ["after", "kept"]


@pytest.mark.parametrize(
    "fault",
    [
        Fault("GET", "status", status=500, times=10),
        Fault("GET", "reset", times=10),
        Fault("GET", "slow", delay=3.0, times=10),
    ],
    ids=["500", "reset", "slow"],
)
def test_failing_reads_are_503_then_resume(
    learner: httpx.Client, proxy: FaultProxy, fault: Fault
) -> None:
    proxy.inject(fault)
    assert_clear_503(learner.get("/api/decks"))
    proxy.clear()
    assert learner.get("/api/decks").status_code == 200


def test_a_put_slower_than_the_timeout_is_found_to_have_landed(
    learner: httpx.Client,
    proxy: FaultProxy,
    env: dict[str, str],
    moto_server: MotoServer,
    tmp_path: Path,
) -> None:
    # Every attempt reaches S3 only after the app stopped waiting: the outcome is
    # unknown until the app looks. It finds its own write, so the answer is a success,
    # and the card is there once.
    proxy.inject(Fault("PUT", "slow", delay=3.0, times=10))
    response = learner.post("/api/cards", json={"front": "slow", "back": "a"})
    assert response.status_code == 201, response.text
    proxy.clear()
    assert stored_fronts(env, moto_server, tmp_path) == ["slow"]


def test_a_slow_but_timely_s3_is_only_slow(learner: httpx.Client, proxy: FaultProxy) -> None:
    proxy.inject(Fault("PUT", "slow", delay=0.5))
    assert learner.post("/api/cards", json={"front": "late", "back": "a"}).status_code == 201


def test_conditional_request_conflict_is_retried_transparently(
    learner: httpx.Client,
    proxy: FaultProxy,
    env: dict[str, str],
    moto_server: MotoServer,
    tmp_path: Path,
) -> None:
    proxy.inject(Fault("PUT", "status", status=409, code="ConditionalRequestConflict", times=2))
    assert learner.post("/api/cards", json={"front": "once", "back": "a"}).status_code == 201
    assert stored_fronts(env, moto_server, tmp_path) == ["once"]


def test_applied_put_with_lost_answer_is_reported_once(
    learner: httpx.Client,
    proxy: FaultProxy,
    env: dict[str, str],
    moto_server: MotoServer,
    tmp_path: Path,
) -> None:
    proxy.inject(Fault("PUT", "forward_then_reset"))
    response = learner.post("/api/cards", json={"front": "exactly once", "back": "a"})
    assert response.status_code == 201  # botocore retried; the 412 was recognised as ours
    assert stored_fronts(env, moto_server, tmp_path) == ["exactly once"]
    card = learner.get(f"/api/cards/{response.json()['cardId']}")
    assert card.status_code == 200


@pytest.mark.parametrize(
    "fault",
    [
        Fault("POST", "status", status=500, target="DynamoDB", times=20),
        Fault(
            "POST", "status", status=400, code="ThrottlingException", target="DynamoDB", times=20
        ),
        Fault("POST", "slow", delay=3.0, target="DynamoDB", times=20),
    ],
    ids=["500", "throttled", "slow"],
)
def test_failing_dynamodb_is_503_and_resumes(
    learner: httpx.Client, proxy: FaultProxy, fault: Fault
) -> None:
    proxy.inject(fault)
    assert_clear_503(learner.get("/api/me"))
    assert_clear_503(
        httpx.post(
            f"{learner.base_url}/api/login",
            json={"username": "alice", "password": PASSWORD},
            timeout=30,
        )
    )
    proxy.clear()
    assert learner.get("/api/me").status_code == 200
