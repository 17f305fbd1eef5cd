"""Media files (storage/media.py) on every object store: the local directory, and S3 over
HTTP to the moto server; concurrency with real threads; Anki as the oracle for names."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.errors import (
    CorruptMediaIndex,
    MediaNameRefused,
    MediaNotFound,
    MediaTooLarge,
    PreconditionFailed,
    StorageError,
    TooLarge,
    TooManyMediaFiles,
    WriteConflict,
)
from storage.local import LocalObjectStore
from storage.media import (
    _ANKI_ASSIGNED_FIRSTS as ASSIGNED_FIRSTS,
)
from storage.media import (
    _ANKI_ASSIGNED_LASTS as ASSIGNED_LASTS,
)
from storage.media import (
    MediaFile,
    MediaLimits,
    MediaStore,
    content_type,
    normalize_media_name,
)
from storage.media import (
    _anki_unassigned as anki_unassigned,
)
from storage.objects import ObjectStore, StoredObject
from storage.s3 import S3ObjectStore
from tests.conftest import s3_client_for
from tests.storage.conftest import RecordingStore

P = "user_media/alice/"
OTHER = "user_media/bob/"
CONTENT_KEY = re.compile(r"user_media/[a-z]+/files/[0-9a-f]{40}-[0-9a-f]{16}\Z")


@dataclass
class Backend:
    kind: str
    objects: ObjectStore
    presigner: Callable[[str, str], str] | None

    def media(self, **kwargs: Any) -> MediaStore:
        return MediaStore(self.objects, presigner=self.presigner, **kwargs)


@pytest.fixture(params=["s3", "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The local directory, or S3 over HTTP to the moto server (a bucket of the test's
    own), whose conditional writes are atomic as on S3."""
    if request.param == "local":
        yield Backend("local", LocalObjectStore(tmp_path / "objects"), None)
        return
    server = request.getfixturevalue("moto_server")
    bucket = request.getfixturevalue("bucket")
    client = s3_client_for(server.url)

    def presign(key: str, name: str) -> str:
        return str(
            client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
            )
        )

    yield Backend("s3", S3ObjectStore(client, bucket), presign)


@pytest.fixture
def media(backend: Backend) -> MediaStore:
    return backend.media()


def sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def stored_state(objects: ObjectStore, prefix: str = P) -> tuple[object, ...]:
    """Everything under the prefix: keys and sizes, and the index's bytes."""
    listed = objects.list(prefix) + objects.list(prefix + "files/")
    index = None
    try:
        got = objects.get(prefix + "index.json")
        assert isinstance(got, StoredObject)
        index = got.body
    except StorageError:
        pass
    return tuple(sorted((o.key, o.size) for o in listed)), index


def content_keys(objects: ObjectStore, prefix: str = P) -> list[str]:
    return [o.key for o in objects.list(prefix + "files/")]


def assert_keys_are_safe(objects: ObjectStore, prefix: str = P) -> None:
    assert [o.key for o in objects.list(prefix)] in ([], [prefix + "index.json"])
    for key in content_keys(objects, prefix):
        assert CONTENT_KEY.match(key), key


# -- adding, reading, deleting ------------------------------------------------------------


def test_add_then_get_find_and_list(media: MediaStore) -> None:
    added = media.add(P, "cat.jpg", b"meow")
    assert added == MediaFile(name="cat.jpg", sha1=sha1(b"meow"), size=4, usn=1)
    assert media.get(P, "cat.jpg") == (added, b"meow")
    assert media.find(P, "cat.jpg") == added
    assert media.find(P, "dog.jpg") is None
    media.add(P, "a.mp3", b"sound")
    assert [f.name for f in media.files(P)] == ["a.mp3", "cat.jpg"]
    assert media.files(OTHER) == []
    with pytest.raises(MediaNotFound):
        media.get(P, "dog.jpg")
    with pytest.raises(MediaNotFound):
        media.get(OTHER, "cat.jpg")


