"""The benchmark's latency proxy: transparent to boto3, delays and counts per service."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from bench.proxy import (
    DEFAULT_BANDWIDTH_MBPS,
    LatencyProxy,
    bytes_per_second,
    request_delay,
    service_of,
    transfer_seconds,
)
from tests.support.moto_server import MotoServer

S3_DELAY = 0.05
OTHER_DELAY = 0.02


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[LatencyProxy]:
    started = LatencyProxy(moto_server.url, s3_latency=S3_DELAY, other_latency=OTHER_DELAY)
    started.start()
    yield started
    started.stop()


def _client(service: str, proxy: LatencyProxy) -> Any:
    session: Any = boto3.session.Session()
    return session.client(
        service,
        endpoint_url=proxy.url,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


def test_s3_through_the_proxy_is_unchanged_and_counted(proxy: LatencyProxy, bucket: str) -> None:
    s3 = _client("s3", proxy)
    body = bytes(range(256)) * 4096  # 1 MiB, sent aws-chunked with a checksum trailer
    etag = s3.put_object(Bucket=bucket, Key="k", Body=body)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == len(body)
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=etag)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304

    counted = proxy.snapshot()
    s3_stats = counted["services"]["s3"]
    assert s3_stats["requests"] == 4
    assert s3_stats["methods"] == {"PUT": 1, "GET": 2, "HEAD": 1}
    assert s3_stats["statuses"] == {"200": 3, "304": 1}
    assert s3_stats["bytesDown"] == len(body)
    assert len(body) <= s3_stats["bytesUp"] < len(body) + 1024  # plus aws-chunked framing
    assert counted["connections"] == 1  # one kept-alive connection for all four


def test_latency_is_added_per_service(proxy: LatencyProxy, bucket: str) -> None:
    s3 = _client("s3", proxy)
    dynamodb = _client("dynamodb", proxy)
    s3.head_bucket(Bucket=bucket)
    started = time.perf_counter()
    s3.head_bucket(Bucket=bucket)
    assert time.perf_counter() - started >= S3_DELAY
    started = time.perf_counter()
    dynamodb.list_tables()
    elapsed = time.perf_counter() - started
    assert elapsed >= OTHER_DELAY
    assert set(proxy.snapshot()["services"]) == {"s3", "dynamodb"}


def test_control_paths_read_and_reset_the_counters(proxy: LatencyProxy, bucket: str) -> None:
    _client("s3", proxy).head_bucket(Bucket=bucket)
    assert httpx.get(f"{proxy.url}/__bench/stats").json()["services"]["s3"]["requests"] == 1
    assert len(httpx.get(f"{proxy.url}/__bench/events").json()) == 1
    httpx.post(f"{proxy.url}/__bench/reset")
    assert httpx.get(f"{proxy.url}/__bench/stats").json() == {
        "connections": 0,
        "inFlight": 0,
        "services": {},
    }
    assert httpx.get(f"{proxy.url}/__bench/events").json() == []


def test_every_request_is_kept_as_an_event(proxy: LatencyProxy, bucket: str) -> None:
    s3 = _client("s3", proxy)
    before = time.monotonic()
    s3.put_object(Bucket=bucket, Key="dir/a b", Body=b"x" * 1000)
    s3.get_object(Bucket=bucket, Key="dir/a b")["Body"].read()
    s3.list_objects_v2(Bucket=bucket, Prefix="dir/")
    after = time.monotonic()
    put, get, listed = proxy.events()
    assert (put["method"], put["path"], put["status"]) == ("PUT", f"/{bucket}/dir/a b", 200)
    assert put["up"] == 1000 and get["down"] == 1000
    assert listed["path"] == f"/{bucket}" and "list-type=2" in listed["query"]
    # On the clock the benchmark's clients read, and in order.
    assert before <= put["start"] <= put["end"] <= get["start"] <= listed["end"] <= after


def test_latency_can_be_changed_while_running(proxy: LatencyProxy) -> None:
    response = httpx.post(f"{proxy.url}/__bench/latency", json={"s3Ms": 7, "otherMs": 9})
    response.raise_for_status()
    assert (proxy.s3_latency, proxy.other_latency) == (0.007, 0.009)
    assert proxy.delay_for("dynamodb", 0) == 0.009


def test_bandwidth_limit_charges_the_body(moto_server: MotoServer, bucket: str) -> None:
    slow = LatencyProxy(
        moto_server.url, s3_latency=0, other_latency=0, bandwidth_bytes_per_s=2_000_000
    ).start()
    try:
        s3 = _client("s3", slow)
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key="big", Body=b"x" * 200_000)
        assert time.perf_counter() - started >= 0.1
    finally:
        slow.stop()


def test_bandwidth_is_given_in_megabits() -> None:
    assert DEFAULT_BANDWIDTH_MBPS == 800
    assert bytes_per_second(800) == 100e6  # bytes per second
    assert bytes_per_second(0) is None  # no limit
    with pytest.raises(ValueError, match="negative"):
        bytes_per_second(-1)


@pytest.mark.parametrize(
    ("size", "bandwidth", "seconds"),
    [
        (100_000_000, 100e6, 1.0),  # n bytes take n / 100e6 s at 800 Mbit/s
        (45_000_000, 100e6, 0.45),
        (64 * 1024, 100e6, 0.00065536),
        (0, 100e6, 0.0),
        (1_000_000, None, 0.0),  # unlimited
    ],
)
def test_transfer_time(size: int, bandwidth: float | None, seconds: float) -> None:
    assert transfer_seconds(size, bandwidth) == pytest.approx(seconds)


def test_a_request_waits_for_its_latency_then_its_body() -> None:
    limits: dict[str, Any] = {"s3_latency": 0.02, "other_latency": 0.005, "bandwidth": 100e6}
    assert request_delay("s3", 0, **limits) == pytest.approx(0.02)
    assert request_delay("s3", 45_000_000, **limits) == pytest.approx(0.47)
    assert request_delay("dynamodb", 1_000, **limits) == pytest.approx(0.00501)
    assert request_delay("s3", 45_000_000, **(limits | {"bandwidth": None})) == 0.02


def _signed(service: str) -> dict[str, str]:
    scope = f"k/20250101/us-east-1/{service}/aws4_request"
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host"}


@pytest.mark.parametrize(
    ("headers", "service"),
    [
        (_signed("s3"), "s3"),
        (_signed("dynamodb"), "dynamodb"),
        ({"X-Amz-Target": "secretsmanager.GetSecretValue"}, "secretsmanager"),
        ({}, "s3"),
    ],
)
def test_service_is_read_from_the_signature(headers: dict[str, str], service: str) -> None:
    assert service_of(headers) == service
