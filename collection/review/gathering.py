"""Which cards a deck offers today (Anki's v3 `queue/builder`): the daily limits of the
deck and each of its subdecks, and siblings kept out of the day's queue as their
presets' bury options ask.

Limits (Anki's `decks/limits.rs`): each deck's remaining reviews are its reviews/day
(or the deck's own limit, or today's override) less the reviews and, unless the
collection lets new cards ignore the review limit, the new cards studied today (the
deck's `revToday`/`newToday` counters, as every Anki client keeps them); its remaining
new cards are its new/day less the new cards studied today, capped to its remaining
reviews in the same case. A subdeck never gets more than its parent, and taking a card
uses up one of its deck's and every parent's. Studying a subdeck applies its parents'
limits too only when the collection asks (`applyAllParentLimits`).

Gathering (Anki's `gathering.rs`): intraday learning cards (no limit), then interday
learning and reviews due today in the preset's review order (by due day by default,
ties broken by Anki's `fnvhash(id, mod)`), within the review limit, then new cards
within the new limit in the preset's gather order (deck by deck in name order by
default; by position, or shuffled with Anki's daily seed). A card whose note already
gave a card to today's queue stays out when that card's preset buries siblings of its
kind; it uses up no limit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from collection.col import Col
from collection.decks import SEPARATOR, DeckIndex, deck_preset
from collection.enums import CardQueue
from collection.scheduler import DeckOptions, SchedTiming
from collection.scheduler._rust import f32
from collection.scheduler.card_data import parse_card_data
from collection.scheduler.fsrs import FSRS5_DECAY

# Without a preset (a filtered deck) nothing is limited, as in Anki.
UNLIMITED = 9999
FILTERED_MESSAGE = (
    "This card is in a filtered deck, which is studied in Anki: empty or delete the"
    " filtered deck there, and its cards come back here to their own decks."
)
IGNORE_REVIEW_LIMIT_CONF_KEY = "newCardsIgnoreReviewLimit"
ALL_PARENT_LIMITS_CONF_KEY = "applyAllParentLimits"

_U64 = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
# `reviewOrder` values (Anki's ReviewCardOrder) and their sort keys, before the
# `fnvhash(id, mod)` every order ends with; 8 (random) is that alone.
_REVIEW_ORDERS: dict[int, tuple[str, ...]] = {
    0: ("day",),
    1: ("day", "deck"),
    2: ("deck", "day"),
    3: ("ivl",),
    4: ("-ivl",),
    5: ("ease",),
    6: ("-ease",),
    7: ("retrievability",),
    8: (),
    9: ("added",),
    10: ("-added",),
    11: ("-retrievability",),
    12: ("overdueness",),
}

# `newSortOrder` values (Anki's NewCardSortOrder); 0, the default, is by template.
NEW_SORT_NO_SORT = 1
NEW_SORT_TEMPLATE_THEN_RANDOM = 2
NEW_SORT_RANDOM_NOTE_THEN_TEMPLATE = 3
NEW_SORT_RANDOM_CARD = 4
# `newMix` and `interdayLearningMix` values (Anki's ReviewMix); 0, the default, mixes.
MIX_AFTER = 1
MIX_BEFORE = 2

# `newGatherPriority` values (Anki's NewCardGatherPriority); 0, the default, is deck
# by deck in position order.
GATHER_LOWEST_POSITION = 1
GATHER_HIGHEST_POSITION = 2
GATHER_RANDOM_NOTES = 3
GATHER_RANDOM_CARDS = 4
GATHER_DECK_THEN_RANDOM_NOTES = 5


@dataclass(slots=True)
class Remaining:
    review: int
    new: int
    cap_new_to_review: bool

    def take(self, review: bool) -> None:
        if review:
            self.review = max(self.review - 1, 0)
            if self.cap_new_to_review:
                self.new = min(self.new, self.review)
        else:
            self.new = max(self.new - 1, 0)

    def left(self, review: bool) -> int:
        return self.review if review else self.new


@dataclass(frozen=True, slots=True)
class BuryMode:
    new: bool = False
    reviews: bool = False
    interday_learning: bool = False

    def __or__(self, other: BuryMode) -> BuryMode:
        return BuryMode(
            self.new or other.new,
            self.reviews or other.reviews,
            self.interday_learning or other.interday_learning,
        )


@dataclass(frozen=True, slots=True)
class DayQueue:
    """Today's cards of a deck: each list in the order it is studied, and the deck's
    remaining limits before any was gathered."""

    learning: list[tuple[int, int]]  # (due second, card id): every intraday learning card
    day_learning: list[int]
    reviews: list[int]
    new: list[int]
    main: list[int]  # reviews, interday learning and new cards, mixed as the preset says
    new_limit: int
    review_limit: int


def day_count(deck: dict[str, Any], key: str, today: int) -> int:
    """The deck's `newToday`/`revToday` count if it is today's ([day, count])."""
    value = deck.get(key)
    if isinstance(value, list) and len(value) >= 2 and value[0] == today:
        count = value[1]
        return count if isinstance(count, int) and not isinstance(count, bool) else 0
    return 0


def _deck_limit(deck: dict[str, Any], key: str, today: int) -> int | None:
    """The deck's own limit (`newLimit`/`reviewLimit`), or today's override of it."""
    override = deck.get(f"{key}Today")
    if isinstance(override, dict) and override.get("today") == today:
        limit = override.get("limit")
        if isinstance(limit, int) and not isinstance(limit, bool):
            return limit
    limit = deck.get(key)
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def _remaining(col: Col, deck: dict[str, Any], today: int) -> Remaining:
    if deck.get("dyn"):
        return Remaining(UNLIMITED, UNLIMITED, cap_new_to_review=False)
    options = DeckOptions.from_dconf(deck_preset(col, deck))
    ignore = col.conf.get(IGNORE_REVIEW_LIMIT_CONF_KEY) is True
    review_limit = _deck_limit(deck, "reviewLimit", today)
    new_limit = _deck_limit(deck, "newLimit", today)
    review = (options.rev_per_day if review_limit is None else review_limit) - day_count(
        deck, "revToday", today
    )
    new = (options.new_per_day if new_limit is None else new_limit) - day_count(
        deck, "newToday", today
    )
    if not ignore:
        review -= day_count(deck, "newToday", today)
        new = min(new, review)
    return Remaining(max(review, 0), max(new, 0), cap_new_to_review=not ignore)


@dataclass
class LimitTree:
    """The remaining limits of a deck and its subdecks (Anki's `LimitTreeMap`)."""

    root: int
    parent: dict[int, int | None]
    remaining: dict[int, Remaining]
    children: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, col: Col, decks: DeckIndex, root: int, today: int) -> LimitTree:
        tree = cls(root, {root: None}, {root: _remaining(col, decks.get(root), today)})
        if col.conf.get(ALL_PARENT_LIMITS_CONF_KEY) is True:
            name = str(decks.get(root)["name"])
            parts = name.split(SEPARATOR)
            for depth in range(1, len(parts)):
                ancestor = decks.find(SEPARATOR.join(parts[:depth]))
                if ancestor is not None:
                    tree._cap(root, _remaining(col, decks.get(ancestor), today))
        for deck_id in decks.descendants(root):  # sorted by name: parents first
            name = str(decks.get(deck_id)["name"])
            parent = decks.first_existing_parent(name)
            parent = parent if parent in tree.remaining else root
            limits = _remaining(col, decks.get(deck_id), today)
            tree.parent[deck_id] = parent
            tree.remaining[deck_id] = limits
            tree.children.setdefault(parent, []).append(deck_id)
            tree._cap(deck_id, tree.remaining[parent])
        return tree

    def _cap(self, deck_id: int, limits: Remaining) -> None:
        mine = self.remaining[deck_id]
        mine.review = min(mine.review, limits.review)
        mine.new = min(mine.new, limits.new)

    def _cap_below(self, deck_id: int, limits: Remaining) -> None:
        self._cap(deck_id, limits)
        for child in self.children.get(deck_id, []):
            self._cap_below(child, limits)

    def root_left(self, review: bool) -> int:
        return self.remaining[self.root].left(review)

    def left(self, deck_id: int, review: bool) -> int:
        limits = self.remaining.get(deck_id)
        return 0 if limits is None else limits.left(review)

    def take(self, deck_id: int, review: bool) -> None:
        node: int | None = deck_id
        while node is not None:
            limits = self.remaining[node]
            before = (limits.review, limits.new)
            limits.take(review)
            if (before[0] > 0 and limits.review == 0) or (before[1] > 0 and limits.new == 0):
                self._cap_below(node, limits)
            node = self.parent[node]


