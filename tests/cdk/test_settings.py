"""Deploy-time settings from CDK context, and cdk.json agreeing with the code's defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from javumbo_infra import names
from javumbo_infra.settings import SettingsError, StackSettings, assets_bucket_from_context
from tests.cdk.conftest import CDK_DIR

MIB = 1024 * 1024


def _from(context: dict[str, Any]) -> StackSettings:
    return StackSettings.from_context(App(context=context).node)


def test_cdk_json_context_matches_the_code_defaults() -> None:
    """`python app.py` (no cdk.json) and `cdk deploy` (cdk.json) must build the same stack."""
    cdk_json = json.loads((CDK_DIR / "cdk.json").read_text())
    assert cdk_json["app"] == "python app.py"
    context = cdk_json["context"]
    known = {value for key, value in vars(names).items() if key.startswith("CTX_")}
    assert set(context) == known
    assert _from(context) == StackSettings() == _from({})


def test_context_values_from_the_cli_are_strings() -> None:
    settings = _from(
        {
            names.CTX_CORS_ORIGINS: "https://a.example, https://b.example",
            names.CTX_RESERVED_CONCURRENCY: "3",
            names.CTX_MEMORY_MIB: "1536",
            names.CTX_ALARM_5XX_PERCENT: "0.5",
            names.CTX_ALARM_LATENCY_P95_MS: "800",
            names.CTX_SYNC_DOWNLOADS_CDN: "false",
        }
    )
    assert settings.sync_downloads_cdn is False
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.reserved_concurrency == 3
    assert settings.memory_mib == 1536
    assert settings.alarm_5xx_percent == 0.5
    assert settings.alarm_latency_p95_ms == 800
    assert _from({names.CTX_CORS_ORIGINS: '["https://c.example"]'}).cors_origins == (
        "https://c.example",
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (names.CTX_MEMORY_MIB, 64),
        (names.CTX_MEMORY_MIB, "lots"),
        (names.CTX_EPHEMERAL_STORAGE_MIB, 512),
        (names.CTX_RESERVED_CONCURRENCY, 0),
        (names.CTX_RESERVED_CONCURRENCY, True),
        (names.CTX_THROTTLE_RATE, 0),
        (names.CTX_CORS_ORIGINS, ["app.example.com"]),
        (names.CTX_CORS_ORIGINS, ["https://app.example.com/"]),
        (names.CTX_CORS_ORIGINS, {"origin": "https://app.example.com"}),
        (names.CTX_ALARM_5XX_PERCENT, 0),
        (names.CTX_ALARM_5XX_PERCENT, 101),
        (names.CTX_ALARM_5XX_PERCENT, "some"),
        (names.CTX_ALARM_5XX_PERCENT, "nan"),
        (names.CTX_ALARM_CONFLICT_PERCENT, True),
        (names.CTX_ALARM_CONFLICT_PERCENT, -1),
        (names.CTX_ALARM_LATENCY_P95_MS, 0),
        (names.CTX_ALARM_LATENCY_P95_MS, 30_000),
        (names.CTX_ALARM_LATENCY_P95_MS, 1.5),
        (names.CTX_EXISTING_ROLE_ARN, "LabRole"),
        (names.CTX_EXISTING_ROLE_ARN, "arn:aws:iam::12345:role/LabRole"),
        (names.CTX_EXISTING_ROLE_ARN, "arn:aws:iam::123456789012:user/student"),
        (names.CTX_EXISTING_ROLE_ARN, "arn:aws:iam::123456789012:role/"),
        (names.CTX_EXISTING_ROLE_ARN, "arn:aws:s3:::123456789012:role/LabRole"),
        (names.CTX_EXISTING_ROLE_ARN, 123456789012),
        (names.CTX_SYNC_DOWNLOADS_CDN, "maybe"),
        (names.CTX_SYNC_DOWNLOADS_CDN, 0),
    ],
)
def test_unusable_values_are_refused_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(SettingsError, match=key):
        _from({key: value})


@pytest.mark.parametrize("ephemeral_mib", [1024, 2048, 10240])
def test_cache_budget_leaves_room_in_tmp(ephemeral_mib: int) -> None:
    settings = StackSettings(ephemeral_storage_mib=ephemeral_mib)
    assert 0 < settings.cache_max_bytes <= ephemeral_mib * MIB - 256 * MIB


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/LabRole",
        "arn:aws:iam::123456789012:role/service-role/voc-lab-role",
        "arn:aws-us-gov:iam::123456789012:role/LabRole",
        "arn:aws-cn:iam::123456789012:role/Lab.Role+x=1,y@z",
    ],
)
def test_existing_role_arns_are_accepted(arn: str) -> None:
    assert _from({names.CTX_EXISTING_ROLE_ARN: arn}).existing_role_arn == arn


@pytest.mark.parametrize("value", [None, "", "null"])
def test_no_existing_role_by_default(value: str | None) -> None:
    assert _from({names.CTX_EXISTING_ROLE_ARN: value}).existing_role_arn is None


def test_assets_bucket_is_optional_and_checked() -> None:
    def bucket(value: Any) -> str | None:
        return assets_bucket_from_context(App(context={names.CTX_ASSETS_BUCKET: value}).node)

    assert bucket(None) is None
    assert bucket("") is None
    assert bucket("javumbo-assets-123456789012") == "javumbo-assets-123456789012"
    for unusable in ("Javumbo_Assets", "ab", "-assets", "s3://javumbo-assets", 12345):
        with pytest.raises(SettingsError, match=names.CTX_ASSETS_BUCKET):
            bucket(unusable)


def test_web_dir_must_hold_a_built_app(tmp_path: Path, web_dist: Path) -> None:
    assert _from({names.CTX_WEB_DIR: str(web_dist)}).web_dir == web_dist.resolve()
    assert _from({names.CTX_WEB_DIR: None}).web_dir is None
    (tmp_path / "empty").mkdir()
    for unusable in (tmp_path / "missing", tmp_path / "empty", web_dist / "index.html"):
        with pytest.raises(SettingsError, match=names.CTX_WEB_DIR):
            _from({names.CTX_WEB_DIR: str(unusable)})


def test_relative_paths_are_from_where_the_app_runs(
    web_dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(web_dist.parent)
    assert _from({names.CTX_WEB_DIR: "dist"}).web_dir == web_dist.resolve()


def test_starter_deck_must_be_an_anki_package(tmp_path: Path, starter_deck: Path) -> None:
    assert _from({names.CTX_STARTER_DECK: str(starter_deck)}).starter_deck == starter_deck.resolve()
    colpkg = tmp_path / "collection.COLPKG"
    colpkg.write_bytes(b"")
    assert _from({names.CTX_STARTER_DECK: str(colpkg)}).starter_deck == colpkg.resolve()
    text = tmp_path / "deck.txt"
    text.write_text("front;back\n")
    for unusable in (tmp_path / "missing.apkg", text, tmp_path):
        with pytest.raises(SettingsError, match=names.CTX_STARTER_DECK):
            _from({names.CTX_STARTER_DECK: str(unusable)})