def test_same_name_same_bytes_changes_nothing(backend: Backend, media: MediaStore) -> None:
    first = media.add(P, "cat.jpg", b"meow")
    before = stored_state(backend.objects)
    assert media.add(P, "cat.jpg", b"meow") == first
    assert stored_state(backend.objects) == before
    assert media.changes_since(P, 0) == (1, [media.changes_since(P, 0)[1][0]])


def test_same_name_other_bytes_replaces_with_a_new_usn(media: MediaStore) -> None:
    media.add(P, "cat.jpg", b"meow")
    replaced = media.add(P, "cat.jpg", b"purr")
    assert replaced.usn == 2 and replaced.sha1 == sha1(b"purr")
    assert media.get(P, "cat.jpg")[1] == b"purr"
    usn, changes = media.changes_since(P, 1)
    assert usn == 2
    assert [(c.name, c.sha1, c.usn) for c in changes] == [("cat.jpg", sha1(b"purr"), 2)]


def test_identical_bytes_are_stored_once(backend: Backend, media: MediaStore) -> None:
    media.add(P, "a.png", b"same")
    media.add(P, "b.png", b"same")
    media.add_many(P, [("c.png", b"same"), ("d.png", b"other"), ("e.png", b"other")])
    assert len(content_keys(backend.objects)) == 2
    assert {media.get(P, n)[1] for n in ("a.png", "b.png", "c.png")} == {b"same"}


def test_content_is_written_before_the_index_that_refers_to_it(backend: Backend) -> None:
    recording = RecordingStore(backend.objects)
    MediaStore(recording).add_many(P, [("a.png", b"1"), ("b.png", b"2")])
    puts = [r.key for r in recording.requests if r.method == "PUT"]
    assert puts[-1] == P + "index.json"
    assert sorted(puts[:-1]) == sorted(content_keys(backend.objects))
    index_put = next(r for r in recording.requests if r.method == "PUT" and "index" in r.key)
    assert index_put.if_none_match == "*"
    recording.clear()
    MediaStore(recording).add(P, "c.png", b"3")
    index_put = next(r for r in recording.requests if r.method == "PUT" and "index" in r.key)
    assert index_put.if_match is not None


def test_delete_leaves_graves_that_changes_since_reports(media: MediaStore) -> None:
    media.add_many(P, [("a.png", b"1"), ("b.png", b"2"), ("c.png", b"3")])
    assert media.delete(P, ["b.png", "missing.png", "b.png"]) == ["b.png"]
    assert media.delete(P, ["b.png"]) == []
    assert [f.name for f in media.files(P)] == ["a.png", "c.png"]
    assert media.find(P, "b.png") is None
    with pytest.raises(MediaNotFound):
        media.get(P, "b.png")
    usn, changes = media.changes_since(P, 3)
    assert usn == 4
    assert [(c.name, c.sha1, c.size, c.usn) for c in changes] == [("b.png", None, 0, 4)]
    again = media.add(P, "b.png", b"2")
    assert again.usn == 5
    assert [c.name for c in media.changes_since(P, 0)[1]] == ["a.png", "c.png", "b.png"]
    assert media.changes_since(P, 99) == (5, [])


def test_add_many_returns_entries_in_order_with_distinct_usns(media: MediaStore) -> None:
    added = media.add_many(P, [("b.png", b"1"), ("a.png", b"2"), ("con.txt", b"3")])
    assert [f.name for f in added] == ["b.png", "a.png", "con_.txt"]
    assert [f.usn for f in added] == [1, 2, 3]
    assert media.add_many(P, []) == []


