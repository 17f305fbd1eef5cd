"""Normal sync beside Anki's own server: one deterministic script of two devices, run
once against the app and once against the official server, must leave the same
collections on each device (and on a third one that downloads the server's copy); so
must a note type's schema change, clashing deck, note type and tag names, objects
carrying keys this server does not know, and notes that do not fit their note type.

Ids, review times and learning due times are made by the devices from the clock: the
script rewrites them to values of its own, so that both runs make the same rows, and
the collections are compared by natural keys (notes by guid, cards by guid and ordinal,
decks, note types and deck options by name)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard
from anki.collection import Collection
from anki.decks import DeckConfigId, DeckId
from anki.errors import SyncError
from anki.scheduler.v3 import CardAnswer
from anki.sync_pb2 import SyncCollectionResponse

from tests.support.app_server import PASSWORD, AppServer, signed_up
from tests.support.waiting import wait_for_clock_past, wait_until
from tests.sync.conftest import OfficialServer, host_key
from tests.sync.rounds import newest_id

pytestmark = [pytest.mark.interop, pytest.mark.integration]

Required = SyncCollectionResponse.ChangesRequired

# One learner per test on the official server (it is given its users at start).
REFERENCE_USERS = ("script", "schema", "stale", "clash", "unknown", "rows")


@dataclass(frozen=True)
class Target:
    """A server and a learner on it."""

    url: str
    user: str


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfficialServer]:
    accounts = tuple(f"{user}:{PASSWORD}" for user in REFERENCE_USERS)
    server = OfficialServer(tmp_path_factory.mktemp("reference"), accounts).start()
    yield server
    server.stop()


@pytest.fixture
def both(server: AppServer, reference: OfficialServer) -> Callable[[str], tuple[Target, Target]]:
    """A fresh learner of the given name on the app and on the official server."""

    def make(user: str) -> tuple[Target, Target]:
        assert user in REFERENCE_USERS
        signed_up(server, user)
        return Target(server.url, user), Target(reference.url, user)

    return make


# -- devices that make the same rows in every run ----------------------------------


class Device:
    """A collection whose new ids, review times and learning due times come from a
    counter (``base`` milliseconds plus an offset per device), not from the clock."""

    def __init__(self, folder: Path, name: str, base_ms: int, offset: int) -> None:
        folder.mkdir(parents=True)
        self.col = Collection(str(folder / "collection.anki2"))
        self.name = name
        self.base_ms = base_ms
        self._next = base_ms + offset
        self._notes = 0

    def fresh_id(self) -> int:
        self._next += 1
        return self._next

    def deck(self, name: str) -> DeckId:
        did = self.col.decks.id(name)
        assert did is not None
        return did

    def add_note(
        self, notetype: str, fields: list[str], deck: str, tags: list[str] | None = None
    ) -> str:
        col = self.col
        model = col.models.by_name(notetype)
        assert model is not None, notetype
        note = col.new_note(model)
        self._notes += 1
        note.guid = f"{self.name}-{self._notes}"
        for i, value in enumerate(fields):
            note.fields[i] = value
        note.tags = tags or []
        col.add_note(note, self.deck(deck))
        nid = self.fresh_id()
        col.db.execute("update notes set id = ? where id = ?", nid, note.id)
        for cid in col.db.list("select id from cards where nid = ? order by ord", note.id):
            col.db.execute(
                "update cards set id = ?, nid = ? where id = ?", self.fresh_id(), nid, cid
            )
        return note.guid

    def card_id(self, guid: str, ord: int) -> int:
        cid = self.col.db.scalar(
            "select c.id from cards c join notes n on n.id = c.nid where n.guid = ? and c.ord = ?",
            guid,
            ord,
        )
        assert cid is not None, (guid, ord)
        return int(cid)

    def note_id(self, guid: str) -> int:
        nid = self.col.db.scalar("select id from notes where guid = ?", guid)
        assert nid is not None, guid
        return int(nid)

    def answer(self, guid: str, ord: int, rating: int) -> None:
        col = self.col
        cid = self.card_id(guid, ord)
        card = col.get_card(cid)
        card.start_timer()
        states = col._backend.get_scheduling_states(cid)
        answer = col.sched.build_answer(card=card, states=states, rating=rating)  # type: ignore[arg-type]
        answer.answered_at_millis = self.fresh_id()
        answer.milliseconds_taken = 1000 + answer.answered_at_millis % 1000
        col.sched.answer_card(answer)
        # A learning step is due at the clock's time plus the step: made the counter's.
        col.db.execute(
            "update cards set due = ? where id = ? and due > 1000000000",
            self.base_ms // 1000 + 600 + answer.answered_at_millis % 1000,
            cid,
        )

    def close(self) -> None:
        self.col.close()


def sync(dev: Device, target: Target) -> Any:
    """A normal sync: the outcome the client reports (``required``), or its error."""
    auth = dev.col.sync_login(target.user, PASSWORD, target.url + "/")
    try:
        return dev.col.sync_collection(auth, sync_media=False).required
    except SyncError as error:
        return ("error", type(error).__name__, str(error))
    finally:
        # The note types a sync brings are not in the Python layer's cache.
        dev.col.models._clear_cache()


def synced(dev: Device, target: Target) -> None:
    outcome = sync(dev, target)
    assert outcome in (Required.NO_CHANGES, Required.NORMAL_SYNC), (dev.name, outcome)


def full_sync(dev: Device, target: Target, *, upload: bool) -> None:
    auth = dev.col.sync_login(target.user, PASSWORD, target.url + "/")
    dev.col.sync_collection(auth, sync_media=False)
    dev.col.close_for_full_sync()
    dev.col.full_upload_or_download(auth=auth, server_usn=None, upload=upload)
    dev.col.reopen(after_full_sync=True)


# -- what a device holds, by natural keys --------------------------------------------

_DROPPED = ("id", "mod", "usn")


def _plain(obj: dict[str, Any], *extra: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in (*_DROPPED, *extra)}


def view(col: Collection) -> dict[str, Any]:
    col.models._clear_cache()
    decks = {d["id"]: d for d in col.decks.all()}
    configs = {c["id"]: c for c in col.decks.all_config()}
    models = {m["id"]: m for m in col.models.all()}
    deck_name = {did: d["name"] for did, d in decks.items()}
    notes: dict[str, Any] = {}
    guid_of: dict[int, str] = {}
    for nid, guid, mid, tags, flds in col.db.all("select id, guid, mid, tags, flds from notes"):
        guid_of[nid] = guid
        notes[guid] = (models[mid]["name"], flds.split("\x1f"), sorted(tags.split()))
    cards: dict[Any, Any] = {}
    key_of: dict[int, Any] = {}
    for cid, nid, ord, did, *sched, data in col.db.all(
        "select id, nid, ord, did, type, queue, due, ivl, factor, reps, lapses, flags, data"
        " from cards"
    ):
        key = (guid_of[nid], ord)
        key_of[cid] = key
        cards[key] = (deck_name.get(did, did), *sched, json.loads(data or "{}"))
    revlog = {
        (key_of.get(cid, cid), rid): tuple(rest)
        for rid, cid, *rest in col.db.all(
            "select id, cid, ease, ivl, lastIvl, factor, time, type from revlog"
        )
    }
    notetypes = {}
    for m in models.values():
        plain = _plain(m, "did")
        plain["flds"] = [_plain(f) for f in m["flds"]]
        plain["tmpls"] = [_plain(t) for t in m["tmpls"]]
        plain["deck"] = deck_name.get(m.get("did") or 0)
        notetypes[m["name"]] = plain
    return {
        "notes": notes,
        "cards": cards,
        "revlog": revlog,
        "decks": {
            d["name"]: {
                **_plain(d, "conf"),
                "conf": configs[d["conf"]]["name"] if "conf" in d else None,
            }
            for d in decks.values()
        },
        "notetypes": notetypes,
        "deck options": {c["name"]: _plain(c) for c in configs.values()},
        "tags": {tag: True for tag in col.tags.all()},
    }


def differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Readable differences between two views (empty when equal)."""
    out = []
    for part in ours:
        mine, other = ours[part], theirs[part]
        for key in sorted(set(mine) | set(other), key=repr):
            if mine.get(key) != other.get(key):
                out.append(f"{part} {key!r}: {mine.get(key)!r} != {other.get(key)!r}")
    return out


