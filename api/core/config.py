"""All configuration, read from the environment in this one place (README: Configuration)."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from auth.tokens import MIN_SECRET_BYTES

MiB = 1024 * 1024
# Set by the Lambda runtime in every function's environment.
LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"


class Settings(BaseSettings):
    """Javumbo's settings; every field is the environment variable ``JAVUMBO_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="JAVUMBO_", extra="ignore", frozen=True)

    backend: Literal["local", "aws"] = "local"
    data_dir: Path = Path(".javumbo")
    bucket: str | None = None
    users_table: str | None = None
    auth_table: str | None = None
    jwt_secret: SecretStr | None = None
    jwt_secret_arn: str | None = None
    cache_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "javumbo-cache")
    cache_max_bytes: int = Field(default=256 * MiB, gt=0)
    # Fold a collection's page log into its object once it holds this many entries
    # beyond it (docs/storage.md): a write uploads ~1/N of the file on average, and a
    # cold read makes at most N + 2 requests.
    compaction_entries: int = Field(default=31, ge=1, le=1000)
    # How long to wait for S3 and DynamoDB before answering 503 (seconds).
    aws_connect_timeout: float = Field(default=3.0, gt=0)
    aws_read_timeout: float = Field(default=10.0, gt=0)
    # An S3-compatible endpoint (moto, MinIO, ...) for the collections bucket; None: AWS.
    aws_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL", "JAVUMBO_AWS_ENDPOINT_URL"),
    )
    # Browser origins allowed to call the API (JSON list); none by default.
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=10 * MiB, gt=0)
    # Packages: the most an upload may be or unpack to, and (aws) the export size
    # above which the download goes through a presigned S3 URL instead of the API.
    import_max_bytes: int = Field(default=256 * MiB, gt=0)
    export_redirect_bytes: int = Field(default=4 * MiB, gt=0)
    # Media files (pictures, sounds): the largest one file may be (imports and uploads;
    # uploads are also bounded by max_body_bytes), how many a learner may keep, and
    # (aws) the size above which GET /api/media redirects to a presigned S3 URL.
    media_max_file_bytes: int = Field(default=100 * MiB, gt=0)
    media_max_files: int = Field(default=50_000, gt=0)
    media_redirect_bytes: int = Field(default=1 * MiB, gt=0)
    # Anki's sync protocol (/sync, /msync): the largest zstd-compressed full upload the
    # API takes, and the largest compressed collection a full download sends. On
    # Lambda a binary body travels base64-encoded inside a 6 MB payload, so about
    # 4.4 MB of compressed data is the most that can cross either way; past these the
    # client gets a sentence saying how to move the collection with a .colpkg instead.
    sync_upload_max_bytes: int = Field(default=4_400_000, gt=0)
    sync_download_max_bytes: int = Field(default=4_400_000, gt=0)
    # (aws) Where a full download larger than sync_download_max_bytes is fetched: the
    # https://host of the CDN in front of the bucket that adds Anki's
    # `anki-original-size` header (the CDK stack's SyncDownloads distribution sets it).
    # The API answers 303 to a presigned GET there. Unset: such a download is refused.
    sync_download_url: str | None = None
    # Media sync (/msync): the largest zstd-compressed uploadChanges body (a zip of up
    # to 25 files) the API takes, and how many bytes of files one downloadFiles answer
    # carries at most (always at least one file; the client asks again for the rest).
    # Both sized, like the full sync's, to cross Lambda's 6 MB payload base64-encoded.
    sync_media_upload_max_bytes: int = Field(default=4_400_000, gt=0)
    sync_media_download_max_bytes: int = Field(default=4_000_000, gt=0)
    # The most any sync request body may decompress to (a collection, or JSON).
    sync_max_uncompressed_bytes: int = Field(default=128 * MiB, gt=0)
    # Normal sync: about how many bytes of rows (JSON, before compression) one `chunk`
    # answer carries at most (always at least one row; Anki asks until it is done).
    sync_chunk_max_bytes: int = Field(default=2_000_000, gt=0)
    token_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86_400)
    # bcrypt's cost factor; lower it only to make tests fast.
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    # A built single-page web app (index.html, hashed files under assets/) served at `/`.
    web_dir: Path | None = None
    # An Anki package imported into every new collection (checked at start-up: main.py).
    starter_deck: Path | None = None

    @field_validator("web_dir")
    @classmethod
    def _web_dir_has_an_index(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "index.html").is_file():
            raise ValueError(
                f"JAVUMBO_WEB_DIR={value} must be a directory holding a built web app "
                "(no index.html there; build the client first, e.g. `npm run build`)"
            )
        return value

    @field_validator("sync_download_url")
    @classmethod
    def _download_url_is_an_origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.path not in "/":
            raise ValueError(
                "JAVUMBO_SYNC_DOWNLOAD_URL must be scheme://host[:port] (the CDN's address, "
                f"no path), not {value!r}"
            )
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("jwt_secret")
    @classmethod
    def _secret_is_strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"JAVUMBO_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _aws_needs_its_resources(self) -> Self:
        if self.backend != "aws":
            return self
        missing = [
            env_name(name)
            for name in ("bucket", "users_table", "auth_table")
            if not getattr(self, name)
        ]
        if self.jwt_secret is None and not self.jwt_secret_arn:
            missing.append("JAVUMBO_JWT_SECRET or JAVUMBO_JWT_SECRET_ARN")
        if missing:
            raise ValueError(
                "JAVUMBO_BACKEND=aws needs these environment variables: " + ", ".join(missing)
            )
        return self

    @property
    def on_lambda(self) -> bool:
        """Whether the app runs on AWS Lambda, which sets ``AWS_LAMBDA_FUNCTION_NAME``.

        Not a ``JAVUMBO_`` setting but the runtime's own variable, so it is read when
        asked (the app asks once, when it is built) rather than when the settings are.
        """
        return bool(os.environ.get(LAMBDA_FUNCTION_NAME))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()


def env_name(setting: str) -> str:
    """The environment variable a setting is read from: ``JAVUMBO_BUCKET`` for ``bucket``.

    A name that is not a setting raises, so whatever sets the app's environment (the CDK
    stack) stops when a setting is renamed instead of setting a variable nobody reads.
    """
    field = Settings.model_fields.get(setting)
    if field is None:
        raise ValueError(f"{setting!r} is not a setting of api/core/config.py's Settings")
    if isinstance(field.validation_alias, str):
        return field.validation_alias
    return f"{Settings.model_config.get('env_prefix', '')}{setting}".upper()
