"""Schemathesis against /openapi.json, signed in: no server error, no answer off-schema.

Every operation is fuzzed with Schemathesis' default number of examples, as a fuzz run
from the command line would; only the three that would end the session every later
case uses are left out (logout, account deletion, password change). Ids beyond
SQLite's 64-bit range once overflowed the driver (500s): every id is now bounded, and
`test_ids_out_of_sqlite_range_are_422_everywhere` tries each one at the edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from api.core.config import Settings
from api.main import LazyServices, create_app
from api.schemas.base import SQLITE_MAX_INT
from api.services import Services
from auth.accounts import Accounts
from auth.local import LocalUserStore
from auth.passwords import PasswordHasher
from auth.tokens import TokenService
from storage.cache import DiskCache
from storage.local import LocalObjectStore
from storage.media import MediaStore
from storage.session import S3SQLiteSession

pytestmark = pytest.mark.fuzz

SECRET = "fuzzing-secret-0123456789-0123456789-abcdef"
PASSWORD = "correct horse battery"


# Building the app does no I/O (its services are made on first use, below), and
# Schemathesis needs the document when the module is collected.
APP = create_app(Settings(data_dir=Path("unused"), cache_dir=Path("unused")))
schema = (
    schemathesis.openapi.from_asgi("/openapi.json", APP)
    .exclude(method="POST", path="/api/logout")
    .exclude(method="DELETE", path="/api/me")
    .exclude(method="PUT", path="/api/me/password")
)


@dataclass(frozen=True)
class SignedIn:
    app: FastAPI
    headers: dict[str, str]
    card_id: int
    deck_id: int


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedIn]:
    """The app on a private directory, one learner signed in, one deck and one card."""
    root: Path = tmp_path_factory.mktemp("fuzz")
    users = LocalUserStore(root / "users.sqlite3")
    store = LocalObjectStore(root / "objects")
    session = S3SQLiteSession(store, DiskCache(root / "c", 1 << 26))
    accounts = Accounts(users, users, PasswordHasher(rounds=4), TokenService(SECRET))
    services = Services(session=session, accounts=accounts, media=MediaStore(store))
    APP.state.services = LazyServices(lambda: services)
    app = APP
    with TestClient(app) as client:
        client.post(
            "/api/register", json={"username": "fuzzer", "name": "Fuzz", "password": PASSWORD}
        ).raise_for_status()
        token = client.post("/api/login", json={"username": "fuzzer", "password": PASSWORD}).json()[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        deck = client.post("/api/decks", json={"name": "Seed"}, headers=headers).json()["id"]
        card = client.post(
            "/api/cards", json={"front": "seed", "back": "card", "deckId": deck}, headers=headers
        ).json()["cardId"]
        yield SignedIn(app, headers, card, deck)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, signed_in: SignedIn) -> None:
    # Every check but "schema-valid data is accepted": some rules refuse valid JSON by
    # design with a documented 4xx (the default deck cannot be deleted, a deck name
    # needs a name between every `::`, a front must show something, uploads by key
    # exist on AWS only). Server errors and answers off the schema still fail.
    case.call_and_validate(
        headers=signed_in.headers,
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )


def operations_with_ids(spec: dict[str, object]) -> list[tuple[str, str]]:
    paths = spec["paths"]
    assert isinstance(paths, dict)
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if "{card_id}" in path or "{deck_id}" in path
    ]


@pytest.mark.parametrize("bad_id", [SQLITE_MAX_INT + 1, 10**30, 0])
def test_ids_out_of_sqlite_range_are_422_everywhere(signed_in: SignedIn, bad_id: int) -> None:
    """Every path id, and every id in a body or query, is bounded: 422, never a 500."""
    with TestClient(signed_in.app, raise_server_exceptions=False) as client:
        operations = operations_with_ids(client.get("/openapi.json").json())
        assert len(operations) >= 14  # cards: 9, decks: 5 (and export)
        for method, template in operations:
            path = template.replace("{card_id}", str(bad_id)).replace("{deck_id}", str(bad_id))
            response = client.request(method, path, json={}, headers=signed_in.headers)
            assert response.status_code == 422, (method, path, response.status_code)
            assert response.json()["error"]
        for method, path, body in [
            ("POST", "/api/review", {"cardId": bad_id, "ease": 3}),
            ("POST", "/api/cards", {"front": "x", "deckId": bad_id}),
            ("PUT", "/api/decks/current", {"deckId": bad_id}),
            ("POST", f"/api/cards/{signed_in.card_id}/move", {"deckId": bad_id}),
            ("GET", f"/api/review?deckId={bad_id}", None),
            ("GET", f"/api/decks/{signed_in.deck_id}/cards?page={bad_id or -1}", None),
        ]:
            response = client.request(method, path, json=body, headers=signed_in.headers)
            assert response.status_code == 422, (method, path, response.text)
        # Nothing was changed by any of them.
        card = client.get(f"/api/cards/{signed_in.card_id}", headers=signed_in.headers).json()
        assert (card["deckId"], card["reviews"]) == (signed_in.deck_id, 0)
