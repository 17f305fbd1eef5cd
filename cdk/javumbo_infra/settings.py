"""Deploy-time settings, read from CDK context with defaults that match cdk.json."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constructs import Node

from api.core.config import MiB
from javumbo_infra import names

# arn:<partition>:iam::<account>:role/<optional path/>name
ROLE_ARN = re.compile(r"arn:aws[-a-z]*:iam::\d{12}:role/[\w+=,.@/-]+")
# S3's naming rules for general purpose buckets (no uppercase, no underscores).
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class SettingsError(ValueError):
    """A context value that cannot be used; the message names the key."""


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """What an operator may tune per deployment; everything else is fixed by design."""

    cors_origins: tuple[str, ...] = ()
    reserved_concurrency: int | None = None
    memory_mib: int = 1024
    ephemeral_storage_mib: int = 2048
    throttle_rate_limit: int = 50
    throttle_burst_limit: int = 100
    # Alarm thresholds (javumbo_infra/alarms.py): 5xx responses as a percentage of
    # requests, the app's p95 latency, write conflicts retried per 100 requests.
    alarm_5xx_percent: float = 2.0
    alarm_latency_p95_ms: int = 1000
    alarm_conflict_percent: float = 5.0
    # Restricted accounts (javumbo_infra/function.py): the role the function runs as,
    # instead of one the stack creates.
    existing_role_arn: str | None = None
    # Bundled with the function (javumbo_infra/bundling.py): a built web app to serve,
    # and a package every new learner starts with.
    web_dir: Path | None = None
    starter_deck: Path | None = None
    # A CloudFront distribution for full sync downloads too large for a Lambda answer
    # (javumbo_infra/sync_downloads.py); off only where an account cannot create one.
    sync_downloads_cdn: bool = True

    def __post_init__(self) -> None:
        _check_range(names.CTX_MEMORY_MIB, self.memory_mib, 128, 10240)
        # The cache needs room beside the working copy of the collection being written.
        _check_range(names.CTX_EPHEMERAL_STORAGE_MIB, self.ephemeral_storage_mib, 1024, 10240)
        _check_range(names.CTX_THROTTLE_RATE, self.throttle_rate_limit, 1, 10000)
        _check_range(names.CTX_THROTTLE_BURST, self.throttle_burst_limit, 1, 5000)
        _check_percent(names.CTX_ALARM_5XX_PERCENT, self.alarm_5xx_percent)
        _check_percent(names.CTX_ALARM_CONFLICT_PERCENT, self.alarm_conflict_percent)
        # Above the function's 29 s timeout the alarm could never fire.
        _check_range(names.CTX_ALARM_LATENCY_P95_MS, self.alarm_latency_p95_ms, 1, 29_000)
        if self.reserved_concurrency is not None:
            _check_range(names.CTX_RESERVED_CONCURRENCY, self.reserved_concurrency, 1, 10000)
        for origin in self.cors_origins:
            if not origin.startswith(("https://", "http://")) or origin.endswith("/"):
                raise SettingsError(
                    f"{names.CTX_CORS_ORIGINS}: {origin!r} is not an origin "
                    "(scheme://host[:port], no trailing slash)"
                )
        if self.existing_role_arn is not None and not ROLE_ARN.fullmatch(self.existing_role_arn):
            raise SettingsError(
                f"{names.CTX_EXISTING_ROLE_ARN}: {self.existing_role_arn!r} is not an IAM role "
                "ARN (arn:aws:iam::<account id>:role/<name>)"
            )
        if self.web_dir is not None and not (self.web_dir / "index.html").is_file():
            raise SettingsError(
                f"{names.CTX_WEB_DIR}: {self.web_dir} is not a directory with an index.html "
                "(a built web app, e.g. the client's dist/)"
            )
        if self.starter_deck is not None:
            if self.starter_deck.suffix.lower() not in names.STARTER_DECK_SUFFIXES:
                raise SettingsError(
                    f"{names.CTX_STARTER_DECK}: {self.starter_deck.name!r} is not an Anki "
                    f"package ({' or '.join(names.STARTER_DECK_SUFFIXES)})"
                )
            if not self.starter_deck.is_file():
                raise SettingsError(
                    f"{names.CTX_STARTER_DECK}: there is no file {self.starter_deck}"
                )

    @property
    def web_dir_in_function(self) -> str | None:
        """Where the function finds the web app, if one is bundled."""
        if self.web_dir is None:
            return None
        return f"{names.BUNDLE_ROOT}/{names.BUNDLE_WEB_DIR}"

    @property
    def starter_deck_in_function(self) -> str | None:
        """Where the function finds the starter deck, if one is bundled."""
        if self.starter_deck is None:
            return None
        return f"{names.BUNDLE_ROOT}/{names.BUNDLE_STARTER_DIR}/{self.starter_deck.name}"

    @property
    def cache_max_bytes(self) -> int:
        """Three quarters of /tmp: the rest is for the copy being written and scratch files."""
        return self.ephemeral_storage_mib * MiB * 3 // 4

    @classmethod
    def from_context(cls, node: Node) -> StackSettings:
        defaults = cls()
        return cls(
            cors_origins=_origins(node.try_get_context(names.CTX_CORS_ORIGINS)),
            reserved_concurrency=_optional_int(node, names.CTX_RESERVED_CONCURRENCY),
            memory_mib=_int(node, names.CTX_MEMORY_MIB, defaults.memory_mib),
            ephemeral_storage_mib=_int(
                node, names.CTX_EPHEMERAL_STORAGE_MIB, defaults.ephemeral_storage_mib
            ),
            throttle_rate_limit=_int(node, names.CTX_THROTTLE_RATE, defaults.throttle_rate_limit),
            throttle_burst_limit=_int(
                node, names.CTX_THROTTLE_BURST, defaults.throttle_burst_limit
            ),
            alarm_5xx_percent=_float(node, names.CTX_ALARM_5XX_PERCENT, defaults.alarm_5xx_percent),
            alarm_latency_p95_ms=_int(
                node, names.CTX_ALARM_LATENCY_P95_MS, defaults.alarm_latency_p95_ms
            ),
            alarm_conflict_percent=_float(
                node, names.CTX_ALARM_CONFLICT_PERCENT, defaults.alarm_conflict_percent
            ),
            existing_role_arn=_optional_str(node, names.CTX_EXISTING_ROLE_ARN),
            web_dir=_optional_path(node, names.CTX_WEB_DIR),
            starter_deck=_optional_path(node, names.CTX_STARTER_DECK),
            sync_downloads_cdn=_bool(
                node, names.CTX_SYNC_DOWNLOADS_CDN, defaults.sync_downloads_cdn
            ),
        )


def assets_bucket_from_context(node: Node) -> str | None:
    """The bucket to publish assets to with the CLI's credentials, if one is given."""
    name = _optional_str(node, names.CTX_ASSETS_BUCKET)
    if name is not None and not BUCKET_NAME.fullmatch(name):
        raise SettingsError(f"{names.CTX_ASSETS_BUCKET}: {name!r} is not an S3 bucket name")
    return name