def assert_same_views(ours: dict[str, Any], theirs: dict[str, Any], what: str) -> None:
    found = differences(ours, theirs)
    assert not found, what + ":\n" + "\n".join(found[:40])


def clock_base() -> int:
    """Milliseconds a little in the past, shared by the runs of one test."""
    return (int(time.time()) - 3600) * 1000


def downloaded(target: Target, tmp: Path, base_ms: int) -> dict[str, Any]:
    """What the server holds, as a third device downloads it."""
    c = Device(tmp / "c", "c", base_ms, 800_000)
    try:
        full_sync(c, target, upload=False)
        return view(c.col)
    finally:
        c.close()


def seeded_pair(target: Target, tmp: Path, base_ms: int) -> tuple[Device, Device]:
    """A with a few notes and reviews, uploaded; B downloads it."""
    a = Device(tmp / "a", "a", base_ms, 0)
    b = Device(tmp / "b", "b", base_ms, 400_000)
    for n in range(3):
        a.add_note("Basic", [f"front {n}", f"back {n}"], "Default", ["seed"])
    guid = a.add_note("Basic (and reversed card)", ["chien", "dog"], "Lang::French")
    a.add_note("Cloze", ["{{c1::Paris}} is in {{c2::France}}"], "Lang::French")
    a.answer(guid, 0, CardAnswer.GOOD)
    full_sync(a, target, upload=True)
    full_sync(b, target, upload=False)
    return a, b


