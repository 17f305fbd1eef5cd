"""Counts the HTTP requests an S3 client really sends, through botocore's event hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Exchange:
    method: str
    headers: dict[str, str]
    status: int = 0
    body_bytes: int = 0


@dataclass
class S3RequestLog:
    exchanges: list[Exchange] = field(default_factory=list)

    def attach(self, client: Any) -> S3RequestLog:
        client.meta.events.register("before-send.s3", self._before_send)
        client.meta.events.register("after-call.s3", self._after_call)
        return self

    def _before_send(self, request: Any, **_: Any) -> None:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        self.exchanges.append(Exchange(method=request.method, headers=headers))

    def _after_call(self, http_response: Any, **_: Any) -> None:
        if self.exchanges:
            self.exchanges[-1].status = http_response.status_code
            # Reading .content here would consume a streamed body; the header tells.
            length = http_response.headers.get("content-length") or 0
            self.exchanges[-1].body_bytes = int(length)

    def clear(self) -> None:
        self.exchanges.clear()

    @property
    def methods(self) -> list[str]:
        return [e.method for e in self.exchanges]
