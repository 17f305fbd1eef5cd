"""What the S3 store puts on the wire, beyond the contract both stores share."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from api.core.config import Settings
from storage.s3 import S3ObjectStore, make_s3_client

KEY = "user_dbs/alice.anki2"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3ObjectStore]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        defaults = Settings.model_construct()  # the app's own client settings
        client = make_s3_client(
            connect_timeout=defaults.aws_connect_timeout,
            read_timeout=defaults.aws_read_timeout,
            endpoint_url=defaults.aws_endpoint_url,
        )
        client.create_bucket(Bucket="wire")
        yield S3ObjectStore(client, "wire")


def test_put_sends_the_bodys_sha256_for_s3_to_check(store: S3ObjectStore) -> None:
    sent: list[dict[str, Any]] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append({k.lower(): v for k, v in request.headers.items()})

    store.client.meta.events.register("before-send.s3.PutObject", capture)
    body = b"SQLite format 3\x00" + bytes(range(256)) * 64
    store.put(KEY, body)

    (headers,) = sent
    expected = base64.b64encode(hashlib.sha256(body).digest())
    assert headers["x-amz-checksum-sha256"] in (expected, expected.decode())
    # One checksum, ours: botocore adds no CRC32 of its own and does not stream the
    # body aws-chunked with a trailing checksum.
    assert not any(
        name.startswith("x-amz-checksum-") and name != "x-amz-checksum-sha256" for name in headers
    )
    assert "x-amz-trailer" not in headers
    # Nor does it hash the file again to sign it: the checksum vouches for the body.
    assert headers["x-amz-content-sha256"] in (b"UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD")
    assert int(headers["content-length"]) == len(body)
    assert store.head(KEY).sha256 == hashlib.sha256(body).hexdigest()
