"""Figures, targets and reports of the benchmark, on made-up results."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.run import Options
from bench.stats import Call, app_figures, aws_figures, latency_ms, percentile


def test_percentile_interpolates_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25.0
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile([5.0], 95) == 5.0
    assert math.isnan(percentile([], 50))
    assert latency_ms([Call("next", 0.010, 200), Call("next", 0.030, 200)])["p50"] == 20.0


def _line(route: str, method: str, cache: str, requests: int, **extra: Any) -> dict[str, Any]:
    return {
        "route": route,
        "method": method,
        "cache": cache,
        "storageRequests": requests,
        "storageBytesIn": extra.get("bytes_in", 0),
        "storageBytesOut": 0,
        "conflictsRetried": extra.get("conflicts", 0),
        "status": extra.get("status", 200),
        "latencyMs": 12.5,
    }


def test_app_figures_from_request_lines() -> None:
    lines = [
        _line("/api/review", "GET", "revalidated", 1),
        _line("/api/review", "POST", "hit", 1),
        _line("/api/review", "POST", "miss", 3, bytes_in=900, conflicts=1),
        _line("/api/me", "GET", "none", 0, status=503),
    ]
    figures = app_figures(lines)
    assert figures["cacheHitRate"] == round(2 / 3, 4)  # `none` touched no collection
    assert figures["conflictsRetried"] == 1
    assert figures["status5xx"] == 1
    post = figures["routes"]["POST /api/review"]
    assert post["calls"] == 2
    assert post["storageRequestsMax"] == 3
    assert post["storageBytesInPerCall"] == 450
    assert post["cache"] == {"hit": 1, "miss": 1}


def test_aws_figures_per_call() -> None:
    proxy = {
        "connections": 0,
        "services": {
            "s3": {"requests": 3, "bytesUp": 100, "bytesDown": 50, "methods": {}, "statuses": {}},
            "dynamodb": {"requests": 4},
        },
    }
    figures = aws_figures(proxy, calls=2)
    assert figures["s3"]["requestsPerCall"] == 1.5
    assert figures["s3"]["bytesPerCall"] == 75
    assert figures["otherAws"]["dynamodb"]["requestsPerCall"] == 2
    assert figures["awsConnectionsOpened"] == 0


def _scenario(
    *, wall: float, p50: float, routes: dict[str, dict[str, Any]], dynamo: float = 2.0
) -> dict[str, Any]:
    latency = {"p50": p50, "p95": p50 * 1.2, "mean": p50, "n": 10}
    return {
        "calls": 10,
        "errors": 0,
        "wallSeconds": wall,
        "throughputPerSecond": 10 / wall,
        "latencyMs": {kind: latency for kind in ("all", "next", "answer", "read")},
        "s3": {"requestsPerCall": 1.0, "bytesPerCall": 0.0, "methods": {"GET": 5, "PUT": 5}},
        "otherAws": {"dynamodb": {"requests": 20, "requestsPerCall": dynamo}},
        "awsConnectionsOpened": 0,
        "app": {"cacheHitRate": 1.0, "conflictsRetried": 0, "routes": routes},
        "collectionBytes": 1000,
        "coldFirstReadMs": 50.0,
    }


def _route(requests: int, cache: str, bytes_in: float = 0) -> dict[str, Any]:
    return {
        "calls": 10,
        "storageRequestsPerCall": requests,
        "storageRequestsMax": requests,
        "storageBytesInPerCall": bytes_in,
        "storageBytesOutPerCall": 0,
        "cache": {cache: 10},
        "serverLatencyMsP50": 10.0,
    }


@pytest.fixture
def results() -> dict[str, Any]:
    review = {
        "GET /api/review": _route(1, "revalidated"),
        "POST /api/review": _route(1, "hit"),
    }
    reads = {"GET /api/decks/current": _route(1, "revalidated")}
    naive_review = {
        "GET /api/review": _route(1, "none", 5000),
        "POST /api/review": _route(2, "none"),
    }
    return {
        "machine": report.machine("python -m bench"),
        "options": dataclasses.asdict(Options()),
        "scenarios": {
            "ours.small.review": _scenario(wall=2.0, p50=30.0, routes=review),
            "ours.large.review": _scenario(wall=2.2, p50=40.0, routes=review),
            "naive.small.review": _scenario(wall=7.0, p50=90.0, routes=naive_review),
            "naive.large.review": _scenario(wall=9.0, p50=120.0, routes=naive_review),
            "ours.small.reads": _scenario(wall=1.0, p50=40.0, routes=reads),
            "ours.large.reads": _scenario(wall=1.0, p50=41.0, routes=reads),
        },
        "roundTrips": {
            "s3ConditionalGet304": {"p50": 22.0, "p95": 23.0},
            "dynamodbGetItem": {"p50": 7.0, "p95": 8.0},
        },
        "imports": {
            "environment": "runtime dependencies only",
            "handler": {"medianMs": 400.0, "runsMs": [400.0]},
            "dependencies": {"medianMs": 300.0, "runsMs": [300.0]},
        },
    }


def _verdicts(results: dict[str, Any]) -> dict[str, bool]:
    return {target.name: target.passed for target in report.evaluate(results)}


def test_every_target_passes_on_good_figures(results: dict[str, Any]) -> None:
    verdicts = _verdicts(results)
    assert len(verdicts) == 10
    assert all(verdicts.values()), verdicts


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        (("ours.large.review", "GET /api/review", "storageRequestsMax", 2), "next card (GET"),
        (
            ("ours.small.reads", "GET /api/decks/current", "storageBytesInPerCall", 10),
            "warm read (GET",
        ),
        (("ours.small.review", "POST /api/review", "cache", {"miss": 10}), "write (POST"),
    ],
)
def test_request_targets_fail_on_extra_requests_bodies_or_misses(
    results: dict[str, Any], change: tuple[str, str, str, Any], failing: str
) -> None:
    scenario, route, field, value = change
    results["scenarios"][scenario]["app"]["routes"][route][field] = value
    failed = [name for name, ok in _verdicts(results).items() if not ok]
    assert len(failed) == 1 and failed[0].startswith(failing), failed


def test_latency_targets(results: dict[str, Any]) -> None:
    slow = copy.deepcopy(results)
    slow["scenarios"]["ours.large.review"]["latencyMs"]["next"]["p50"] = 61.0  # > 2 x 30
    # 1.5 x (22 + 2 x 7) = 54
    slow["scenarios"]["ours.small.reads"]["latencyMs"]["read"]["p50"] = 54.5
    slow["scenarios"]["naive.small.review"]["wallSeconds"] = 5.9  # < 3 x 2.0
    slow["imports"]["handler"]["medianMs"] = 451.0  # > 1.5 x 300
    failed = sorted(name for name, ok in _verdicts(slow).items() if not ok)
    assert [name.split(":")[0].split(" (")[0] for name in failed] == [
        "cold import of the Lambda handler within 1.5x of its dependencies",
        "next card",
        "review session at least 3x faster than the naive baseline",
        "warm read p50 within 1.5x of its round trips",
    ]


def test_reports_are_written(results: dict[str, Any], tmp_path: Path) -> None:
    targets = report.evaluate(results)
    report.write_json(tmp_path / "b.json", results, targets)
    saved = json.loads((tmp_path / "b.json").read_text())
    assert len(saved["targets"]) == len(targets)
    text = report.markdown(results, targets)
    assert text.startswith("# Benchmarks")
    assert "| review session, 20 000 cards, **naive** |" in text
    assert text.count("| PASS |") == len(targets)
    assert "## How it is measured" in text
