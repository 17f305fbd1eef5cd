"""Unit tests for collection.render without Anki: parsing edge cases, hostile input,
and the pieces (BLAKE3, clozes, filters, sound tags) on their own."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from collection.render import (
    SoundTag,
    TTSTag,
    answer_text,
    card_ordinals,
    html_to_text_line,
    missing_card_reason,
    question_text,
    render_card,
)
from collection.render.av import extract_av_tags
from collection.render.blake3 import blake3
from collection.render.cloze import cloze_numbers, parse_clozes, reveal_cloze_text
from collection.render.errors import ConditionalNotClosed, ConditionalNotOpen
from collection.render.filters import furigana, hint, kana, kanji
from collection.render.template import (
    Conditional,
    Replacement,
    Text,
    field_is_empty,
    parse_template,
)


def notetype(qfmt: str, afmt: str = "{{FrontSide}}<hr id=answer>{{B}}", **extra: Any):
    return {
        "name": "T",
        "type": 0,
        "css": ".c{}",
        "flds": [{"name": "A", "ord": 0}, {"name": "B", "ord": 1}],
        "tmpls": [{"name": "Card 1", "ord": 0, "qfmt": qfmt, "afmt": afmt}],
        **extra,
    }


CLOZE = {
    "name": "Cloze",
    "type": 1,
    "css": "",
    "flds": [{"name": "Text", "ord": 0}, {"name": "Back Extra", "ord": 1}],
    "tmpls": [
        {
            "name": "Cloze",
            "ord": 0,
            "qfmt": "{{cloze:Text}}",
            "afmt": "{{cloze:Text}}<br>\n{{Back Extra}}",
        }
    ],
}


def render(nt: dict[str, Any], fields: list[str], ord_: int = 0, **kw: Any):
    return render_card(nt, fields, ord_, tags=kw.pop("tags", ""), deck_name="D::E", **kw)


def quick(fn: Callable[[], object], limit: float = 30.0) -> None:
    """Hostile input finishes: in well under a second when linear, as it is, and in
    minutes if a scan turned quadratic; the bound leaves room for a loaded machine."""
    start = time.perf_counter()
    fn()
    assert time.perf_counter() - start < limit


# --- BLAKE3 ----------------------------------------------------------------------


def test_blake3_known_vectors():
    # The BLAKE3 specification's hash of the empty input, and Anki's own hint test.
    assert blake3(b"").hex() == ("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
    assert blake3(b"foofield")[:8].hex() == "83fe48607f0f3a66"


def test_blake3_differs_across_chunk_boundaries():
    hashes = {blake3(bytes(i % 251 for i in range(n))) for n in (1023, 1024, 1025, 2048, 4097)}
    assert len(hashes) == 5


# --- parsing ---------------------------------------------------------------------


def test_parse_filters_apply_innermost_first():
    assert parse_template("{{text:hint:F}}").nodes == (Replacement("F", ("hint", "text")),)
    assert parse_template("{{ F }}").nodes == (Replacement("F", ()),)
    assert parse_template("{{{F}}}").nodes == (Replacement("F", ()), Text("}"))


def test_parse_conditionals_and_errors():
    (node,) = parse_template("{{#A}}x{{/A}}").nodes
    assert node == Conditional("A", False, (Text("x"),))
    with pytest.raises(ConditionalNotClosed):
        parse_template("{{#A}}")
    with pytest.raises(ConditionalNotOpen):
        parse_template("{{/A}}")
    with pytest.raises(ConditionalNotOpen):
        parse_template("{{#A}}{{/B}}")


def test_unclosed_handlebars_and_comments_are_text():
    assert parse_template("a {{B").nodes == (Text("a {{B"),)
    assert parse_template("<!-- {{B}}").nodes[0] == Text("<!-- ")


def test_legacy_alt_syntax():
    nodes = parse_template(" {{=<% %>=}}<%A%>{{B}}").nodes
    assert nodes == (Replacement("A", ()), Text("{{B}}"))


@pytest.mark.parametrize(
    ("text", "empty"),
    [("", True), (" \n", True), ("<br>", True), ("<BR/>", True), ("<div> </div>", True),
     ("<br />", True), ("&nbsp;", False), ("\u200b", False), ("<b></b>", False), ("x", False),
     ("\u3000", False)],
)  # fmt: skip
def test_field_is_empty(text: str, empty: bool):
    assert field_is_empty(text) is empty


# --- rendering -------------------------------------------------------------------


def test_basic_render_and_frontside():
    out = render(notetype("{{A}}[sound:a.mp3]"), ["front", "back[sound:b.mp3]"])
    assert out.question == "<style>.c{}</style>front[anki:play:q:0]"
    assert out.answer == "<style>.c{}</style>front[anki:play:q:0]<hr id=answer>back[anki:play:a:0]"
    assert out.question_sounds == (SoundTag("a.mp3"),)
    assert out.answer_sounds == (SoundTag("b.mp3"),)
    assert question_text(out) == "fronta.mp3"
    assert answer_text(out) == "backb.mp3"


def test_empty_front_and_errors():
    out = render(notetype("{{A}}"), ["", "b"])
    assert "The front of this card is blank." in out.question
    out = render(notetype("{{A}}{{Nope}}"), ["a", "b"])
    assert out.question.startswith("<style></style>Front template has a problem:")
    assert out.question == out.answer


def test_special_fields():
    nt = notetype("{{Tags}}|{{Deck}}|{{Subdeck}}|{{Card}}|{{Type}}|{{CardFlag}}|{{c1}}")
    out = render(nt, ["a", "b"], tags=" x  y ", flags=2)
    assert out.question == "<style>.c{}</style>x y|D::E|E|Card 1|T|flag2|1"


def test_unknown_filter_stops_the_chain():
    out = render(notetype("{{text:nope:A}}|{{nope:text:A}}"), ["<b>a</b>", ""])
    assert out.question == "<style>.c{}</style><b>a</b>|a"


def test_tts_filter():
    out = render(notetype("{{tts en_US speed=1.5:A}}"), ["hi <b>x</b>", ""])
    assert out.question_sounds == (TTSTag("hi x", "en_US", (), 1.5, ()),)


def test_cloze_render():
    out = render(CLOZE, ["a {{c1::b::h}} {{c2::c}}", ""], 0)
    assert 'data-cloze="b" data-ordinal="1">[h]</span>' in out.question
    assert '<span class="cloze-inactive" data-ordinal="2">c</span>' in out.question
    assert question_text(out) == "a [h] c"
    assert answer_text(out) == "a b c"


def test_card_ordinals():
    nt = notetype("{{A}}")
    assert card_ordinals(nt, ["a", ""]) == [0]
    assert card_ordinals(nt, ["", "b"]) == []
    assert missing_card_reason(nt, ["", "b"]) == (
        "None of the card templates would show anything: fill in A."
    )
    assert card_ordinals(CLOZE, ["{{c1::a}} {{c3::b}} {{c0::z}}", ""]) == [0, 2]
    assert card_ordinals(CLOZE, ["none", ""]) == []
    assert missing_card_reason(CLOZE, ["none", ""]) == (
        "This Cloze note has no cloze deletion such as {{c1::...}} in Text."
    )
    assert card_ordinals(notetype("{{#Tags}}{{A}}{{/Tags}}"), ["a", ""], tags=" t ") == [0]
    assert card_ordinals(notetype("{{#Tags}}{{A}}{{/Tags}}"), ["a", ""]) == []


# --- pieces ----------------------------------------------------------------------


def test_clozes():
    assert cloze_numbers("{{c2::te}}{{c1::s}}t{{") == {1, 2}
    assert cloze_numbers("{{c0::a {{c3::b}}}} {{c70000::x}}") == set()
    assert reveal_cloze_text("{{c1::a", 1, True) == ""
    assert parse_clozes("}}x")[0] == "}}"


def test_ruby_filters():
    text = "test first[second] third[fourth]"
    assert kana(text) == "testsecondfourth"
    assert kanji(text) == "testfirstthird"
    assert furigana("first[second]") == "<ruby><rb>first</rb><rt>second</rt></ruby>"
    assert kana("x[sound:a.mp3]") == "x[sound:a.mp3]"
    assert kanji("a[\n]b[c]") == "a[\n]b"


def test_hint_whitespace_is_kept():
    assert hint("   ", "F") == "   "
    assert "hint83fe48607f0f3a66" in hint("foo", "field")


def test_av_tags():
    text, tags = extract_av_tags("[anki:tts]x[/anki:tts][sound:a&amp;b.mp3]", question_side=False)
    assert text.endswith("[anki:play:a:0]")
    assert tags == [SoundTag("a&b.mp3")]


def test_html_to_text_line():
    assert html_to_text_line(" a<br>b[sound:s.mp3]<img src=p.png>[[type:B]] ") == "a bs.mp3 p.png"
    assert html_to_text_line("[sound:s.mp3]x", preserve_media_filenames=False) == "x"


# --- hostile input ---------------------------------------------------------------


def test_deeply_nested_conditionals():
    depth = 20_000
    qfmt = "{{#A}}" * depth + "{{A}}" + "{{/A}}" * depth
    quick(lambda: render(notetype(qfmt), ["x", ""]))
    out = render(notetype(qfmt), ["x", ""])
    assert out.question == "<style>.c{}</style>x"
    assert card_ordinals(notetype(qfmt), ["x", ""]) == [0]
    unbalanced = render(notetype("{{#A}}" * depth), ["x", ""])
    assert "Missing" in unbalanced.question


HOSTILE_FIELDS = [
    "{{c1::" * 20_000,
    "}}" * 50_000,
    "{{c1::a" + "::" * 30_000 + "}}",
    "[sound:" * 15_000,
    "[anki:tts lang=x]" * 6_000,
    "[anki:" * 15_000,
    "a[" * 50_000,
    "x" * 100_000 + "[y]",
    "\\(" * 50_000,
    "<br" * 30_000,
    "[[type:" * 15_000,
    "<" * 100_000,
    "{{c1::" + "x" * 100_000 + "}}",
]


@pytest.mark.parametrize("field", HOSTILE_FIELDS, ids=lambda f: f[:12])
def test_hostile_fields_render_in_linear_time(field: str):
    every_filter = "{{A}}{{text:A}}{{furigana:A}}{{kana:A}}{{kanji:A}}{{tts en:A}}{{hint:B}}"
    nt = notetype(every_filter, "{{FrontSide}}{{cloze-only:A}}")
    quick(lambda: render(nt, [field, "b"]))
    quick(lambda: render(CLOZE, [field, ""], 0))
    quick(lambda: card_ordinals(CLOZE, [field, ""]))
    quick(lambda: html_to_text_line(field))


def test_hostile_templates():
    for qfmt in ("{{" * 50_000, "<!--" * 30_000, "{{#" * 30_000, "}}" * 50_000, "{{a}" * 30_000):
        quick(lambda q=qfmt: render(notetype(q), ["a", "b"]))


def test_long_hint_field():
    out = render(notetype("{{hint:A}}"), ["x" * 100_000, ""])
    assert 'class=hint style="display: none">' in out.question
