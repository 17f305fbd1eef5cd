"""What botocore raises, as the storage errors ``mapped_s3_errors`` turns it into."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from storage.errors import (
    ObjectNotFound,
    PreconditionFailed,
    StorageError,
    StoreUnavailable,
    TooLarge,
)
from storage.s3 import mapped_s3_errors

KEY = "user_dbs/alice.anki2"


def answer(status: int, code: str | None = None) -> ClientError:
    """What botocore raises for an error answer (`code=None`: one that names no code)."""
    response: Any = {"ResponseMetadata": {"HTTPStatusCode": status}, "Error": {}}
    if code is not None:
        response["Error"] = {"Code": code, "Message": "..."}
    return ClientError(response, "Operation")


def mapped(
    raised: Exception,
    operation: str = "GET",
    expected: tuple[type[StorageError], ...] = (),
) -> StorageError:
    with pytest.raises(StorageError) as caught, mapped_s3_errors(operation, KEY, expected=expected):
        raise raised
    return caught.value


PUT = (PreconditionFailed, ObjectNotFound)  # what the store's put expects
READ = (ObjectNotFound,)  # get and head


@pytest.mark.parametrize(
    ("raised", "operation", "expected", "kind"),
    [
        # A conditional PUT refused, in every way S3 says it.
        (answer(412, "PreconditionFailed"), "PUT", PUT, PreconditionFailed),
        (answer(409, "ConditionalRequestConflict"), "PUT", PUT, PreconditionFailed),
        (answer(412), "PUT", PUT, PreconditionFailed),
        (answer(409, "OperationAborted"), "PUT", PUT, PreconditionFailed),
        (answer(400, "412"), "PUT", PUT, PreconditionFailed),
        # If-Match on a missing key.
        (answer(404, "NoSuchKey"), "PUT", PUT, ObjectNotFound),
        (answer(404, "NoSuchKey"), "GET", READ, ObjectNotFound),
        (answer(404, "NotFound"), "GET", READ, ObjectNotFound),
        (answer(404, "404"), "HEAD", READ, ObjectNotFound),
        # A HEAD answer has no body: its status is all there is.
        (answer(404, "NoSuchBucket"), "HEAD", READ, ObjectNotFound),
        (answer(404), "HEAD", READ, ObjectNotFound),
        # Elsewhere a 404 without a not-found code is the store misconfigured.
        (answer(404, "NoSuchBucket"), "GET", READ, StoreUnavailable),
        (answer(404, "NoSuchBucket"), "PUT", PUT, StoreUnavailable),
        # Only what the request can be told counts: a GET sent no precondition, and a
        # DELETE of a missing key succeeds, so these are the store failing.
        (answer(412, "PreconditionFailed"), "GET", READ, StoreUnavailable),
        (answer(409, "ConditionalRequestConflict"), "HEAD", READ, StoreUnavailable),
        (answer(404, "NoSuchKey"), "DELETE", (), StoreUnavailable),
        (answer(409, "ConditionalRequestConflict"), "DELETE", (), StoreUnavailable),
        # Failures of the store.
        (answer(500, "InternalError"), "GET", READ, StoreUnavailable),
        (answer(503, "SlowDown"), "PUT", PUT, StoreUnavailable),
        (answer(403, "AccessDenied"), "HEAD", READ, StoreUnavailable),
        (answer(400, "RequestTimeout"), "PUT", PUT, StoreUnavailable),
        (EndpointConnectionError(endpoint_url="http://s3"), "GET", READ, StoreUnavailable),
        (ConnectTimeoutError(endpoint_url="http://s3"), "PUT", PUT, StoreUnavailable),
        (ReadTimeoutError(endpoint_url="http://s3"), "HEAD", READ, StoreUnavailable),
        (ResponseStreamingError(error="reset"), "GET", READ, StoreUnavailable),
    ],
)
def test_s3_answers_map_onto_storage_errors(
    raised: Exception,
    operation: str,
    expected: tuple[type[StorageError], ...],
    kind: type[StorageError],
) -> None:
    error = mapped(raised, operation, expected)
    assert type(error) is kind
    if kind is StoreUnavailable:
        assert str(error).startswith(f"S3 {operation} {KEY} failed: ")
        assert error.__cause__ is raised  # the botocore error stays in the chain for logs
    else:
        assert error.__cause__ is None and error.__suppress_context__


def test_a_refused_put_names_the_key_and_the_code() -> None:
    error = mapped(answer(409, "ConditionalRequestConflict"), "PUT", PUT)
    assert str(error) == f"{KEY}: ConditionalRequestConflict"
    assert str(mapped(answer(404, "NoSuchKey"), "GET", READ)) == KEY


def test_other_exceptions_pass_through_untouched() -> None:
    for raised in (TooLarge(KEY), OSError("disk full"), ValueError("bad argument")):
        with pytest.raises(type(raised)) as caught, mapped_s3_errors("GET", KEY, expected=READ):
            raise raised
        assert caught.value is raised


def test_a_block_that_succeeds_is_left_alone() -> None:
    with mapped_s3_errors("GET", KEY, expected=READ):
        value = 1
    assert value == 1
