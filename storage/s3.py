"""The object store on Amazon S3 (or any S3-compatible endpoint)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage import metrics
from storage.errors import ObjectNotFound, PreconditionFailed, StorageError, StoreUnavailable
from storage.objects import ANY_ETAG, ListedObject, NotModified, ObjectInfo, StoredObject

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

SHA256_METADATA = "sha256"  # stored as x-amz-meta-sha256
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
# 409 ConditionalRequestConflict: another conditional write to the key is in flight.
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


@contextmanager
def mapped_s3_errors(
    operation: str, key: str, *, expected: tuple[type[StorageError], ...] = ()
) -> Iterator[None]:
    """Turn what botocore raises inside the block into storage errors.

    ``expected`` names the answers this request can be given that are not a failure
    of the store, and only those are recognised:

    * ``PreconditionFailed``: error code PreconditionFailed, 412 or
      ConditionalRequestConflict, or HTTP status 409 or 412 (a conditional write);
    * ``ObjectNotFound``: error code NoSuchKey, 404 or NotFound; and for a HEAD, whose
      answer has no body to carry a code, HTTP status 404.

    Everything else, expected or not (error statuses, throttling, timeouts, refused or
    dropped connections, answers a request of this kind should never get), is
    ``StoreUnavailable``: "S3 {operation} {key} failed: ...".
    """
    try:
        yield
    except ClientError as error:
        code, status = _code(error), _status(error)
        if PreconditionFailed in expected and (code in _CONFLICT or status in (409, 412)):
            raise PreconditionFailed(f"{key}: {code}") from None
        if ObjectNotFound in expected and (
            code in _NOT_FOUND or (operation == "HEAD" and status == 404)
        ):
            raise ObjectNotFound(key) from None
        raise _unavailable(operation, key, error) from error
    except (BotoCoreError, S3UploadFailedError) as error:
        # S3UploadFailedError: the transfer manager's wrapping of an error answer.
        raise _unavailable(operation, key, error) from error


def make_s3_client(
    *, connect_timeout: float, read_timeout: float, endpoint_url: str | None
) -> S3Client:
    """An S3 client with the caller's timeouts (the settings', api/core/config.py).

    Timeouts are short because a request waits on this; botocore's standard retry
    mode retries throttling and 5xx answers a few times before we give up.
    ``endpoint_url`` is an S3-compatible endpoint (moto, MinIO, ...), or None for AWS
    (the other standard AWS_* variables are honoured as usual).
    """
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": 3},
        s3={
            # Custom endpoints (moto, MinIO, ...) rarely resolve bucket subdomains.
            "addressing_style": "path" if endpoint_url else "auto",
            # Every PUT carries the body's SHA-256 as its checksum (see `put`), which S3
            # verifies; signing the payload too would hash the whole file a second time.
            "payload_signing_enabled": False,
        },
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=config)


def make_presign_client(*, region: str, endpoint_url: str | None) -> S3Client:
    """A client that signs URLs for the bucket's regional host, ``{bucket}.s3.{region}.
    amazonaws.com``: the origin a CDN forwards presigned requests to unchanged, so the
    signature (which covers the host) still holds there. Signing needs no request.

    With a custom endpoint (moto, MinIO, ...) it signs for that endpoint, path-style.
    """
    if endpoint_url:
        endpoint = endpoint_url
        config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    else:
        endpoint = f"https://s3.{region}.amazonaws.com"
        config = Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
    return boto3.session.Session().client(
        "s3", region_name=region, endpoint_url=endpoint, config=config
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class S3ObjectStore:
    """Objects in one bucket; conditional requests map onto S3's own headers."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        # Counts what really goes on the wire, botocore's own retries included.
        client.meta.events.register("before-send.s3", _count_request)

    def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject | NotModified:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_none_match is not None:
            kwargs["IfNoneMatch"] = if_none_match
        with mapped_s3_errors("GET", key, expected=(ObjectNotFound,)):
            try:
                response = self.client.get_object(**kwargs)
            except ClientError as error:
                if _status(error) == 304 or _code(error) == "304":
                    return NotModified(if_none_match or "")
                raise
            body = response["Body"].read()
            metrics.count_received(len(body))
        return StoredObject(body=body, etag=response["ETag"], metadata=_user_metadata(response))

    def put(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        if if_none_match not in (None, ANY_ETAG):
            raise ValueError("put() accepts only if_none_match='*'")
        digest = hashlib.sha256(body).digest()
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "Metadata": {**(metadata or {}), SHA256_METADATA: digest.hex()},
            # S3 checks the body against it and refuses a damaged upload. Given this,
            # botocore computes no checksum of its own and sends the body as it is
            # rather than aws-chunked; with payload signing off (`make_s3_client`), the
            # file is hashed once per PUT, here.
            "ChecksumSHA256": base64.b64encode(digest).decode(),
        }
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        if if_none_match is not None:
            kwargs["IfNoneMatch"] = if_none_match
        metrics.count_sent(len(body))
        with mapped_s3_errors("PUT", key, expected=(PreconditionFailed, ObjectNotFound)):
            response = self.client.put_object(**kwargs)
        return response["ETag"]

    def head(self, key: str) -> ObjectInfo:
        with mapped_s3_errors("HEAD", key, expected=(ObjectNotFound,)):
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            etag=response["ETag"],
            size=response["ContentLength"],
            sha256=response.get("Metadata", {}).get(SHA256_METADATA),
            metadata=_user_metadata(response),
        )

    def delete(self, key: str) -> None:
        with mapped_s3_errors("DELETE", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def list(self, prefix: str) -> list[ListedObject]:
        if not prefix.endswith("/"):
            raise ValueError("list() takes a prefix ending with '/'")
        found: list[ListedObject] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
        with mapped_s3_errors("LIST", prefix):
            while True:
                response = self.client.list_objects_v2(**kwargs)
                found.extend(
                    ListedObject(
                        key=item["Key"],
                        size=item["Size"],
                        last_modified=item["LastModified"].timestamp(),
                    )
                    for item in response.get("Contents", [])
                )
                if not response.get("IsTruncated"):
                    return found
                kwargs["ContinuationToken"] = response["NextContinuationToken"]


def _user_metadata(response: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in response.get("Metadata", {}).items() if k != SHA256_METADATA}


def _count_request(request: Any, **_: Any) -> None:
    metrics.count_request()


def _unavailable(verb: str, key: str, error: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"S3 {verb} {key} failed: {error}")
