"""The stack names what the app reads: its settings' variables and its bucket prefixes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from pydantic_settings import BaseSettings

import api.core.config
from api.core.config import Settings, env_name
from api.core.names import PREFIX_SYNC_STAGING
from api.sync.normal import staging_prefix
from api.user_collection import collection_key
from javumbo_infra import names
from storage import keys, transfers
from tests.cdk import helpers

NAMES_PY = Path(names.__file__)


def test_env_name_is_the_variable_settings_read(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_name("bucket") == "JAVUMBO_BUCKET"
    assert env_name("users_table") == "JAVUMBO_USERS_TABLE"
    monkeypatch.setenv(env_name("bucket"), "collections")
    monkeypatch.setenv(env_name("cache_max_bytes"), "1234")
    settings = Settings()
    assert (settings.bucket, settings.cache_max_bytes) == ("collections", 1234)


def test_env_name_refuses_a_name_that_is_not_a_setting() -> None:
    with pytest.raises(ValueError, match="'bucket_name' is not a setting"):
        env_name("bucket_name")


def test_a_renamed_setting_stops_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    class Renamed(BaseSettings):
        model_config = Settings.model_config
        bucket_name: str | None = None  # was `bucket`

    monkeypatch.setattr(api.core.config, "Settings", Renamed)
    spec = importlib.util.spec_from_file_location("renamed_names", NAMES_PY)
    assert spec is not None and spec.loader is not None
    with pytest.raises(ValueError, match="is not a setting"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_every_variable_of_the_function_is_read_by_the_app(template: Template) -> None:
    _, fn = helpers.function(template)
    environment: dict[str, Any] = fn["Properties"]["Environment"]["Variables"]
    read = {env_name(field) for field in Settings.model_fields}
    assert set(environment) <= read


def test_the_app_writes_only_under_the_prefixes_the_function_is_granted() -> None:
    assert any(collection_key("alice").startswith(p) for p in names.OBJECT_PREFIXES)
    assert any(collection_key("../x").startswith(p) for p in names.OBJECT_PREFIXES)
    # Keys the transfers (packages, large sync downloads) and a normal sync's staging
    # make fall under the scratch prefixes the stack expires.
    assert {
        transfers.PREFIX_UPLOADS,
        transfers.PREFIX_EXPORTS,
        transfers.PREFIX_SYNC_DOWNLOADS,
        PREFIX_SYNC_STAGING,
    } == set(names.SCRATCH_PREFIXES)
    assert staging_prefix("../x", "s").startswith(PREFIX_SYNC_STAGING)


def test_the_page_log_is_among_the_prefixes_the_function_is_granted() -> None:
    # Entries of the collection stored under K are `logs/K/{log-id}/{seq:016d}`.
    entry = f"{keys.PREFIX_LOGS}{collection_key('alice')}/0123abcd/{1:016d}"
    assert keys.PREFIX_LOGS in names.OBJECT_PREFIXES
    assert [p for p in names.OBJECT_PREFIXES if entry.startswith(p)] == [keys.PREFIX_LOGS]
    # Log entries are live data, never scratch that expires.
    assert keys.PREFIX_LOGS not in names.SCRATCH_PREFIXES