class _Burying:
    """Notes that already gave a card to today's queue, with their presets' bury modes."""

    def __init__(self, col: Col, decks: DeckIndex) -> None:
        self.col = col
        self.decks = decks
        self.seen: dict[int, BuryMode] = {}
        self.modes: dict[int, BuryMode] = {}

    def _mode(self, deck_id: int) -> BuryMode:
        if deck_id not in self.modes:
            deck = self.decks.by_id.get(deck_id)
            if deck is None or deck.get("dyn"):
                self.modes[deck_id] = BuryMode()
            else:
                options = DeckOptions.from_dconf(deck_preset(self.col, deck))
                self.modes[deck_id] = BuryMode(
                    options.bury_new, options.bury_reviews, options.bury_interday_learning
                )
        return self.modes[deck_id]

    def previous(self, note_id: int, home_deck: int) -> BuryMode | None:
        """The note's bury mode before this card (None: its first card today)."""
        before = self.seen.get(note_id)
        mode = self._mode(home_deck)
        self.seen[note_id] = mode if before is None else before | mode
        return before


def _marks(ids: Sequence[int]) -> str:
    return ",".join("?" * len(ids))


def gather(
    conn: sqlite3.Connection, col: Col, decks: DeckIndex, root: int, when: SchedTiming
) -> DayQueue:
    """Today's cards of deck `root` and its subdecks, within their limits."""
    today = when.days_elapsed
    # Cards in filtered decks are studied in Anki (see `FILTERED_MESSAGE`).
    ids = [deck_id for deck_id in decks.subtree(root) if not decks.get(deck_id).get("dyn")]
    if not ids:
        return DayQueue([], [], [], [], [], 0, 0)
    preset = deck_preset(col, decks.get(root))  # its orders and mixes apply to the whole tree
    limits = LimitTree.build(col, decks, root, today)
    new_limit, review_limit = limits.root_left(False), limits.root_left(True)
    burying = _Burying(col, decks)
    columns = "id, nid, did, case when odid then odid else did end, due"
    in_decks = f"did in ({_marks(ids)})"

    learning: list[tuple[int, int]] = []
    for card_id, note_id, _, home, due in conn.execute(
        f"select {columns} from cards where {in_decks} and queue = ? and due < ? order by due, id",
        (*ids, CardQueue.LEARN, when.next_day_at),
    ):
        burying.previous(note_id, home)
        learning.append((due, card_id))

    order = _review_order(col, preset, ids, when)
    due_lists: dict[int, list[int]] = {}
    for queue, attribute in (
        (CardQueue.DAY_LEARN, "interday_learning"),
        (CardQueue.REVIEW, "reviews"),
    ):
        gathered = due_lists.setdefault(queue, [])
        if limits.root_left(review=True) == 0:
            continue
        rows = conn.execute(
            "select id, nid, did, case when odid then odid else did end, due, ivl, ord, mod,"
            f" factor, data from cards where {in_decks} and queue = ? and due <= ?",
            (*ids, queue, today),
        ).fetchall()
        for card_id, note_id, did, home, *_ in _in_order(rows, order):
            if limits.root_left(review=True) == 0:
                break
            if limits.left(did, review=True) == 0:
                continue
            before = burying.previous(note_id, home)
            if before is not None and getattr(before, attribute):
                continue
            gathered.append(card_id)
            limits.take(did, review=True)

    new_cards: list[tuple[int, int, int]] = []  # (card id, note id, template ordinal)
    for card_id, note_id, did, home, ord_ in _new_cards(conn, preset, ids, limits, today):
        before = burying.previous(note_id, home)
        if before is not None and before.new:
            continue
        new_cards.append((card_id, note_id, ord_))
        limits.take(did, review=False)
    new = _sorted_new(new_cards, preset.get("newSortOrder"), today)
    day_learning, reviews = due_lists[CardQueue.DAY_LEARN], due_lists[CardQueue.REVIEW]
    main = _mixed(
        _mixed(reviews, day_learning, preset.get("interdayLearningMix")),
        new,
        preset.get("newMix"),
    )
    return DayQueue(learning, day_learning, reviews, new, main, new_limit, review_limit)


