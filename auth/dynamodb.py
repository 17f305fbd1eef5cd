"""Users and auth state in DynamoDB.

Users: partition key ``username``. Auth state: partition key ``pk``, with the TTL
attribute ``expires_at`` so counters and revocations clean themselves up; TTL
deletion lags, so reads also compare ``expires_at`` with the clock.

Sync host keys live in the auth table too, without ``expires_at`` (they last until
revoked): one item per key, ``synckey#<sha256 of the key>`` (username, device,
created, last used, the user's token version at issue), and one item per user,
``synckeys#<username>``, whose string set ``hashes`` lists them. The set changes by
``ADD``/``DELETE`` only, which DynamoDB applies atomically, so two devices logging in
at once both stay listed, and listing a user's keys is a GetItem and a BatchGetItem,
never a Scan. The list is written before the key item and the key item deleted before
its list entry, so a listed hash without an item (a failure in between) is only
skipped; a key item is never unlisted.

A normal sync in progress is one item per learner, ``syncstate#<username>``, with
``expires_at`` (an abandoned sync goes away by itself): the client's session key,
a version and the state as JSON text. Every update is a PutItem conditional on the
session and version read, so one sync never advances on two instances at once, and
a new sync replaces it unconditionally.

User items written by the original backend are read as they are: ``created_at`` an
ISO-8601 string rather than a number, no ``token_version``. Updates SET only what
changes (the password hash) and ADD to the version, so every other attribute of such
an item stays as that backend wrote it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from auth.errors import AuthStoreUnavailable, UserExists, UserNotFound
from auth.users import (
    FAILURE_MEMORY_SECONDS,
    LoginFailures,
    SyncKey,
    SyncState,
    SyncStateConflict,
    User,
    failures_key,
    revoked_key,
    sync_key_key,
    sync_keys_of_key,
    sync_state_key,
)

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient


def make_dynamodb_client(*, connect_timeout: float, read_timeout: float) -> DynamoDBClient:
    """A DynamoDB client; the timeouts are the settings' (api/core/config.py)."""
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    return boto3.session.Session().client("dynamodb", config=config)


@contextmanager
def _mapped_errors(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise
        raise AuthStoreUnavailable(f"DynamoDB {what} failed: {error}") from error
    except BotoCoreError as error:
        raise AuthStoreUnavailable(f"DynamoDB {what} failed: {error}") from error


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoUserRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, username: str) -> User | None:
        with _mapped_errors("GetItem"):
            item = self.client.get_item(
                TableName=self.table, Key={"username": {"S": username}}, ConsistentRead=True
            ).get("Item")
        return _user(item) if item else None

    def create(self, user: User) -> None:
        item = {
            "username": {"S": user.username},
            "name": {"S": user.name},
            "password_hash": {"S": user.password_hash},
            "token_version": {"N": str(user.token_version)},
            "created_at": {"N": str(user.created_at or int(time.time()))},
        }
        try:
            with _mapped_errors("PutItem"):
                self.client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(username)",
                )
        except ClientError as error:
            if _is_condition_failure(error):
                raise UserExists(user.username) from None
            raise

    def update_password(self, username: str, password_hash: str, *, bump_version: bool) -> User:
        try:
            with _mapped_errors("UpdateItem"):
                response = self.client.update_item(
                    TableName=self.table,
                    Key={"username": {"S": username}},
                    UpdateExpression="SET password_hash = :h ADD token_version :v",
                    ConditionExpression="attribute_exists(username)",
                    ExpressionAttributeValues={
                        ":h": {"S": password_hash},
                        ":v": {"N": "1" if bump_version else "0"},
                    },
                    ReturnValues="ALL_NEW",
                )
        except ClientError as error:
            if _is_condition_failure(error):
                raise UserNotFound(username) from None
            raise
        return _user(response["Attributes"])

    def bump_token_version(self, username: str) -> None:
        try:
            with _mapped_errors("UpdateItem"):
                self.client.update_item(
                    TableName=self.table,
                    Key={"username": {"S": username}},
                    UpdateExpression="ADD token_version :one",
                    ConditionExpression="attribute_exists(username)",
                    ExpressionAttributeValues={":one": {"N": "1"}},
                )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def delete(self, username: str) -> None:
        with _mapped_errors("DeleteItem"):
            self.client.delete_item(TableName=self.table, Key={"username": {"S": username}})


