"""The signing secret: generated once locally, read from Secrets Manager on AWS."""

from __future__ import annotations

import stat
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from api.core.config import Settings
from auth.errors import SigningKeyError
from auth.signing_key import LOCAL_SECRET_FILE, local_secret, secrets_manager_secret


def test_local_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = local_secret(tmp_path / "data")
    assert len(first.encode()) >= 32
    assert local_secret(tmp_path / "data") == first
    mode = (tmp_path / "data" / LOCAL_SECRET_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_local_secrets_differ_between_data_dirs(tmp_path: Path) -> None:
    assert local_secret(tmp_path / "a") != local_secret(tmp_path / "b")


@mock_aws
def test_secret_is_read_from_secrets_manager() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    arn = client.create_secret(Name="javumbo-jwt", SecretString="k" * 64)["ARN"]
    assert secrets_manager_secret(arn) == "k" * 64


@mock_aws
def test_missing_secret_is_a_clear_error() -> None:
    with pytest.raises(SigningKeyError, match="cannot read the signing secret"):
        secrets_manager_secret("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope")


def test_short_secret_in_the_environment_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVUMBO_JWT_SECRET", "too-short")
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings()
