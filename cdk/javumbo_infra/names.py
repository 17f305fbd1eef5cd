"""Names shared by the stack, its constructs, the app's settings and the tests."""

from __future__ import annotations

# The app's own names: the bucket's layout and its settings' environment variables.
from api.core.config import env_name
from api.core.names import (
    PREFIX_COLLECTIONS,
    PREFIX_EXPORTS,
    PREFIX_LOGS,
    PREFIX_MEDIA,
    PREFIX_SYNC_DOWNLOADS,
    PREFIX_SYNC_STAGING,
    PREFIX_UPLOADS,
)

STACK_NAME = "Javumbo"

# The Lambda entry point, inside the bundle (api/lambda_handler.py).
HANDLER = "api.lambda_handler.handler"

# The project's own packages: copied into the bundle beside the dependencies.
APP_PACKAGES = ("api", "auth", "collection", "storage")

# Key prefixes in the collections bucket that the function may read and write.
OBJECT_PREFIXES = (
    PREFIX_COLLECTIONS,
    PREFIX_LOGS,
    PREFIX_MEDIA,
    PREFIX_UPLOADS,
    PREFIX_EXPORTS,
    PREFIX_SYNC_STAGING,
    PREFIX_SYNC_DOWNLOADS,
)
# Scratch objects (import uploads, export files, the staged calls of a normal sync, large
# full-sync downloads) are never kept longer than a day (cdk/javumbo_infra/storage.py).
SCRATCH_PREFIXES = (PREFIX_UPLOADS, PREFIX_EXPORTS, PREFIX_SYNC_STAGING, PREFIX_SYNC_DOWNLOADS)

# Partition keys and TTL attribute: what auth/dynamodb.py uses (README: Configuration).
USERS_PARTITION_KEY = "username"
AUTH_PARTITION_KEY = "pk"
AUTH_TTL_ATTRIBUTE = "expires_at"

# The function's environment: the variables api/core/config.py reads, named from its
# Settings fields (env_name raises for a field that does not exist, stopping the synth).
ENV_BACKEND = env_name("backend")
ENV_BUCKET = env_name("bucket")
ENV_USERS_TABLE = env_name("users_table")
ENV_AUTH_TABLE = env_name("auth_table")
ENV_JWT_SECRET_ARN = env_name("jwt_secret_arn")
ENV_CACHE_DIR = env_name("cache_dir")
ENV_CACHE_MAX_BYTES = env_name("cache_max_bytes")
CACHE_DIR = "/tmp/javumbo-cache"  # noqa: S108 (Lambda's only writable disk)
ENV_WEB_DIR = env_name("web_dir")
ENV_STARTER_DECK = env_name("starter_deck")
ENV_SYNC_DOWNLOAD_URL = env_name("sync_download_url")

# Where the bundle is on Lambda (the function's code directory), and the optional
# extras copied into it beside the app packages: the web app's files, a starter deck.
BUNDLE_ROOT = "/var/task"
BUNDLE_WEB_DIR = "web"
BUNDLE_STARTER_DIR = "starter"
STARTER_DECK_SUFFIXES = (".apkg", ".colpkg")

# Context keys (cdk.json, or `cdk deploy -c key=value`).
# The CloudFront distribution for large sync downloads (false: none; such downloads fail).
CTX_SYNC_DOWNLOADS_CDN = "javumbo:syncDownloadsCdn"
CTX_CORS_ORIGINS = "javumbo:corsOrigins"
CTX_RESERVED_CONCURRENCY = "javumbo:reservedConcurrency"
CTX_MEMORY_MIB = "javumbo:memoryMiB"
CTX_EPHEMERAL_STORAGE_MIB = "javumbo:ephemeralStorageMiB"
CTX_THROTTLE_RATE = "javumbo:throttleRateLimit"
CTX_THROTTLE_BURST = "javumbo:throttleBurstLimit"
CTX_ALARM_5XX_PERCENT = "javumbo:alarm5xxPercent"
CTX_ALARM_LATENCY_P95_MS = "javumbo:alarmLatencyP95Ms"
CTX_ALARM_CONFLICT_PERCENT = "javumbo:alarmConflictPercent"
# Restricted (lab) accounts: run the function as this existing role and create no IAM.
CTX_EXISTING_ROLE_ARN = "javumbo:existingRoleArn"
# Publish assets to this bucket with the CLI's credentials: no bootstrap stack needed.
CTX_ASSETS_BUCKET = "javumbo:assetsBucket"
# A built single-page web app (index.html, assets/) served by the function.
CTX_WEB_DIR = "javumbo:webDir"
# An Anki package every new learner's collection starts with.
CTX_STARTER_DECK = "javumbo:starterDeck"

# Where assets go in the assets bucket (cdk/app.py).
ASSETS_BUCKET_PREFIX = "javumbo-assets/"

# Routes without a bearer token: every other route checks the token in the application.
PUBLIC_ROUTES = ("/health", "/api/register", "/api/login", "/api/token", "/docs", "/openapi.json")
