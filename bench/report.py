"""Targets (PASS/FAIL), machine details, and the JSON and Markdown reports."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
import sqlite3
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

WARM_READ_ROUTE = "GET /api/decks/current"
NEXT_ROUTE = "GET /api/review"
ANSWER_ROUTE = "POST /api/review"

KiB = 1024
# S3 bills storage in GB of 2^30 bytes.
GB = 2**30
S3_STANDARD_USD_PER_GB_MONTH = 0.023
# Old versions are kept this long (the bucket's lifecycle rule, cdk/).
RETENTION_DAYS = 30

# Targets of the storage design (docs/storage.md).
ANSWER_UPLOAD_MEDIAN_LIMIT = 64 * KiB
UPLOAD_SHARE = 20  # an answer uploads at most 1/20 of the collection, compaction included
RETAINED_SHARE = 20  # a day of study leaves at most 1/20 of what whole-file writes did
ANSWER_GROWTH_LIMIT = 1.3  # POST /api/review p50, huge against small
UNIFORM_READ_LIMIT = 1.5  # a warm read, every AWS request delayed alike, in round trips
NAIVE_SPEEDUP = {"large": 5.0, "huge": 10.0}
RENDER_P50_LIMIT_MS = 2.0  # what rendering a card adds to GET /api/review (bench/render.py)


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    limit: str
    passed: bool
    note: str = ""


def _route(results: dict[str, Any], scenario: str, route: str) -> dict[str, Any]:
    routes: dict[str, Any] = results["scenarios"][scenario]["app"]["routes"]
    return dict(routes.get(route, {}))


def _p50(results: dict[str, Any], scenario: str, kind: str) -> float:
    return float(results["scenarios"][scenario]["latencyMs"][kind]["p50"])


def _requests_target(
    results: dict[str, Any], name: str, scenarios: list[str], route: str, cache: str
) -> Target:
    found = [_route(results, s, route) for s in scenarios]
    most = max(r.get("storageRequestsMax", math.inf) for r in found)
    bytes_in = max(r.get("storageBytesInPerCall", math.inf) for r in found)
    outcomes: dict[str, int] = {}
    for r in found:
        for outcome, n in r.get("cache", {}).items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
    calls = sum(r.get("calls", 0) for r in found)
    passed = most == 1 and bytes_in == 0 and set(outcomes) == {cache}
    seen = ", ".join(f"{outcome} {n}" for outcome, n in sorted(outcomes.items()))
    return Target(
        name,
        f"{calls} calls: at most {most} S3 request(s) each, {bytes_in:g} bytes down on "
        f"average; cache: {seen}",
        f"1 request, no body, cache '{cache}' every time",
        passed,
    )


def _write_target(results: dict[str, Any], scenarios: list[str]) -> Target:
    """Every write but the compactions is one S3 request, the PUT, on a current cache."""
    every = results["options"]["compaction_entries"]
    writes = [results["scenarios"][s]["writes"] for s in scenarios]
    total = sum(w["writes"] for w in writes)
    plain = sum(w["plain"]["writes"] for w in writes)
    compactions = sum(w["compactions"] for w in writes)
    allowed = sum(math.ceil(w["writes"] / every) for w in writes)
    most = max((w["plain"]["s3RequestsMax"] for w in writes if w["plain"]["writes"]), default=0)
    methods: dict[str, int] = {}
    cache: dict[str, int] = {}
    for w in writes:
        for name, n in w["plain"]["methods"].items():
            methods[name] = methods.get(name, 0) + n
        for outcome, n in w["plain"]["cache"].items():
            cache[outcome] = cache.get(outcome, 0) + n
    passed = (
        all(w["plain"]["writes"] for w in writes)
        and most == 1
        and methods == {"PUT": plain}
        and cache == {"hit": plain}
        and all(w["compactions"] <= math.ceil(w["writes"] / every) for w in writes)
    )
    seen = ", ".join(f"{k} {v}" for k, v in sorted(cache.items())) or "no request lines"
    return Target(
        f"write ({ANSWER_ROUTE}) with a current cache: 1 S3 request (the PUT); "
        "compaction at most once in JAVUMBO_COMPACTION_ENTRIES writes",
        f"{total} writes: {compactions} compacted; the other {plain} made at most {most} S3 "
        f"request(s) each ({', '.join(f'{k} {v}' for k, v in sorted(methods.items()))}); "
        f"cache: {seen}",
        f"1 request (a PUT), cache 'hit'; at most 1 compaction in {every} writes "
        f"({allowed} in all)",
        passed,
    )


def _sizes(results: dict[str, Any]) -> dict[str, str]:
    options = results["options"]
    return {
        size: _cards(options[f"{size}_cards"])
        for size in ("small", "large", "huge")
        if f"{size}_cards" in options
    }


def _s3_requests(results: dict[str, Any], scenario: str) -> float:
    return float(results["scenarios"][scenario]["s3"]["requestsPerCall"])


def _size(n: float | None) -> str:
    """Bytes, in the unit that reads best."""
    if n is None or math.isnan(n):
        return "-"
    for unit, scale in (("GB", GB), ("MB", 2**20), ("KiB", KiB)):
        if abs(n) >= scale:
            return f"{n / scale:,.{2 if unit == 'GB' else 1}f} {unit}"
    return f"{n:,.0f} B"


def per_answer_uploaded(scenario: dict[str, Any]) -> float:
    """S3 bytes sent per answer over the whole session, compactions included."""
    return float(scenario["s3"]["bytesUp"]) / int(scenario["answers"])


def pair_seconds(scenario: dict[str, Any]) -> float:
    """Wall time of one next/answer pair of a review session."""
    return float(scenario["wallSeconds"]) / int(scenario["answers"])


def storage_cost(retained_bytes: float, *, days: int = RETENTION_DAYS) -> dict[str, float]:
    """What a day of study's leftovers cost in S3 Standard: kept `days` days, a learner
    who studies every day carries `days` of them at any time."""
    day_gb = retained_bytes / GB
    kept_gb = day_gb * days
    return {
        "dayGB": round(day_gb, 4),
        "keptGB": round(kept_gb, 4),
        "usdPerMonth": round(kept_gb * S3_STANDARD_USD_PER_GB_MONTH, 4),
    }


def _cost_text(retained: float) -> str:
    cost = storage_cost(retained)
    return (
        f"{cost['dayGB']:.3f} GB a day; {RETENTION_DAYS} days kept: {cost['keptGB']:.2f} GB, "
        f"${cost['usdPerMonth']:.2f}/month"
    )


def evaluate(results: dict[str, Any]) -> list[Target]:
    sizes = _sizes(results)
    options = results["options"]
    scenarios = results["scenarios"]
    targets = []
    review = [f"ours.{size}.review" for size in sizes]
    reads = [f"ours.{size}.reads" for size in sizes]
    targets.append(
        _requests_target(
            results, f"warm read ({WARM_READ_ROUTE}): 1 S3 request, no body", reads,
            WARM_READ_ROUTE, "revalidated",
        )
    )  # fmt: skip
    targets.append(
        _requests_target(
            results, f"next card ({NEXT_ROUTE}), a warm read: 1 S3 request, no body", review,
            NEXT_ROUTE, "revalidated",
        )
    )  # fmt: skip
    targets.append(_write_target(results, review))

    opened = {s: scenarios[s]["awsConnectionsOpened"] for s in review + reads}
    targets.append(
        Target(
            "AWS clients built once per process: no new AWS connection in the warm sessions",
            f"{sum(opened.values())} new connections over {len(opened)} sessions",
            "0",
            not any(opened.values()),
        )
    )

    small, large = _p50(results, review[0], "next"), _p50(results, review[1], "next")
    targets.append(
        Target(
            f"next card: {sizes['large']} cards within 2x of {sizes['small']} cards (p50)",
            f"{large:.1f} ms vs {small:.1f} ms = {large / small:.2f}x",
            "<= 2.00x",
            large <= 2 * small,
        )
    )

    small, huge = _p50(results, review[0], "answer"), _p50(results, "ours.huge.review", "answer")
    targets.append(
        Target(
            f"answer ({ANSWER_ROUTE}): {sizes['huge']} cards within {ANSWER_GROWTH_LIMIT}x "
            f"of {sizes['small']} cards (p50)",
            f"{huge:.1f} ms vs {small:.1f} ms = {huge / small:.2f}x",
            f"<= {ANSWER_GROWTH_LIMIT:.2f}x",
            huge <= ANSWER_GROWTH_LIMIT * small,
        )
    )

    for size in ("large", "huge"):
        scenario = scenarios[f"ours.{size}.review"]
        collection = float(scenario["collectionBytes"])
        answers = int(scenario["answers"])
        uploads = scenario["writes"]["bytesUp"]
        median = float(uploads["median"])
        targets.append(
            Target(
                f"bytes uploaded per answer, median ({sizes[size]} cards)",
                f"{_size(median)} (max {_size(uploads['max'])}; the collection is "
                f"{_size(collection)})",
                f"<= {_size(ANSWER_UPLOAD_MEDIAN_LIMIT)}",
                median <= ANSWER_UPLOAD_MEDIAN_LIMIT,
            )
        )
        mean = per_answer_uploaded(scenario)
        compactions = scenario["writes"]["compactions"]
        targets.append(
            Target(
                f"bytes uploaded per answer with compaction, over {answers} answers "
                f"({sizes[size]} cards)",
                f"{_size(mean)} = 1/{collection / mean:.1f} of the collection "
                f"({compactions} compactions)"
                if mean
                else "nothing uploaded",
                f"<= 1/{UPLOAD_SHARE} of the collection ({_size(collection / UPLOAD_SHARE)})",
                mean * UPLOAD_SHARE <= collection,
            )
        )
        retained = float(scenario["storage"]["retainedBytes"])
        whole = answers * collection
        targets.append(
            Target(
                f"S3 storage a day of study ({answers} answers) leaves behind, old versions "
                f"included ({sizes[size]} cards)",
                f"{_size(retained)} = 1/{whole / retained:.1f} of {answers} whole files "
                f"({_cost_text(retained)})"
                if retained > 0
                else f"{_size(retained)}",
                f"<= 1/{RETAINED_SHARE} of {answers} x the collection "
                f"({_size(whole / RETAINED_SHARE)})",
                retained * RETAINED_SHARE <= whole,
            )
        )

    cold = scenarios["ours.huge.cold"]
    every = int(cold["compactionEntries"])
    most = 1 + (every + 1)
    requests = int(cold["s3"]["requests"])
    log = cold["log"]
    has_log = bool(log["entriesListed"])
    longest = log["beyondSnapshot"] == every - 1
    where = (
        f"the log {log['beyondSnapshot']} entries beyond the snapshot"
        if has_log
        else "no page log (whole-file writes)"
    )
    targets.append(
        Target(
            f"S3 requests of a cold read (a fresh instance, {sizes['huge']} cards), the log "
            "at its longest",
            f"{requests} requests, {where} (JAVUMBO_COMPACTION_ENTRIES={every})",
            f"<= 1 + K = {most} (K = JAVUMBO_COMPACTION_ENTRIES + 1)",
            requests <= most and (longest or not has_log),
            "" if longest or not has_log else f"the log never reached {every - 1} entries",
        )
    )

    trips = results["roundTrips"]
    s3_trip = float(trips["s3ConditionalGet304"]["p50"])
    dynamo_trip = float(trips["dynamodbGetItem"]["p50"])
    for scenario in reads[:2]:
        dynamo_calls = float(
            scenarios[scenario]["otherAws"].get("dynamodb", {}).get("requestsPerCall", 0)
        )
        reference = s3_trip + dynamo_calls * dynamo_trip
        p50 = _p50(results, scenario, "read")
        cards = sizes["small" if "small" in scenario else "large"]
        targets.append(
            Target(
                f"warm read p50 within 1.5x of its round trips ({cards} cards)",
                f"{p50:.1f} ms vs {reference:.1f} ms = {p50 / reference:.2f}x "
                f"(vs the S3 round trip alone: {p50 / s3_trip:.2f}x)",
                f"<= 1.50x of 1 S3 round trip ({s3_trip:.1f} ms) + {dynamo_calls:g} DynamoDB "
                f"GetItem ({dynamo_trip:.1f} ms each)",
                p50 <= 1.5 * reference,
            )
        )

    uniform = trips["uniform"]
    trip = float(uniform["s3ConditionalGet304"]["p50"])
    p50 = _p50(results, "ours.large.reads-uniform", "read")
    latency = scenarios["ours.large.reads-uniform"]["awsLatencyMs"]
    targets.append(
        Target(
            f"warm authenticated read, every AWS request delayed {latency:g} ms: within "
            f"{UNIFORM_READ_LIMIT}x of one round trip (p50)",
            f"{p50:.1f} ms vs {trip:.1f} ms = {p50 / trip:.2f}x (a DynamoDB GetItem: "
            f"{float(uniform['dynamodbGetItem']['p50']):.1f} ms)",
            f"<= {UNIFORM_READ_LIMIT:.2f}x of 1 S3 conditional GET ({trip:.1f} ms)",
            p50 <= UNIFORM_READ_LIMIT * trip,
        )
    )

    link = (
        f"{options['bandwidth_mbps']:g} Mbit/s" if options["bandwidth_mbps"] else "loopback speed"
    )
    for size, factor in NAIVE_SPEEDUP.items():
        ours = pair_seconds(scenarios[f"ours.{size}.review"])
        naive = pair_seconds(scenarios[f"naive.{size}.review"])
        allowed = _s3_requests(results, f"naive.{size}.review") / _s3_requests(
            results, f"ours.{size}.review"
        )
        targets.append(
            Target(
                f"review session at least {factor:g}x faster than the naive baseline "
                f"({sizes[size]} cards, {options['s3_latency_ms']:g} ms, {link})",
                f"{naive * 1000:.0f} ms naive vs {ours * 1000:.0f} ms per next/answer pair = "
                f"{naive / ours:.2f}x (round trips alone allow {allowed:.2f}x)",
                f">= {factor:.2f}x",
                naive >= factor * ours,
            )
        )

    handler = results["imports"]["handler"]["medianMs"]
    deps = results["imports"]["dependencies"]["medianMs"]
    targets.append(
        Target(
            "cold import of the Lambda handler within 1.5x of its dependencies (median of runs)",
            f"{handler:.0f} ms vs {deps:.0f} ms = {handler / deps:.2f}x",
            "<= 1.50x of importing fastapi, mangum, boto3, pydantic",
            handler <= 1.5 * deps,
        )
    )
    if "render" in results:
        targets.append(render_target(results["render"]))
    return targets


def render_target(render: dict[str, Any]) -> Target:
    """What showing a card as its note type has it adds to the next card, at p50 over
    every run of every card kind; each kind's p50 is listed."""
    overall = render["all"]
    by_kind = ", ".join(
        f"{key} {kind['latencyMs']['p50']:.3f}" for key, kind in render["kinds"].items()
    )
    return Target(
        f"rendering a card adds under {RENDER_P50_LIMIT_MS:g} ms to {NEXT_ROUTE} (p50, in "
        "process: card_face, web_card, the media token)",
        f"{overall['p50']:.3f} ms (p95 {overall['p95']:.3f}) over {overall['n']} runs; "
        f"p50 by kind: {by_kind} ms",
        f"< {RENDER_P50_LIMIT_MS:.2f} ms",
        overall["p50"] < RENDER_P50_LIMIT_MS,
    )