def _sorted_new(gathered: list[tuple[int, int, int]], order: object, today: int) -> list[int]:
    """The day's new cards in the preset's display order (Anki's `sort_new`; hashes
    salted with the day number, so the order holds all day)."""
    if order == NEW_SORT_NO_SORT:
        keyed = gathered
    elif order == NEW_SORT_TEMPLATE_THEN_RANDOM:
        keyed = sorted(gathered, key=lambda c: (c[2], fnvhash(c[0], today) & _U64))
    elif order == NEW_SORT_RANDOM_NOTE_THEN_TEMPLATE:
        keyed = sorted(gathered, key=lambda c: (fnvhash(c[1], today) & _U64, c[2]))
    elif order == NEW_SORT_RANDOM_CARD:
        keyed = sorted(gathered, key=lambda c: fnvhash(c[0], today) & _U64)
    else:  # by template, gather order kept (the default)
        keyed = sorted(gathered, key=lambda c: c[2])
    return [card_id for card_id, _, _ in keyed]


def _mixed(one: list[int], two: list[int], mix: object) -> list[int]:
    """`two` after, before, or spread evenly among `one` (Anki's `ReviewMix` and its
    `Intersperser`)."""
    if mix == MIX_AFTER:
        return [*one, *two]
    if mix == MIX_BEFORE:
        return [*two, *one]
    ratio = f32((len(one) + 1) / (len(two) + 1))
    mixed: list[int] = []
    first, second = 0, 0
    while first < len(one) or second < len(two):
        if first < len(one) and second < len(two):
            take_second = f32((second + 1) * ratio) < first + 1
        else:
            take_second = second < len(two)
        if take_second:
            mixed.append(two[second])
            second += 1
        else:
            mixed.append(one[first])
            first += 1
    return mixed