# -- 1. the same script on both servers ------------------------------------------------

ROUNDS = 5
RATINGS = (CardAnswer.AGAIN, CardAnswer.HARD, CardAnswer.GOOD, CardAnswer.EASY)


def device_round(dev: Device, rng: random.Random, round_no: int) -> None:
    """A round of changes on ``dev``, to notes, cards and decks only it touches
    (the other device's objects are left alone: two sides changing one object within
    a second would make the outcome depend on the clock)."""
    col = dev.col
    me = dev.name
    mine = sorted(g for g in col.db.list("select guid from notes") if g.startswith(f"{me}-"))
    own_decks = sorted(
        n.name for n in col.decks.all_names_and_ids() if n.name.startswith(me.upper())
    )
    new = dev.deck(f"{me.upper()}::{round_no}")
    deck = rng.choice([*own_decks, f"{me.upper()}::{round_no}"])
    # Adds of several note types.
    dev.add_note("Basic", [f"{me} basic {round_no}", "back"], deck, [f"{me}-tag"])
    dev.add_note("Basic (and reversed card)", [f"{me} rev {round_no}", "b"], deck)
    if round_no % 2:
        dev.add_note("Cloze", [f"{me} {{{{c1::cloze}}}} {{{{c2::{round_no}}}}}"], deck)
    else:
        dev.add_note("Basic (type in the answer)", [f"{me} typed {round_no}", "t"], deck)
    # Edits, tags, a deletion.
    if mine:
        note = col.get_note(dev.note_id(rng.choice(mine)))
        note.fields[-1] = f"edited by {me} in round {round_no}"
        col.update_note(note)
        col.tags.bulk_add(
            [dev.note_id(g) for g in rng.sample(mine, min(2, len(mine)))], f"r{round_no}"
        )
        later = [g for g in mine if int(g.split("-")[1]) > 5]  # the seed notes stay
        if len(later) > 3:
            col.remove_notes([dev.note_id(rng.choice(later))])
    # Decks: add, rename, delete.
    if round_no == 2 and own_decks:
        col.decks.rename(dev.deck(own_decks[-1]), f"{me.upper()} renamed::{round_no}")
    if round_no == 3:
        col.decks.remove([new])
    # Deck options.
    if me == "a":
        conf = col.decks.get_config(1)
        assert conf is not None
        conf["new"]["perDay"] = 20 + round_no
        conf["rev"]["perDay"] = 150 + round_no
        col.decks.update_config(conf)
    else:
        configs = {c["name"]: c for c in col.decks.all_config()}
        conf = configs.get("B options")
        if conf is None:
            cid = col.decks.add_config_returning_id("B options")
            deck_dict = col.decks.get(new)
            assert deck_dict is not None
            col.decks.set_config_id_for_deck_dict(deck_dict, cid)
        else:
            conf["lapse"]["leechFails"] = 5 + round_no
            col.decks.update_config(conf)
    # Answers, a suspension and a flag, on own cards. An answer also counts in its
    # deck's (and the deck's parents') figures of the day: only cards in own decks.
    own = {n.id for n in col.decks.all_names_and_ids() if n.name.startswith(me.upper())}
    rows = col.db.all(
        "select n.guid, c.ord, c.did from cards c join notes n on n.id = c.nid where c.queue >= 0"
    )
    keys = sorted((g, o) for g, o, _ in rows if g.startswith(f"{me}-"))
    answerable = sorted((g, o) for g, o, did in rows if g.startswith(f"{me}-") and did in own)
    for guid, ord in rng.sample(answerable, min(3, len(answerable))):
        dev.answer(guid, ord, rng.choice(RATINGS))
    if keys:
        guid, ord = rng.choice(keys)
        col.sched.suspend_cards([dev.card_id(guid, ord)])
        guid, ord = rng.choice(keys)
        col.set_user_flag_for_cards(1 + round_no % 4, [dev.card_id(guid, ord)])
    if me == "a" and round_no == 1:
        basic = col.models.by_name("Basic")
        assert basic is not None
        basic["css"] += "\n.card { color: teal; }"
        basic["tmpls"][0]["qfmt"] += "<br>"
        col.models.update_dict(basic)
    if me == "b" and round_no == 1:
        vocab = col.models.copy(col.models.by_name("Basic") or {}, add=False)
        vocab["name"] = "Vocab"
        col.models.add_dict(vocab)
        dev.add_note("Vocab", ["word", "meaning"], deck)


