"""Anki's numeric codes, checked against the ones the real Anki defines."""

from __future__ import annotations

import pytest

from collection.enums import (
    BURIED_QUEUES,
    LOCAL_USN,
    CardQueue,
    CardType,
    GraveKind,
    NotetypeKind,
    OriginalStockKind,
    RevlogKind,
)

pytestmark = pytest.mark.interop


def test_card_types_and_queues_are_anki_s() -> None:
    from anki import consts

    assert [int(t) for t in CardType] == [
        consts.CARD_TYPE_NEW,
        consts.CARD_TYPE_LRN,
        consts.CARD_TYPE_REV,
        consts.CARD_TYPE_RELEARNING,
    ]
    assert {q.name: int(q) for q in CardQueue} == {
        "SUSPENDED": consts.QUEUE_TYPE_SUSPENDED,
        "SCHED_BURIED": consts.QUEUE_TYPE_SIBLING_BURIED,
        "USER_BURIED": consts.QUEUE_TYPE_MANUALLY_BURIED,
        "NEW": consts.QUEUE_TYPE_NEW,
        "LEARN": consts.QUEUE_TYPE_LRN,
        "REVIEW": consts.QUEUE_TYPE_REV,
        "DAY_LEARN": consts.QUEUE_TYPE_DAY_LEARN_RELEARN,
        "PREVIEW_REPEAT": consts.QUEUE_TYPE_PREVIEW,
    }
    assert set(BURIED_QUEUES) == {
        consts.QUEUE_TYPE_SIBLING_BURIED,
        consts.QUEUE_TYPE_MANUALLY_BURIED,
    }


def test_revlog_grave_and_note_type_kinds_are_anki_s() -> None:
    from anki import consts, notetypes_pb2, stats_pb2

    assert {k.name: int(k) for k in RevlogKind} == dict(stats_pb2.RevlogEntry.ReviewKind.items())
    assert [int(g) for g in GraveKind] == [consts.REM_CARD, consts.REM_NOTE, consts.REM_DECK]
    assert {k.name: int(k) for k in NotetypeKind} == {
        name.removeprefix("KIND_"): value
        for name, value in notetypes_pb2.Notetype.Config.Kind.items()
    }
    stock = dict(notetypes_pb2.StockNotetype.OriginalStockKind.items())
    for kind in OriginalStockKind:
        assert stock[f"ORIGINAL_STOCK_KIND_{kind.name}"] == kind


def test_values_read_as_plain_integers_in_sql_text() -> None:
    assert LOCAL_USN == -1
    assert f"queue in ({CardQueue.SUSPENDED}, {CardQueue.USER_BURIED})" == "queue in (-1, -3)"
    assert f"type = {CardType.RELEARN}" == "type = 3"