def test_apply_changes_adds_and_deletes_in_order_with_one_index_write(
    backend: Backend,
) -> None:
    recording = RecordingStore(backend.objects)
    media = MediaStore(recording, presigner=backend.presigner)
    media.add_many(P, [("a.png", b"1"), ("b.png", b"2")])
    recording.clear()
    given, usn = media.apply_changes(
        P,
        [
            ("b.png", None),  # deleted
            ("c.png", b"3"),  # added
            ("a.png", b"1"),  # the same bytes: no change
            ("gone.png", None),  # never there: no change
            ("d.png", b"4"),
            ("d.png", None),  # added, then deleted in the same batch
        ],
    )
    assert (given, usn) == (6, 6)
    index_writes = [
        r for r in recording.requests if r.method == "PUT" and r.key.endswith("index.json")
    ]
    assert len(index_writes) == 1
    assert [(f.name, f.usn) for f in media.files(P)] == [("a.png", 1), ("c.png", 4)]
    changes = media.changes_since(P, 2)[1]
    assert [(c.name, c.sha1 is None, c.usn) for c in changes] == [
        ("b.png", True, 3),
        ("c.png", False, 4),
        ("d.png", True, 6),
    ]
    assert media.apply_changes(P, [("a.png", b"1"), ("zzz.png", None)]) == (2, 6)
    assert media.apply_changes(P, []) == (0, 6)


def test_apply_changes_is_all_or_nothing(backend: Backend) -> None:
    media = backend.media(limits=MediaLimits(max_file_bytes=10, max_files=3))
    media.add_many(P, [("a.png", b"1"), ("b.png", b"2")])
    before = stored_state(backend.objects)
    with pytest.raises(MediaTooLarge):
        media.apply_changes(P, [("a.png", None), ("big.png", b"x" * 11)])
    with pytest.raises(MediaNameRefused):
        media.apply_changes(P, [("a.png", None), ("../evil.png", b"1")])
    with pytest.raises(TooManyMediaFiles):
        media.apply_changes(P, [("c.png", b"3"), ("d.png", b"4")])
    assert stored_state(backend.objects) == before
    # Deleting first makes room.
    assert media.apply_changes(P, [("a.png", None), ("c.png", b"3"), ("d.png", b"4")]) == (3, 5)


def test_get_many_reads_the_index_once_and_stops_at_the_byte_cap(backend: Backend) -> None:
    recording = RecordingStore(backend.objects)
    media = MediaStore(recording, presigner=backend.presigner)
    media.add_many(P, [("a.png", b"a" * 10), ("b.png", b"b" * 10), ("c.png", b"c" * 10)])
    recording.clear()
    got = media.get_many(P, ["c.png", "a.png", "b.png"])
    assert [(f.name, data) for f, data in got] == [
        ("c.png", b"c" * 10),
        ("a.png", b"a" * 10),
        ("b.png", b"b" * 10),
    ]
    index_reads = [
        r for r in recording.requests if r.method == "GET" and r.key.endswith("index.json")
    ]
    assert len(index_reads) == 1
    assert [f.name for f, _ in media.get_many(P, ["a.png", "b.png", "c.png"], max_bytes=25)] == [
        "a.png",
        "b.png",
    ]
    # The first file always comes, whatever its size.
    assert [f.name for f, _ in media.get_many(P, ["b.png", "c.png"], max_bytes=1)] == ["b.png"]
    assert media.get_many(P, []) == []
    media.delete(P, ["b.png"])
    with pytest.raises(MediaNotFound):
        media.get_many(P, ["a.png", "b.png"])
    with pytest.raises(MediaNotFound):
        media.get_many(P, ["A.png"])  # names as stored, not normalised


def test_the_index_is_compact_json(backend: Backend, media: MediaStore) -> None:
    media.add(P, "é.png", b"1")
    media.delete(P, ["é.png"])
    got = backend.objects.get(P + "index.json")
    assert isinstance(got, StoredObject)
    assert b" " not in got.body
    assert json.loads(got.body) == {"v": 1, "usn": 2, "files": {"é.png": [None, 0, 2, None]}}


def test_download_url(backend: Backend, media: MediaStore) -> None:
    media.add(P, "cat.jpg", b"meow")
    url = media.download_url(P, "cat.jpg")
    with pytest.raises(MediaNotFound):
        media.download_url(P, "dog.jpg")
    if backend.presigner is None:
        assert url is None
        return
    assert url is not None and "cat" not in url
    assert httpx.get(url).content == b"meow"


