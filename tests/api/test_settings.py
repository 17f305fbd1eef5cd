"""Settings come from JAVUMBO_* variables and are checked at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_local_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("JAVUMBO_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.backend == "local"
    assert settings.data_dir == Path(".javumbo")
    assert settings.cache_max_bytes == 256 * 1024 * 1024
    assert settings.cache_dir.name == "javumbo-cache"


def test_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVUMBO_BACKEND", "aws")
    monkeypatch.setenv("JAVUMBO_BUCKET", "b")
    monkeypatch.setenv("JAVUMBO_USERS_TABLE", "users")
    monkeypatch.setenv("JAVUMBO_AUTH_TABLE", "auth")
    monkeypatch.setenv("JAVUMBO_JWT_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:x")
    monkeypatch.setenv("JAVUMBO_CACHE_MAX_BYTES", "1048576")
    settings = Settings()
    assert (settings.bucket, settings.users_table, settings.auth_table) == ("b", "users", "auth")
    assert settings.cache_max_bytes == 1048576


def test_aws_mode_names_every_missing_value(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("JAVUMBO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("JAVUMBO_BACKEND", "aws")
    monkeypatch.setenv("JAVUMBO_USERS_TABLE", "users")
    with pytest.raises(ValidationError) as error:
        Settings()
    message = str(error.value)
    assert "JAVUMBO_BUCKET" in message
    assert "JAVUMBO_AUTH_TABLE" in message
    assert "JAVUMBO_JWT_SECRET" in message
    assert "JAVUMBO_USERS_TABLE" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JAVUMBO_BACKEND", "azure"),
        ("JAVUMBO_CACHE_MAX_BYTES", "0"),
        ("JAVUMBO_SYNC_DOWNLOAD_URL", "d111.cloudfront.net"),
        ("JAVUMBO_SYNC_DOWNLOAD_URL", "https://d111.cloudfront.net/downloads"),
        ("JAVUMBO_SYNC_DOWNLOAD_URL", "ftp://d111.cloudfront.net"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("JAVUMBO_").lower()):
        Settings()


def test_app_refuses_to_start_without_required_aws_settings() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAVUMBO_")}
    env["JAVUMBO_BACKEND"] = "aws"
    result = subprocess.run(
        [sys.executable, "-c", "import api.main"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "JAVUMBO_BUCKET" in result.stderr


def test_the_sync_download_url_is_kept_as_an_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVUMBO_SYNC_DOWNLOAD_URL", "https://d111.cloudfront.net/")
    assert Settings().sync_download_url == "https://d111.cloudfront.net"