class DynamoSyncStateStore:
    """``SyncStateStore`` in the auth table (see the module's docstring)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def put_sync_state(self, state: SyncState) -> None:
        with _mapped_errors("PutItem"):
            self.client.put_item(TableName=self.table, Item=_sync_state_item(state))

    def get_sync_state(self, username: str, *, now: float) -> SyncState | None:
        with _mapped_errors("GetItem"):
            item = self.client.get_item(
                TableName=self.table,
                Key={"pk": {"S": sync_state_key(username)}},
                ConsistentRead=True,
            ).get("Item")
        if not item or not _unexpired(item, now=now):
            return None
        return SyncState(
            username=username,
            session=item["session"]["S"],
            version=int(item["version"]["N"]),
            data=item["data"]["S"],
            expires_at=int(item["expires_at"]["N"]),
        )

    def update_sync_state(self, state: SyncState, *, expected_version: int) -> None:
        try:
            with _mapped_errors("PutItem"):
                self.client.put_item(
                    TableName=self.table,
                    Item=_sync_state_item(state),
                    ConditionExpression="#s = :s AND version = :v",
                    ExpressionAttributeNames={"#s": "session"},
                    ExpressionAttributeValues={
                        ":s": {"S": state.session},
                        ":v": {"N": str(expected_version)},
                    },
                )
        except ClientError as error:
            if _is_condition_failure(error):
                raise SyncStateConflict(state.username) from None
            raise

    def delete_sync_state(self, username: str, session: str | None = None) -> None:
        key = {"pk": {"S": sync_state_key(username)}}
        try:
            with _mapped_errors("DeleteItem"):
                if session is None:
                    self.client.delete_item(TableName=self.table, Key=key)
                else:
                    self.client.delete_item(
                        TableName=self.table,
                        Key=key,
                        ConditionExpression="attribute_not_exists(pk) OR #s = :s",
                        ExpressionAttributeNames={"#s": "session"},
                        ExpressionAttributeValues={":s": {"S": session}},
                    )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise


def _sync_state_item(state: SyncState) -> dict[str, Any]:
    return {
        "pk": {"S": sync_state_key(state.username)},
        "session": {"S": state.session},
        "version": {"N": str(state.version)},
        "data": {"S": state.data},
        "expires_at": {"N": str(state.expires_at)},
    }


class DynamoAuthStateStore(DynamoSyncStateStore):
    """Login failures and revoked tokens; the sync in progress (``SyncStateStore``) too."""

    def login_failures(self, username: str, *, now: float) -> LoginFailures:
        item = self._get(failures_key(username), now=now)
        if item is None:
            return LoginFailures(0, 0)
        return LoginFailures(
            count=int(item.get("failures", {}).get("N", "0")),
            locked_until=float(item.get("locked_until", {}).get("N", "0")),
        )

    def record_failure(self, username: str, *, now: float) -> int:
        key = {"pk": {"S": failures_key(username)}}
        expires = str(int(now) + FAILURE_MEMORY_SECONDS)
        try:
            with _mapped_errors("UpdateItem"):
                response = self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="ADD failures :one SET expires_at = :exp",
                    # A counter whose TTL passed but which DynamoDB has not yet removed
                    # must start again from zero.
                    ConditionExpression="attribute_not_exists(expires_at) OR expires_at > :now",
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":exp": {"N": expires},
                        ":now": {"N": str(int(now))},
                    },
                    ReturnValues="UPDATED_NEW",
                )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            with _mapped_errors("PutItem"):
                self.client.put_item(
                    TableName=self.table,
                    Item={**key, "failures": {"N": "1"}, "expires_at": {"N": expires}},
                )
            return 1
        return int(response["Attributes"]["failures"]["N"])

    def lock(self, username: str, *, until: float, now: float) -> None:
        with _mapped_errors("UpdateItem"):
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": failures_key(username)}},
                UpdateExpression="SET locked_until = :until, expires_at = :exp",
                ExpressionAttributeValues={
                    ":until": {"N": repr(until)},
                    ":exp": {"N": str(max(int(until) + 1, int(now) + FAILURE_MEMORY_SECONDS))},
                },
            )

    def reset_failures(self, username: str) -> None:
        with _mapped_errors("DeleteItem"):
            self.client.delete_item(TableName=self.table, Key={"pk": {"S": failures_key(username)}})

    def revoke(self, token_id: str, *, expires_at: int) -> None:
        with _mapped_errors("PutItem"):
            self.client.put_item(
                TableName=self.table,
                Item={"pk": {"S": revoked_key(token_id)}, "expires_at": {"N": str(expires_at)}},
            )

    def is_revoked(self, token_id: str, *, now: float) -> bool:
        return self._get(revoked_key(token_id), now=now) is not None

    def _get(self, pk: str, *, now: float) -> dict[str, Any] | None:
        with _mapped_errors("GetItem"):
            item = self.client.get_item(
                TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
            ).get("Item")
        if not item or not _unexpired(item, now=now):
            return None
        return dict(item)


class DynamoSyncKeyStore:
    """``SyncKeyStore`` in the auth table (see the module's docstring)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def add_sync_key(self, key: SyncKey) -> None:
        self._change_list(key.username, "ADD", key.key_hash)
        with _mapped_errors("PutItem"):
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": sync_key_key(key.key_hash)},
                    "username": {"S": key.username},
                    "device": {"S": key.device},
                    "created_at": {"N": str(key.created_at)},
                    "last_used": {"N": str(key.last_used)},
                    "token_version": {"N": str(key.token_version)},
                },
            )

    def get_sync_key(self, key_hash: str) -> SyncKey | None:
        with _mapped_errors("GetItem"):
            item = self.client.get_item(
                TableName=self.table,
                Key={"pk": {"S": sync_key_key(key_hash)}},
                ConsistentRead=True,
            ).get("Item")
        return _sync_key(key_hash, item) if item else None

    def touch_sync_key(self, key_hash: str, *, now: int) -> None:
        try:
            with _mapped_errors("UpdateItem"):
                self.client.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": sync_key_key(key_hash)}},
                    UpdateExpression="SET last_used = :now",
                    ConditionExpression="attribute_exists(pk) AND last_used < :now",
                    ExpressionAttributeValues={":now": {"N": str(now)}},
                )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def list_sync_keys(self, username: str) -> list[SyncKey]:
        hashes = self._hashes(username)
        found: list[SyncKey] = []
        for start in range(0, len(hashes), 100):  # BatchGetItem reads 100 keys a call
            batch = hashes[start : start + 100]
            keys: list[Any] = [{"pk": {"S": sync_key_key(h)}} for h in batch]
            while keys:
                with _mapped_errors("BatchGetItem"):
                    response = self.client.batch_get_item(
                        RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
                    )
                for item in response.get("Responses", {}).get(self.table, []):
                    key_hash = str(item["pk"]["S"]).removeprefix("synckey#")
                    key = _sync_key(key_hash, item)
                    if key.username == username:
                        found.append(key)
                unprocessed = response.get("UnprocessedKeys", {}).get(self.table)
                keys = list(unprocessed["Keys"]) if unprocessed else []
        return sorted(found, key=lambda k: (k.created_at, k.key_hash))

    def delete_sync_key(self, username: str, key_hash: str) -> None:
        try:
            with _mapped_errors("DeleteItem"):
                self.client.delete_item(
                    TableName=self.table,
                    Key={"pk": {"S": sync_key_key(key_hash)}},
                    ConditionExpression="attribute_not_exists(pk) OR username = :u",
                    ExpressionAttributeValues={":u": {"S": username}},
                )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            return  # someone else's key: neither it nor their list is touched
        self._change_list(username, "DELETE", key_hash)

    def delete_sync_keys(self, username: str) -> None:
        for key_hash in self._hashes(username):
            with _mapped_errors("DeleteItem"):
                self.client.delete_item(
                    TableName=self.table, Key={"pk": {"S": sync_key_key(key_hash)}}
                )
        with _mapped_errors("DeleteItem"):
            self.client.delete_item(
                TableName=self.table, Key={"pk": {"S": sync_keys_of_key(username)}}
            )

    def _hashes(self, username: str) -> list[str]:
        with _mapped_errors("GetItem"):
            item = self.client.get_item(
                TableName=self.table,
                Key={"pk": {"S": sync_keys_of_key(username)}},
                ConsistentRead=True,
            ).get("Item")
        return sorted(item.get("hashes", {}).get("SS", [])) if item else []

    def _change_list(self, username: str, action: str, key_hash: str) -> None:
        with _mapped_errors("UpdateItem"):
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": sync_keys_of_key(username)}},
                UpdateExpression=f"{action} hashes :h",
                ExpressionAttributeValues={":h": {"SS": [key_hash]}},
            )