# The three objects round 2 changes on both devices, as (table, time column, row).
_BOTH_CHANGED = (
    ("notes", "mod", "guid = 'a-1'"),
    ("decks", "mtime_secs", "name = 'Lang'"),
    ("deck_config", "mtime_secs", "id = 1"),
)


def wait_for_next_second(older: Device) -> None:
    """Until the clock's second is past `older`'s changes (modification times are in
    seconds), so that the other device's changes are the newer ones."""
    stamps = [
        int(older.col.db.scalar(f"select {column} from {table} where {where}"))
        for table, column, where in _BOTH_CHANGED
    ]
    wait_until(lambda: int(time.time()) > max(stamps), timeout=5, what="the next second")


def run_script(target: Target, tmp: Path, base_ms: int) -> dict[str, dict[str, Any]]:
    a, b = seeded_pair(target, tmp, base_ms)
    rng = {"a": random.Random(1), "b": random.Random(2)}
    try:
        for round_no in range(ROUNDS):
            device_round(a, rng["a"], round_no)
            device_round(b, rng["b"], round_no)
            if round_no == 2:
                # One object changed on both sides, a second apart: the newer wins.
                for dev, text in ((a, "older"), (b, "newer")):
                    note = dev.col.get_note(dev.note_id("a-1"))
                    note.fields[0] = f"{text} {dev.name}"
                    dev.col.update_note(note)
                    deck = dev.col.decks.by_name("Lang")
                    assert deck is not None
                    deck["desc"] = f"{text} {dev.name}"
                    dev.col.decks.save(deck)
                    conf = dev.col.decks.get_config(DeckConfigId(1))
                    assert conf is not None
                    conf["new"]["perDay"] = 90 + len(text)
                    dev.col.decks.update_config(conf)
                    if dev is a:
                        wait_for_next_second(a)
            synced(a, target)
            synced(b, target)
            synced(a, target)
        return {"a": view(a.col), "b": view(b.col), "c": downloaded(target, tmp, base_ms)}
    finally:
        a.close()
        b.close()


def test_one_script_leaves_the_same_collections_as_ankis_server(
    both: Callable[[str], tuple[Target, Target]], tmp_path: Path
) -> None:
    ours, theirs = both("script")
    base = clock_base()
    reference_run = run_script(theirs, tmp_path / "reference", base)
    our_run = run_script(ours, tmp_path / "ours", base)
    assert_same_views(reference_run["a"], reference_run["b"], "the reference's devices differ")
    for name in ("a", "b", "c"):
        assert_same_views(our_run[name], reference_run[name], f"device {name}")
    assert len(our_run["a"]["notes"]) > 20 and len(our_run["a"]["revlog"]) > 10
    # The object both changed holds the newer change.
    assert our_run["a"]["notes"]["a-1"][1][0] == "newer b"
    assert our_run["a"]["decks"]["Lang"]["desc"] == "newer b"


