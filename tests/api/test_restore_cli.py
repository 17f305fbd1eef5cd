"""The operator's restore command (api/restore.py), on the local store and on a versioned
bucket, configured as the service is: from the environment.

The history is the one tests/storage/test_restore.py writes: 14 changes to alice's
collection, compacted every 4; the store holds the snapshot at 12 and entries 9-14, and
the bucket keeps the rest as versions.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from api.restore import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNKNOWN_USER,
    EXIT_USAGE,
    main,
)
from api.user_collection import collection_key
from storage.local import LocalObjectStore
from storage.restore import format_time
from tests.conftest import s3_client_for
from tests.storage.test_restore import (
    KEY,
    WRITES,
    Backend,
    Written,
    entry_times,
    rows,
    tick_moto_clock,
    versioned_backend,
    write_history,
)
from tests.support.moto_server import MotoServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Backend, Written]:
    """The local backend's data directory, where the service keeps its objects."""
    monkeypatch.setenv("JAVUMBO_BACKEND", "local")
    monkeypatch.setenv("JAVUMBO_DATA_DIR", str(tmp_path / "data"))
    backend = Backend("local", LocalObjectStore(tmp_path / "data" / "objects"), tmp_path)
    return backend, write_history(backend)


@pytest.fixture
def s3(
    moto_server: MotoServer, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Backend, Written]:
    """The aws backend on a versioned bucket (the tables are never reached)."""
    tick_moto_clock(monkeypatch)
    for name, value in {
        "JAVUMBO_BACKEND": "aws",
        "JAVUMBO_BUCKET": bucket,
        "JAVUMBO_USERS_TABLE": "users",
        "JAVUMBO_AUTH_TABLE": "auth",
        "JAVUMBO_JWT_SECRET": "restore-cli-test-secret-0123456789abcdef",
        "AWS_ENDPOINT_URL": moto_server.url,
    }.items():
        monkeypatch.setenv(name, value)
    backend = versioned_backend(moto_server.url, bucket, tmp_path)
    return backend, write_history(backend)


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def test_the_key_is_the_services(local: tuple[Backend, Written]) -> None:
    assert collection_key("alice") == KEY


# -- listing ---------------------------------------------------------------------------------


def test_list_on_the_local_store(local: tuple[Backend, Written]) -> None:
    backend, written = local
    before = backend.everything()

    code, out, err = run("alice", "--list")

    assert (code, err) == (EXIT_OK, "")
    assert "this store keeps no versions" in out
    assert f"current: position {WRITES} of log {written.log_id} (snapshot at position 12)" in out
    assert f"restorable positions of log {written.log_id} (current log): 12-14" in out
    writes = [line for line in out.splitlines() if "  write" in line]
    assert [int(line.split()[2]) for line in writes] == list(range(9, WRITES + 1))
    assert backend.everything() == before


def test_list_on_a_versioned_bucket(s3: tuple[Backend, Written]) -> None:
    backend, written = s3
    times = entry_times(backend, written.log_id)

    code, out, err = run("alice", "--list")

    assert (code, err) == (EXIT_OK, "")
    assert "versioned" in out
    assert f"restorable positions of log {written.log_id} (current log): 0-14" in out
    writes = [line for line in out.splitlines() if "  write" in line]
    assert [int(line.split()[2]) for line in writes] == list(range(1, WRITES + 1))
    # Each write's time, as the store keeps it, in a form --at takes back.
    assert [line.split()[0] for line in writes] == [format_time(times[n]) for n in sorted(times)]
    assert sum("folded, kept as a version" in line for line in writes) == 8


# -- dry runs and restores ----------------------------------------------------------------------


def test_a_dry_run_changes_nothing(local: tuple[Backend, Written]) -> None:
    backend, written = local
    before = backend.everything()

    code, out, err = run("alice", "--to", "13")

    assert (code, err) == (EXIT_OK, "")
    assert f"now at position {WRITES} of log {written.log_id}" in out
    assert "restore to position 13" in out
    assert "integrity_check ok" in out
    assert "dry run: nothing changed" in out
    assert backend.everything() == before
    assert backend.session().read(KEY, rows) == written.states[WRITES]


def test_yes_restores_a_position_and_it_can_be_undone(local: tuple[Backend, Written]) -> None:
    backend, written = local

    code, out, err = run("alice", "--to", "13", "--yes")

    assert (code, err) == (EXIT_OK, "")
    assert f"now at position {WRITES + 1} of log {written.log_id}" in out
    assert f"Undo with --to {WRITES}." in out
    assert backend.session().read(KEY, rows) == written.states[13]
    assert written.session.read(KEY, rows) == written.states[13]

    code, out, err = run("alice", "--to", str(WRITES), "--yes")
    assert (code, err) == (EXIT_OK, "")
    assert backend.session().read(KEY, rows) == written.states[WRITES]


