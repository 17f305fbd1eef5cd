"""Where the token signing secret comes from."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from auth.errors import SigningKeyError

LOCAL_SECRET_FILE = "jwt-secret"  # noqa: S105 (a file name, not a secret)


def local_secret(data_dir: Path) -> str:
    """The local backend's secret: generated on first run, then kept in the data dir."""
    path = data_dir / LOCAL_SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def secrets_manager_secret(arn: str) -> str:
    """Read the secret once from Secrets Manager (callers keep it for the process)."""
    try:
        response = boto3.session.Session().client("secretsmanager").get_secret_value(SecretId=arn)
    except (ClientError, BotoCoreError) as error:
        raise SigningKeyError(f"cannot read the signing secret {arn}: {error}") from error
    value = response.get("SecretString")
    if not value:
        raise SigningKeyError(f"the signing secret {arn} holds no string")
    return value
