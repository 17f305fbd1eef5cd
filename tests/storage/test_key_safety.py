"""No key reaches outside the local store's root or another key's file, and no username
makes a collection key outside ``user_dbs/`` or shared with another username.

Collection keys are checked against both object stores: the original backend's
usernames (any 1-20 characters) must find their objects where it put them.
"""

from __future__ import annotations

import posixpath
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.user_collection import collection_key
from storage.local import LocalObjectStore
from storage.objects import ObjectStore, StoredObject

HOSTILE_KEYS = [
    "user_dbs/../../etc/x.anki2",
    "user_dbs/../x.anki2",
    "../x",
    "a/../../x",
    "user_dbs/./x.anki2",
    "user_dbs//x.anki2",
    "user_dbs/x.anki2/",
    "/etc/passwd",
    "",
    ".locks/x",
    ".tmp/x",
    "user_dbs/\udcc2\udc80.anki2",  # not Unicode: would alias "user_dbs/\x80.anki2"
    "user_dbs/" + "x" * 300 + ".anki2",
]
# Accepted, and kept inside the root as one file each.
AWKWARD_KEYS = [
    "user_dbs\\..\\..\\x.anki2",
    "user_dbs/..\\x.anki2",
    "user_dbs/a\x00b.anki2",
    "user_dbs/\x80.anki2",
    "user_dbs/%2E%2E/x.anki2",
    "user_dbs/...anki2",
    "user_dbs/.anki2",
    "user_dbs/CON.anki2",
]


def paths_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_local_store_refuses_keys_without_a_faithful_file(tmp_path: Path, key: str) -> None:
    root = tmp_path / "root"
    store = LocalObjectStore(root)
    for attempt in (
        lambda: store.put(key, b"x"),
        lambda: store.get(key),
        lambda: store.head(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(ValueError, match="key"):
            attempt()
    assert [p for p in tmp_path.rglob("*") if not p.is_relative_to(root)] == []


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_local_store_keeps_awkward_keys_as_one_file_inside_the_root(
    tmp_path: Path, key: str
) -> None:
    root = tmp_path / "root"
    store = LocalObjectStore(root)
    store.put(key, b"x")
    assert isinstance(store.get(key), StoredObject)
    stored = [p for p in paths_under(root) if ".locks" not in p.parts]
    assert len(stored) == 1
    assert stored[0].resolve().is_relative_to(root.resolve())
    assert [p for p in tmp_path.rglob("*") if not p.is_relative_to(root)] == []


def test_local_store_keeps_the_plain_layout_for_plain_keys(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.put("user_dbs/alice_2.0-x.anki2", b"a")
    assert (tmp_path / "user_dbs" / "alice_2.0-x.anki2").read_bytes() == b"a"


def folded(path: Path) -> str:
    """What a case-insensitive, Unicode-normalising file system would see."""
    return unicodedata.normalize("NFD", str(path)).casefold()


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=8, unique=True))
def test_local_store_maps_distinct_keys_to_distinct_files_inside_the_root(
    tmp_path: Path, keys: list[str]
) -> None:
    store = LocalObjectStore(tmp_path)
    root = store.root
    mapped: dict[str, str] = {}
    for key in keys:
        try:
            path = store._path(key)
        except ValueError:
            continue
        assert path.is_relative_to(root) and path != root
        relative = path.relative_to(root)
        assert relative.parts[0] not in (".locks", ".tmp")
        assert all(part not in ("", ".", "..") for part in relative.parts)
        assert all(c.isascii() and c.isprintable() and c != "\\" for c in str(relative))
        assert folded(path) not in mapped, (key, mapped.get(folded(path)))
        mapped[folded(path)] = key


# --- collection keys ---------------------------------------------------------------

LEGACY_NAMES = [
    "bob",
    "Bob",
    "BOB",
    "Maria José",
    "maria josé",
    "Ana/Lab1",
    "Ana",
    "Ana%2FLab1",
    "ana@lab.org",
    "Ann Lee",
    "DOMAIN\\ann",
    "100%",
    "x/",
    ".",
    "..",
    "...",
    "x/..",
    "../etc",
    "../../etc/x",
    "/x",
    "a//b",
    "a/./b",
    "tab\there",
    "nul\x00here",
    "..%2Fetc",
]
SAFE_LEGACY_NAMES = [
    "bob",
    "Bob",
    "Maria José",
    "Ana/Lab1",
    "ana@lab.org",
    "DOMAIN\\ann",
    "100%",
    "x/",
    "..",
    "x/..",
]


@pytest.mark.parametrize("username", SAFE_LEGACY_NAMES)
def test_the_original_backends_key_is_kept_whenever_it_is_safe(username: str) -> None:
    assert collection_key(username) == f"user_dbs/{username}.anki2"


@pytest.mark.parametrize(
    ("username", "key"),
    [
        ("../etc", "user_dbs/..%2Fetc.anki2.escaped"),
        ("../../etc/x", "user_dbs/..%2F..%2Fetc%2Fx.anki2.escaped"),
        ("/x", "user_dbs/%2Fx.anki2.escaped"),
        ("a//b", "user_dbs/a%2F%2Fb.anki2.escaped"),
        ("a/./b", "user_dbs/a%2F.%2Fb.anki2.escaped"),
        ("nul\x00here", "user_dbs/nul%00here.anki2.escaped"),
        ("50%/../x", "user_dbs/50%25%2F..%2Fx.anki2.escaped"),
    ],
)
def test_an_unsafe_name_gets_an_escaped_key_directly_under_user_dbs(
    username: str, key: str
) -> None:
    assert collection_key(username) == key


def assert_key_is_safe(key: str) -> None:
    assert key.startswith("user_dbs/")
    # Nothing that resolves `..`, drops `.` or collapses `//` can move it.
    assert posixpath.normpath(key) == key
    assert all(part not in ("", ".", "..") for part in key.split("/"))
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in key)


