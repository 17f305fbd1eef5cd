"""Large transfers on AWS: presigned uploads and downloads beside the stored databases.

API Gateway and Lambda cap request and response bodies at about 6 MB, so big `.apkg`
files travel straight between the learner and S3, under `uploads/` and `exports/`,
and so do full sync downloads too large for one answer, under `sync_downloads/`
(the bucket's lifecycle removes all three after a day).

Every such key is ``{prefix}/{segment}/{random}{suffix}``, where ``segment`` is the
learner's username made into exactly one path segment (see ``learner_segment``), so
that a learner's keys never overlap another's and never step outside the prefix.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

from storage.errors import ObjectNotFound, TooLarge
from storage.keys import PREFIX_EXPORTS, PREFIX_SYNC_DOWNLOADS, PREFIX_UPLOADS
from storage.s3 import mapped_s3_errors

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F  # C0 controls, DEL, C1 controls


def _is_escaped(char: str) -> bool:
    # Lone surrogates too: a key must be UTF-8, and they have no UTF-8 of their own.
    return char in "%/" or _is_control(char) or 0xD800 <= ord(char) <= 0xDFFF


def _percent(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8", "surrogatepass"))


def learner_segment(username: str) -> str:
    """The learner's part of an upload or export key: one segment, only theirs.

    The rule, for any username whatsoever:

    * ``%``, ``/`` and every control character (U+0000-U+001F, U+007F-U+009F), and any
      lone surrogate, are written as ``%XX`` of their UTF-8 bytes; everything else is
      kept as it is. So the segment holds no ``/`` and no control character.
    * a username that is exactly ``.`` or ``..`` is written ``%2E`` or ``%2E%2E``, so no
      segment is a ``.`` or ``..`` that a path or URL normaliser would resolve.
      ``...`` and longer runs of dots are no such segment and are kept.

    Usernames our registration makes (3-32 of ``[a-z0-9_.-]``) hold none of these, so
    their segment is the username itself: ``alice`` -> ``uploads/alice/...``.
    "Ana/Lab1" -> ``Ana%2FLab1``; "a%2Fb" -> ``a%252Fb``; ".." -> ``%2E%2E``.

    No two usernames share a segment: ``%`` itself is encoded, so percent-decoding the
    segment (``urllib.parse.unquote``) gives the username back, exactly.
    """
    if not username:
        raise ValueError("a username is never empty")
    if username in (".", ".."):
        return _percent(username)
    return "".join(_percent(c) if _is_escaped(c) else c for c in username)


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
        key = f"{PREFIX_UPLOADS}{learner_segment(username)}/{uuid.uuid4().hex}.apkg"
        url = self.client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": "application/octet-stream"},
            ExpiresIn=self.expires_in,
        )
        return PresignedUpload(url=url, key=key, expires_in=self.expires_in)

    @staticmethod
    def owns(username: str, key: str) -> bool:
        """Whether ``key`` is one of this learner's uploads: segment by segment, exactly.

        ``uploads/{learner_segment(username)}/{name}`` and nothing else: three
        ``/``-separated parts, the middle one equal to the learner's segment (never a
        prefix match, so "Ana" does not own the uploads of "Ana/Lab1"), and a name that
        is not empty, holds no ``..`` and no control character.
        """
        if not username:
            return False
        parts = key.split("/")
        if len(parts) != 3:
            return False
        prefix, segment, name = parts
        return (
            prefix == PREFIX_UPLOADS.rstrip("/")
            and segment == learner_segment(username)
            and name not in ("", ".")
            and ".." not in name
            and not any(_is_control(c) for c in name)
        )

    def download(self, key: str, target: Path, *, max_bytes: int) -> int:
        """Stream an uploaded package to ``target``; ``TooLarge`` past ``max_bytes``."""
        with mapped_s3_errors("GET", key, expected=(ObjectNotFound,)):
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

    def delete(self, key: str) -> None:
        with mapped_s3_errors("DELETE", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def publish_export(self, username: str, source: Path, filename: str) -> str:
        """Store an export and return a presigned GET that downloads it as ``filename``."""
        key = f"{PREFIX_EXPORTS}{learner_segment(username)}/{uuid.uuid4().hex}.apkg"
        with mapped_s3_errors("PUT", key):
            self.client.upload_file(
                str(source),
                self.bucket,
                key,
                ExtraArgs={"ContentType": "application/octet-stream"},
            )
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=self.expires_in,
        )


# The metadata key of a sync download's size before compression. S3 sends it back as
# `x-amz-meta-anki-original-size`; the CDN in front of the bucket copies it into the
# `anki-original-size` header Anki's client requires (cdk/javumbo_infra/sync_downloads.py).
ORIGINAL_SIZE_METADATA: Final = "anki-original-size"


class SyncDownloads:
    """Full sync downloads too large for one answer: stored under ``sync_downloads/``
    and fetched by the client through a short-lived presigned GET, on the CDN's host.

    Anki's client follows a 303 from ``/sync/download`` to a GET, but only accepts an
    answer with an ``anki-original-size`` header, which S3 itself never sends; the CDN
    forwards the presigned request to the bucket unchanged and adds that header from
    the object's metadata. ``signer`` signs for the host the CDN forwards to (see
    storage/s3.py: ``make_presign_client``); ``public_url`` is the CDN's
    ``scheme://host``, which replaces the signed URL's own.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        signer: S3Client,
        public_url: str,
        expires_in: int = 900,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.signer = signer
        self.public_url = public_url
        self.expires_in = expires_in

    def publish(self, username: str, compressed: bytes, *, original_size: int) -> str:
        """Store a zstd-compressed download and return the URL the client fetches it at."""
        key = f"{PREFIX_SYNC_DOWNLOADS}{learner_segment(username)}/{uuid.uuid4().hex}.zst"
        with mapped_s3_errors("PUT", key):
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=compressed,
                ContentType="application/octet-stream",
                Metadata={ORIGINAL_SIZE_METADATA: str(original_size)},
            )
        signed = self.signer.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires_in
        )
        return rebased(signed, self.public_url)


def rebased(url: str, public_url: str) -> str:
    """``url`` with its scheme and host replaced by ``public_url``'s (path and query kept)."""
    parts, public = urlsplit(url), urlsplit(public_url)
    return urlunsplit((public.scheme, public.netloc, parts.path, parts.query, ""))
