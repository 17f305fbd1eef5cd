"""The Lambda handler, in a fresh process in aws mode, answering API Gateway events.

The child imports ``api.lambda_handler`` exactly as Lambda does, with S3, DynamoDB and
Secrets Manager on a moto server, and answers one event per line of its stdin.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aws_env import provision
from tests.support.lambda_events import http_api_event, rest_api_event
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
import api.lambda_handler as module
# Importing must not have built any client: that waits for the first request.
built = module.app.state.services._services is not None
# Nor loaded what only some requests need: packages and password hashing.
loaded = sorted(m for m in ("collection.apkg", "zstandard", "passlib") if m in sys.modules)
print("ANSWER " + json.dumps({"services_built_at_import": built, "loaded": loaded}), flush=True)
for line in sys.stdin:
    print("ANSWER " + json.dumps(module.handler(json.loads(line), None)), flush=True)
"""


class Lambda:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.log_lines: list[dict[str, Any]] = []
        self.import_report = self._answer()

    def _answer(self) -> dict[str, Any]:
        """The next answer; the request log lines the app prints meanwhile are kept."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("ANSWER "):
                return dict(json.loads(line.removeprefix("ANSWER ")))
            if line.startswith("{"):
                self.log_lines.append(json.loads(line))
        raise AssertionError("the handler process died")

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(30)


@pytest.fixture(scope="module")
def invoke(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lambda]:
    import os

    env = {
        **os.environ,
        **provision(moto_server, tmp_path_factory.mktemp("lambda")),
        "AWS_LAMBDA_FUNCTION_NAME": "javumbo-api",  # as Lambda sets it
    }
    function = Lambda(env)
    yield function
    function.close()


def body_of(response: dict[str, Any]) -> Any:
    raw = response.get("body") or ""
    if response.get("isBase64Encoded"):
        import base64

        raw = base64.b64decode(raw).decode()
    return json.loads(raw) if raw else None


def test_nothing_is_built_at_import(invoke: Lambda) -> None:
    assert invoke.import_report == {"services_built_at_import": False, "loaded": []}


@pytest.mark.parametrize(
    "make_event", [http_api_event, rest_api_event], ids=["http-api-v2", "rest-api-v1"]
)
def test_register_login_read_and_write(
    invoke: Lambda, make_event: Callable[..., dict[str, Any]]
) -> None:
    username = f"user-{make_event.__name__[:4]}"
    password = "correct horse battery"
    registered = invoke(
        make_event(
            "POST",
            "/api/register",
            body={"username": username, "name": "Ann", "password": password},
        )
    )
    assert registered["statusCode"] == 201, registered
    assert body_of(registered) == {"username": username, "name": "Ann"}

    logged_in = invoke(
        make_event("POST", "/api/login", body={"username": username, "password": password})
    )
    assert logged_in["statusCode"] == 200
    auth = {"Authorization": f"Bearer {body_of(logged_in)['access_token']}"}

    me = invoke(make_event("GET", "/api/me", headers=auth))
    assert (me["statusCode"], body_of(me)["username"]) == (200, username)

    created = invoke(make_event("POST", "/api/decks", body={"name": "Lambda::Deck"}, headers=auth))
    assert created["statusCode"] == 201
    deck_id = body_of(created)["id"]
    card = invoke(
        make_event(
            "POST",
            "/api/cards",
            body={"front": "¿sí?", "back": "yes", "deckId": deck_id},
            headers=auth,
        )
    )
    assert card["statusCode"] == 201

    listed = invoke(
        make_event("GET", f"/api/decks/{deck_id}/cards", query={"perPage": "5"}, headers=auth)
    )
    assert listed["statusCode"] == 200
    page = body_of(listed)
    assert [c["front"] for c in page["cards"]] == ["¿sí?"]
    assert page["pagination"]["perPage"] == 5

    refused = invoke(make_event("GET", "/api/me"))
    assert refused["statusCode"] == 401
    # The request lines carry Lambda's embedded metrics.
    assert invoke.log_lines
    assert all("_aws" in line for line in invoke.log_lines[-3:])


@pytest.mark.parametrize(
    "make_event", [http_api_event, rest_api_event], ids=["http-api-v2", "rest-api-v1"]
)
def test_binary_export_comes_back_base64_encoded(
    invoke: Lambda, make_event: Callable[..., dict[str, Any]]
) -> None:
    import base64
    import io
    import zipfile

    username = f"exp-{make_event.__name__[:4]}"
    password = "correct horse battery"
    invoke(
        make_event(
            "POST", "/api/register", body={"username": username, "name": "E", "password": password}
        )
    )
    token = body_of(
        invoke(make_event("POST", "/api/login", body={"username": username, "password": password}))
    )["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    invoke(make_event("POST", "/api/cards", body={"front": "q", "back": "a"}, headers=auth))

    exported = invoke(make_event("GET", "/api/export", headers=auth))
    assert exported["statusCode"] == 200
    assert exported["isBase64Encoded"] is True
    headers = {k.lower(): v for k, v in exported["headers"].items()}
    assert headers["content-type"] == "application/octet-stream"
    assert "attachment" in headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(exported["body"]))) as archive:
        assert set(archive.namelist()) == {"collection.anki2", "media"}