# --- machine -------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def machine(command: str) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {
            name: _version(name)
            for name in ("fastapi", "uvicorn", "boto3", "moto", "httpx", "pydantic")
        },
    }


# --- writing -------------------------------------------------------------------------


def write_json(path: Path, results: dict[str, Any], targets: list[Target]) -> None:
    payload = {**results, "targets": [asdict(t) for t in targets]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def _kb(n: float) -> str:
    return "-" if n is None or math.isnan(n) else f"{n / 1024:,.1f}"


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


_ROWS = (
    ("ours.small.review", "day of study, {small} cards"),
    ("naive.small.review", "review session, {small} cards, **naive**"),
    ("ours.large.review", "day of study, {large} cards"),
    ("naive.large.review", "review session, {large} cards, **naive**"),
    ("ours.huge.review", "day of study, {huge} cards"),
    ("naive.huge.review", "review session, {huge} cards, **naive**"),
    ("ours.small.reads", "warm reads, {small} cards"),
    ("naive.small.reads", "warm reads, {small} cards, **naive**"),
    ("ours.large.reads", "warm reads, {large} cards"),
    ("naive.large.reads", "warm reads, {large} cards, **naive**"),
    ("ours.huge.reads", "warm reads, {huge} cards"),
    ("ours.large.reads-uniform", "warm reads, {large} cards, every AWS request delayed alike"),
    ("ours.huge.cold", "cold read, {huge} cards, fresh instance, longest log"),
    ("ours.concurrent", "learners reviewing at once"),
    ("ours.writers", "writers adding cards, 2 instances"),
    ("naive.writers", "writers adding cards, 2 instances, **naive**"),
)
_SESSIONS = [key for key, _ in _ROWS if key.endswith(".review")]


def _cards(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def _label(key: str, label: str, scenario: dict[str, Any], sizes: dict[str, str]) -> str:
    label = label.format(**sizes)
    if key == "ours.concurrent":
        return f"{scenario['learners']} {label}"
    if key.endswith("writers"):
        return f"{scenario['writers']} {label}"
    return label


def _storage_rows(results: dict[str, Any], sizes: dict[str, str]) -> list[str]:
    s = results["scenarios"]
    out = [
        "| collection | size | answers | uploaded per answer, median | per answer with "
        "compaction | compactions | left in S3 per answer | left by the day | whole files "
        f"(before) | {RETENTION_DAYS} days kept | $/month |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size, cards in sizes.items():
        r = s.get(f"ours.{size}.review")
        if r is None or "storage" not in r:
            continue
        answers, collection = int(r["answers"]), float(r["collectionBytes"])
        retained = float(r["storage"]["retainedBytes"])
        cost = storage_cost(retained)
        out.append(
            f"| {cards} cards | {_size(collection)} | {answers} "
            f"| {_size(r['writes']['bytesUp']['median'])} | {_size(per_answer_uploaded(r))} "
            f"| {r['writes']['compactions']} | {_size(retained / answers)} | {_size(retained)} "
            f"| {_size(answers * collection)} | {cost['keptGB']:.2f} GB "
            f"| ${cost['usdPerMonth']:.2f} |"
        )
    return out


def _render_rows(results: dict[str, Any], sizes: dict[str, str]) -> list[str]:
    """The cost of rendering, per card kind, and GET /api/review beside it."""
    render = results.get("render")
    if render is None:
        return []
    out = [
        "",
        "## Rendering a card",
        "",
        f"`{NEXT_ROUTE}` shows the card as its note type has it: the route renders the "
        "question and answer from the note and its note type (`card_face`), issues a media "
        "token (`TokenService.issue_media`) and points the media at their URLs, sounds made "
        "playable (`web_card`). That path is timed in the benchmark process, on a collection "
        f"file of its own (no HTTP, no storage): {render['runsPerKind']} runs of each kind "
        f"after {render['warmupPerKind']} untimed, the kinds taking turns. Each run parses "
        f"the note types afresh, as each request does (`col.models`, "
        f"{_size(render['modelsJsonBytes'])} of JSON here: the stock note types and the "
        "custom one).",
        "",
        "| card | fields | CSS | p50 ms | p95 ms | mean ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in render["kinds"].values():
        lat = kind["latencyMs"]
        out.append(
            f"| {kind['label']} | {_size(kind['fieldBytes'])} | {_size(kind['cssBytes'])} "
            f"| {_num(lat['p50'], 3)} | {_num(lat['p95'], 3)} | {_num(lat['mean'], 3)} |"
        )
    overall = render["all"]
    out.append(
        f"| **every kind** ({overall['n']} runs) | | | {_num(overall['p50'], 3)} "
        f"| {_num(overall['p95'], 3)} | {_num(overall['mean'], 3)} |"
    )
    sessions = [
        (cards, results["scenarios"][key])
        for size, cards in sizes.items()
        if (key := f"ours.{size}.review") in results.get("scenarios", {})
    ]
    if sessions:
        out += [
            "",
            f"For scale, `{NEXT_ROUTE}` in the days of study above, rendering included (p50 "
            "as the client sees it; in the app, from its request lines): "
            + "; ".join(
                f"{_num(r['latencyMs']['next']['p50'])} ms "
                f"({_num(r['app']['routes'].get(NEXT_ROUTE, {}).get('serverLatencyMsP50'))} ms "
                f"in the app) at {cards} cards"
                for cards, r in sessions
            )
            + f". Rendering's p50, {_num(overall['p50'], 3)} ms, is "
            f"{overall['p50'] / min(r['latencyMs']['next']['p50'] for _, r in sessions):.1%} "
            "of the smallest of these.",
        ]
    return out


def markdown(results: dict[str, Any], targets: list[Target]) -> str:
    m, o, s = results["machine"], results["options"], results["scenarios"]
    sizes = _sizes(results)
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (bench/report.py); edits here are overwritten. -->",
        "",
        "What the storage design costs, measured: the real app under uvicorn, over HTTP, "
        "against moto behind a proxy that adds AWS-like latency and bandwidth and counts "
        "every request. `make bench` regenerates this page and `docs/benchmarks.json`, and "
        "exits non-zero when a target fails.",
        "",
        f"- **When**: {m['date']}; command: `{m['command']}`; took "
        f"{_num(results.get('durationSeconds'), 0)} s",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores; {m['platform']}",
        f"- **Software**: Python {m['python']}, SQLite {m['sqlite']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        f"- **Added by the proxy**: S3 {o['s3_latency_ms']:g} ms per request; "
        f"DynamoDB and Secrets Manager {o['other_latency_ms']:g} ms per request; bandwidth "
        + (
            f"{o['bandwidth_mbps']:g} Mbit/s, both ways"
            if o["bandwidth_mbps"]
            else "unlimited (loopback)"
        ),
        f"- **App**: JAVUMBO_COMPACTION_ENTRIES={o['compaction_entries']}",
        "",
        "## Targets",
        "",
        "| target | measured | limit | result |",
        "| --- | --- | --- | --- |",
    ]
    for t in targets:
        result = "PASS" if t.passed else "**FAIL**"
        note = f" ({t.note})" if t.note else ""
        out.append(f"| {t.name} | {t.measured}{note} | {t.limit} | {result} |")
    out += [
        "",
        "## A day of study in S3",
        "",
        f"The review sessions of the real app are a day of study: {o['answers']} answers "
        f"({o['small_answers']} at {sizes['small']} cards). "
        "What each answer uploaded is counted by the proxy (the bodies of its S3 requests, "
        "per API call); what the day left behind is every version of every object under the "
        "learner's keys (the collection object and its page log, old versions included: "
        "the bucket is versioned), less what was there before the day. Whole-file writes "
        "left a copy of the collection per answer. Old versions are kept "
        f"{RETENTION_DAYS} days, so a learner who studies every day carries {RETENTION_DAYS} "
        f"days of them, at S3 Standard's ${S3_STANDARD_USD_PER_GB_MONTH}/GB-month "
        "(GB of 2^30 bytes).",
        "",
        *_storage_rows(results, sizes),
        "",
        "## Results",
        "",
        "Latency is what the client sees, per API call. S3 figures are counted by the proxy "
        "(requests and bodies both ways, per API call). The cache hit rate is the share of "
        "calls that touched a collection without downloading it (`hit` or `revalidated` in "
        "the app's request lines).",
        "",
        "| scenario | calls | p50 ms | p95 ms | calls/s | S3 req/call | S3 KiB/call "
        "| DynamoDB req/call | cache hit rate | conflicts retried | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in _ROWS:
        r = s.get(key)
        if r is None:
            continue
        label = _label(key, label, r, sizes)
        hit = r["app"]["cacheHitRate"]
        dynamo = r["otherAws"].get("dynamodb", {}).get("requestsPerCall", 0)
        out.append(
            f"| {label} | {r['calls']} | {_num(r['latencyMs']['all']['p50'])} "
            f"| {_num(r['latencyMs']['all']['p95'])} | {_num(r['throughputPerSecond'])} "
            f"| {_num(r['s3']['requestsPerCall'], 2)} | {_kb(r['s3']['bytesPerCall'])} "
            f"| {_num(dynamo, 2)} | {'-' if hit is None else f'{hit:.0%}'} "
            f"| {r['app']['conflictsRetried']} | {r['errors']} |"
        )
    out += [
        "",
        "Per call in the review sessions: S3 requests and bytes received from the app's "
        "request lines; bytes sent by the proxy's count (per answer, compactions included), "
        "and the wall time of a next/answer pair:",
        "",
        "| session | call | p50 ms | p95 ms | S3 req/call | S3 KiB down/call "
        "| S3 KiB up/call | server p50 ms | ms per pair |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in _ROWS:
        r = s.get(key)
        if key not in _SESSIONS or r is None:
            continue
        label = _label(key, label, r, sizes)
        for kind, route in (("next", NEXT_ROUTE), ("answer", ANSWER_ROUTE)):
            lat, rt = r["latencyMs"][kind], r["app"]["routes"].get(route, {})
            up = per_answer_uploaded(r) if kind == "answer" and "answers" in r else math.nan
            pair = pair_seconds(r) * 1000 if kind == "answer" and "answers" in r else math.nan
            out.append(
                f"| {label} | {route} | {_num(lat['p50'])} | {_num(lat['p95'])} "
                f"| {_num(rt.get('storageRequestsPerCall'), 2)} "
                f"| {_kb(rt.get('storageBytesInPerCall', math.nan))} | {_kb(up)} "
                f"| {_num(rt.get('serverLatencyMsP50'))} | {_num(pair, 0)} |"
            )
    out += [
        "",
        "CPU time per API call, by process (the load generator is this benchmark's clients); "
        '"cores busy" is their sum over the wall time:',
        "",
        "| scenario | app(s) ms | moto ms | proxy ms | load generator ms | cores busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in _ROWS:
        r = s.get(key)
        cpu = r and r.get("cpuMsPerCall")
        if not cpu:
            continue
        label = _label(key, label, r, sizes)
        busy = sum(cpu.values()) * r["calls"] / 1000 / r["wallSeconds"]
        out.append(
            f"| {label} | {_num(cpu['apps'])} | {_num(cpu['moto'])} | {_num(cpu['proxy'])} "
            f"| {_num(cpu['loadGenerator'])} | {busy:.2f} |"
        )
    trips, imports = results["roundTrips"], results["imports"]
    first = {k: s[k].get("coldFirstReadMs") for k in _SESSIONS if k.startswith("ours.") and k in s}
    out += [
        "",
        "Reference round trips, timed directly through the proxy with the app's client "
        f"settings: one S3 conditional GET answered 304, p50 "
        f"{trips['s3ConditionalGet304']['p50']} ms (p95 {trips['s3ConditionalGet304']['p95']}); "
        f"one DynamoDB GetItem, p50 {trips['dynamodbGetItem']['p50']} ms "
        f"(p95 {trips['dynamodbGetItem']['p95']}).",
    ]
    if "uniform" in trips:
        u = trips["uniform"]
        out[-1] += (
            f" With every AWS request delayed {o['s3_latency_ms']:g} ms: "
            f"{u['s3ConditionalGet304']['p50']} ms and {u['dynamodbGetItem']['p50']} ms."
        )
    out += [
        "",
        "First read after the collection was replaced (a cache miss, the whole object "
        "downloaded): "
        + ", ".join(
            f"{_num(ms)} ms at {sizes[key.split('.')[1]]} cards "
            f"({_size(s[key]['collectionBytes'])})"
            for key, ms in first.items()
        )
        + ".",
    ]
    cold = s.get("ours.huge.cold")
    if cold is not None:
        log = cold["log"]
        out += [
            "",
            f"Cold read of a fresh instance at {sizes['huge']} cards: "
            f"{_num(cold['latencyMs']['read']['p50'])} ms, {cold['s3']['requests']} S3 "
            f"requests, {_size(cold['s3']['bytesDown'])} down; the snapshot at entry "
            f"{log['snapshotSeq']}, the log at {log['newestSeq']} ({log['beyondSnapshot']} "
            f"beyond; {cold['answersToTopUp']} answers after the day of study to get there).",
        ]
    out += [
        "",
        f"Cold imports (fresh interpreter, {imports['environment']}, "
        f"median of {len(imports['handler']['runsMs'])}): "
        f"`import api.lambda_handler` {imports['handler']['medianMs']} ms; "
        f"`import fastapi, mangum, boto3, pydantic` {imports['dependencies']['medianMs']} ms.",
    ]
    writers = [s[k] for k in ("ours.writers", "naive.writers") if k in s]
    if writers:
        out += [
            "",
            "Concurrent writers: "
            + "; ".join(
                f"{name} acknowledged {w['cardsAcknowledged']} cards, stored "
                f"{w['cardsStored']} (lost: {w['lostUpdates']}; refused with 409: "
                f"{w['refused409']})"
                for name, w in zip(("ours", "naive"), writers, strict=False)
            )
            + ".",
        ]
    out += _render_rows(results, sizes)
    double = any(
        _route(results, k, NEXT_ROUTE).get("storageRequestsMax", 0) > 1
        for k in _SESSIONS
        if k.startswith("ours.") and k in s
    )
    reading = READING.format(double_read=DOUBLE_READ if double else "")
    method = METHOD.format(
        answers=o["answers"],
        small_answers=o["small_answers"],
        naive_answers=o["naive_answers"],
        small=_cards(o["small_cards"]),
        large=_cards(o["large_cards"]),
        huge=_cards(o["huge_cards"]),
        warm_reads=o["warm_reads"],
        learners=o["learners"],
        learner_answers=o["learner_answers"],
        writers=o["writers"],
        adds=o["adds_per_writer"],
        runs=o["import_runs"],
        compaction=o["compaction_entries"],
        longest=o["compaction_entries"] - 1,
        bound=o["compaction_entries"] + 2,
        s3=f"{o['s3_latency_ms']:g}",
        bandwidth=f"{o['bandwidth_mbps']:g}",
        kib=ANSWER_UPLOAD_MEDIAN_LIMIT // KiB,
        share=UPLOAD_SHARE,
        retained=RETAINED_SHARE,
        growth=ANSWER_GROWTH_LIMIT,
        uniform=UNIFORM_READ_LIMIT,
        naive_large=f"{NAIVE_SPEEDUP['large']:g}",
        naive_huge=f"{NAIVE_SPEEDUP['huge']:g}",
        retention=RETENTION_DAYS,
        render_runs=o.get("render_runs", "-"),
        render_limit=f"{RENDER_P50_LIMIT_MS:g}",
    )
    out += ["", re.sub(r"\n\n+", "\n\n", reading.strip()), "", method.strip(), ""]
    return "\n".join(out)


DOUBLE_READ = """\
`GET /api/review` checks for buried cards to restore and then picks the card in two
separate reads, so it revalidates twice: two S3 requests where one would do
(`collection.review.try_next_card` does both in one read).\
"""

READING = """
## Reading the results

**Requests.** A warm read is one S3 request with no body (docs/storage.md: a GET of
the log entry after the cached one, answered 404; before the page log, a conditional
GET answered 304). A write is one S3 request, the PUT of its log entry, except the
writes that compact: one in JAVUMBO_COMPACTION_ENTRIES also stores the whole file as
the new snapshot, lists the log and deletes what it folded long enough ago. The naive
baseline downloads the whole collection on every call and uploads it on every call.
{double_read}

**Bytes.** An answer changes a few SQLite pages, and a write uploads those, compressed;
the compactions upload the whole file now and then, which is what the "with compaction"
column spreads over the day. What the day leaves in S3 is those entries and the
snapshots compaction wrote; every old version stays {retention_days} days (the bucket's
lifecycle rule). Whole-file writes left a complete copy per answer.

**Time against the naive baseline.** Both designs pay the same for authentication,
HTTP and the app's own work. The naive pattern moves the whole collection twice per
call at the proxy's bandwidth, so the gap grows with the collection; with bodies at
loopback speed (`--bandwidth-mbps 0`) it could not exceed the ratio of S3 requests
("round trips alone allow" in the targets).

**Concurrency on a small machine.** Everything here shares the benchmark machine's
cores: moto serialises its requests (a few ms of CPU each, more for large bodies), and
one app process handles every learner. When "cores busy" nears the core count, latency
is queueing for CPU, not storage; on Lambda each concurrent request has an instance of
its own.
""".replace("{retention_days}", str(RETENTION_DAYS))

METHOD = """
## How it is measured

**Processes.** `python -m bench` starts moto (S3, DynamoDB, Secrets Manager; it serialises
requests so that conditional writes are atomic, as on S3), the latency proxy
(`bench/proxy.py`) in front of it, and four app instances under uvicorn: two of the real
app (`api.main:app`) and two of the naive baseline (`bench.naive:app`), each with its
own cache directory; one more real instance starts for the cold read. The apps reach
AWS through the proxy (`AWS_ENDPOINT_URL`). The real app's bucket is versioned, as
deployed; the naive baseline has an unversioned bucket of its own. The load comes from
threads in the benchmark process, one keep-alive HTTP client per learner. Everything
listens on 127.0.0.1 and stops when the benchmark ends (or is interrupted).

**Latency and bandwidth.** Every AWS request is delayed before it is forwarded: S3 by
the S3 latency (default 20 ms, a typical in-region figure), DynamoDB and Secrets Manager
by their own (default 5 ms, DynamoDB's usual single-digit figure). Every body also pays
its transfer time at the proxy's bandwidth ({bandwidth} Mbit/s unless
`--bandwidth-mbps` says otherwise; 0 is loopback speed): a body of n bytes waits
n / bandwidth, the request's before it is forwarded, the answer's before it is returned.
Each transfer pays on its own, as if every connection had the bandwidth to itself. The
proxy is threaded (a thread per connection), keeps client connections alive (HTTP/1.1)
and disables Nagle. moto's server closes its connection after every answer, so the proxy
reconnects upstream each time; that, moto's own work and boto3's are the "local
overhead" in the direct round trips above, and every scenario pays it alike. The proxy
and moto run in processes of their own, apart from the load generator.

**Which call made which request.** The proxy keeps every request it forwards as an
event: when it arrived (the machine's monotonic clock, which the benchmark's clients
read too), method, path, status and body sizes. In a one-learner session the calls
are made one at a time, so each event belongs to the call in flight when it arrived;
events that arrive between calls are counted apart (none are expected: compaction
runs inside the write that triggers it). After each scenario the benchmark waits until
the proxy has been idle for 0.2 s before it reads the counters.

**Collections** are built directly in SQLite (`tests/support/seed.py`): Basic notes in a small
deck tree (the study deck `Languages` with two subdecks, plus `Geography`), a year of
history: a quarter new, most reviews (some due), a few learning, relearning and
suspended, three revlog entries per review card. Each size is built once a day and
kept under `.cache/bench-collections/` (about 14 s at 100 000 cards). Each learner
registers through the API; then the seeded file replaces the collection object, and
one read loads it (the "first read" above).

**Scenarios.**
- *Day of study*: {answers} times, the next card (`GET /api/review`) then an answer
  (`POST /api/review`, "Good", every fifth "Again"), for one learner of the real app, at
  {large} and {huge} cards, and {small_answers} times at {small} cards (which have
  fewer to study in a day); then {warm_reads} warm reads
  (`GET /api/decks/current`). Every object version under the learner's keys is listed
  directly on moto (`list_object_versions`) before and after the answers.
- *Naive baseline*: {naive_answers} next/answer pairs (its cost per pair is the same
  all along), then the warm reads (not at {huge} cards), against `bench.naive:app`: the
  same app with `S3SQLiteSession` replaced by `NaiveSession`, which downloads the whole
  object with an unconditional GET on every call, opens it with sqlite3, runs the same
  domain function, and uploads the whole file with an unconditional PUT after every
  call. No cache, no ETags, no conditional requests, no retries.
- *Every AWS request alike*: {warm_reads} more warm reads at {large} cards with DynamoDB
  (and Secrets Manager) delayed like S3, and the round trips timed again at that setting.
- *Cold read*: after the day of study at {huge} cards, the learner answers until the
  log holds {longest} entries beyond the snapshot (one more would compact it:
  JAVUMBO_COMPACTION_ENTRIES={compaction}), read from the snapshot's metadata and a
  listing of the log on moto; then a new instance, with an empty cache, serves one read.
- *Learners at once*: {learners} learners ({small} cards each), one thread each,
  {learner_answers} next/answer pairs each, all on one instance.
- *Writers*: {writers} clients add {adds} cards each to one collection, spread over two
  instances. The real app retries lost races (`conflictsRetried` in the request lines);
  the current deck's card count, read through the API before and after, then shows
  whether an acknowledged card was lost. The naive baseline does the same, and loses
  cards.
- *Rendering a card*: in the benchmark process, no HTTP: a new collection file holds a
  Basic note, a "Basic (and reversed card)" note (its reverse card is timed), a Cloze
  note with 3 clozes (a hint on one) and HTML (each of its 3 cards in turn), a note of a
  custom note type (5 fields, conditionals, the `hint` and `furigana` filters, a
  picture, two `[sound:]` tags, about 2 KB of CSS with a font of the collection's
  media) and a Basic note with about 5 KB of HTML in a field. {render_runs} timed runs
  of each (after untimed ones), each `card_face` on a fresh `Col`, the media token
  issued and `web_card`, timed with `time.perf_counter_ns`.

**Targets.**
- *Warm read / next card*: every such call's request line shows exactly one S3 request,
  no body received, cache outcome `revalidated`.
- *Write*: every answer that did not compact made one S3 request at the proxy, a PUT,
  and its request line shows cache outcome `hit` (the cache was current); at most one
  answer in {compaction} compacted (it PUT the snapshot next to its log entry).
- *Bytes uploaded per answer*: the median over the day's answers of the S3 bytes each
  sent (the proxy's count while it was in flight), at most {kib} KiB at {large} and
  {huge} cards; and all S3 bytes sent during the day over the answers (compactions
  included) at most 1/{share} of the collection, what a whole-file write cost.
- *Storage a day leaves behind*: the sizes of every version under the learner's keys
  after the day, less before it, at most 1/{retained} of {answers} x the collection.
- *Answer at {huge} cards*: its p50 within {growth}x of the p50 at {small} cards; *next
  card at {large} cards*: its p50 within 2x of the p50 at {small} cards.
- *Cold read*: the S3 requests the proxy forwarded while the fresh instance served the
  read, at most 1 + K = {bound} (K = JAVUMBO_COMPACTION_ENTRIES + 1: the snapshot, each
  entry beyond it, and the request that finds the end of the log), with the log at its
  longest.
- *Warm read latency*: the p50 of `GET /api/decks/current` is at most 1.5x the round
  trips it cannot avoid, each timed directly through the proxy with the app's client
  settings: one S3 round trip plus the DynamoDB reads of authentication (the proxy
  counts them per call). With every AWS request delayed alike, the p50 is at most
  {uniform}x one S3 round trip: the token is checked while the collection is revalidated.
- *Naive baseline*: the wall time of a next/answer pair, naive over ours ({s3} ms per S3
  request, {bandwidth} Mbit/s), at least {naive_large}x at {large} cards and
  {naive_huge}x at {huge} cards. Ours includes its compactions: the day of study's wall
  time over its answers.
- *Clients reused*: the proxy counts the connections it accepts; in the warm
  single-learner sessions the app opens none (its boto3 clients, built once per
  process, keep theirs alive).
- *Rendering a card*: the p50 over every timed run of every kind under {render_limit} ms;
  each kind's p50 is listed. Turning the response into JSON and sending it is in the
  review sessions' latency, not in this figure.
- *Cold import*: `import api.lambda_handler` in a fresh interpreter (median of {runs}, after
  one untimed run that compiles bytecode; the two imports take turns) within 1.5x of
  importing fastapi, mangum, boto3 and pydantic alone. Wall time, as a cold start
  pays it. Both are timed as the function has them: without site-packages, against a
  directory holding only the runtime dependencies (`bench/imports.py` builds it with
  pip, once, under `.cache/`), because tools of the development environment change
  what the app loads (with `cryptography` installed, python-jose imports it).
"""