def fnvhash(*values: int) -> int:
    """Anki's `fnvhash()` SQL function: 64-bit FNV-1a over each value's eight bytes
    (little-endian), as a signed integer. Anki breaks ties among due cards with
    `fnvhash(id, mod)`, a shuffle that changes whenever the card does."""
    hashed = _FNV_OFFSET
    for value in values:
        for byte in (value & _U64).to_bytes(8, "little"):
            hashed = ((hashed ^ byte) * _FNV_PRIME) & _U64
    return hashed - (1 << 64) if hashed >> 63 else hashed


def _review_order(
    col: Col, preset: dict[str, Any], ids: Sequence[int], when: SchedTiming
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """The sort key of due cards (id, nid, did, home, due, ivl, ord, mod, factor, data)
    for the root preset's review order (Anki's `review_order_sql`, before its final
    tie-break)."""
    setting = preset.get("reviewOrder", 0)
    rank = {deck_id: position for position, deck_id in enumerate(ids)}
    parts = _REVIEW_ORDERS.get(setting if isinstance(setting, int) else 0, _REVIEW_ORDERS[0])
    fsrs = col.conf.get("fsrs") is True
    if fsrs:  # the ease orders sort by FSRS difficulty instead
        parts = tuple({"ease": "-difficulty", "-ease": "difficulty"}.get(p, p) for p in parts)
    # Row columns: id 0, nid 1, did 2, home 3, due 4, ivl 5, ord 6, mod 7, factor 8, data 9.
    # A value SQL would find NULL sorts first ascending and last descending.
    fields: dict[str, Callable[[tuple[Any, ...]], tuple[Any, ...]]] = {
        "day": lambda row: (row[4],),
        "deck": lambda row: (rank.get(row[2], len(rank)),),
        "ivl": lambda row: (row[5],),
        "-ivl": lambda row: (-row[5],),
        "ease": lambda row: (row[8],),
        "-ease": lambda row: (-row[8],),
        "difficulty": lambda row: _nullable(_data_number(row[9], "d"), descending=False),
        "-difficulty": lambda row: _nullable(_data_number(row[9], "d"), descending=True),
        "retrievability": lambda row: _nullable(_retrievability(row, when), descending=False),
        "-retrievability": lambda row: _nullable(_retrievability(row, when), descending=True),
        "overdueness": lambda row: _nullable(
            _relative_overdueness(row, when, fsrs=fsrs), descending=False
        ),
        "added": lambda row: (row[1], row[6]),
        "-added": lambda row: (-row[1], row[6]),
    }
    if parts == ("day",):
        return fields["day"]
    chosen = [fields[part] for part in parts]
    return lambda row: tuple(value for get in chosen for value in get(row))


def _nullable(value: float | None, *, descending: bool) -> tuple[int, float]:
    if value is None:
        return (1, 0.0) if descending else (0, 0.0)
    return (0, -value) if descending else (1, value)


def _data_number(data: str, key: str) -> float | None:
    value = parse_card_data(data).get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _memory(data: str) -> tuple[dict[str, Any], float, float] | None:
    """The card's data with its stability and decay, when it holds a memory state."""
    parsed = parse_card_data(data)
    stability, difficulty = parsed.get("s"), parsed.get("d")
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in (stability, difficulty)
    ):
        return None
    decay = parsed.get("decay")
    if not isinstance(decay, int | float) or isinstance(decay, bool) or not decay:
        decay = FSRS5_DECAY
    return parsed, float(stability), float(decay)  # type: ignore[arg-type]


