"""The benchmark: the real app over HTTP, on moto behind a latency proxy.

Processes: moto (S3, DynamoDB, Secrets Manager), the latency proxy in front of it, and
app instances under uvicorn whose boto3 clients reach AWS through the proxy
(`AWS_ENDPOINT_URL`). The load comes from threads in this process, one HTTP client
(keep-alive) per learner. Collections are seeded by writing the object directly to moto.

The real app's bucket keeps every version of every object, as the deployed one does,
so what a day of study leaves behind can be weighed; the naive baseline writes to a
bucket of its own without versioning (its whole-file uploads would otherwise pile up
gigabytes in moto that nothing measures).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.imports import cold_imports
from bench.render import time_rendering
from bench.seeds import seeded_collection
from bench.servers import App, Child
from bench.stats import Call, app_figures, aws_figures, latency_ms, percentile, write_figures
from storage.keys import PREFIX_LOGS
from tests.support.aws_env import provision
from tests.support.seed import build_collection

OURS = "api.main:app"
NAIVE = "bench.naive:app"
PASSWORD = "benchmark password 1"  # noqa: S105 (a throwaway account on moto)
HTTP_TIMEOUT = 60.0
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


SIZES = ("small", "large", "huge")


@dataclass(frozen=True)
class Options:
    s3_latency_ms: float = 20.0
    other_latency_ms: float = 5.0
    # Both ways, each transfer on its own (bench/proxy.py); 0: unlimited (loopback).
    bandwidth_mbps: float = 800.0
    small_cards: int = 200
    large_cards: int = 20_000
    huge_cards: int = 100_000
    # A day of study: the review session of the real app, at the large and huge sizes;
    # the small collection has not that many cards to study in a day.
    answers: int = 200
    small_answers: int = 100
    # The naive baseline's sessions (its cost per answer does not change along a session).
    naive_answers: int = 20
    warm_reads: int = 30
    round_trips: int = 40
    learners: int = 20
    learner_answers: int = 25
    writers: int = 4
    adds_per_writer: int = 25
    # The app's JAVUMBO_COMPACTION_ENTRIES (its default), given to every instance.
    compaction_entries: int = 31
    import_runs: int = 9
    # Timed renderings of each card kind, in process (bench/render.py).
    render_runs: int = 1000
    # "runtime": time the cold imports against the runtime dependencies only (built
    # once with pip); "dev": in this environment, as it is.
    import_env: str = "runtime"

    def __post_init__(self) -> None:
        if self.import_env not in ("runtime", "dev"):
            raise ValueError(f"--import-env must be 'runtime' or 'dev', not {self.import_env!r}")
        if self.bandwidth_mbps < 0:
            raise ValueError("--bandwidth-mbps cannot be negative (0: unlimited)")
        for name in (
            "answers",
            "small_answers",
            "naive_answers",
            "compaction_entries",
            "round_trips",
            "render_runs",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")

    def cards(self, size: str) -> int:
        return int(getattr(self, f"{size}_cards"))

    def day_of_study(self, size: str) -> int:
        return self.small_answers if size == "small" else self.answers


# --- the processes ---------------------------------------------------------------------


class Rig:
    """moto, the proxy and the AWS resources; app instances on demand; all stopped on exit."""

    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.registrar: App | None = None  # where learners register (seeded_learner)
        self._exit = contextlib.ExitStack()

    def __enter__(self) -> Rig:
        # Fake credentials for this process's own clients: everything here is moto.
        os.environ.update(FAKE_AWS)
        try:
            self.moto = self._child("bench.moto")
            self.proxy = self._child(
                "bench.proxy",
                "--upstream", self.moto.url,
                "--s3-latency-ms", str(self.options.s3_latency_ms),
                "--other-latency-ms", str(self.options.other_latency_ms),
                "--bandwidth-mbps", str(self.options.bandwidth_mbps),
            )  # fmt: skip
            self.env = provision(self.moto, self.workdir)  # type: ignore[arg-type]
            self.env["AWS_ENDPOINT_URL"] = self.proxy.url
            self.env["JAVUMBO_COMPACTION_ENTRIES"] = str(self.options.compaction_entries)
            self.bucket = self.env["JAVUMBO_BUCKET"]
            self.naive_bucket = f"naive-{self.bucket}"
            self.direct_s3 = boto3.client(
                "s3",
                endpoint_url=self.moto.url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106
                config=Config(s3={"addressing_style": "path"}),
            )
            self.direct_s3.put_bucket_versioning(
                Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
            )
            self.direct_s3.create_bucket(Bucket=self.naive_bucket)
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _child(self, module: str, *args: str) -> Child:
        child = Child(module, *args)
        self._exit.callback(child.stop)
        return child

    def apps(self, *wanted: tuple[str, str]) -> list[App]:
        """App instances, (module, name) each, started side by side."""
        started = []
        for module, name in wanted:
            env = {**self.env, "JAVUMBO_CACHE_DIR": str(self.workdir / f"cache-{name}")}
            if module == NAIVE:
                env["JAVUMBO_BUCKET"] = self.naive_bucket
            app = App(module, env, self.workdir)
            self._exit.callback(app.stop)
            started.append(app.launch())
        return [app.wait() for app in started]

    def app(self, module: str, name: str) -> App:
        return self.apps((module, name))[0]

    def proxy_counters(self, *, reset: bool = False) -> dict[str, Any]:
        path = "/__bench/reset" if reset else "/__bench/stats"
        response = httpx.post(self.proxy.url + path) if reset else httpx.get(self.proxy.url + path)
        response.raise_for_status()
        counters: dict[str, Any] = response.json()
        return counters

    def proxy_events(self) -> list[dict[str, Any]]:
        response = httpx.get(self.proxy.url + "/__bench/events", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()
        return events

    def set_latency(self, *, s3_ms: float, other_ms: float) -> None:
        body = {"s3Ms": s3_ms, "otherMs": other_ms}
        httpx.post(self.proxy.url + "/__bench/latency", json=body).raise_for_status()

    def settle(self, quiet: float = 0.2, limit: float = 30.0) -> None:
        """Wait until no AWS request is in flight and none arrived for `quiet` seconds:
        work an app does after answering (if any) is counted with the scenario."""
        deadline = time.monotonic() + limit
        last = None
        while time.monotonic() < deadline:
            counters = self.proxy_counters()
            seen = (counters["inFlight"], sum(s["requests"] for s in counters["services"].values()))
            if seen == last and not counters["inFlight"]:
                return
            last = seen
            time.sleep(quiet)

    def put_collection(self, bucket: str, username: str, body: bytes) -> None:
        self.direct_s3.put_object(Bucket=bucket, Key=collection_key(username), Body=body)

    def versions(self, username: str) -> dict[str, int]:
        """Every version of every object under a learner's keys in the real app's bucket
        (the collection object and its page log), old ones included: their sizes summed."""
        key = collection_key(username)
        total = versions = markers = 0
        for prefix in (key, f"{PREFIX_LOGS}{key}/"):
            pages = self.direct_s3.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for version in page.get("Versions", []):
                    if prefix != key or version["Key"] == key:
                        total += int(version["Size"])
                        versions += 1
                markers += sum(
                    1 for m in page.get("DeleteMarkers", []) if prefix != key or m["Key"] == key
                )
        return {"bytes": total, "versions": versions, "deleteMarkers": markers}

    def log_state(self, username: str) -> dict[str, Any]:
        """Where a learner's collection object and its page log stand (docs/storage.md):
        the snapshot's position (`log-seq` in its metadata; 0 without), the newest entry
        in its log, and how many entries lie beyond the snapshot."""
        key = collection_key(username)
        metadata = self.direct_s3.head_object(Bucket=self.bucket, Key=key).get("Metadata", {})
        log_id = metadata.get("log-id")
        snapshot_seq = int(metadata.get("log-seq", 0))
        prefix = f"{PREFIX_LOGS}{key}/" + (f"{log_id}/" if log_id else "")
        newest, entries = snapshot_seq, 0
        for page in self.direct_s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                if name.isdigit():
                    entries += 1
                    newest = max(newest, int(name))
        return {
            "logId": log_id,
            "snapshotSeq": snapshot_seq,
            "newestSeq": newest,
            "entriesListed": entries,
            "beyondSnapshot": newest - snapshot_seq,
        }


def collection_key(username: str) -> str:
    return f"user_dbs/{username}.anki2"


# --- clients ---------------------------------------------------------------------------


class Learner:
    """One learner's HTTP client; every call is timed and tagged with an X-Request-Id."""

    def __init__(self, app: App, username: str) -> None:
        self.username = username
        self.http = httpx.Client(base_url=app.url, timeout=HTTP_TIMEOUT)
        self.calls: list[Call] = []
        self.tag = "setup"
        self._n = 0
        self._token = ""

    def use(self, app: App) -> Learner:
        """The same learner (same token) on another app instance."""
        other = Learner(app, self.username)
        other._token = self._token
        return other

    def call(self, kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self._n += 1
        request_id = f"{self.tag}.{self.username}.{self._n}"
        headers = {"X-Request-Id": request_id}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        sent = time.monotonic()  # the proxy's events are on this clock too
        started = time.perf_counter()
        response = self.http.request(method, path, headers=headers, **kwargs)
        elapsed = time.perf_counter() - started
        if self.tag != "setup":
            self.calls.append(Call(kind, elapsed, response.status_code, sent, request_id))
        return response

    def sign_up(self) -> Learner:
        body = {"username": self.username, "name": "Bench", "password": PASSWORD}
        self.call("register", "POST", "/api/register", json=body).raise_for_status()
        login = self.call(
            "login", "POST", "/api/login", json={"username": self.username, "password": PASSWORD}
        )
        login.raise_for_status()
        self._token = str(login.json()["access_token"])
        return self

    def measure(self, tag: str) -> Learner:
        self.tag, self.calls = tag, []
        return self

    def close(self) -> None:
        self.http.close()


def new_username(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def review_session(learner: Learner, answers: int) -> None:
    """`answers` times: the next card, then an answer (every fifth one "Again")."""
    for i in range(answers):
        shown = learner.call("next", "GET", "/api/review")
        shown.raise_for_status()
        card = shown.json()["card"]
        if card is None:
            raise RuntimeError(f"{learner.username} ran out of cards after {i} answers")
        body = {"cardId": card["cardId"], "ease": 1 if i % 5 == 4 else 3, "timeTaken": 4000}
        learner.call("answer", "POST", "/api/review", json=body).raise_for_status()


def warm_reads(learner: Learner, count: int) -> None:
    for _ in range(count):
        learner.call("read", "GET", "/api/decks/current").raise_for_status()


def current_deck_cards(learner: Learner) -> int:
    """The cards of the current deck and its subdecks, as a read of the collection sees
    them (the object alone may trail the newest writes: docs/storage.md)."""
    response = learner.call("read", "GET", "/api/decks/current")
    response.raise_for_status()
    return int(response.json()["cardCount"])


# --- scenarios -------------------------------------------------------------------------


@dataclass
class Measured:
    """What one scenario measured, from the clients, the proxy and the apps."""

    calls: list[Call]
    wall: float
    proxy: dict[str, Any]
    events: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        kinds = sorted({call.kind for call in self.calls})
        return {
            "calls": len(self.calls),
            "errors": sum(1 for call in self.calls if call.status >= 400),
            "wallSeconds": round(self.wall, 3),
            "throughputPerSecond": round(len(self.calls) / self.wall, 2) if self.wall else None,
            "latencyMs": {
                "all": latency_ms(self.calls),
                **{kind: latency_ms(c for c in self.calls if c.kind == kind) for kind in kinds},
            },
            **aws_figures(self.proxy, len(self.calls)),
            "app": app_figures(self.lines),
            **self.extra,
        }


def _cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float] | None:
    """CPU time used so far by each group of processes (Linux /proc; None elsewhere)."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = {}
    try:
        for name, group in pids.items():
            total = 0
            for pid in group:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            totals[name] = total / ticks
    except (OSError, ValueError, IndexError):
        return None
    return totals


def measured(
    rig: Rig, apps: list[App], tag: str, run: Callable[[], list[Call]], **extra: Any
) -> Measured:
    pids = {
        "apps": [app.process.pid for app in apps if app.process is not None],
        "moto": [rig.moto.process.pid],
        "proxy": [rig.proxy.process.pid],
        "loadGenerator": [os.getpid()],
    }
    rig.proxy_counters(reset=True)
    cpu_before = _cpu_seconds(pids)
    started = time.perf_counter()
    calls = run()
    wall = time.perf_counter() - started
    rig.settle()
    cpu_after = _cpu_seconds(pids)
    proxy = rig.proxy_counters()
    events = rig.proxy_events()
    lines = [
        line
        for app in apps
        for line in app.request_lines()
        if line["requestId"].startswith(tag + ".")
    ]
    if cpu_before is not None and cpu_after is not None:
        # What each process spent per API call: on a small machine, who runs out first.
        extra["cpuMsPerCall"] = {
            name: round((cpu_after[name] - cpu_before[name]) * 1000 / max(len(calls), 1), 2)
            for name in pids
        }
    return Measured(calls, wall, proxy, events, lines, dict(extra))


def seeded_learner(rig: Rig, app: App, prefix: str, body: bytes) -> tuple[Learner, float]:
    """A registered learner of `app` whose collection is `body`; returns the cold first
    read (s).

    The learner registers through the registrar, an instance of the naive baseline,
    which keeps no copy of anything: the seeded file then replaces the collection
    object while no instance of the real app holds a copy of it. (An instance that had
    one would rightly trust it: the object is never replaced behind the app's back in
    service, and a copy that found no newer log entry is current: docs/storage.md.)
    """
    assert rig.registrar is not None, "no registrar instance started"
    registered = Learner(rig.registrar, new_username(prefix)).sign_up()
    learner = registered.use(app)
    registered.close()
    rig.put_collection(app.env["JAVUMBO_BUCKET"], learner.username, body)
    started = time.perf_counter()
    learner.call("read", "GET", "/api/decks/current").raise_for_status()  # loads the object
    return learner, time.perf_counter() - started


def single_learner(
    rig: Rig, app: App, name: str, body: bytes, *, answers: int, reads: int, storage: bool
) -> tuple[Learner, dict[str, dict[str, Any]]]:
    """The review session, then warm reads, for one learner on one instance. With
    `storage`, what the session left in the (versioned) bucket is weighed too. Returns
    the learner, still warm, for the caller to close."""
    learner, cold = seeded_learner(rig, app, name, body)

    def session() -> list[Call]:
        review_session(learner.measure(f"{name}.review"), answers)
        return learner.calls

    def read() -> list[Call]:
        warm_reads(learner.measure(f"{name}.reads"), reads)
        return learner.calls

    try:
        before = rig.versions(learner.username) if storage else None
        studied = measured(
            rig,
            [app],
            f"{name}.review",
            session,
            collectionBytes=len(body),
            answers=answers,
            coldFirstReadMs=round(cold * 1000, 2),
        )
        studied.extra["writes"] = write_figures(
            studied.calls, studied.events, studied.lines, collection_key(learner.username)
        )
        if before is not None:
            after = rig.versions(learner.username)
            studied.extra["storage"] = {
                "before": before,
                "after": after,
                "retainedBytes": after["bytes"] - before["bytes"],
                "log": rig.log_state(learner.username),
            }
        results = {f"{name}.review": studied.summary()}
        if reads:
            results[f"{name}.reads"] = measured(
                rig, [app], f"{name}.reads", read, collectionBytes=len(body)
            ).summary()
    except BaseException:
        learner.close()
        raise
    return learner, results


def uniform_latency_reads(
    rig: Rig, app: App, learner: Learner, name: str, options: Options
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Warm reads with every AWS request (DynamoDB too) delayed by the S3 latency, and the
    round trips timed at that setting: the token check's reads cost what S3's does."""
    latency = options.s3_latency_ms
    rig.set_latency(s3_ms=latency, other_ms=latency)
    try:
        trips = round_trips(rig, options.round_trips)

        def reads() -> list[Call]:
            warm_reads(learner.measure(name), options.warm_reads)
            return learner.calls

        result = measured(rig, [app], name, reads, awsLatencyMs=latency)
    finally:
        rig.set_latency(s3_ms=options.s3_latency_ms, other_ms=options.other_latency_ms)
    return result.summary(), trips


def cold_read(rig: Rig, learner: Learner, name: str, options: Options) -> dict[str, Any]:
    """The read of a fresh instance (empty cache) when the log is at its longest.

    The learner answers until the log holds `compaction_entries - 1` entries beyond the
    snapshot (one more answer would compact it), then another instance starts and reads.
    With whole-file writes there is no log: the read is of the object alone.
    """
    state = rig.log_state(learner.username)
    longest = options.compaction_entries - 1
    topped_up = 0
    learner.measure("topup")
    while state["entriesListed"] and state["beyondSnapshot"] < longest:
        if topped_up > options.compaction_entries + 1:
            break  # it did not get there: reported as found
        review_session(learner, 1)
        topped_up += 1
        state = rig.log_state(learner.username)
    fresh = rig.app(OURS, f"{name}-fresh")
    client = learner.use(fresh)

    def read() -> list[Call]:
        warm_reads(client.measure(name), 1)
        return client.calls

    try:
        result = measured(
            rig,
            [fresh],
            name,
            read,
            log=state,
            answersToTopUp=topped_up,
            compactionEntries=options.compaction_entries,
        )
    finally:
        client.close()
        fresh.stop()
    return result.summary()


def concurrent_learners(rig: Rig, app: App, body: bytes, options: Options) -> dict[str, Any]:
    """`learners` learners, each in its own thread, each reviewing on the same instance."""
    tag = "concurrent"
    learners = [seeded_learner(rig, app, "many", body)[0] for _ in range(options.learners)]
    barrier = threading.Barrier(len(learners))
    failures: list[BaseException] = []

    def study(learner: Learner) -> None:
        learner.measure(tag)
        barrier.wait(30)
        try:
            review_session(learner, options.learner_answers)
        except BaseException as error:  # reported after the join
            failures.append(error)

    def run() -> list[Call]:
        threads = [threading.Thread(target=study, args=(x,), daemon=True) for x in learners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        if failures or any(thread.is_alive() for thread in threads):
            raise RuntimeError(f"a learner failed: {failures[:1]}")
        return [call for learner in learners for call in learner.calls]

    try:
        result = measured(rig, [app], tag, run, learners=options.learners)
    finally:
        for learner in learners:
            learner.close()
    return result.summary()


def concurrent_writers(
    rig: Rig, apps: list[App], name: str, body: bytes, options: Options
) -> dict[str, Any]:
    """`writers` clients adding cards to one collection, spread over the app instances."""
    first, _ = seeded_learner(rig, apps[0], name, body)
    seeded = current_deck_cards(first)
    clients = [first.use(apps[i % len(apps)]) for i in range(options.writers)]
    for app_client in clients[1 : len(apps)]:
        app_client.call("read", "GET", "/api/decks/current").raise_for_status()  # warm
    barrier = threading.Barrier(len(clients))

    def add(index: int, client: Learner) -> None:
        client.measure(name)
        client.username = f"{first.username}.w{index}"  # distinct request ids per writer
        barrier.wait(30)
        for n in range(options.adds_per_writer):
            card = {"front": f"writer {index} card {n}", "back": "added concurrently"}
            client.call("add", "POST", "/api/cards", json=card)

    def run() -> list[Call]:
        threads = [
            threading.Thread(target=add, args=(i, c), daemon=True) for i, c in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        if any(thread.is_alive() for thread in threads):
            raise RuntimeError("a writer did not finish")
        return [call for client in clients for call in client.calls]

    try:
        result = measured(rig, apps, name, run, instances=len(apps), writers=options.writers)
        added = sum(1 for call in result.calls if call.status == 201)
        stored = current_deck_cards(first.measure("setup"))
        result.extra |= {
            "cardsAcknowledged": added,
            "cardsStored": stored - seeded,
            "lostUpdates": added - (stored - seeded),
            "refused409": sum(1 for call in result.calls if call.status == 409),
        }
    finally:
        first.close()
        for client in clients:
            client.close()
    return result.summary()


# --- direct round trips and imports ----------------------------------------------------


def round_trips(rig: Rig, samples: int) -> dict[str, Any]:
    """One S3 round trip (a conditional GET answered 304) and one DynamoDB GetItem, timed
    directly through the proxy with the app's client settings."""
    key = collection_key(new_username("rtt"))
    rig.direct_s3.put_object(Bucket=rig.bucket, Key=key, Body=build_collection(10).body)
    config = Config(
        connect_timeout=3,
        read_timeout=15,
        retries={"mode": "standard", "total_max_attempts": 1},
        s3={"addressing_style": "path"},
    )
    common: dict[str, Any] = {
        "endpoint_url": rig.proxy.url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "config": config,
    }
    s3 = boto3.client("s3", **common)
    dynamodb = boto3.client("dynamodb", **common)
    etag = s3.head_object(Bucket=rig.bucket, Key=key)["ETag"]

    def s3_304() -> None:
        try:
            s3.get_object(Bucket=rig.bucket, Key=key, IfNoneMatch=etag)
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] != 304:
                raise
        else:
            raise AssertionError("expected 304 Not Modified")

    def get_item() -> None:
        dynamodb.get_item(
            TableName=rig.env["JAVUMBO_USERS_TABLE"],
            Key={"username": {"S": "nobody"}},
            ConsistentRead=True,
        )

    result = {}
    for name, probe in (("s3ConditionalGet304", s3_304), ("dynamodbGetItem", get_item)):
        for _ in range(3):
            probe()  # connections open, clients warm
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            probe()
            times.append((time.perf_counter() - started) * 1000)
        result[name] = {
            "p50": round(percentile(times, 50), 2),
            "p95": round(percentile(times, 95), 2),
            "n": samples,
        }
    return result


# --- everything ------------------------------------------------------------------------


@contextlib.contextmanager
def _step(name: str) -> Iterator[None]:
    print(f"  {name} ...", end="", flush=True)
    started = time.perf_counter()
    yield
    print(f" {time.perf_counter() - started:.1f}s", flush=True)


def run_all(options: Options) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    trips: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="javumbo-bench-") as tmp,
        Rig(options, Path(tmp)) as rig,
    ):
        with _step("seeding collections (kept under .cache/)"):
            bodies = {size: seeded_collection(options.cards(size)) for size in SIZES}
        small = bodies["small"]
        with _step("starting app instances"):
            ours, ours_b, naive, naive_b = rig.apps(
                (OURS, "a"), (OURS, "b"), (NAIVE, "naive-a"), (NAIVE, "naive-b")
            )
            rig.registrar = naive_b
        with _step("direct round trips through the proxy"):
            trips |= round_trips(rig, options.round_trips)
        for size in SIZES:
            body = bodies[size]
            answers = options.day_of_study(size)
            with _step(f"day of study ({answers} answers), ours, {size} collection"):
                learner, found = single_learner(
                    rig, ours, f"ours.{size}", body,
                    answers=answers, reads=options.warm_reads, storage=True,
                )  # fmt: skip
                scenarios |= found
            try:
                if size == "large":
                    with _step("warm reads, every AWS request at the S3 latency"):
                        name = f"ours.{size}.reads-uniform"
                        scenarios[name], uniform = uniform_latency_reads(
                            rig, ours, learner, name, options
                        )
                        trips["uniform"] = uniform
                if size == "huge":
                    with _step("cold read of a fresh instance, the log at its longest"):
                        name = f"ours.{size}.cold"
                        scenarios[name] = cold_read(rig, learner, name, options)
            finally:
                learner.close()
            with _step(f"review session ({options.naive_answers} answers), naive, {size}"):
                learner, found = single_learner(
                    rig, naive, f"naive.{size}", body, answers=options.naive_answers,
                    reads=0 if size == "huge" else options.warm_reads, storage=False,
                )  # fmt: skip
                learner.close()
                scenarios |= found
        with _step(f"{options.learners} learners at once"):
            scenarios["ours.concurrent"] = concurrent_learners(rig, ours, small, options)
        with _step(f"{options.writers} writers on 2 instances"):
            scenarios["ours.writers"] = concurrent_writers(
                rig, [ours, ours_b], "ours.writers", small, options
            )
            scenarios["naive.writers"] = concurrent_writers(
                rig, [naive, naive_b], "naive.writers", small, options
            )
    with _step(f"rendering cards ({options.render_runs} runs of each kind), in process"):
        render = time_rendering(options.render_runs)
    with _step("cold imports"):
        imports = cold_imports(
            {"handler": "api.lambda_handler", "dependencies": "fastapi, mangum, boto3, pydantic"},
            options.import_runs,
            runtime_only=options.import_env == "runtime",
        )
    return {"scenarios": scenarios, "roundTrips": trips, "imports": imports, "render": render}
