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
from bench.stats import (
    Call,
    app_figures,
    attribute,
    aws_figures,
    latency_ms,
    percentile,
    s3_key,
    write_figures,
)


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
        "s3": {
            "requests": 10,
            "requestsPerCall": 1.0,
            "bytesUp": 0,
            "bytesDown": 0,
            "bytesPerCall": 0.0,
            "methods": {"GET": 5, "PUT": 5},
        },
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


MB = 1_000_000
ANSWERS = 200


def _day_of_study(collection: int, *, wall: float, answer_p50: float) -> dict[str, Any]:
    """A day of study of the page-log design: 6 compactions in 200 answers."""
    review = {
        "GET /api/review": _route(1, "revalidated"),
        "POST /api/review": _route(1, "hit"),
    }
    scenario = _scenario(wall=wall, p50=40.0, routes=review)
    scenario["latencyMs"]["answer"] = {"p50": answer_p50, "p95": answer_p50, "n": ANSWERS}
    uploaded = 194 * 20_000 + 6 * collection
    scenario["s3"] |= {"bytesUp": uploaded, "requests": 2 * ANSWERS + 6}
    scenario |= {
        "answers": ANSWERS,
        "collectionBytes": collection,
        "writes": {
            "writes": ANSWERS,
            "bytesUp": {"median": 20_000, "mean": uploaded / ANSWERS, "min": 9000, "max": 1e6},
            "s3Requests": {"median": 1, "mean": 1.03, "min": 1, "max": 2},
            "compactions": 6,
            "plain": {
                "writes": 194,
                "s3RequestsMax": 1,
                "methods": {"PUT": 194},
                "bytesDown": 0,
                "cache": {"hit": 194},
                "requestLines": 194,
            },
            "between": {"s3Requests": 0, "bytesUp": 0},
        },
        "storage": {"retainedBytes": uploaded},
    }
    return scenario


def _naive(wall: float, answers: int = 20) -> dict[str, Any]:
    routes = {
        "GET /api/review": _route(2, "none", 5000),
        "POST /api/review": _route(2, "none"),
    }
    scenario = _scenario(wall=wall, p50=90.0, routes=routes)
    scenario["s3"]["requestsPerCall"] = 2.0
    return scenario | {"answers": answers}


@pytest.fixture
def results() -> dict[str, Any]:
    reads = {"GET /api/decks/current": _route(1, "revalidated")}
    cold = _scenario(wall=1.0, p50=900.0, routes=reads)
    cold["s3"]["requests"] = 32
    cold |= {
        "log": {"snapshotSeq": 217, "newestSeq": 247, "beyondSnapshot": 30, "entriesListed": 247},
        "compactionEntries": 31,
        "answersToTopUp": 17,
    }
    uniform = _scenario(wall=1.0, p50=35.0, routes=reads) | {"awsLatencyMs": 20.0}
    return {
        "machine": report.machine("python -m bench"),
        "options": dataclasses.asdict(Options()),
        "durationSeconds": 600.0,
        "scenarios": {
            # 40 ms a pair: 200 pairs in 8 s
            "ours.small.review": _day_of_study(150_000, wall=8.0, answer_p50=44.0),
            "ours.large.review": _day_of_study(9 * MB, wall=9.0, answer_p50=50.0),
            "ours.huge.review": _day_of_study(45 * MB, wall=12.0, answer_p50=55.0),
            "naive.small.review": _naive(wall=2.0),
            "naive.large.review": _naive(wall=10.0),  # 500 ms a pair vs 45: 11x
            "naive.huge.review": _naive(wall=40.0),  # 2 s a pair vs 60 ms: 33x
            "ours.small.reads": _scenario(wall=1.0, p50=40.0, routes=reads),
            "ours.large.reads": _scenario(wall=1.0, p50=41.0, routes=reads),
            "ours.huge.reads": _scenario(wall=1.0, p50=41.0, routes=reads),
            "ours.large.reads-uniform": uniform,
            "ours.huge.cold": cold,
        },
        "roundTrips": {
            "s3ConditionalGet304": {"p50": 22.0, "p95": 23.0},
            "dynamodbGetItem": {"p50": 7.0, "p95": 8.0},
            "uniform": {
                "s3ConditionalGet304": {"p50": 24.0, "p95": 25.0},
                "dynamodbGetItem": {"p50": 23.0, "p95": 24.0},
            },
        },
        "imports": {
            "environment": "runtime dependencies only",
            "handler": {"medianMs": 400.0, "runsMs": [400.0]},
            "dependencies": {"medianMs": 300.0, "runsMs": [300.0]},
        },
        "render": _render({"basic": 0.2, "cloze": 0.4, "custom": 0.6, "long": 0.3}, 0.3),
    }


