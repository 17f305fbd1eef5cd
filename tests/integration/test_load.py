"""20 learners x 50 mixed requests on 2 app instances, checked like Jepsen would.

Each learner keeps a ledger of what the service acknowledged (cards added, answers
applied); afterwards the service must hold exactly that: nothing lost, nothing twice.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support.app_server import PASSWORD, AppServer, signed_up

pytestmark = [pytest.mark.integration, pytest.mark.load]

LEARNERS = 20
REQUESTS_EACH = 50


@dataclass
class Ledger:
    added: list[int] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)


def learner_session(servers: tuple[AppServer, AppServer], name: str, ledger: Ledger) -> None:
    rng = random.Random(name)
    auth = signed_up(servers[0], name)
    clients = [httpx.Client(base_url=s.url, headers=auth, timeout=60) for s in servers]
    try:
        for i in range(REQUESTS_EACH):
            client = clients[i % 2]  # alternate instances: every request may find a stale cache
            roll = rng.random()
            if roll < 0.35 or not ledger.added:
                response = client.post("/api/cards", json={"front": f"{name}-{i}", "back": "a"})
                ledger.statuses[response.status_code] += 1
                if response.status_code == 201:
                    ledger.added.append(int(response.json()["cardId"]))
            elif roll < 0.65:
                shown = client.get("/api/review")
                ledger.statuses[shown.status_code] += 1
                card = shown.json().get("card") if shown.status_code == 200 else None
                if card is not None:
                    answer(client, card["cardId"], ledger)
            elif roll < 0.8:
                response = client.get("/api/decks/1/stats")
                ledger.statuses[response.status_code] += 1
            else:
                response = client.get("/api/decks/1/cards", params={"perPage": 5})
                ledger.statuses[response.status_code] += 1
    finally:
        for client in clients:
            client.close()


def answer(client: httpx.Client, card_id: int, ledger: Ledger) -> None:
    key = uuid.uuid4().hex
    for _ in range(10):
        response = client.post(
            "/api/review",
            json={"cardId": card_id, "ease": 3, "timeTaken": 800},
            headers={"Idempotency-Key": key},
        )
        ledger.statuses[response.status_code] += 1
        if response.status_code == 200:
            if not response.json()["repeated"]:
                ledger.answers[card_id] += 1
            return
        if response.status_code != 409:
            return


def test_many_learners_on_two_instances(two_instances: tuple[AppServer, AppServer]) -> None:
    ledgers = {f"learner{n:02d}": Ledger() for n in range(LEARNERS)}
    threads = [
        threading.Thread(target=learner_session, args=(two_instances, name, ledger))
        for name, ledger in ledgers.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)

    statuses = sum((ledger.statuses for ledger in ledgers.values()), Counter())
    assert not [s for s in statuses if s >= 500], statuses
    assert sum(statuses.values()) >= LEARNERS * REQUESTS_EACH

    b = two_instances[1]
    for name, ledger in ledgers.items():
        token = httpx.post(
            f"{b.url}/api/login", json={"username": name, "password": PASSWORD}, timeout=60
        ).json()["access_token"]
        with httpx.Client(
            base_url=b.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as client:
            listing = client.get("/api/decks/1/cards", params={"perPage": 500}).json()
            stored = sorted(card["cardId"] for card in listing["cards"])
            assert stored == sorted(ledger.added), name  # no acknowledged card lost or extra
            for card_id in ledger.added:
                reviews = client.get(f"/api/cards/{card_id}").json()["reviews"]
                assert reviews == ledger.answers[card_id], (name, card_id)  # each answer once
