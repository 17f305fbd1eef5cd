"""Large packages on AWS: presigned uploads and downloads beside the collections.

API Gateway and Lambda cap request and response bodies at about 6 MB, so big `.apkg`
files travel straight between the learner and S3, under `uploads/` and `exports/`
(the bucket's lifecycle removes both after a day).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from storage.objects import ObjectNotFound, StoreUnavailable

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

UPLOADS = "uploads"
EXPORTS = "exports"


class TooLarge(Exception):
    """The object is bigger than the caller allows."""


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    url: str
    key: str
    expires_in: int


class PackageTransfers:
    def __init__(self, client: S3Client, bucket: str, *, expires_in: int = 3600) -> None:
        self.client = client
        self.bucket = bucket
        self.expires_in = expires_in

    def upload_url(self, username: str) -> PresignedUpload:
        """A URL the learner PUTs a package to; only this key, only for a while."""
        key = f"{UPLOADS}/{username}/{uuid.uuid4().hex}.apkg"
        url = self.client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": "application/octet-stream"},
            ExpiresIn=self.expires_in,
        )
        return PresignedUpload(url=url, key=key, expires_in=self.expires_in)

    @staticmethod
    def owns(username: str, key: str) -> bool:
        prefix = f"{UPLOADS}/{username}/"
        rest = key.removeprefix(prefix)
        return key.startswith(prefix) and "/" not in rest and ".." not in rest and rest != ""

    def download(self, key: str, target: Path, *, max_bytes: int) -> int:
        """Stream an uploaded package to ``target``; ``TooLarge`` past ``max_bytes``."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            if int(response.get("ContentLength", 0)) > max_bytes:
                raise TooLarge(key)
            written = 0
            with target.open("wb") as out:
                for chunk in response["Body"].iter_chunks(1 << 20):
                    written += len(chunk)
                    if written > max_bytes:
                        raise TooLarge(key)
                    out.write(chunk)
            return written
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectNotFound(key) from None
            raise StoreUnavailable(f"S3 GET {key} failed: {error}") from error
        except BotoCoreError as error:
            raise StoreUnavailable(f"S3 GET {key} failed: {error}") from error

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"S3 DELETE {key} failed: {error}") from error

    def publish_export(self, username: str, source: Path, filename: str) -> str:
        """Store an export and return a presigned GET that downloads it as ``filename``."""
        key = f"{EXPORTS}/{username}/{uuid.uuid4().hex}.apkg"
        try:
            self.client.upload_file(
                str(source),
                self.bucket,
                key,
                ExtraArgs={"ContentType": "application/octet-stream"},
            )
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"S3 PUT {key} failed: {error}") from error
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=self.expires_in,
        )
