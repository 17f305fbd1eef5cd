"""Restore a learner's collection to an earlier state: the operator's command.

    python -m api.restore USERNAME --list
    python -m api.restore USERNAME --to N          [--yes]
    python -m api.restore USERNAME --at ISO-TIME   [--yes]
    python -m api.restore USERNAME --version ID    [--yes]

It reads the service's own settings (the same ``JAVUMBO_*`` and ``AWS_*`` variables,
api/core/config.py) to reach the same store. ``--list`` shows what the store keeps of
the learner's collection: every kept write (its log position and time), the snapshot's
versions, and which positions can be rebuilt. The others rebuild the collection as of
log position ``N`` of the current log, as of the newest write at or before a time (UTC
unless the time says otherwise; the store keeps times to the second on S3), or as one
stored version (a snapshot version, or a log entry's: the state right after it), and
check it. Without ``--yes`` that is all: it says what it would do and changes nothing.
With ``--yes`` the rebuilt collection becomes the current one as a new write at the end
of the log, so the history is kept and the restore can be undone by restoring the
position before it. How it works: docs/storage.md, "Restore".

Exit status: 0 done (or nothing to do in a dry run or a listing), 1 the store failed
or holds damaged data (nothing changed), 2 bad arguments or settings, 3 no collection
for that username, 4 the position, time or version cannot be restored.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from api.core.config import Settings
from api.user_collection import collection_key
from collection.col import mark_schema_modified
from storage.cache import DiskCache
from storage.errors import CorruptDatabase, StorageError
from storage.restore import (
    History,
    Plan,
    Restorer,
    RestoreRefused,
    UnknownKey,
    format_time,
)
from storage.session import LogPolicy, S3SQLiteSession

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNKNOWN_USER = 3
EXIT_REFUSED = 4


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is UTC. ``ValueError`` if it is not one."""
    moment = datetime.fromisoformat(text.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m api.restore",
        description=(
            "List a learner's collection history, or restore the collection to an earlier "
            "state as a new write. Without --yes nothing is changed."
        ),
        epilog=(
            "Exit status: 0 done, 1 storage failed or data damaged, 2 bad arguments or "
            "settings, 3 no such collection, 4 position/time/version not restorable."
        ),
    )
    parser.add_argument("username", help="the learner whose collection it is")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="show the kept history")
    what.add_argument("--to", type=int, metavar="N", help="log position N of the current log")
    what.add_argument(
        "--at", metavar="ISO-TIME", help="the newest write at or before this time (default UTC)"
    )
    what.add_argument("--version", metavar="ID", help="a stored snapshot or log-entry version")
    parser.add_argument("--yes", action="store_true", help="really restore (default: dry run)")
    return parser


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as leaving:  # argparse has printed the usage and the problem
        return int(leaving.code or 0)
    if args.list and args.yes:
        print("--yes restores; it goes with --to, --at or --version, not --list", file=err)
        return EXIT_USAGE
    when = None
    if args.at is not None:
        try:
            when = parse_time(args.at)
        except ValueError:
            print(f"--at {args.at!r} is not an ISO 8601 time (e.g. 2025-05-01T12:00:05Z)", file=err)
            return EXIT_USAGE
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(str(e.get("msg", e)) for e in error.errors())
        print(f"the settings are not valid: {problems}", file=err)
        return EXIT_USAGE
    key = collection_key(args.username)
    with tempfile.TemporaryDirectory(prefix="javumbo-restore-") as cache_dir:
        try:
            restorer = Restorer(_session(settings, Path(cache_dir)))
            try:
                history = restorer.history(key)
            except UnknownKey:
                print(f"no collection for user {args.username!r} (no object {key})", file=err)
                return EXIT_UNKNOWN_USER
            if args.list:
                _print_history(history, args.username, out)
                return EXIT_OK
            if args.to is not None:
                plan = history.plan_position(args.to)
            elif when is not None:
                plan = history.plan_time(when)
            else:
                plan = history.plan_version(args.version)
            return _restore(restorer, history, plan, args.username, yes=args.yes, out=out)
        except RestoreRefused as refused:
            print(f"not restored: {refused}", file=err)
            return EXIT_REFUSED
        except CorruptDatabase as error:
            print(f"not restored: the kept data is damaged: {error}", file=err)
            return EXIT_FAILED
        except StorageError as error:
            print(f"not restored: the store failed: {error}", file=err)
            return EXIT_FAILED