# -- 2. a note type's schema changes -------------------------------------------------


def add_field(dev: Device, notetype: str, field: str) -> None:
    models = dev.col.models
    model = models.by_name(notetype)
    assert model is not None
    models.add_field(model, models.new_field(field))
    models.update_dict(model)


def schema_script(
    target: Target, tmp: Path, base_ms: int, *, keep_schema_stamp: bool
) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """A adds a field to Basic after a normal sync (``keep_schema_stamp``: and puts its
    schema stamp back, as a client that forgot to move it would), then both devices do
    what their client asks for; the outcomes of every sync, and what each device holds."""
    a, b = seeded_pair(target, tmp, base_ms)
    outcomes: list[Any] = []
    try:
        a.add_note("Basic", ["before", "x"], "Default")
        synced(a, target)
        synced(b, target)
        scm = a.col.db.scalar("select scm from col")
        add_field(a, "Basic", "Extra")
        if keep_schema_stamp:
            a.col.db.execute("update col set scm = ?", scm)
        a.add_note("Basic", ["with extra", "y", "z"], "Default")
        b.add_note("Basic", ["made on b meanwhile", "w"], "Default")
        outcomes.append(sync(a, target))
        outcomes.append(sync(a, target))
        if keep_schema_stamp:
            # What the user is told to do: force a one-way sync.
            a.col.mod_schema(check=False)
        full_sync(a, target, upload=True)
        outcomes.append(sync(b, target))
        full_sync(b, target, upload=False)
        outcomes += [sync(a, target), sync(b, target)]
        return outcomes, {"a": view(a.col), "b": view(b.col)}
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("keep_schema_stamp", [False, True], ids=["stamp-moved", "stamp-kept"])
def test_a_changed_note_type_needs_a_full_sync_as_on_ankis_server(
    both: Callable[[str], tuple[Target, Target]], tmp_path: Path, keep_schema_stamp: bool
) -> None:
    ours, theirs = both("stale" if keep_schema_stamp else "schema")
    base = clock_base()
    expected, reference_run = schema_script(
        theirs, tmp_path / "reference", base, keep_schema_stamp=keep_schema_stamp
    )
    outcomes, our_run = schema_script(
        ours, tmp_path / "ours", base, keep_schema_stamp=keep_schema_stamp
    )
    assert outcomes == expected
    if keep_schema_stamp:
        # Only the server can see it: the client is told to check its database.
        assert expected[0][0] == "error" and "Check Database" in expected[0][2]
    else:
        assert expected[:3] == [Required.FULL_SYNC] * 3
    assert_same_views(our_run["a"], our_run["b"], "the devices differ")
    for name in ("a", "b"):
        assert_same_views(our_run[name], reference_run[name], f"device {name}")
    assert len(our_run["a"]["notetypes"]["Basic"]["flds"]) == 3


# -- 3. the same names made on two devices ---------------------------------------------


def make_twins(dev: Device, deck: str, child: str | None) -> None:
    """A deck and a note type of the names every device uses, made here (own ids)."""
    models = dev.col.models
    basic = models.by_name("Basic")
    assert basic is not None
    twin = models.copy(basic, add=False)
    twin["name"] = "Twin"
    models.add_dict(twin)
    dev.add_note("Twin", [f"twin of {dev.name}", "x"], deck)
    if child is not None:
        dev.add_note("Basic", [f"child of {dev.name}", "x"], child)


def clash_script(target: Target, tmp: Path, base_ms: int) -> tuple[list[Any], dict[str, Any]]:
    a, b = seeded_pair(target, tmp, base_ms)
    try:
        make_twins(a, "Shared", None)
        a.deck("Topic")
        a.add_note("Basic", ["tagged on a", "x"], "Topic", ["Topic", "Lang::FR"])
        wait_for_clock_past(newest_id(a.col))
        make_twins(b, "Shared", "Shared::Child")
        b.deck("topic")
        b.add_note("Basic", ["tagged on b", "x"], "topic", ["topic::sub", "lang::fr::verbs"])
        outcomes = [sync(dev, target) for dev in (a, b, a, b)]
        return outcomes, {"a": view(a.col), "b": view(b.col), "c": downloaded(target, tmp, base_ms)}
    finally:
        a.close()
        b.close()