def _since_last_review(parsed: dict[str, Any], estimate: int, now: int) -> int:
    last = parsed.get("lrt")
    if isinstance(last, int) and not isinstance(last, bool):
        return max(now - last, 0)
    return estimate


def _curve(seconds: int, stability: float, decay: float) -> float:
    """The fsrs crate's `current_retrievability`."""
    factor = 0.9 ** (1.0 / -decay) - 1.0
    return float((seconds / 86_400 / stability * factor + 1.0) ** -decay)


def _retrievability(row: tuple[Any, ...], when: SchedTiming) -> float | None:
    """Anki's `extract_fsrs_retrievability` (None without a memory state)."""
    due, ivl, data = row[4], row[5], row[9]
    memory = _memory(data)
    if memory is None:
        return None
    parsed, stability, decay = memory
    if due > 365_000:  # a learning card's due is a second
        estimate = max(when.now - max(due - ivl, 0), 0)
    else:
        estimate = max(when.days_elapsed - max(due - ivl, 0), 0) * 86_400
    return _curve(_since_last_review(parsed, estimate, when.now), stability, decay)


def _relative_overdueness(row: tuple[Any, ...], when: SchedTiming, *, fsrs: bool) -> float | None:
    """Anki's relative overdueness (lower comes first): under FSRS from the memory state
    and desired retention, else (or without them) from the days elapsed and interval."""
    due, ivl, data = int(row[4]), int(row[5]), str(row[9])
    if not fsrs:  # SQL: -(1 + (today - due + 0.001) / ivl), NULL for ivl 0
        return None if ivl == 0 else -(1 + (when.days_elapsed - due + 0.001) / ivl)
    if due > 365_000:
        seconds = max(when.now - due, 0)
    else:
        seconds = max(when.days_elapsed - max(due - ivl, 0), 0) * 86_400
    memory = _memory(data)
    retention = _data_number(data, "dr")
    if memory is not None and retention is not None:
        parsed, stability, decay = memory
        retention = max(retention, 0.0001)
        recall = max(
            _curve(_since_last_review(parsed, seconds, when.now), stability, decay), 0.0001
        )
        return float(-(recall ** (-1.0 / decay) - 1.0) / (retention ** (-1.0 / decay) - 1.0))
    return float(-(seconds // 86_400 + 0.001) / max(int(ivl), 1))


def _in_order(
    rows: list[tuple[Any, ...]], key: Callable[[tuple[Any, ...]], tuple[Any, ...]]
) -> Iterator[tuple[Any, ...]]:
    """`rows` by `key`, ties by `fnvhash(id, mod)`: hashed only for the ties reached, as
    gathering usually stops at a limit long before the last due card."""
    rows.sort(key=key)
    for _, ties in groupby(rows, key=key):
        yield from sorted(ties, key=lambda row: fnvhash(row[0], row[7]))


def _new_cards(
    conn: sqlite3.Connection,
    preset: dict[str, Any],
    ids: Sequence[int],
    limits: LimitTree,
    today: int,
) -> Iterator[tuple[int, int, int, int, int]]:
    """New cards in the root preset's gather order, while the limits leave room for
    them: (card id, note id, deck id, home deck id, template ordinal)."""
    priority = preset.get("newGatherPriority")
    salt = (today * 2_654_435_761) & 0xFFFF_FFFF  # Anki's knuth_salt of the day
    columns = "id, nid, did, case when odid then odid else did end, due, ord"
    sortings: dict[int, Callable[[tuple[int, ...]], tuple[int, ...]]] = {
        GATHER_LOWEST_POSITION: lambda row: (row[4], row[5], row[0]),
        GATHER_HIGHEST_POSITION: lambda row: (-row[4], row[5], row[0]),
        GATHER_RANDOM_NOTES: lambda row: (fnvhash(row[1], salt), row[5]),
        GATHER_RANDOM_CARDS: lambda row: (fnvhash(row[0], salt),),
    }
    if priority in sortings:  # across the decks
        every = conn.execute(
            f"select {columns} from cards where did in ({_marks(ids)}) and queue = ?",
            (*ids, CardQueue.NEW),
        ).fetchall()
        for card_id, note_id, did, home, _, ord_ in sorted(every, key=sortings[priority]):
            if limits.root_left(review=False) == 0:
                return
            if limits.left(did, review=False) > 0:
                yield card_id, note_id, did, home, ord_
        return
    for deck_id in ids:  # deck by deck: the root, then its subdecks by name
        if limits.root_left(review=False) == 0:
            return
        if limits.left(deck_id, review=False) == 0:
            continue
        query = f"select {columns} from cards where did = ? and queue = ?"
        rows: Iterable[tuple[int, ...]]
        if priority == GATHER_DECK_THEN_RANDOM_NOTES:
            rows = sorted(
                conn.execute(query, (deck_id, CardQueue.NEW)).fetchall(),
                key=sortings[GATHER_RANDOM_NOTES],
            )
        else:
            rows = conn.execute(f"{query} order by due, ord, id", (deck_id, CardQueue.NEW))
        for card_id, note_id, did, home, _, ord_ in rows:
            if limits.left(deck_id, review=False) == 0:
                break
            yield card_id, note_id, did, home, ord_