def test_dry_runs_and_restores_on_a_versioned_bucket(s3: tuple[Backend, Written]) -> None:
    backend, written = s3
    times = entry_times(backend, written.log_id)
    key6 = f"logs/{KEY}/{written.log_id}/{6:016d}"
    client = s3_client_for(os.environ["AWS_ENDPOINT_URL"])
    version6 = client.list_object_versions(Bucket=backend.bucket, Prefix=key6)["Versions"][0]
    before = backend.everything()

    for args in (
        ("--to", "3"),
        ("--at", format_time(times[5])),
        ("--version", version6["VersionId"]),
    ):
        code, out, err = run("alice", *args)
        assert (code, err) == (EXIT_OK, ""), args
        assert "dry run: nothing changed" in out
    assert backend.everything() == before

    code, out, err = run("alice", "--at", format_time(times[5]), "--yes")
    assert (code, err) == (EXIT_OK, "")
    assert "restore to position 5 " in out
    assert backend.session().read(KEY, rows) == written.states[5]

    code, out, err = run("alice", "--version", version6["VersionId"], "--yes")
    assert (code, err) == (EXIT_OK, "")
    assert backend.session().read(KEY, rows) == written.states[6]
    # Both restores are writes of the log, after the 14 it had.
    assert f"now at position {WRITES + 2} " in out


# -- refusals -------------------------------------------------------------------------------------


def test_an_unknown_user_is_refused(local: tuple[Backend, Written]) -> None:
    backend, _ = local
    before = backend.everything()
    code, out, err = run("bob", "--to", "1", "--yes")
    assert code == EXIT_UNKNOWN_USER
    assert err == "no collection for user 'bob' (no object user_dbs/bob.anki2)\n"
    assert out == ""
    assert backend.everything() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to", "99"), "position 99 does not exist: the log of user_dbs/alice.anki2 ends at"),
        (("--to", "-3"), "position -3 does not exist"),
        (("--to", "10"), "no snapshot at or before it is kept. Restorable positions: 12-14."),
        (("--at", "2001-01-01T00:00:00Z"), "no write at or before 2001-01-01T00:00:00+00:00"),
        (("--version", "abc"), "this store keeps no versions"),
    ],
)
def test_positions_times_and_versions_that_cannot_be_restored(
    local: tuple[Backend, Written], args: tuple[str, ...], message: str
) -> None:
    backend, _ = local
    before = backend.everything()
    code, out, err = run("alice", *args, "--yes")
    assert code == EXIT_REFUSED
    assert err.startswith("not restored: ") and message in err
    assert out == ""
    assert backend.everything() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("alice", "--at", "yesterday"), "is not an ISO 8601 time"),
        (("alice", "--list", "--yes"), "--yes restores"),
        (("alice",), "one of the arguments --list --to --at --version is required"),
        (("alice", "--to", "3", "--at", "2030-01-01"), "not allowed with argument"),
        (("alice", "--to", "three"), "invalid int value"),
    ],
)
def test_bad_arguments(
    local: tuple[Backend, Written],
    args: tuple[str, ...],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(*args)
    assert code == EXIT_USAGE
    assert message in err + capsys.readouterr().err  # argparse writes to sys.stderr


def test_bad_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVUMBO_BACKEND", "aws")
    for name in ("JAVUMBO_BUCKET", "JAVUMBO_USERS_TABLE", "JAVUMBO_AUTH_TABLE"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = run("alice", "--list")
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith("the settings are not valid: ") and "JAVUMBO_BUCKET" in err


def test_an_unreachable_store_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "JAVUMBO_BACKEND": "aws",
        "JAVUMBO_BUCKET": "nowhere",
        "JAVUMBO_USERS_TABLE": "users",
        "JAVUMBO_AUTH_TABLE": "auth",
        "JAVUMBO_JWT_SECRET": "restore-cli-test-secret-0123456789abcdef",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard: nothing listens
        "JAVUMBO_AWS_CONNECT_TIMEOUT": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    code, out, err = run("alice", "--list")
    assert (code, out) == (EXIT_FAILED, "")
    assert err.startswith("not restored: the store failed: ")


def test_run_as_a_module(tmp_path: Path) -> None:
    """The real entry point: an unknown user is a message and exit status 3."""
    env = {
        **os.environ,
        "JAVUMBO_BACKEND": "local",
        "JAVUMBO_DATA_DIR": str(tmp_path / "data"),
        "JAVUMBO_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "api.restore", "bob", "--list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_UNKNOWN_USER
    assert done.stderr == "no collection for user 'bob' (no object user_dbs/bob.anki2)\n"
    assert done.stdout == ""


def test_a_restored_collection_asks_every_device_for_a_full_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collection.cards import add_card
    from collection.schema import new_collection_bytes

    monkeypatch.setenv("JAVUMBO_BACKEND", "local")
    monkeypatch.setenv("JAVUMBO_DATA_DIR", str(tmp_path / "data"))
    backend = Backend("local", LocalObjectStore(tmp_path / "data" / "objects"), tmp_path)
    session = backend.session()
    session.create(KEY, new_collection_bytes(now=1_700_000_000))
    for front in ("one", "two"):
        session.write(KEY, lambda conn, f=front: add_card(conn, f, "", now=1_700_000_100))

    def stamps(conn: sqlite3.Connection) -> tuple[int, int]:
        return conn.execute("select scm, (select count() from cards) from col").fetchone()

    scm_before, _ = session.read(KEY, stamps)
    code, _, err = run("alice", "--to", "1", "--yes")
    assert (code, err) == (EXIT_OK, "")
    scm_after, cards = backend.session().read(KEY, stamps)
    assert cards == 1  # the state of position 1
    assert scm_after > scm_before  # a wholesale replacement: devices must sync in full