class DynamoTokenStates:
    """A token's two look-ups in one strongly consistent BatchGetItem: the user's item
    and the token's revocation, from their two tables, in one round trip."""

    def __init__(self, client: DynamoDBClient, users_table: str, auth_table: str) -> None:
        self.client = client
        self.users_table = users_table
        self.auth_table = auth_table

    def token_state(self, username: str, token_id: str, *, now: float) -> tuple[User | None, bool]:
        user_key = {"username": {"S": username}}
        revoked_pk = {"pk": {"S": revoked_key(token_id)}}
        with _mapped_errors("BatchGetItem"):
            response = self.client.batch_get_item(
                RequestItems={
                    self.users_table: {"Keys": [user_key], "ConsistentRead": True},
                    self.auth_table: {"Keys": [revoked_pk], "ConsistentRead": True},
                }
            )
        found = response.get("Responses", {})
        users = found.get(self.users_table, [])
        revocations = found.get(self.auth_table, [])
        # DynamoDB may leave keys unprocessed (throttling): those are read one by one.
        unprocessed = response.get("UnprocessedKeys", {})
        if unprocessed.get(self.users_table):
            with _mapped_errors("GetItem"):
                item = self.client.get_item(
                    TableName=self.users_table, Key=user_key, ConsistentRead=True
                ).get("Item")
            users = [item] if item else []
        if unprocessed.get(self.auth_table):
            with _mapped_errors("GetItem"):
                item = self.client.get_item(
                    TableName=self.auth_table, Key=revoked_pk, ConsistentRead=True
                ).get("Item")
            revocations = [item] if item else []
        user = _user(users[0]) if users else None
        revoked = any(_unexpired(item, now=now) for item in revocations)
        return user, revoked