def _render(p50s: dict[str, float], overall: float) -> dict[str, Any]:
    """What bench/render.py reports: each kind's figures and every run's together."""

    def lat(p50: float, n: int) -> dict[str, float]:
        return {"p50": p50, "p95": 2 * p50, "mean": 1.1 * p50, "n": n}

    return {
        "runsPerKind": 100,
        "warmupPerKind": 10,
        "modelsJsonBytes": 12_000,
        "kinds": {
            key: {
                "label": f"a {key} card",
                "cards": 1,
                "fieldBytes": 300,
                "cssBytes": 150,
                "latencyMs": lat(p50, 100),
            }
            for key, p50 in p50s.items()
        },
        "all": lat(overall, 100 * len(p50s)),
    }


def _verdicts(results: dict[str, Any]) -> dict[str, bool]:
    return {target.name: target.passed for target in report.evaluate(results)}


def _failed(results: dict[str, Any]) -> list[str]:
    return sorted(name for name, ok in _verdicts(results).items() if not ok)


def test_every_target_passes_on_good_figures(results: dict[str, Any]) -> None:
    verdicts = _verdicts(results)
    assert len(verdicts) == 20
    assert all(verdicts.values()), verdicts


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        (("ours.large.review", "GET /api/review", "storageRequestsMax", 2), "next card (GET"),
        (
            ("ours.small.reads", "GET /api/decks/current", "storageBytesInPerCall", 10),
            "warm read (GET",
        ),
        (("ours.huge.reads", "GET /api/decks/current", "cache", {"miss": 10}), "warm read (GET"),
    ],
)
def test_request_targets_fail_on_extra_requests_bodies_or_misses(
    results: dict[str, Any], change: tuple[str, str, str, Any], failing: str
) -> None:
    scenario, route, field, value = change
    results["scenarios"][scenario]["app"]["routes"][route][field] = value
    failed = _failed(results)
    assert len(failed) == 1 and failed[0].startswith(failing), failed


@pytest.mark.parametrize(
    "change",
    [
        {"s3RequestsMax": 2},  # a write that was not a compaction made a second request
        {"methods": {"PUT": 193, "GET": 1}},
        {"cache": {"hit": 193, "miss": 1}},
        {"writes": 0, "s3RequestsMax": 0, "methods": {}, "cache": {}},  # only compactions
    ],
)
def test_the_write_target_holds_every_plain_write_to_one_put(
    results: dict[str, Any], change: dict[str, Any]
) -> None:
    results["scenarios"]["ours.large.review"]["writes"]["plain"] |= change
    if not change.get("writes", 1):
        results["scenarios"]["ours.large.review"]["writes"]["compactions"] = 7  # of 7 writes
        results["scenarios"]["ours.large.review"]["writes"]["writes"] = 7
    assert [name.split(" (")[0] for name in _failed(results)] == ["write"]


def test_the_write_target_allows_one_compaction_in_compaction_entries(
    results: dict[str, Any],
) -> None:
    writes = results["scenarios"]["ours.small.review"]["writes"]
    writes["compactions"] = 7  # ceil(200 / 31)
    assert not _failed(results)
    writes["compactions"] = 8
    assert [name.split(" (")[0] for name in _failed(results)] == ["write"]


def test_whole_file_writes_fail_the_byte_and_storage_targets(results: dict[str, Any]) -> None:
    """What the design replaced: every answer uploads (and leaves) the whole file."""
    for size, collection in (("large", 9 * MB), ("huge", 45 * MB)):
        scenario = results["scenarios"][f"ours.{size}.review"]
        scenario["s3"]["bytesUp"] = ANSWERS * collection
        scenario["writes"]["bytesUp"]["median"] = collection
        scenario["writes"]["compactions"] = 0
        scenario["storage"]["retainedBytes"] = ANSWERS * collection
    failed = _failed(results)
    assert len(failed) == 6
    assert all(
        name.startswith(("bytes uploaded per answer", "S3 storage a day of study"))
        for name in failed
    ), failed


@pytest.mark.parametrize(
    ("size", "field", "limit"),
    [
        ("large", "median", 64 * 1024),
        ("huge", "median", 64 * 1024),
    ],
)
def test_median_upload_per_answer_limit(
    results: dict[str, Any], size: str, field: str, limit: int
) -> None:
    uploads = results["scenarios"][f"ours.{size}.review"]["writes"]["bytesUp"]
    uploads[field] = limit
    assert not _failed(results)
    uploads[field] = limit + 1
    assert _failed(results) == [f"bytes uploaded per answer, median ({_CARDS[size]} cards)"]


_CARDS = {"small": "200", "large": "20 000", "huge": "100 000"}