def test_a_damaged_index_is_reported_and_never_overwritten(
    backend: Backend, media: MediaStore
) -> None:
    backend.objects.put(P + "index.json", b'{"v":1,"usn":1,"files":{"a":["zz",1,1,"00"]}}')
    with pytest.raises(CorruptMediaIndex):
        media.files(P)
    with pytest.raises(CorruptMediaIndex):
        media.add(P, "b.png", b"1")
    assert content_keys(backend.objects) == []


def test_lost_races_are_retried_then_reported(backend: Backend) -> None:
    class Refusing(RecordingStore):
        def put(self, key: str, body: bytes, **kwargs: Any) -> str:
            if key.endswith("index.json"):
                raise PreconditionFailed(key)
            return super().put(key, body, **kwargs)

    refusing = Refusing(backend.objects)
    with pytest.raises(WriteConflict):
        MediaStore(refusing, attempts=3).add(P, "a.png", b"1")
    assert len([r for r in refusing.requests if r.method == "GET"]) == 3
    # The bytes went up once, not once per attempt.
    assert len(content_keys(backend.objects)) == 1


# -- concurrency --------------------------------------------------------------------------


def run_together(*jobs: Callable[[], object]) -> list[object]:
    """Run the jobs on threads released at once; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int, job: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[i] = job()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_concurrent_uploads_of_different_files_all_survive(backend: Backend) -> None:
    n = 8
    jobs = [
        (lambda i=i: backend.media().add(P, f"file-{i}.png", f"bytes {i}".encode()))
        for i in range(n)
    ]
    results = run_together(*jobs)
    media = backend.media()
    files = media.files(P)
    assert sorted(f.name for f in files) == sorted(f"file-{i}.png" for i in range(n))
    assert sorted(f.usn for f in files) == list(range(1, n + 1))
    assert sorted(results, key=lambda f: f.name) == files  # type: ignore[attr-defined]
    for i in range(n):
        assert media.get(P, f"file-{i}.png")[1] == f"bytes {i}".encode()
    assert media.changes_since(P, 0)[0] == n


def test_concurrent_package_imports_all_survive(backend: Backend) -> None:
    jobs = [
        (
            lambda i=i: backend.media().add_many(
                P, [(f"{i}-{j}.mp3", bytes([i, j])) for j in range(5)]
            )
        )
        for i in range(4)
    ]
    run_together(*jobs)
    files = backend.media().files(P)
    assert len(files) == 20
    assert len({f.usn for f in files}) == 20


def test_an_upload_racing_a_delete_of_another_file(backend: Backend) -> None:
    for round_ in range(4):
        keep, gone, new = f"keep{round_}.png", f"gone{round_}.png", f"new{round_}.png"
        backend.media().add_many(P, [(keep, b"k"), (gone, f"g{round_}".encode())])
        run_together(
            lambda new=new, round_=round_: backend.media().add(P, new, f"n{round_}".encode()),
            lambda gone=gone: backend.media().delete(P, [gone]),
        )
        media = backend.media()
        assert media.find(P, gone) is None
        assert media.get(P, new)[1] == f"n{round_}".encode()
        assert media.get(P, keep)[1] == b"k"


def test_an_upload_racing_a_delete_of_the_same_name(backend: Backend) -> None:
    """Whichever index write came last decides, and both changes are in the history."""
    for round_ in range(4):
        name = f"race{round_}.png"
        old = backend.media().add(P, name, b"old")
        added, deleted = run_together(
            lambda name=name: backend.media().add(P, name, b"new"),
            lambda name=name: backend.media().delete(P, [name]),
        )
        media = backend.media()
        assert isinstance(added, MediaFile) and added.usn > old.usn
        # Either way round the delete finds the name current (the old file or the new).
        assert deleted == [name]
        current = media.find(P, name)
        usn, changes = media.changes_since(P, old.usn)
        assert usn == old.usn + 2
        mine = [c for c in changes if c.name == name]
        assert len(mine) == 1  # the index keeps the latest change of a name
        if current is None:  # the upload, then the delete
            assert mine[0].sha1 is None and mine[0].usn == usn
        else:  # the delete, then the upload: the new file, with its bytes
            assert current == added and added.usn == usn
            assert media.get(P, name)[1] == b"new"


def test_sweeps_never_take_the_bytes_of_concurrent_uploads(backend: Backend) -> None:
    def upload(i: int) -> MediaFile:
        return backend.media().add(P, f"dup-{i}.png", b"shared bytes")

    def sweep() -> int:
        return sum(backend.media().sweep(P) for _ in range(5))

    results = run_together(*(lambda i=i: upload(i) for i in range(6)), sweep)
    assert results[-1] == 0
    media = backend.media()
    for i in range(6):
        assert media.get(P, f"dup-{i}.png")[1] == b"shared bytes"


# -- sweeping -----------------------------------------------------------------------------


def test_sweep_spares_recent_objects_and_removes_old_unreferenced_ones(
    backend: Backend, media: MediaStore
) -> None:
    media.add(P, "a.png", b"first")
    media.add(P, "a.png", b"second")  # the first bytes are no longer referred to
    media.add(P, "b.png", b"kept")
    media.add(P, "c.png", b"gone")
    media.delete(P, ["c.png"])
    assert len(content_keys(backend.objects)) == 4
    assert media.sweep(P, older_than=3600) == 0
    assert len(content_keys(backend.objects)) == 4
    assert media.sweep(P, older_than=0) == 2
    assert len(content_keys(backend.objects)) == 2
    assert media.get(P, "a.png")[1] == b"second"
    assert media.get(P, "b.png")[1] == b"kept"
    assert media.sweep(P, older_than=0) == 0


def test_sweep_grace_is_measured_from_the_listing(backend: Backend) -> None:
    backend.media().add(P, "a.png", b"first")
    backend.media().add(P, "a.png", b"second")
    now = [0.0]
    later = backend.media(clock=lambda: now[0])
    now[0] = time.time() + 1800
    assert later.sweep(P) == 0  # half an hour later: within the default hour
    now[0] = time.time() + 7200
    assert later.sweep(P) == 1
    assert later.get(P, "a.png")[1] == b"second"


def test_sweep_leaves_other_learners_alone(backend: Backend, media: MediaStore) -> None:
    media.add(OTHER, "a.png", b"bob's")
    media.add(P, "a.png", b"alice's")
    media.delete(OTHER, ["a.png"])
    assert media.sweep(P, older_than=0) == 0
    assert len(content_keys(backend.objects, OTHER)) == 1
    assert media.sweep(OTHER, older_than=0) == 1


# -- names --------------------------------------------------------------------------------

REFUSED = ["", ".", "..", "../x", "a/b", "a\\b", "/etc/passwd", "x\x00.png", "\ud800.png", "???"]


@pytest.mark.parametrize("name", REFUSED)
def test_hostile_names_are_refused_and_nothing_is_stored(
    backend: Backend, media: MediaStore, name: str
) -> None:
    media.add(P, "existing.png", b"1")
    before = stored_state(backend.objects)
    with pytest.raises(MediaNameRefused):
        media.add(P, name, b"data")
    with pytest.raises(MediaNameRefused):
        media.add_many(P, [("fine.png", b"2"), (name, b"data")])
    with pytest.raises(MediaNameRefused):
        media.delete(P, ["existing.png", name])
    with pytest.raises(ValueError, match=r"."):  # a MediaNameRefused is a ValueError too
        media.get(P, name)
    assert stored_state(backend.objects) == before


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("NUL", "NUL_"),
        ("con.txt", "con_.txt"),
        ("Lpt1.mp3", "Lpt1_.mp3"),
        ("conx.txt", "conx.txt"),
        ("e\u0301cole.png", "\u00e9cole.png"),  # NFD in, NFC stored
        ("test.", "test._"),
        ("test ", "test _"),
        ("...", "..._"),
        ("a\u00a0b.mp3", "a b.mp3"),
        ('con.jpg[]><:"?*^|\r\n', "con_.jpg"),
        ("x" * 300 + ".jpg", "x" * 115 + ".jpg"),
        ("x" * 300, "x" * 118),
        ("é" * 150 + ".mp3", "é" * 57 + ".mp3"),
        ("a" * 200 + ".abcdefghijklmnop", "a" * 108 + ".abcdefghij"),
        ("\U0001f970.png", ".png"),  # an emoji newer than Anki's Unicode table
        ("\U0001f600.png", "\U0001f600.png"),
        ("\u05f8x.png", "x.png"),
    ],
)
def test_names_are_normalised_as_anki_does(
    backend: Backend, media: MediaStore, name: str, stored: str
) -> None:
    assert normalize_media_name(name) == stored
    assert len(stored.encode()) <= 120
    added = media.add(P, name, b"data")
    assert added.name == stored
    assert media.get(P, name)[0] == added == media.get(P, stored)[0]
    assert_keys_are_safe(backend.objects)


def test_no_key_holds_a_name(backend: Backend, media: MediaStore) -> None:
    media.add_many(P, [(f"..{c}evil{i}.png", b"x%d" % i) for i, c in enumerate("<>:|?*")])
    assert_keys_are_safe(backend.objects)
    with pytest.raises(ValueError, match="media prefix"):
        media.add("user_media/../", "a.png", b"1")
    with pytest.raises(ValueError, match="media prefix"):
        media.files("user_media/alice")


def test_content_types() -> None:
    expected = {
        "a.mp3": "audio/mpeg",
        "a.ogg": "audio/ogg",
        "a.oga": "audio/ogg",
        "a.opus": "audio/opus",
        "a.wav": "audio/wav",
        "a.m4a": "audio/mp4",
        "a.webm": "video/webm",
        "a.mp4": "video/mp4",
        "a.png": "image/png",
        "a.JPG": "image/jpeg",
        "a.jpeg": "image/jpeg",
        "a.gif": "image/gif",
        "a.svg": "image/svg+xml",
        "a.webp": "image/webp",
        "a.avif": "image/avif",
        "a.tif": "image/tiff",
        "a.html": "application/octet-stream",
        "a.js": "application/octet-stream",
        "noextension": "application/octet-stream",
        "a.unknownext": "application/octet-stream",
    }
    assert {name: content_type(name) for name in expected} == expected


# -- limits -------------------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_and_nothing_stored(backend: Backend) -> None:
    media = backend.media(limits=MediaLimits(max_file_bytes=10))
    media.add(P, "small.png", b"0123456789")
    before = stored_state(backend.objects)
    with pytest.raises(MediaTooLarge) as refused:
        media.add(P, "big.png", b"01234567890")
    assert isinstance(refused.value, TooLarge)
    with pytest.raises(MediaTooLarge):
        media.add_many(P, [("ok.png", b"1"), ("big.png", b"x" * 11)])
    with pytest.raises(MediaTooLarge):
        media.add(P, "small.png", b"x" * 11)  # no replacing by a bigger file either
    assert stored_state(backend.objects) == before


def test_the_file_count_limit_is_all_or_nothing(backend: Backend) -> None:
    media = backend.media(limits=MediaLimits(max_files=3))
    media.add_many(P, [("a.png", b"1"), ("b.png", b"2")])
    media.add(P, "c.png", b"3")
    before = stored_state(backend.objects)
    with pytest.raises(TooManyMediaFiles):
        media.add(P, "d.png", b"4")
    with pytest.raises(TooManyMediaFiles):
        media.add_many(P, [("a.png", b"replaced"), ("d.png", b"4")])
    assert stored_state(backend.objects) == before
    # Replacing a file, or adding after a delete, stays within the limit.
    assert media.add(P, "a.png", b"new a").usn == 4
    media.delete(P, ["b.png"])
    media.add(P, "d.png", b"4")
    assert [f.name for f in media.files(P)] == ["a.png", "c.png", "d.png"]


def test_the_count_limit_holds_under_concurrent_uploads(backend: Backend) -> None:
    limit = 3

    def upload(i: int) -> object:
        try:
            return backend.media(limits=MediaLimits(max_files=limit)).add(
                P, f"f{i}.png", bytes([i])
            )
        except TooManyMediaFiles as error:
            return error

    results = run_together(*(lambda i=i: upload(i) for i in range(6)))
    assert sum(isinstance(r, MediaFile) for r in results) == limit
    assert len(backend.media().files(P)) == limit


# -- Anki as the oracle -------------------------------------------------------------------

ORACLE_NAMES = [
    "foo.jpg",
    "con.txt",
    "Con.Txt",
    "NUL",
    "com1",
    "LPT9.x",
    "nul.tar.gz",
    "conx.txt",
    "a.",
    "a ",
    " a",
    "...",
    "a\u00a0b.mp3",
    "e\u0301cole.png",
    "A\u030a.png",
    "\u212b.png",
    'a[b]<c>:d"e?f*g^h|i.png',
    "tab\there.png",
    "del\x7f.png",
    "\u05f8x.png",
    "\U0001f970.png",
    "\U0001f600.png",
    "\ue000.png",
    "x" * 130,
    "y" * 125 + ".abcdefghijklmno",
    "z" * 117 + ".jpg.",
    "é" * 100 + ".jpeg",
    "日本語" * 30 + ".mp3",
    "w" * 116 + "  .png",
    "Mixed Case Name.PNG",
]


@pytest.fixture(scope="module")
def anki_media() -> Iterator[Any]:
    anki_collection = pytest.importorskip("anki.collection")
    with tempfile.TemporaryDirectory() as tmp:
        col = anki_collection.Collection(os.path.join(tmp, "oracle.anki2"))
        try:
            yield col.media
        finally:
            col.close()


def empty(folder: Path) -> Path:
    for item in folder.iterdir():
        item.unlink()
    return folder


@pytest.mark.interop
@pytest.mark.parametrize("name", [n for n in ORACLE_NAMES if len(n.encode()) <= 255])
def test_names_match_anki_media_check(anki_media: Any, name: str) -> None:
    """Anki's media check leaves a file whose name ``normalize_filename`` keeps as it
    is, case and all, and renames the others to their normalised name (which this
    Anki library also lower-cases as it writes it)."""
    folder = empty(Path(anki_media.dir()))
    (folder / name).write_bytes(b"oracle")
    anki_media.check()
    [theirs] = [path.name for path in folder.iterdir()]
    ours = normalize_media_name(name)
    assert theirs == (name if ours == name else ours.lower())


@pytest.mark.interop
def test_names_match_anki_write_data(anki_media: Any) -> None:
    """``write_data`` (Anki's add_media_file) also lower-cases the name it stores, so
    compare in lower case; it takes names too long for a file system to hold as given."""
    folder = empty(Path(anki_media.dir()))
    for i, name in enumerate(ORACLE_NAMES):
        theirs = anki_media.write_data(name, f"write {i}".encode())
        assert theirs == normalize_media_name(name).lower(), name
        (folder / theirs).unlink()


@pytest.mark.interop
def test_the_unicode_table_matches_anki_at_every_boundary(anki_media: Any) -> None:
    probes = set()
    for first, last in zip(ASSIGNED_FIRSTS, ASSIGNED_LASTS, strict=True):
        probes.update((first - 1, first, last, last + 1))
    probes = {
        cp for cp in probes if 0x80 <= cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF and cp != 0xA0
    }
    empty(Path(anki_media.dir()))
    wrong = []
    for cp in sorted(probes):
        dropped = anki_media.write_data(f"u{chr(cp)}.bin", b"") == "u.bin"
        if dropped != anki_unassigned(chr(cp)):
            wrong.append(hex(cp))
    assert wrong == []
