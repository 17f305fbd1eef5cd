"""Real Anki as the oracle for the scheduler tests, run in a subprocess.

Run as `python -m tests.collection.scheduler_oracle` with a JSON request on stdin; it
prints a JSON reply. A separate process because Anki reads `ANKI_TEST_MODE` (fuzz
off) once per process and the timezone (`TZ`) from the environment, and so the test
process never has to load Anki's state for these runs.

Requests:
- `{"mode": "answer", "groups": [{"dconf": {...}, "cases": [...]}], "rollover": 4}`
  (rollover optional): each group gets
  its own deck preset (Anki's defaults deep-merged with `dconf`) and deck; each case
  a fresh note whose card is put into the given state with SQL and then answered
  through Anki's v3 API. See `_run_case` for the case fields.
- `{"mode": "timing", "cases": [{"crt", "rollover", "creation_offset"}]}`: Anki's
  `days_elapsed`/`next_day_at` for collections with those settings, in the timezone
  of the process.
- `{"mode": "fsrs_states", "cases": [{"params", "dr", "memory", "days"}]}`, FSRS on:
  each case a card with the given memory state (`[s, d]`, or None for a new card) last
  reviewed `days` days ago, in a preset with those parameters and desired retention;
  the reply holds the memory state Anki reads and each button's memory state.
- `{"mode": "fsrs_history", "cases": [{"card": {...}, "revlog": [...]}]}`, FSRS on:
  each case a card with no memory state, the given columns (`type ivl factor reps`)
  and review log rows (`days_ago ease kind ivl factor`, oldest first); the reply holds
  the rows as stored, the next rollover, and the memory state Anki computes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
_ISOLATION_MARKS = str.maketrans("", "", "\u2068\u2069")

CARD_COLUMNS = (
    "id, nid, did, type, queue, due, ivl, factor, reps, lapses, left, odue, odid, mod, usn, data"
)
REVLOG_COLUMNS = "id, cid, usn, ease, ivl, lastIvl, factor, time, type"


@dataclass(frozen=True)
class OracleRun:
    request: dict[str, Any]
    fuzz: bool = True
    tz: str | None = None


def _next_millisecond() -> None:
    """Return once the clock has moved past the current millisecond."""
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 <= start:
        pass


def run_oracles(*runs: OracleRun) -> list[dict[str, Any]]:
    """Run each request in its own fresh Python process with the real `anki` package,
    all at the same time; the replies come back in order."""
    processes = []
    for run in runs:
        env = dict(os.environ)
        env.pop("ANKI_TEST_MODE", None)
        if not run.fuzz:
            env["ANKI_TEST_MODE"] = "1"
        if run.tz is not None:
            env["TZ"] = run.tz
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.collection.scheduler_oracle"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
            env=env,
        )
        processes.append((process, json.dumps(run.request)))

    def finish(process: subprocess.Popen[str], payload: str) -> dict[str, Any]:
        stdout, stderr = process.communicate(payload, timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"oracle failed:\n{stderr}")
        reply: dict[str, Any] = json.loads(stdout)
        return reply

    with ThreadPoolExecutor(max_workers=len(processes) or 1) as pool:
        return list(pool.map(lambda pair: finish(*pair), processes))


def run_oracle(
    request: dict[str, Any], *, fuzz: bool = True, tz: str | None = None
) -> dict[str, Any]:
    """Run one request in a fresh Python process with the real `anki` package."""
    return run_oracles(OracleRun(request, fuzz, tz))[0]


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _fetch(col: Any, columns: str, table: str, where: str, *args: Any) -> dict[str, Any]:
    names = [name.strip() for name in columns.split(",")]
    values = col.db.first(f"select {columns} from {table} where {where}", *args)
    if values is None:
        raise LookupError(f"no {table} row")
    return dict(zip(names, values, strict=True))


def _answer_group(col: Any, index: int, group: dict[str, Any]) -> dict[str, Any]:
    name = f"oracle {index}"
    conf_id = col.decks.add_config_returning_id(name)
    conf = col.decks.get_config(conf_id)
    _merge(conf, group.get("dconf", {}))
    col.decks.update_config(conf)
    did = col.decks.id(name)
    deck = col.decks.get(did)
    deck["conf"] = conf_id
    col.decks.save(deck)
    results = [_run_case_with_retry(col, did, case) for case in group["cases"]]
    return {"dconf": col.decks.get_config(conf_id), "results": results}


def _run_case_with_retry(col: Any, did: int, case: dict[str, Any]) -> dict[str, Any]:
    # A rollover between reading "today" and answering would mix two days; go again.
    for _ in range(3):
        result = _run_case(col, did, case)
        if result["timing_before"] == result["timing_after"]:
            return result
    return result


def _timing(col: Any) -> list[int]:
    timing = col.sched._timing_today()
    return [timing.days_elapsed, timing.next_day_at]


def _run_case(col: Any, did: int, case: dict[str, Any]) -> dict[str, Any]:
    """Case fields: `type queue ivl factor reps lapses left` (the card's columns), `due`
    for new cards or `due_days` (relative to today) / `due_secs` (relative to now),
    `card_id` (optional, sets the fuzz seed), `data`, `rating` 1-4 and `taken_ms`; for
    FSRS `memory` ([s, d] or None) and `lrt_days_ago` build the card's `data` instead."""
    from anki.scheduler_pb2 import CardAnswer

    note = col.new_note(col.models.by_name("Basic"))
    note["Front"] = f"front {time.time_ns()}"
    col.add_note(note, did)
    cid = note.card_ids()[0]
    if "card_id" in case:
        col.db.execute("update cards set id = ? where id = ?", case["card_id"], cid)
        cid = case["card_id"]

    timing_before = _timing(col)
    today = timing_before[0]
    if "due_days" in case:
        due = today + case["due_days"]
    elif "due_secs" in case:
        due = int(time.time()) + case["due_secs"]
    else:
        due = case.get("due", 1)
    data = case.get("data", "{}")
    if "memory" in case or "lrt_days_ago" in case:  # FSRS: a memory state, a last review
        fields: dict[str, Any] = {}
        if case.get("memory") is not None:
            fields["s"], fields["d"] = case["memory"]
        if "lrt_days_ago" in case:
            fields["lrt"] = int(time.time()) - case["lrt_days_ago"] * 86_400
        data = json.dumps(fields)
    col.db.execute(
        "update cards set type=?, queue=?, due=?, ivl=?, factor=?, reps=?, lapses=?, left=?,"
        " data=? where id=?",
        case["type"],
        case["queue"],
        due,
        case.get("ivl", 0),
        case.get("factor", 0),
        case.get("reps", 0),
        case.get("lapses", 0),
        case.get("left", 0),
        data,
        cid,
    )
    before = _fetch(col, CARD_COLUMNS, "cards", "id = ?", cid)

    states = col._backend.get_scheduling_states(cid)
    labels = [label.translate(_ISOLATION_MARKS) for label in col.sched.describe_next_states(states)]
    label_time = int(time.time())
    rating = case["rating"]
    new_state = (states.again, states.hard, states.good, states.easy)[rating - 1]
    answered_ms = int(time.time() * 1000)
    col.sched.answer_card(
        CardAnswer(
            card_id=cid,
            current_state=states.current,
            new_state=new_state,
            rating=rating - 1,
            answered_at_millis=answered_ms,
            milliseconds_taken=case.get("taken_ms", 1000),
        )
    )
    after_secs = int(time.time())
    timing_after = _timing(col)
    # Keep answer times distinct, so that Anki never has to bump a revlog id.
    _next_millisecond()
    return {
        "case": case,
        "before": before,
        "after": _fetch(col, CARD_COLUMNS, "cards", "id = ?", cid),
        "revlog": _fetch(col, REVLOG_COLUMNS, "revlog", "cid = ? order by id desc", cid),
        "tags": col.get_note(note.id).tags,
        "labels": labels,
        "label_time": label_time,
        "answered_ms": answered_ms,
        "after_secs": after_secs,
        "timing_before": timing_before,
        "timing_after": timing_after,
    }


def _answer(request: dict[str, Any], directory: str) -> dict[str, Any]:
    from anki.collection import Collection

    path = os.path.join(directory, "answer.anki2")
    col = Collection(path)
    if "rollover" in request:
        # Reopen so that no day cached under the old rollover hour survives.
        col.set_config("rollover", request["rollover"])
        col.close()
        col = Collection(path)
    try:
        col.load_balancer_enabled = False
        col.set_config("fsrs", bool(request.get("fsrs", False)))
        if "short_term_with_steps" in request:
            col.set_config("fsrsShortTermWithStepsEnabled", request["short_term_with_steps"])
        groups = [_answer_group(col, i, group) for i, group in enumerate(request["groups"])]
        return {"groups": groups, "crt": col.crt, "conf": col.all_config()}
    finally:
        col.close()


def _timing_case(case: dict[str, Any], path: str) -> dict[str, Any]:
    from anki.collection import Collection

    col = Collection(path)
    col.db.execute("update col set crt = ?", case["crt"])
    col.set_config("rollover", case["rollover"])
    col.set_config("creationOffset", case["creation_offset"])
    col.close()
    col = Collection(path)
    try:
        before = time.time()
        timing = col.sched._timing_today()
        after = time.time()
        return {
            "case": case,
            "crt": col.crt,
            "days_elapsed": timing.days_elapsed,
            "next_day_at": timing.next_day_at,
            "before": before,
            "after": after,
            "local_offset": col.get_config("localOffset", None),
        }
    finally:
        col.close()


def _timings(request: dict[str, Any], directory: str) -> dict[str, Any]:
    results = [
        _timing_case(case, os.path.join(directory, f"timing{i}.anki2"))
        for i, case in enumerate(request["cases"])
    ]
    return {"results": results}


def _fsrs_collection(directory: str, name: str) -> Any:
    """A fresh collection with FSRS on and the load balancer off."""
    from anki.collection import Collection

    col = Collection(os.path.join(directory, name))
    col.load_balancer_enabled = False
    col.set_config("fsrs", True)
    return col


def _new_card(col: Any, deck_id: int, front: str) -> int:
    """A new Basic note in the deck; its card's id."""
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"] = front
    col.add_note(note, deck_id)
    return int(note.card_ids()[0])


def _current_memory(states: Any) -> Any:
    """The memory state Anki holds for the card before the answer (None: none)."""
    current = getattr(states.current.normal, states.current.normal.WhichOneof("kind"))
    if "memory_state" not in current.DESCRIPTOR.fields_by_name:
        return None
    return current.memory_state if current.HasField("memory_state") else None


def _fsrs_states(request: dict[str, Any], directory: str) -> dict[str, Any]:
    col = _fsrs_collection(directory, "fsrs.anki2")
    try:
        results = []
        for index, case in enumerate(request["cases"]):
            conf_id = col.decks.add_config_returning_id(f"fsrs {index}")
            conf = col.decks.get_config(conf_id)
            params = case["params"]
            conf["fsrsParams6" if len(params) == 21 else "fsrsParams5"] = params
            conf["desiredRetention"] = case["dr"]
            col.decks.update_config(conf)
            did = col.decks.id(f"fsrs {index}")
            deck = col.decks.get(did)
            deck["conf"] = conf_id
            col.decks.save(deck)
            card = col.get_card(_new_card(col, did, f"front {index}"))
            if case["memory"] is not None:
                days = case["days"]
                card.type = card.queue = 2
                card.ivl = max(days, 1)
                card.due = col.sched.today - days + card.ivl
                card.factor, card.reps = 2500, 3
                stability, difficulty = case["memory"]
                # anki.cards can only be imported after anki.collection (a cycle).
                card.memory_state = sys.modules["anki.cards"].FSRSMemoryState(
                    stability=stability, difficulty=difficulty
                )
                card.last_review_time = int(time.time()) - days * 86400
                col.update_card(card)
            states = col._backend.get_scheduling_states(card.id)
            buttons = []
            for state in (states.again, states.hard, states.good, states.easy):
                normal = state.normal
                kind = getattr(normal, normal.WhichOneof("kind"))
                memory = (
                    kind.review.memory_state
                    if "review" in kind.DESCRIPTOR.fields_by_name
                    else kind.memory_state
                )
                buttons.append([memory.stability, memory.difficulty])
            read = _current_memory(states)
            results.append(
                {
                    "case": case,
                    "read": None if read is None else [read.stability, read.difficulty],
                    "buttons": buttons,
                    "dconf": col.decks.get_config(conf_id),
                }
            )
        return {"results": results}
    finally:
        col.close()


def _fsrs_history(request: dict[str, Any], directory: str) -> dict[str, Any]:
    col = _fsrs_collection(directory, "history.anki2")
    try:
        results = []
        for index, case in enumerate(request["cases"]):
            cid = _new_card(col, 1, f"history {index}")
            card = case["card"]
            queue = {0: 0, 1: 1, 2: 2, 3: 1}[card["type"]]
            due = col.sched.today if card["type"] == 2 else int(time.time())
            col.db.execute(
                "update cards set type=?, queue=?, ivl=?, due=?, factor=?, reps=?, data='{}'"
                " where id=?",
                card["type"], queue, card["ivl"], due, card["factor"], card["reps"], cid,
            )  # fmt: skip
            now_ms = int(time.time() * 1000)
            for number, row in enumerate(case["revlog"]):
                # Ids are unique across cases (a few ms apart), never in the future.
                row_id = now_ms - int(row["days_ago"] * 86_400_000) - index * 50 - number
                col.db.execute(
                    "insert into revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type)"
                    " values (?, ?, -1, ?, ?, 0, ?, 1000, ?)",
                    row_id, cid, row["ease"], row["ivl"], row["factor"], row["kind"],
                )  # fmt: skip
            states = col._backend.get_scheduling_states(cid)
            memory = _current_memory(states)
            results.append(
                {
                    "case": case,
                    "rows": col.db.all(
                        "select id, ease, ivl, factor, type from revlog where cid = ? order by id",
                        cid,
                    ),
                    "next_day_at": col.sched._timing_today().next_day_at,
                    "memory": None if memory is None else [memory.stability, memory.difficulty],
                }
            )
        return {"results": results}
    finally:
        col.close()


def main() -> None:
    request = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as directory:
        if request["mode"] == "answer":
            reply = _answer(request, directory)
        elif request["mode"] == "timing":
            reply = _timings(request, directory)
        elif request["mode"] == "fsrs_states":
            reply = _fsrs_states(request, directory)
        elif request["mode"] == "fsrs_history":
            reply = _fsrs_history(request, directory)
        else:
            raise SystemExit(f"unknown mode {request['mode']!r}")
    json.dump(reply, sys.stdout)


if __name__ == "__main__":
    main()
