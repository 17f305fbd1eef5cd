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


def _sizes(results: dict[str, Any]) -> dict[str, str]:
    options = results["options"]
    return {size: _cards(options[f"{size}_cards"]) for size in ("small", "large")}


def _s3_requests(results: dict[str, Any], scenario: str) -> float:
    return float(results["scenarios"][scenario]["s3"]["requestsPerCall"])


def evaluate(results: dict[str, Any]) -> list[Target]:
    sizes = _sizes(results)
    targets = []
    review = ["ours.small.review", "ours.large.review"]
    reads = ["ours.small.reads", "ours.large.reads"]
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
    targets.append(
        _requests_target(
            results, f"write ({ANSWER_ROUTE}) with a current cache: 1 S3 request (the PUT)",
            review, ANSWER_ROUTE, "hit",
        )
    )  # fmt: skip
    for target in targets[-1:]:
        if target.passed:
            methods = [results["scenarios"][s]["s3"]["methods"] for s in review]
            if any(set(m) - {"GET", "PUT"} for m in methods):
                targets[-1] = Target(**{**asdict(target), "passed": False, "note": str(methods)})

    opened = {s: results["scenarios"][s]["awsConnectionsOpened"] for s in review + reads}
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

    trips = results["roundTrips"]
    s3_trip = float(trips["s3ConditionalGet304"]["p50"])
    dynamo_trip = float(trips["dynamodbGetItem"]["p50"])
    for scenario in reads:
        dynamo_calls = float(
            results["scenarios"][scenario]["otherAws"].get("dynamodb", {}).get("requestsPerCall", 0)
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

    bodies = "; more comes of moving bodies" if results["options"]["bandwidth_mbps"] else ""
    for size in ("large", "small"):
        cards = sizes[size]
        ours = results["scenarios"][f"ours.{size}.review"]["wallSeconds"]
        naive = results["scenarios"][f"naive.{size}.review"]["wallSeconds"]
        # What round trips alone allow: the same calls, each paying S3's latency per
        # request, everything else (authentication, HTTP, work, bodies) free.
        bound = _s3_requests(results, f"naive.{size}.review") / _s3_requests(
            results, f"ours.{size}.review"
        )
        targets.append(
            Target(
                f"review session at least 3x faster than the naive baseline ({cards} cards)",
                f"{naive:.2f} s naive vs {ours:.2f} s = {naive / ours:.2f}x (round trips "
                f"alone allow {bound:.2f}x{bodies})",
                ">= 3.00x",
                naive >= 3 * ours,
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
    return targets


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
    ("ours.small.review", "review session, {small} cards"),
    ("naive.small.review", "review session, {small} cards, **naive**"),
    ("ours.large.review", "review session, {large} cards"),
    ("naive.large.review", "review session, {large} cards, **naive**"),
    ("ours.small.reads", "warm reads, {small} cards"),
    ("naive.small.reads", "warm reads, {small} cards, **naive**"),
    ("ours.large.reads", "warm reads, {large} cards"),
    ("naive.large.reads", "warm reads, {large} cards, **naive**"),
    ("ours.concurrent", "learners reviewing at once"),
    ("ours.writers", "writers adding cards, 2 instances"),
    ("naive.writers", "writers adding cards, 2 instances, **naive**"),
)


def _cards(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def _label(key: str, label: str, scenario: dict[str, Any], sizes: dict[str, str]) -> str:
    label = label.format(**sizes)
    if key == "ours.concurrent":
        return f"{scenario['learners']} {label}"
    if key.endswith("writers"):
        return f"{scenario['writers']} {label}"
    return label


def markdown(results: dict[str, Any], targets: list[Target]) -> str:
    m, o, s = results["machine"], results["options"], results["scenarios"]
    sizes = _sizes(results)
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (bench/report.py); edits here are overwritten. -->",
        "",
        "What the storage design costs, measured: the real app under uvicorn, over HTTP, "
        "against moto behind a proxy that adds AWS-like latency and counts every request. "
        "`make bench` regenerates this page and `docs/benchmarks.json`, and exits non-zero "
        "when a target fails.",
        "",
        f"- **When**: {m['date']}; command: `{m['command']}`",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores; {m['platform']}",
        f"- **Software**: Python {m['python']}, SQLite {m['sqlite']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        f"- **Latency added by the proxy**: S3 {o['s3_latency_ms']:g} ms per request; "
        f"DynamoDB and Secrets Manager {o['other_latency_ms']:g} ms per request; bandwidth "
        + (f"{o['bandwidth_mbps']:g} Mbit/s" if o["bandwidth_mbps"] else "unlimited (loopback)"),
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
        "Per call in the review sessions (S3 requests and bytes received, from the app's "
        "request lines; the bytes each PUT sends are in the proxy's figures above):",
        "",
        "| session | call | p50 ms | p95 ms | S3 req/call | S3 KiB down/call | server p50 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in _ROWS[:4]:
        r = s[key]
        label = _label(key, label, r, sizes)
        for kind, route in (("next", NEXT_ROUTE), ("answer", ANSWER_ROUTE)):
            lat, rt = r["latencyMs"][kind], r["app"]["routes"].get(route, {})
            out.append(
                f"| {label} | {route} | {_num(lat['p50'])} | {_num(lat['p95'])} "
                f"| {_num(rt.get('storageRequestsPerCall'), 2)} "
                f"| {_kb(rt.get('storageBytesInPerCall', math.nan))} "
                f"| {_num(rt.get('serverLatencyMsP50'))} |"
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
    cold = {k: s[k].get("coldFirstReadMs") for k in ("ours.small.review", "ours.large.review")}
    out += [
        "",
        "Reference round trips, timed directly through the proxy with the app's client "
        f"settings: one S3 conditional GET answered 304, p50 "
        f"{trips['s3ConditionalGet304']['p50']} ms (p95 {trips['s3ConditionalGet304']['p95']}); "
        f"one DynamoDB GetItem, p50 {trips['dynamodbGetItem']['p50']} ms "
        f"(p95 {trips['dynamodbGetItem']['p95']}).",
        "",
        f"First read after the collection was replaced (a cache miss, the whole object "
        f"downloaded): {_num(cold['ours.small.review'])} ms at {sizes['small']} cards, "
        f"{_num(cold['ours.large.review'])} ms at {sizes['large']} cards "
        f"({_kb(s['ours.large.review']['collectionBytes'])} KiB).",
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
    double = any(
        _route(results, k, NEXT_ROUTE).get("storageRequestsMax", 0) > 1
        for k in ("ours.small.review", "ours.large.review")
        if k in s
    )
    reading = READING.format(
        double_read=DOUBLE_READ if double else "", each_more=EACH_MORE if double else ""
    )
    method = METHOD.format(
        answers=o["answers"],
        small=_cards(o["small_cards"]),
        large=_cards(o["large_cards"]),
        warm_reads=o["warm_reads"],
        learners=o["learners"],
        learner_answers=o["learner_answers"],
        writers=o["writers"],
        adds=o["adds_per_writer"],
        runs=o["import_runs"],
    )
    out += ["", re.sub(r"\n\n+", "\n\n", reading.strip()), "", method.strip(), ""]
    return "\n".join(out)


DOUBLE_READ = """\
`GET /api/review` checks for buried cards to restore and then picks the card in two
separate reads, so it revalidates twice: two S3 requests where one would do
(`collection.review.try_next_card` does both in one read).\
"""
EACH_MORE = " (one more each, while the route reads twice)"

READING = """
## Reading the results

**Requests.** A warm read is one S3 request, a conditional GET answered 304 with no
body; an answer is one S3 request, the conditional PUT. The naive baseline downloads
the whole collection on every call and uploads it on every write (S3 KiB/call above).
{double_read}

**Time against the naive baseline.** Both designs pay the same for authentication (two
DynamoDB reads per call), HTTP, the app's own work and the PUT of the whole file after
every answer. What the design saves per next/answer pair is round trips and downloads:
the naive pattern makes four S3 requests (a full GET and a PUT per call) where ours
makes two (a conditional GET answered 304, and the PUT){each_more}. A warm read must
cost one request and a write one PUT (README: S3SQLiteSession), so with the same
latency per request and bodies at loopback speed the speed-up cannot exceed the ratio
of requests, 2x, and every cost both designs share pulls it lower: the 3x target is
out of reach of this design at any collection size unless moving bodies costs time.
The rest of the design's advantage is bytes (none downloaded on a warm read) and
correctness (no lost updates, see the writers), and it turns into time where bandwidth
is finite: run with `--bandwidth-mbps`.

**Concurrency on a small machine.** Everything here shares the benchmark machine's
cores: moto serialises its requests (a few ms of CPU each), and one app process handles
every learner. When "cores busy" nears the core count, latency is queueing for CPU, not
storage; on Lambda each concurrent request has an instance of its own.
"""

METHOD = """
## How it is measured

**Processes.** `python -m bench` starts moto (S3, DynamoDB, Secrets Manager; it serialises
requests so that conditional writes are atomic, as on S3), the latency proxy
(`bench/proxy.py`) in front of it, and four app instances under uvicorn: two of the real
app (`api.main:app`) and two of the naive baseline (`bench.naive:app`), each with its
own cache directory. The apps reach AWS through the proxy (`AWS_ENDPOINT_URL`). The load
comes from threads in the benchmark process, one keep-alive HTTP client per learner.
Everything listens on 127.0.0.1 and stops when the benchmark ends (or is interrupted).

**Latency.** Every AWS request is delayed before it is forwarded: S3 by the S3 latency
(default 20 ms, a typical in-region figure), DynamoDB and Secrets Manager by their own
(default 5 ms, DynamoDB's usual single-digit figure), so authentication costs what it
costs on AWS, but S3 is counted separately. Bodies cross the loopback interface at
memory speed unless `--bandwidth-mbps` is set; that favours the naive baseline (which
moves whole collections), never the design under test. The proxy is threaded (a thread
per connection), keeps client connections alive (HTTP/1.1) and disables Nagle. moto's
server closes its connection after every answer, so the proxy reconnects upstream each
time; that, moto's own work and boto3's are the "local overhead" in the direct round
trips above, and every scenario pays it alike. The proxy and moto run in processes of
their own, apart from the load generator.

**Collections** are built directly in SQLite (`tests/support/seed.py`): Basic notes in a small
deck tree (the study deck `Languages` with two subdecks, plus `Geography`), a year of
history: a quarter new, most reviews (some due), a few learning, relearning and
suspended, three revlog entries per review card. Each learner registers through the API;
then the seeded file replaces the collection object, and one read loads it (the "first
read" above).

**Scenarios.**
- *Review session*: {answers} times, the next card (`GET /api/review`) then an answer
  (`POST /api/review`, "Good", every fifth "Again"), for one learner, at {small} and
  {large} cards; then {warm_reads} warm reads (`GET /api/decks/current`).
- *Naive baseline*: the same, in the same run, against `bench.naive:app`: the same app
  with `S3SQLiteSession` replaced by `NaiveSession`, which downloads the whole object
  with an unconditional GET on every call, opens it with sqlite3, runs the same domain
  function, and uploads the whole file with an unconditional PUT after a write. No
  cache, no ETags, no conditional requests, no retries.
- *Learners at once*: {learners} learners ({small} cards each), one thread each,
  {learner_answers} next/answer pairs each, all on one instance.
- *Writers*: {writers} clients add {adds} cards each to one collection, spread over two
  instances. The real app retries lost races (`conflictsRetried` in the request lines);
  the stored collection is then counted to check that no acknowledged card was lost.
  The naive baseline does the same, and loses cards.

**Targets.**
- *Warm read / next card*: every such call's request line shows exactly one S3 request,
  no body received, cache outcome `revalidated` (a conditional GET answered 304).
- *Write*: every answer's request line shows one S3 request and cache outcome `hit`
  (the cache was current, so the conditional PUT is the only request).
- *Next card at {large} cards*: its p50 within 2x of the p50 at {small} cards.
- *Warm read latency*: the p50 of `GET /api/decks/current` is at most 1.5x the round
  trips it cannot avoid, each timed directly through the proxy with the app's client
  settings: one S3 conditional GET (304) plus the DynamoDB reads of authentication (the
  proxy counts them per call: the token's revocation and the user's token version). The
  ratio against the S3 round trip alone is shown too.
- *Naive baseline*: the review session's wall time at most a third of the naive one.
- *Clients reused*: the proxy counts the connections it accepts; in the warm
  single-learner sessions the app opens none (its boto3 clients, built once per
  process, keep theirs alive).
- *Cold import*: `import api.lambda_handler` in a fresh interpreter (median of {runs}, after
  one untimed run that compiles bytecode; the two imports take turns) within 1.5x of
  importing fastapi, mangum, boto3 and pydantic alone. Wall time, as a cold start
  pays it. Both are timed as the function has them: without site-packages, against a
  directory holding only the runtime dependencies (`bench/imports.py` builds it with
  pip, once, under `.cache/`), because tools of the development environment change
  what the app loads (with `cryptography` installed, python-jose imports it).
"""
