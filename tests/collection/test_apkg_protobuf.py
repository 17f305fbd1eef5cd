"""The hand-written protobuf reader against messages encoded by protobuf itself
(through the `anki` package's generated classes, a test-only dependency)."""

from __future__ import annotations

import pytest

from collection.apkg.protobuf import Message, float32
from collection.errors import ProtobufError

pytestmark = pytest.mark.interop


def test_scalars_repeated_and_nested_fields() -> None:
    from anki import deck_config_pb2, decks_pb2, notetypes_pb2

    deck = decks_pb2.Deck(id=-5, name="A\x1fB", usn=-1)
    deck.normal.config_id = 1_700_000_000_001
    deck.normal.description = "déscription"
    parsed = Message(deck.SerializeToString())
    assert (parsed.int64(1), parsed.string(2), parsed.int32(4)) == (-5, "A\x1fB", -1)
    normal = parsed.message(6)
    assert normal is not None
    assert (normal.int64(1), normal.string(4)) == (1_700_000_000_001, "déscription")
    assert parsed.message(7) is None

    config = deck_config_pb2.DeckConfig.Config(
        learn_steps=[1.5, 10.0], desired_retention=0.9, new_per_day=0, bury_new=True
    )
    parsed = Message(config.SerializeToString())
    assert parsed.f32s(1) == [1.5, 10.0]
    assert parsed.f32(37) == 0.9  # the float32 nearest 0.9 reads back as 0.9
    assert (parsed.uint(9), parsed.flag(27), parsed.flag(28)) == (0, True, False)

    template = notetypes_pb2.Notetype(usn=-7)
    assert Message(template.SerializeToString()).sint32(4) == -7

    requirement = notetypes_pb2.Notetype.Config.CardRequirement(card_ord=1, field_ords=[0, 2, 3])
    assert Message(requirement.SerializeToString()).uints(3) == [0, 2, 3]


@pytest.mark.parametrize(
    "data",
    [
        b"\x08",  # a varint cut short
        b"\x0a\x05abc",  # a length beyond the end
        b"\x0b",  # wire type 3 (groups) is not read
        b"\x00\x01",  # field number 0
        b"\x08" + b"\xff" * 11,  # a varint longer than ten bytes
        b"\x0d\x00\x00",  # a fixed32 cut short
    ],
)
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(ProtobufError):
        Message(data)


def test_a_field_of_the_wrong_wire_type_is_refused() -> None:
    with pytest.raises(ProtobufError):
        Message(b"\x0a\x01x").uint(1)
    with pytest.raises(ProtobufError):
        Message(b"\x12\x02\xff\xfe").string(2)  # not UTF-8


def test_float32_is_shortest_and_finite() -> None:
    assert float32(b"\x00\x00\x80\x3f") == 1.0
    assert float32(b"\x9a\x99\x99\x3f") == 1.2
    with pytest.raises(ProtobufError):
        float32(b"\x00\x00\x80\x7f")  # infinity
