"""HTML stripping and checksums, with the real Anki as the oracle."""

from __future__ import annotations

import gc
import html.entities
import time
from collections.abc import Iterator

import pytest
from anki.collection import Collection, StripHtmlMode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collection.text import (
    decode_entities,
    field_checksum,
    strip_html,
    strip_html_preserving_media_filenames,
)

pytestmark = pytest.mark.interop

TRICKY = [
    "<b>naïve</b> &amp; 日本語",
    "plain",
    "",
    "a &amp; b & c",  # one bad entity: Anki keeps the whole text as it was
    "AT&T",
    "&nbsp;x&nbsp;",
    "\u00a0x",  # a literal nbsp survives when there is no entity
    "\u00a0x &amp;",  # ...but becomes a space when entities are decoded
    "&apos; is not HTML 4",
    "&#39;&#x27;&#X27;",
    "&#xD800; &#1114112; &#0;",
    "&; & x&",
    "&lt;b&gt;not a tag&lt;/b&gt;",
    "&amp;nbsp;",
    "&Amp; &AMP; &hellip; &euro; &#128512; &#x1F600;",
    "&#99999999999999;",
    '<img src="a.jpg">',
    "<img src='b c.jpg'>",
    "<img src=c.jpg>",
    "<img src= d.jpg>",
    '<img alt="a>b" src="x.jpg">',
    "<IMG SRC=x.png alt=1>",
    "<img\nsrc=x>",
    '<audio data="q.mp3"/> and <source src=s.mp4 />',
    '<img src="">',
    "<img src=>",
    '<img data-src="x.jpg">',
    '<imgx src="a">',
    "<img src='a' src=\"b\">",
    '<img "x>y" src=z.png>',
    '<img src="a.jpg>',
    "<!-- comment -->text",
    "<!-->text",
    "<style>x</style>y",
    "<STYLE a>b</Style>c",
    "<script>x",
    "<scr\u0131pt>x</scr\u0131pt>y",  # dotless i: not "script" for Rust's (?i)
    "<\u017ftyle>x</\u017ftyle>y",  # long s: "style" for Rust's (?i)
    "<>",
    "a<b",
    "a>b",
    "[sound:x.mp3]",
    "1234",
    " 12 ",
    "<div>line<br>break</div>",
]


@pytest.fixture(scope="module")
def anki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collection]:
    col = Collection(str(tmp_path_factory.mktemp("anki-text") / "oracle.anki2"))
    yield col
    col.close()


def anki_strip(col: Collection, text: str, *, media: bool) -> str:
    mode = StripHtmlMode.PRESERVE_MEDIA_FILENAMES if media else StripHtmlMode.NORMAL
    return col._backend.strip_html(text=text, mode=mode)


def anki_sfld_csum(col: Collection, front: str) -> tuple[object, int]:
    note = col.new_note(col.models.by_name("Basic"))
    note["Front"] = front
    col.add_note(note, 1)
    sfld, csum = col.db.first("select sfld, csum from notes where id = ?", note.id)
    return sfld, csum


@pytest.mark.parametrize("text", TRICKY)
def test_strip_html_matches_anki(anki: Collection, text: str):
    assert strip_html(text) == anki_strip(anki, text, media=False)
    assert strip_html_preserving_media_filenames(text) == anki_strip(anki, text, media=True)


@pytest.mark.parametrize("text", [t for t in TRICKY if t])
def test_sort_field_and_checksum_match_a_note_added_by_anki(anki: Collection, text: str):
    sfld, csum = anki_sfld_csum(anki, text)
    stripped = strip_html_preserving_media_filenames(text)
    # sfld has integer affinity: SQLite stores a numeric sort field as a number.
    assert sfld == (int(stripped) if isinstance(sfld, int) else stripped)
    assert field_checksum(stripped) == csum


def test_the_named_entities_are_exactly_anki_s(anki: Collection):
    names = {name.rstrip(";") for name in html.entities.html5}
    ours = {name for name in names if decode_entities(f"&{name};") != f"&{name};"}
    anki_known = {
        name for name in names if anki_strip(anki, f"&{name};", media=False) != f"&{name};"
    }
    assert ours == anki_known
    assert "amp" in ours and "apos" not in ours


def test_checksum_is_the_first_32_bits_of_sha1():
    # sha1("x") = 11f6ad8ec52a2984abaafd7c3b516503785c2072
    assert field_checksum("x") == 0x11F6AD8E == 301378958


_PIECES = st.sampled_from(
    [
        "<", ">", '"', "'", " ", "=", "src", "data", "img", "IMG", "audio", "&", ";", "amp",
        "#", "x", "1", "a", "<!--", "-->", "style", "</style>", "script", "</script>", "\n",
        "&nbsp;", "\u00a0", "é", "日",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_stripping_random_markup_matches_anki(anki: Collection, text: str):
    assert strip_html_preserving_media_filenames(text) == anki_strip(anki, text, media=True)


def _best_times(*texts: str, rounds: int = 5) -> list[float]:
    """The CPU time this thread spent on each text, the least of several interleaved
    runs: other processes and threads (test workers, app servers) do not count in it."""
    best = [float("inf")] * len(texts)
    # A full garbage collection walks every object of this process (the test session's
    # too), so one falling inside a run would time the heap, not the stripping.
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for i, text in enumerate(texts):
                started = time.thread_time()
                strip_html_preserving_media_filenames(text)
                best[i] = min(best[i], time.thread_time() - started)
    finally:
        gc.enable()
    return best


@pytest.mark.parametrize(
    ("prefix", "unit", "suffix"),
    [
        ("<style", ">", ""),
        ("", "<!--", ""),
        ("<img ", '"a" ', ">"),
        ("", "<img ", ">"),
        ("<img ", '"', ">"),
        ("", '<img "a>b" \'', ">"),
        ("", "<script>", ""),
        ("", "&amp;", ""),
    ],
    ids=["style", "comments", "quoted", "imgs", "quotes", "mixed", "scripts", "entities"],
)
def test_hostile_fields_are_stripped_in_linear_time(prefix: str, unit: str, suffix: str):
    """Four times the input takes about four times as long, never sixteen (quadratic).

    Compared with itself, in this thread's CPU time, so a busy machine cannot fail it.
    """
    n = 100_000 // (len(unit) * 4)
    small, large = _best_times(prefix + unit * n + suffix, prefix + unit * (4 * n) + suffix)
    # Linear is ~4x; quadratic is 16x (and took seconds at this size before it was fixed).
    assert large < 10 * small + 0.05, (small, large)