def _session(settings: Settings, cache_dir: Path) -> S3SQLiteSession:
    """A session on the service's store, with a cache of its own (a running service's
    cache is left alone)."""
    from api.main import build_object_store  # the composition root; imported when needed

    return S3SQLiteSession(
        build_object_store(settings),
        DiskCache(cache_dir, settings.cache_max_bytes),
        log_policy=LogPolicy(compaction_entries=settings.compaction_entries),
    )


def _restore(
    restorer: Restorer, history: History, plan: Plan, username: str, *, yes: bool, out: TextIO
) -> int:
    if history.current is None:
        raise RestoreRefused(
            f"{history.key} does not exist now (the account was deleted); "
            "a deleted collection is not restored"
        )
    current_head = history.head(history.current.log_id)
    rebuilt = restorer.rebuild(plan)  # downloaded and checked, even for a dry run
    size = len(rebuilt.body)
    print(f"collection of {username}: {history.key}", file=out)
    print(f"now at position {current_head} of log {history.current.log_id}", file=out)
    print(f"restore to {plan.describe()}", file=out)
    print(f"rebuilt and checked: {size} bytes, SQLite integrity_check ok", file=out)
    if not yes:
        print(
            f"dry run: nothing changed. Add --yes to store it as position "
            f"{(current_head or 0) + 1} (a new write; the history is kept).",
            file=out,
        )
        return EXIT_OK
    restored = restorer.restore(replace(rebuilt, body=as_replacement(rebuilt.body, time.time())))
    print(
        f"restored: {history.key} is now at position {restored.position} of log "
        f"{restored.log_id}, holding the state of position {plan.seq}. "
        f"Undo with --to {restored.position - 1}.",
        file=out,
    )
    return EXIT_OK


def as_replacement(body: bytes, now: float) -> bytes:
    """The restored collection with its schema stamp moved on: a wholesale replacement,
    so every device is asked for a full sync instead of merging its changes against a
    past it never saw (Anki's server does the same after a full upload)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(body)
        if conn.execute("select 1 from sqlite_master where name = 'col'").fetchone() is None:
            return body  # not an Anki collection: nothing to stamp
        mark_schema_modified(conn, now=now)
        conn.commit()
        return conn.serialize()
    finally:
        conn.close()


def _print_history(history: History, username: str, out: TextIO) -> None:
    print(f"collection of {username}: {history.key}", file=out)
    print(f"store: {history.note}", file=out)
    current = history.current
    if current is None:
        deleted = history.deletions[-1].last_modified if history.deletions else None
        when = f" at {format_time(deleted)}" if deleted else ""
        print(f"deleted{when}: there is no current collection to restore into", file=out)
    else:
        head = history.head(current.log_id)
        print(
            f"current: position {head} of log {current.log_id} "
            f"(snapshot at position {current.seq})",
            file=out,
        )
    for log_id in history.logs():
        ranges = history.restorable(log_id)
        spans = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges) or "none"
        which = (
            "current log"
            if current is not None and log_id == current.log_id
            else "an earlier collection (--at or --version)"
        )
        print(f"restorable positions of log {log_id} ({which}): {spans}", file=out)
    print("", file=out)
    rows = [("time (UTC)", "log", "position", "what", "version")]
    for event in history.events():
        what = event.kind if not event.note else f"{event.kind} ({event.note})"
        rows.append(
            (
                format_time(event.at),
                event.log_id[:12],
                "" if event.seq is None else str(event.seq),
                what,
                event.version_id or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)), file=out
        )


if __name__ == "__main__":
    sys.exit(main())