@settings(max_examples=1000)
@given(names=st.lists(st.text(min_size=1, max_size=64), min_size=1, max_size=10, unique=True))
def test_every_username_has_a_safe_key_of_its_own(names: list[str]) -> None:
    keys = [collection_key(name) for name in names]
    for key in keys:
        assert_key_is_safe(key)
    assert len(set(keys)) == len(keys)


@settings(max_examples=500)
@given(
    names=st.lists(
        st.text(alphabet="./%2Fab\x00", min_size=1, max_size=12),
        min_size=2,
        max_size=20,
        unique=True,
    )
)
def test_dot_slash_and_escape_names_have_safe_keys_of_their_own(names: list[str]) -> None:
    # Dense in exactly the characters the rule is about, escapes included.
    keys = [collection_key(name) for name in names]
    for key in keys:
        assert_key_is_safe(key)
    assert len(set(keys)) == len(keys)


def test_legacy_names_keys_are_pairwise_distinct() -> None:
    keys = [collection_key(name) for name in LEGACY_NAMES]
    assert len(set(keys)) == len(LEGACY_NAMES)
    for key in keys:
        assert_key_is_safe(key)


def test_every_legacy_name_has_its_own_object_in_either_store(
    store: ObjectStore, tmp_path: Path
) -> None:
    for name in LEGACY_NAMES:
        store.put(collection_key(name), name.encode())
    for name in LEGACY_NAMES:
        got = store.get(collection_key(name))
        assert isinstance(got, StoredObject) and got.body == name.encode()
    if isinstance(store, LocalObjectStore):
        root = store.root
        assert all(
            p.resolve().is_relative_to(root / "user_dbs") for p in paths_under(root / "user_dbs")
        )
        assert [p for p in tmp_path.rglob("*") if not p.is_relative_to(root)] == []


def test_an_object_the_original_backend_wrote_is_found_under_its_own_key(
    store: ObjectStore,
) -> None:
    # As the original backend wrote them: `user_dbs/{username}.anki2`, nothing else.
    for name in ("Maria José", "Ana/Lab1", "ana@lab.org"):
        store.put(f"user_dbs/{name}.anki2", name.encode())
        got = store.get(collection_key(name))
        assert isinstance(got, StoredObject) and got.body == name.encode()
