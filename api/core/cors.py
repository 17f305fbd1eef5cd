"""What a browser on another origin may send and read: one definition for the app and the stack.

The app's CORS middleware (api/main.py) and the CDK HTTP API's preflight
(cdk/javumbo_infra/http_api.py) both take these lists, and a test checks that the
synthesized template and the app answer the same.
"""

from __future__ import annotations

CORS_ALLOW_METHODS = ("GET", "POST", "PUT", "DELETE")
# `X-Session-ID` is sent by the Javumbo web client on every request once it holds a
# session; `Idempotency-Key` makes answers safe to retry.
CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-Id",
    "X-Session-ID",
)
# Export file names, when to retry, and the request id a bug report should quote.
CORS_EXPOSE_HEADERS = ("Content-Disposition", "Retry-After", "X-Request-Id")
CORS_MAX_AGE_SECONDS = 600
