"""Two clients answering on two app instances: nothing lost, nothing applied twice."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from tests.support.app_server import AppServer, signed_up

pytestmark = pytest.mark.integration


def answer_until_acknowledged(
    client: httpx.Client, server: AppServer, card_id: int, key: str
) -> dict[str, object]:
    """What a careful client does: retry the same answer, with the same key, until 200."""
    for _ in range(20):
        response = client.post(
            f"{server.url}/api/review",
            json={"cardId": card_id, "ease": 3, "timeTaken": 1500},
            headers={"Idempotency-Key": key},
        )
        if response.status_code == 200:
            return dict(response.json())
        assert response.status_code in (409, 503), response.text
    raise AssertionError(f"card {card_id} never acknowledged")


def test_concurrent_answers_on_two_instances(two_instances: tuple[AppServer, AppServer]) -> None:
    a, b = two_instances
    headers = signed_up(a, "alice")
    with httpx.Client(headers=headers, timeout=60) as client:
        cards = [
            client.post(f"{a.url}/api/cards", json={"front": f"q{i}", "back": "a"}).json()["cardId"]
            for i in range(24)
        ]
    studied = cards[:16]
    acknowledged: list[dict[str, object]] = []
    lock = threading.Lock()

    def student(server: AppServer, mine: list[int]) -> None:
        with httpx.Client(headers=headers, timeout=60) as client:
            for card_id in mine:
                result = answer_until_acknowledged(client, server, card_id, uuid.uuid4().hex)
                with lock:
                    acknowledged.append(result)

    threads = [
        threading.Thread(target=student, args=(a, studied[0::2])),
        threading.Thread(target=student, args=(b, studied[1::2])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(acknowledged) == len(studied)
    with httpx.Client(headers=headers, timeout=60) as client:
        for card_id in studied:
            card = client.get(f"{b.url}/api/cards/{card_id}").json()
            assert card["reviews"] == 1, card  # each answered exactly once
        shown = client.get(f"{a.url}/api/review").json()
        assert shown["counts"]["learning"] == len(studied)
        assert shown["counts"]["new"] == 4  # 20 new cards a day, 16 of them studied


def test_the_same_retried_answer_on_both_instances_counts_once(
    two_instances: tuple[AppServer, AppServer],
) -> None:
    a, b = two_instances
    headers = signed_up(a, "bob")
    with httpx.Client(headers=headers, timeout=60) as client:
        card_id = client.post(f"{a.url}/api/cards", json={"front": "q", "back": "a"}).json()[
            "cardId"
        ]
    key = uuid.uuid4().hex
    results: list[dict[str, object]] = []
    barrier = threading.Barrier(4)

    def retry(server: AppServer) -> None:
        with httpx.Client(headers=headers, timeout=60) as client:
            barrier.wait()
            results.append(answer_until_acknowledged(client, server, card_id, key))

    threads = [threading.Thread(target=retry, args=(s,)) for s in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == 4
    assert len({r["revlogId"] for r in results}) == 1
    assert sum(1 for r in results if not r["repeated"]) == 1
    with httpx.Client(headers=headers, timeout=60) as client:
        assert client.get(f"{b.url}/api/cards/{card_id}").json()["reviews"] == 1
