"""The rounds of tests/sync/rounds.py on the AWS backend: two app instances under
uvicorn against a moto server (host keys and sync state in the DynamoDB auth table;
collections, page logs, staged calls and media in S3), behind a proxy that sends the
calls of one sync to either instance; media added and deleted on both devices and in
the web app travel with every sync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from storage.s3 import S3ObjectStore
from tests.support.app_server import AppServer
from tests.support.aws_env import provision
from tests.support.moto_server import MotoServer
from tests.sync.proxy import AlternatingProxy
from tests.sync.rounds import MEDIA_CHANGES, Deployment, run_rounds

pytestmark = [pytest.mark.interop, pytest.mark.integration]


@pytest.fixture(scope="module")
def deployment(
    moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("rounds-aws")
    env = provision(moto_server, tmp)
    servers: list[AppServer] = []
    try:
        for name in ("first", "second"):
            (tmp / name).mkdir()
            instance = {
                **env,
                "JAVUMBO_CACHE_DIR": str(tmp / f"cache-{name}"),
                # Small chunks, so that the server's rows cross in several; a small
                # media download cap, so that files come down in several answers.
                "JAVUMBO_SYNC_CHUNK_MAX_BYTES": "3000",
                "JAVUMBO_SYNC_MEDIA_DOWNLOAD_MAX_BYTES": "6000",
            }
            servers.append(AppServer(instance, cwd=tmp / name).start())
        proxy = AlternatingProxy([s.url for s in servers], seed=7).start()
        client = boto3.client(
            "s3",
            endpoint_url=moto_server.url,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )
        objects = S3ObjectStore(client, env["JAVUMBO_BUCKET"])
        yield Deployment(servers[0], servers[1], proxy, objects)
        proxy.stop()
    finally:
        for server in servers:
            server.stop()


def test_two_devices_and_the_web_app_stay_on_one_collection_with_media_on_aws(
    deployment: Deployment, tmp_path: Path
) -> None:
    before = len(deployment.proxy.seen)
    done = run_rounds(
        deployment, deployment.proxy.url, tmp_path, "aws-rounds", rounds=4, media=True
    )
    assert min(done[kind] for kind in MEDIA_CHANGES) > 0, done
    seen = deployment.proxy.seen[before:]
    for path in ("/sync/applyChanges", "/sync/chunk", "/sync/finish", "/msync/mediaChanges"):
        assert {i for p, i in seen if p == path} == {0, 1}, path
    calls = [p for p, _ in seen]
    for path in ("/msync/begin", "/msync/uploadChanges", "/msync/downloadFiles"):
        assert path in calls, path
    assert deployment.objects.list("sync_staging/aws-rounds/") == []
