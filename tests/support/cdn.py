"""A stand-in for the sync downloads CDN (cdk/javumbo_infra/sync_downloads.py): GETs
forwarded to an S3 endpoint with their path and query unchanged, and every answer run
through the distribution's own CloudFront Function (its JavaScript, in V8)."""

from __future__ import annotations

import http.client
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from py_mini_racer import MiniRacer

from tests.support.local_server import LocalServer

FUNCTION_CODE = (
    Path(__file__).resolve().parents[2] / "cdk" / "javumbo_infra" / "sync_download_headers.js"
)


class ViewerResponseFunction:
    """The CloudFront Function's ``handler``, called with CloudFront's event shape."""

    def __init__(self, code: str | None = None) -> None:
        self._v8 = MiniRacer()
        self._v8.eval(code if code is not None else FUNCTION_CODE.read_text())

    def __call__(self, status: int, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        event = {
            "version": "1.0",
            "context": {"eventType": "viewer-response"},
            "request": {"method": "GET", "uri": "/", "querystring": {}, "headers": {}},
            "response": {
                "statusCode": status,
                "statusDescription": "",
                "headers": {name.lower(): {"value": value} for name, value in headers.items()},
            },
        }
        # Through JSON, as CloudFront hands the function plain objects.
        answer: Any = json.loads(self._v8.eval(f"JSON.stringify(handler({json.dumps(event)}))"))
        out = {name: header["value"] for name, header in answer["headers"].items()}
        return int(answer["statusCode"]), out


class CdnStandIn(LocalServer):
    def __init__(self, origin: str) -> None:
        self.origin = urlsplit(origin)
        self.seen: list[str] = []
        self.function = ViewerResponseFunction()
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                cdn.seen.append(self.path)
                conn = http.client.HTTPConnection(cdn.origin.hostname, cdn.origin.port, timeout=60)
                # No viewer header reaches the origin, as with the distribution's policy.
                conn.request("GET", self.path)
                answer = conn.getresponse()
                body = answer.read()
                conn.close()
                status, headers = cdn.function(answer.status, dict(answer.getheaders()))
                self.send_response(status)
                for name, value in headers.items():
                    if name not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)