def test_clashing_names_get_the_same_suffix_as_on_ankis_server(
    both: Callable[[str], tuple[Target, Target]], tmp_path: Path
) -> None:
    ours, theirs = both("clash")
    base = clock_base()
    expected, reference_run = clash_script(theirs, tmp_path / "reference", base)
    outcomes, our_run = clash_script(ours, tmp_path / "ours", base)
    assert outcomes == expected
    for name in ("a", "b", "c"):
        assert_same_views(our_run[name], reference_run[name], f"device {name}")
        assert {"Shared", "Shared+"} <= set(our_run[name]["decks"]), name
        assert {"Twin", "Twin+"} <= set(our_run[name]["notetypes"]), name


# -- 4. keys this server does not know -------------------------------------------------

FUTURE = {"x": 1}
CUSTOM_DATA = '{"streak":3,"note":"é"}'


def add_unknown_keys(dev: Device, deck: str, options: str, notetype: str) -> None:
    """A deck, deck options and a note type carrying a key of a future version, and a
    card with custom data and a memory state."""
    col = dev.col
    deck_dict = col.decks.get(dev.deck(deck))
    assert deck_dict is not None
    conf_id = col.decks.add_config_returning_id(options)
    conf = col.decks.get_config(conf_id)
    assert conf is not None
    conf["futureKey"] = FUTURE
    col.decks.update_config(conf)
    col.decks.set_config_id_for_deck_dict(deck_dict, conf_id)
    deck_dict = col.decks.get(deck_dict["id"])
    assert deck_dict is not None
    deck_dict["futureKey"] = FUTURE
    col.decks.save(deck_dict)
    model = col.models.by_name(notetype)
    assert model is not None
    model["futureKey"] = FUTURE
    col.models.update_dict(model)
    guid = dev.add_note(notetype, [f"{{{{c1::{deck}}}}}", "x"], deck)
    card = col.get_card(dev.card_id(guid, 0))
    card.custom_data = CUSTOM_DATA
    col.update_card(card)
    col.db.execute(
        "update cards set data = json_set(data, '$.s', 4.25, '$.d', 6.5, '$.dr', 0.9) where id = ?",
        card.id,
    )


def unknown_script(target: Target, tmp: Path, base_ms: int) -> dict[str, Any]:
    a = Device(tmp / "a", "a", base_ms, 0)
    b = Device(tmp / "b", "b", base_ms, 400_000)
    try:
        a.add_note("Basic", ["front", "back"], "Default")
        add_unknown_keys(a, "Before", "Before options", "Basic")  # crosses in the upload
        full_sync(a, target, upload=True)
        full_sync(b, target, upload=False)
        add_unknown_keys(a, "After", "After options", "Cloze")  # crosses in a normal sync
        synced(a, target)
        synced(b, target)
        return {"a": view(a.col), "b": view(b.col), "c": downloaded(target, tmp, base_ms)}
    finally:
        a.close()
        b.close()


def test_unknown_keys_and_card_data_cross_unchanged_as_on_ankis_server(
    both: Callable[[str], tuple[Target, Target]], tmp_path: Path
) -> None:
    ours, theirs = both("unknown")
    base = clock_base()
    reference_run = unknown_script(theirs, tmp_path / "reference", base)
    our_run = unknown_script(ours, tmp_path / "ours", base)
    assert_same_views(our_run["a"], our_run["b"], "the devices differ")
    for name in ("a", "b", "c"):
        assert_same_views(our_run[name], reference_run[name], f"device {name}")
    b = our_run["b"]
    for when, notetype in (("Before", "Basic"), ("After", "Cloze")):
        assert b["decks"][when]["futureKey"] == FUTURE
        assert b["deck options"][f"{when} options"]["futureKey"] == FUTURE
        assert b["notetypes"][notetype]["futureKey"] == FUTURE
        (data,) = [card[-1] for card in b["cards"].values() if card[0] == when]
        assert data["cd"] == json.loads(CUSTOM_DATA) or data["cd"] == CUSTOM_DATA
        assert (data["s"], data["d"], data["dr"]) == (4.25, 6.5, 0.9)