@pytest.mark.parametrize("size", ["large", "huge"])
def test_upload_with_compaction_and_storage_limits_are_a_twentieth(
    results: dict[str, Any], size: str
) -> None:
    scenario = results["scenarios"][f"ours.{size}.review"]
    collection = scenario["collectionBytes"]
    scenario["s3"]["bytesUp"] = ANSWERS * collection // 20
    scenario["storage"]["retainedBytes"] = ANSWERS * collection // 20
    assert not _failed(results)
    scenario["s3"]["bytesUp"] += ANSWERS
    scenario["storage"]["retainedBytes"] += 1
    assert [name.split(",")[0].split(" (")[0] for name in _failed(results)] == [
        "S3 storage a day of study",
        "bytes uploaded per answer with compaction",
    ]


def test_cold_read_bound_and_the_log_at_its_longest(results: dict[str, Any]) -> None:
    cold = results["scenarios"]["ours.huge.cold"]
    cold["s3"]["requests"] = 33  # 1 + K, K = 31 + 1
    assert not _failed(results)
    cold["s3"]["requests"] = 34
    assert _failed(results)[0].startswith("S3 requests of a cold read")
    cold["s3"]["requests"] = 20
    cold["log"]["beyondSnapshot"] = 19  # not the worst case: proves nothing
    target = next(t for t in report.evaluate(results) if t.name.startswith("S3 requests"))
    assert not target.passed and "never reached 30" in target.note
    # Whole-file writes keep no log: one request, nothing to reach.
    cold["s3"]["requests"] = 1
    cold["log"] = {"snapshotSeq": 0, "newestSeq": 0, "beyondSnapshot": 0, "entriesListed": 0}
    assert not _failed(results)


def test_latency_targets(results: dict[str, Any]) -> None:
    slow = copy.deepcopy(results)
    slow["scenarios"]["ours.large.review"]["latencyMs"]["next"]["p50"] = 81.0  # > 2 x 40
    slow["scenarios"]["ours.huge.review"]["latencyMs"]["answer"]["p50"] = 57.3  # > 1.3 x 44
    # 1.5 x (22 + 2 x 7) = 54
    slow["scenarios"]["ours.small.reads"]["latencyMs"]["read"]["p50"] = 54.5
    slow["scenarios"]["ours.large.reads-uniform"]["latencyMs"]["read"]["p50"] = 36.1  # 1.5 x 24
    slow["scenarios"]["naive.large.review"]["wallSeconds"] = 4.4  # 220 ms < 5 x 45 ms a pair
    slow["scenarios"]["naive.huge.review"]["wallSeconds"] = 11.9  # 595 ms < 10 x 60 ms
    slow["imports"]["handler"]["medianMs"] = 451.0  # > 1.5 x 300
    assert [name.split(":")[0].split(" (")[0] for name in _failed(slow)] == [
        "answer",
        "cold import of the Lambda handler within 1.5x of its dependencies",
        "next card",
        "review session at least 10x faster than the naive baseline",
        "review session at least 5x faster than the naive baseline",
        "warm authenticated read, every AWS request delayed 20 ms",
        "warm read p50 within 1.5x of its round trips",
    ]


RENDER = "rendering a card adds under 2 ms to GET /api/review"


def test_render_target_is_the_p50_over_every_kind_under_2_ms(results: dict[str, Any]) -> None:
    target = next(t for t in report.evaluate(results) if t.name.startswith(RENDER))
    assert target.passed
    assert target.measured == (
        "0.300 ms (p95 0.600) over 400 runs; "
        "p50 by kind: basic 0.200, cloze 0.400, custom 0.600, long 0.300 ms"
    )
    # One slow kind does not fail it: the p50 over every run does.
    results["render"] = _render({"basic": 0.2, "custom": 2.5}, 1.99)
    assert not _failed(results)
    results["render"] = _render({"basic": 1.9, "custom": 2.5}, 2.0)
    assert [name.split(" (")[0] for name in _failed(results)] == [RENDER]


def test_render_target_alone_for_a_render_only_run() -> None:
    target = report.render_target(_render({"basic": 0.5}, 0.5))
    assert target.passed and target.name.startswith(RENDER)
    assert target.limit == "< 2.00 ms"


def test_naive_speed_up_is_per_next_answer_pair(results: dict[str, Any]) -> None:
    """Ours over a day of 200 answers, the naive baseline over fewer: compared per pair."""
    assert report.pair_seconds(results["scenarios"]["ours.large.review"]) == 9.0 / 200
    assert report.pair_seconds(results["scenarios"]["naive.large.review"]) == 10.0 / 20
    results["scenarios"]["naive.large.review"]["wallSeconds"] = 4.5  # exactly 5x
    assert not _failed(results)


def test_storage_cost_of_a_day_kept_thirty_days() -> None:
    cost = report.storage_cost(2**30)  # a day leaves 1 GB
    assert cost == {"dayGB": 1.0, "keptGB": 30.0, "usdPerMonth": 0.69}
    assert report.storage_cost(0)["usdPerMonth"] == 0