def _check_range(key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise SettingsError(f"{key} must be between {low} and {high}, not {value}")


def _check_percent(key: str, value: float) -> None:
    if not 0 < value <= 100:
        raise SettingsError(f"{key} must be a percentage above 0 and at most 100, not {value}")


def _bool(node: Node, key: str, default: bool) -> bool:
    # `cdk deploy -c key=false` passes the string "false"; cdk.json passes false.
    value = node.try_get_context(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise SettingsError(f"{key} must be true or false, not {value!r}")


def _float(node: Node, key: str, default: float) -> float:
    value = node.try_get_context(key)
    if value is None:
        return default
    if isinstance(value, bool):
        raise SettingsError(f"{key} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key} must be a number, not {value!r}") from None
    if number != number:  # NaN
        raise SettingsError(f"{key} must be a number, not {value!r}")
    return number


def _as_int(key: str, value: Any) -> int:
    # `cdk deploy -c key=5` passes the string "5"; cdk.json passes the number 5.
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise SettingsError(f"{key} must be an integer, not {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{key} must be an integer, not {value!r}") from None


def _int(node: Node, key: str, default: int) -> int:
    value = node.try_get_context(key)
    return default if value is None else _as_int(key, value)


def _optional_int(node: Node, key: str) -> int | None:
    value = node.try_get_context(key)
    return None if value in (None, "", "null") else _as_int(key, value)


def _optional_str(node: Node, key: str) -> str | None:
    value = node.try_get_context(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SettingsError(f"{key} must be a string, not {value!r}")
    text = value.strip()
    return None if text in ("", "null") else text


def _optional_path(node: Node, key: str) -> Path | None:
    # Relative paths are from where the app runs: cdk/ for the CDK CLI.
    text = _optional_str(node, key)
    return None if text is None else Path(text).expanduser().resolve()


def _origins(value: Any) -> tuple[str, ...]:
    # cdk.json gives a list; `-c javumbo:corsOrigins=...` gives a JSON list or a comma list.
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(f"{names.CTX_CORS_ORIGINS} must be a list of origins, not {value!r}")
    return tuple(item.strip() for item in value if item.strip())
