"""Users of the original backend log in from its DynamoDB items, unchanged but for the hash.

Its items are ``{username, name, password_hash: plain bcrypt $2b$12$, created_at: an
ISO-8601 string}`` with no ``token_version``, and its usernames were any 1-20
characters: upper case, spaces, unicode, ``@``, ``/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest
from moto import mock_aws

from auth.accounts import Accounts
from auth.dynamodb import DynamoAuthStateStore, DynamoUserRepository, _user
from auth.errors import InvalidCredentials, TooManyAttempts
from auth.passwords import PasswordHasher
from auth.tokens import TokenService
from tests.support.api_rig import SECRET, dynamodb_tables

PASSWORD = "old backend password"
CREATED_AT = "2024-03-05T14:22:10.123456"


def seed_item(username: str, password: str = PASSWORD, *, rounds: int = 4) -> dict[str, Any]:
    """A users-table item exactly as the original backend wrote it."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()
    return {
        "username": {"S": username},
        "name": {"S": f"{username} (name)"},
        "password_hash": {"S": hashed},
        "created_at": {"S": CREATED_AT},
    }


class Seeded:
    def __init__(self, users: DynamoUserRepository, auth_state: DynamoAuthStateStore) -> None:
        self.users = users
        self.accounts = Accounts(
            users, auth_state, PasswordHasher(rounds=4), TokenService(SECRET), clock=self.now
        )
        self.time = time.time()

    def now(self) -> float:
        return self.time

    def put(self, item: dict[str, Any]) -> None:
        self.users.client.put_item(TableName=self.users.table, Item=item)

    def item(self, username: str) -> dict[str, Any]:
        return dict(
            self.users.client.get_item(
                TableName=self.users.table, Key={"username": {"S": username}}
            )["Item"]
        )


@pytest.fixture
def seeded() -> Iterator[Seeded]:
    with mock_aws():
        yield Seeded(*dynamodb_tables())


@pytest.mark.parametrize("username", ["bob", "Bob", "Maria José", "ana@lab.org", "Ana/Lab1"])
def test_an_old_user_logs_in_and_only_the_hash_changes(seeded: Seeded, username: str) -> None:
    before = seed_item(username)
    seeded.put(before)

    session = seeded.accounts.login(username, PASSWORD)

    assert session.user.username == username
    assert session.user.created_at == 1709648530  # the ISO string, read as UTC
    claims = seeded.accounts.tokens.decode(session.access_token)
    assert claims.username == username  # the stored name, not a normalised one
    user, _ = seeded.accounts.authenticate(session.access_token)
    assert user.username == username

    after = seeded.item(username)
    assert after["password_hash"]["S"].startswith("$bcrypt-sha256$")
    assert after["token_version"] == {"N": "0"}
    unchanged = {k: v for k, v in after.items() if k not in ("password_hash", "token_version")}
    assert unchanged == {k: v for k, v in before.items() if k != "password_hash"}
    assert after["created_at"] == {"S": CREATED_AT}

    again = seeded.accounts.login(username, PASSWORD)  # now on the upgraded hash
    assert again.user.password_hash == after["password_hash"]["S"]
    with pytest.raises(InvalidCredentials):
        seeded.accounts.login(username, "not the password")


def test_a_cost_12_hash_from_the_bcrypt_library_is_accepted(seeded: Seeded) -> None:
    seeded.put(seed_item("carol", rounds=12))
    assert seeded.accounts.login("carol", PASSWORD).user.username == "carol"
    assert seeded.item("carol")["password_hash"]["S"].startswith("$bcrypt-sha256$")


def test_the_exact_name_wins_then_the_lower_case_one(seeded: Seeded) -> None:
    # The old backend compared names exactly, so "Bob" and "bob" may both exist.
    seeded.put(seed_item("Bob", "password of Bob"))
    seeded.put(seed_item("bob", "password of bob"))
    seeded.put(seed_item("alice"))

    assert seeded.accounts.login("Bob", "password of Bob").user.username == "Bob"
    assert seeded.accounts.login("bob", "password of bob").user.username == "bob"
    # No "BOB" and no "Alice": the lower-case name, as for accounts registered here.
    assert seeded.accounts.login("BOB", "password of bob").user.username == "bob"
    assert seeded.accounts.login("  Alice ", PASSWORD).user.username == "alice"
    with pytest.raises(InvalidCredentials):
        seeded.accounts.login("BOB", "password of Bob")


def test_a_registered_lower_case_name_does_not_hide_an_old_mixed_case_one(
    seeded: Seeded,
) -> None:
    seeded.put(seed_item("Maria"))
    seeded.accounts.register("maria", "Maria Too", "a brand new password")
    assert seeded.accounts.login("Maria", PASSWORD).user.username == "Maria"
    assert seeded.accounts.login("maria", "a brand new password").user.username == "maria"


def test_failures_count_per_stored_account_whatever_the_spelling(seeded: Seeded) -> None:
    seeded.put(seed_item("dora"))
    for spelling in ("Dora", "dora", "DORA", " dora", "dOra"):
        with pytest.raises(InvalidCredentials):
            seeded.accounts.login(spelling, "wrong")
    # Five failures in a row, spread over spellings: the sixth is paused for all of them.
    for spelling in ("dora", "Dora"):
        with pytest.raises(TooManyAttempts):
            seeded.accounts.login(spelling, PASSWORD)
    seeded.time += 31
    assert seeded.accounts.login("DORA", PASSWORD).user.username == "dora"


@pytest.mark.parametrize("username", ["", "   ", "x" * 65, "x" * 5000])
def test_names_nobody_can_have_are_wrong_credentials_not_errors(
    seeded: Seeded, username: str
) -> None:
    with pytest.raises(InvalidCredentials):
        seeded.accounts.login(username, PASSWORD)


@pytest.mark.parametrize(
    ("created_at", "seconds"),
    [
        ({"S": "2024-03-05T14:22:10.123456"}, 1709648530),
        ({"S": "2024-03-05T14:22:10Z"}, 1709648530),
        ({"S": "2024-03-05T15:22:10+01:00"}, 1709648530),
        ({"S": "2024-03-05"}, 1709596800),
        ({"S": "1709648530"}, 1709648530),
        ({"N": "1709648530"}, 1709648530),
        ({"N": "1709648530.75"}, 1709648530),
        ({"S": "not a date"}, 0),
        ({"S": "NaN"}, 0),
        (None, 0),
    ],
)
def test_created_at_is_read_from_either_backend(
    created_at: dict[str, str] | None, seconds: int
) -> None:
    item: dict[str, Any] = {
        "username": {"S": "u"},
        "name": {"S": "U"},
        "password_hash": {"S": "h"},
    }
    if created_at is not None:
        item["created_at"] = created_at
    assert _user(item).created_at == seconds


def test_an_item_without_name_or_hash_reads_and_refuses_every_password(seeded: Seeded) -> None:
    seeded.put({"username": {"S": "bare"}, "created_at": {"S": CREATED_AT}})
    user = seeded.users.get("bare")
    assert user is not None and user.name == "bare" and user.password_hash == ""
    with pytest.raises(InvalidCredentials):
        seeded.accounts.login("bare", "")