def test_reports_are_written(results: dict[str, Any], tmp_path: Path) -> None:
    targets = report.evaluate(results)
    report.write_json(tmp_path / "b.json", results, targets)
    saved = json.loads((tmp_path / "b.json").read_text())
    assert len(saved["targets"]) == len(targets)
    text = report.markdown(results, targets)
    assert text.startswith("# Benchmarks")
    assert "| review session, 100 000 cards, **naive** |" in text
    assert "## A day of study in S3" in text
    assert "| 100 000 cards | 42.9 MB | 200 |" in text
    assert text.count("| PASS |") == len(targets)
    assert "## How it is measured" in text
    assert "{" not in text.split("## Reading the results")[1]  # every placeholder filled
    rendering = text.split("## Rendering a card")[1].split("## Reading the results")[0]
    assert "| a custom card | 300 B | 150 B | 0.600 | 1.200 | 0.660 |" in rendering
    assert "| **every kind** (400 runs) | | | 0.300 | 0.600 | 0.330 |" in rendering
    # Beside GET /api/review of the days of study: p50 40 ms, 10 ms in the app.
    assert "40.0 ms (10.0 ms in the app) at 200 cards" in rendering
    assert "is 0.8% of the smallest of these" in rendering
    del results["render"]
    assert "## Rendering a card" not in report.markdown(results, report.evaluate(results))


# --- which call made which AWS request ------------------------------------------------


def _event(start: float, method: str, key: str, up: int = 0, service: str = "s3") -> dict[str, Any]:
    return {
        "start": start,
        "end": start + 0.01,
        "service": service,
        "method": method,
        "path": f"/bucket/{key}",
        "query": "",
        "status": 200,
        "up": up,
        "down": 0,
    }


def test_events_belong_to_the_call_in_flight() -> None:
    calls = [Call("next", 0.1, 200, 10.0), Call("answer", 0.1, 200, 10.2)]
    events = [_event(10.05, "GET", "k"), _event(10.15, "GET", "k"), _event(10.25, "PUT", "k")]
    mine, between = attribute(calls, events)
    assert mine == [[events[0]], [events[2]]]
    assert between == [events[1]]


SNAPSHOT = "user_dbs/a.anki2"
ENTRY = f"logs/{SNAPSHOT}/etag-1/"


def test_write_figures_tell_compactions_from_plain_writes() -> None:
    calls = [
        Call("next", 0.1, 200, 1.0, "r.1"),
        Call("answer", 0.1, 200, 2.0, "r.2"),
        Call("answer", 0.1, 200, 3.0, "r.3"),
        Call("answer", 0.1, 200, 4.0, "r.4"),
    ]
    events = [
        _event(1.01, "GET", ENTRY + "0000000000000004"),
        _event(1.02, "GET", "x", service="dynamodb"),  # not S3: not counted
        _event(2.01, "PUT", ENTRY + "0000000000000003", up=9000),
        _event(3.01, "PUT", ENTRY + "0000000000000004", up=11000),
        _event(3.05, "PUT", SNAPSHOT, up=500_000),  # the compaction
        _event(4.01, "PUT", ENTRY + "0000000000000005", up=10000),
        _event(5.0, "DELETE", ENTRY + "0000000000000001"),  # after every call
    ]
    lines = [{"requestId": f"r.{n}", "cache": "hit"} for n in (2, 3, 4)]
    figures = write_figures(calls, events, lines, SNAPSHOT)
    assert figures["writes"] == 3
    assert figures["compactions"] == 1
    assert figures["bytesUp"]["median"] == 10000  # of 9000, 511 000 and 10 000
    assert figures["bytesUp"]["max"] == 511_000
    assert figures["plain"] == {
        "writes": 2,
        "s3RequestsMax": 1,
        "methods": {"PUT": 2},
        "bytesDown": 0,
        "cache": {"hit": 2},
        "requestLines": 2,
    }
    assert figures["between"] == {"s3Requests": 1, "bytesUp": 0}


def test_whole_file_writes_are_plain_writes_of_the_snapshot() -> None:
    calls = [Call("answer", 0.1, 200, 1.0, "r.1")]
    figures = write_figures(calls, [_event(1.01, "PUT", SNAPSHOT, up=9_000_000)], [], SNAPSHOT)
    assert figures["compactions"] == 0
    assert figures["plain"]["writes"] == 1
    assert figures["bytesUp"]["median"] == 9_000_000


def test_s3_key_of_a_path_style_request() -> None:
    assert s3_key("/bucket/logs/user_dbs/a.anki2/x/0000000000000001") == (
        "logs/user_dbs/a.anki2/x/0000000000000001"
    )
    assert s3_key("/bucket") == ""