def _sync_key(key_hash: str, item: Any) -> SyncKey:
    return SyncKey(
        key_hash=key_hash,
        username=item["username"]["S"],
        device=item.get("device", {}).get("S", ""),
        created_at=int(item.get("created_at", {}).get("N", "0")),
        last_used=int(item.get("last_used", {}).get("N", "0")),
        token_version=int(item.get("token_version", {}).get("N", "0")),
    )


def _unexpired(item: Any, *, now: float) -> bool:
    return float(item.get("expires_at", {}).get("N", "0")) > now


def _user(item: Any) -> User:
    username = item["username"]["S"]
    return User(
        username=username,
        name=item.get("name", {}).get("S", username),
        # A missing hash matches no password (passwords.py logs it) instead of failing.
        password_hash=item.get("password_hash", {}).get("S", ""),
        token_version=int(item.get("token_version", {}).get("N", "0")),
        created_at=_epoch_seconds(item.get("created_at")),
    )


def _epoch_seconds(value: Any) -> int:
    """``created_at`` as whole epoch seconds: ours is a number, the original backend's an
    ISO-8601 string such as ``2024-03-05T14:22:10.123456`` (no offset: UTC). Anything
    unreadable is 0, for a login must never fail over a timestamp."""
    if not isinstance(value, dict):
        return 0
    try:
        if "N" in value:
            return int(Decimal(value["N"]))
        if "S" in value:
            text = str(value["S"]).strip()
            try:
                return int(Decimal(text))
            except InvalidOperation:
                moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return int(moment.timestamp())
    except (ArithmeticError, ValueError, TypeError, OverflowError):
        pass
    return 0
