"""Password hashing: no 72-byte truncation, upgrades, and no timing tell for unknown users."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import pytest

from auth.passwords import PasswordHasher

ROOT = Path(__file__).resolve().parents[2]


def test_hash_verifies_and_is_not_the_password() -> None:
    hasher = PasswordHasher(rounds=4)
    hashed = hasher.hash("correct horse battery")
    assert "correct horse battery" not in hashed
    assert hasher.verify("correct horse battery", hashed) == (True, None)
    assert hasher.verify("correct horse batterY", hashed)[0] is False


def test_bytes_after_the_72nd_matter() -> None:
    hasher = PasswordHasher(rounds=4)
    hashed = hasher.hash("x" * 72 + "tail-one")
    assert hasher.verify("x" * 72 + "tail-one", hashed)[0]
    assert not hasher.verify("x" * 72 + "tail-two", hashed)[0]


def test_legacy_plain_bcrypt_hash_is_upgraded_on_login() -> None:
    hasher = PasswordHasher(rounds=4)
    legacy = bcrypt.hashpw(b"old password here", bcrypt.gensalt(4)).decode()
    ok, upgraded = hasher.verify("old password here", legacy)
    assert ok
    assert upgraded is not None and upgraded.startswith("$bcrypt-sha256$")
    assert hasher.verify("old password here", upgraded) == (True, None)


def test_a_cost_12_2b_hash_from_the_bcrypt_library_verifies_and_upgrades() -> None:
    # The original backend's hashes: bcrypt.hashpw at the library's default cost.
    legacy = bcrypt.hashpw(b"old password here", bcrypt.gensalt(12)).decode()
    assert legacy.startswith("$2b$12$")
    hasher = PasswordHasher()
    ok, upgraded = hasher.verify("old password here", legacy)
    assert ok and upgraded is not None
    assert upgraded.startswith("$bcrypt-sha256$v=2,t=2b,r=12$")
    assert hasher.verify("old password heRe", legacy) == (False, None)


@pytest.mark.parametrize("prefix", ["$2a$", "$2y$", "$2b$"])
def test_every_plain_bcrypt_variant_verifies(prefix: str) -> None:
    made = bcrypt.hashpw(b"old password here", bcrypt.gensalt(4)).decode()
    legacy = prefix + made[4:]
    assert PasswordHasher(rounds=4).verify("old password here", legacy)[0]


def test_plain_bcrypt_reads_72_bytes_as_the_library_did_and_the_upgrade_reads_all() -> None:
    # bcrypt before 5.0 ignored what followed byte 72; 5.0 refuses such passwords, and
    # passlib with it. The original backend's long passwords must still log in.
    long_password = "é" * 40 + "tail"  # 84 bytes in UTF-8
    legacy = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    hasher = PasswordHasher(rounds=4)
    ok, upgraded = hasher.verify(long_password, legacy)
    assert ok and upgraded is not None
    assert hasher.verify("é" * 36 + "other", legacy)[0]  # as the old backend judged it
    assert hasher.verify(long_password, upgraded) == (True, None)
    assert not hasher.verify("é" * 40 + "liat", upgraded)[0]  # every byte counts now


def test_plain_bcrypt_takes_a_nul_byte_as_the_library_does() -> None:
    legacy = bcrypt.hashpw(b"nul\x00inside password", bcrypt.gensalt(4)).decode()
    hasher = PasswordHasher(rounds=4)
    assert hasher.verify("nul\x00inside password", legacy)[0]
    assert not hasher.verify("nul\x00outside password", legacy)[0]


@pytest.mark.parametrize(
    "stored", ["", "not a hash", "$2b$12$short", "$2x$04$" + "a" * 53, "$bcrypt-sha256$bad"]
)
def test_an_unusable_stored_hash_matches_nothing_and_raises_nothing(stored: str) -> None:
    assert PasswordHasher(rounds=4).verify("any password at all", stored) == (False, None)


def test_unknown_user_costs_as_much_as_a_wrong_password() -> None:
    hasher = PasswordHasher(rounds=8)
    stored = hasher.hash("the real password")

    def median_seconds(stored_hash: str | None) -> float:
        samples = []
        for _ in range(7):
            start = time.thread_time()
            hasher.verify("a wrong password", stored_hash)
            samples.append(time.thread_time() - start)
        return statistics.median(samples)

    # CPU time of this thread: bcrypt runs here, and other processes cannot inflate it.
    wrong_password = median_seconds(stored)
    unknown_user = median_seconds(None)
    # Same algorithm and cost both ways: within a factor that scheduling noise allows,
    # and far from the ~0 cost of skipping the hash.
    assert 0.5 < unknown_user / wrong_password < 2.0


def test_building_a_hasher_loads_and_hashes_nothing() -> None:
    # A token-authenticated request on a fresh process (a Lambda cold start) builds
    # the hasher but never handles a password: it must not pay for passlib or bcrypt.
    code = (
        "import sys\n"
        "from auth.passwords import PasswordHasher\n"
        "hasher = PasswordHasher(rounds=12)\n"
        "loaded = sorted(m for m in ('passlib', 'bcrypt') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
        "assert hasher.verify('pw', None) == (False, None)\n"
        "assert 'passlib' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_first_call_of_either_kind_pays_for_the_dummy_hash() -> None:
    # The dummy hash is made lazily; whichever call comes first makes it, so the very
    # first login on a process costs the same for a known and an unknown user.
    stored = PasswordHasher(rounds=9).hash("the real password")

    def first_call_seconds(stored_hash: str | None) -> float:
        hasher = PasswordHasher(rounds=9)
        start = time.thread_time()
        hasher.verify("a wrong password", stored_hash)
        return time.thread_time() - start

    known: list[float] = []
    unknown: list[float] = []
    for turn in range(6):  # each kind goes first half the time
        pair = [(known, stored), (unknown, None)]
        for samples, stored_hash in pair if turn % 2 else reversed(pair):
            samples.append(first_call_seconds(stored_hash))
    ratio = statistics.median(unknown) / statistics.median(known)
    # Equal work is a ratio near 1; a dummy made only for unknown users would be 2.
    assert 0.6 < ratio < 1.5