# -- 5. rows that do not fit, sent by a client of its own ------------------------------


def raw_call(target: Target, method: str, body: Any, key: str) -> tuple[int, Any]:
    header = json.dumps({"v": 11, "k": key, "c": "test,1.0,linux", "s": "raw"})
    payload = zstandard.ZstdCompressor().compress(json.dumps(body).encode())
    with httpx.Client(timeout=60) as client:
        answer = client.post(
            f"{target.url}/sync/{method}",
            content=iter([payload]),
            headers={"anki-sync": header, "content-type": "application/octet-stream"},
        )
    if answer.status_code != 200:
        return answer.status_code, None
    return 200, json.loads(zstandard.ZstdDecompressor().stream_reader(answer.content).read())


def bad_rows_script(target: Target, tmp: Path, base_ms: int) -> tuple[list[Any], dict[str, Any]]:
    """Notes that do not fit their note type, each sent in a sync of its own: the
    status of every call, and what a device downloads afterwards."""
    a = Device(tmp / "a", "a", base_ms, 0)
    b = Device(tmp / "b", "b", base_ms, 400_000)
    try:
        a.add_note("Basic", ["front", "back"], "Default")
        full_sync(a, target, upload=True)
        basic = a.col.models.by_name("Basic")
        assert basic is not None
        key = host_key(target.url, target.user, PASSWORD)
        statuses: list[Any] = []
        stamp = base_ms // 1000
        fields = {
            "three fields": "a\x1fb\x1fc",
            "one field": "a",
            "control characters": "a\x07b\tc\x1fd\re\nf",
        }
        for n, (what, flds) in enumerate(fields.items()):
            note = [
                base_ms + 900_000 + n,
                f"raw-{n}",
                basic["id"],
                stamp,
                0,
                "",
                flds,
                "",
                "",
                0,
                "",
            ]
            calls = [
                ("meta", {"v": 11, "cv": "test,1.0,linux"}),
                ("start", {"minUsn": 0, "lnewer": True, "graves": None}),
                ("applyGraves", {"chunk": {"cards": [], "notes": [], "decks": []}}),
                ("applyChanges", {"changes": {"models": [], "decks": [[], []], "tags": []}}),
                ("chunk", {"_pad": None}),
                ("applyChunk", {"chunk": {"done": True, "notes": [note]}}),
            ]
            codes = [raw_call(target, method, body, key)[0] for method, body in calls]
            if codes[-1] == 200:
                # Accepted: the sync is finished, with the counts a client would send.
                db = a.col.db
                counts = [
                    [0, 0, 0],
                    db.scalar("select count() from cards"),
                    db.scalar("select count() from notes") + 1,
                    db.scalar("select count() from revlog"),
                    0,
                    len(a.col.models.all_names_and_ids()),
                    len(a.col.decks.all_names_and_ids()),
                    len(a.col.decks.all_config()),
                ]
                status, check = raw_call(target, "sanityCheck2", {"client": counts}, key)
                codes += [status, check["status"], raw_call(target, "finish", {}, key)[0]]
            else:
                raw_call(target, "abort", {"_pad": None}, key)
            statuses.append((what, codes))
        full_sync(b, target, upload=False)
        return statuses, view(b.col)
    finally:
        a.close()
        b.close()


def test_notes_that_do_not_fit_their_note_type_are_refused_as_on_ankis_server(
    both: Callable[[str], tuple[Target, Target]], tmp_path: Path
) -> None:
    ours, theirs = both("rows")
    base = clock_base()
    expected, reference_view = bad_rows_script(theirs, tmp_path / "reference", base)
    statuses, our_view = bad_rows_script(ours, tmp_path / "ours", base)
    assert statuses == expected
    assert [codes[5] for _, codes in expected] == [400, 400, 200]
    assert expected[-1][1][6:] == [200, "ok", 200]
    assert_same_views(our_view, reference_view, "downloaded")
    assert our_view["notes"]["raw-2"][1] == ["ab\tc", "de\nf"]
