"""A rendered side made ready for a browser: media at their URLs, sounds playable."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from collection.render import SoundTag, TTSTag, web_css, web_side


def url_of(name: str) -> str:
    return f"/m/{quote(name, safe='')}?t=T"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<img src="cat.png">', '<img src="/m/cat.png?t=T">'),
        ("<img src=cat.png>", '<img src="/m/cat.png?t=T">'),
        ("<IMG class='x' SRC='a b.jpg' alt=1>", "<IMG class='x' SRC='/m/a%20b.jpg?t=T' alt=1>"),
        ('<img src="a&amp;b.png">', '<img src="/m/a%26b.png?t=T">'),
        (
            '<video controls><source src="v.mp4"></video>',
            '<video controls><source src="/m/v.mp4?t=T"></video>',
        ),
        ('<img src="https://x.org/a.png">', '<img src="https://x.org/a.png">'),
        ('<img src="data:image/png;base64,AA">', '<img src="data:image/png;base64,AA">'),
        ('<img src="/abs.png">', '<img src="/abs.png">'),
        ('<img alt="no source">', '<img alt="no source">'),
        ("<img src=", "<img src="),
        ("plain text", "plain text"),
    ],
)
def test_media_tags_point_at_their_urls(html: str, expected: str) -> None:
    assert web_side(html, (), (), url_of) == expected


def test_sounds_become_players_and_tts_a_span() -> None:
    question = (SoundTag("meow.mp3"), TTSTag("hola", "es_ES", ("Ana",), 1.5, ()))
    answer = (SoundTag("a b.ogg"),)
    side = "Q[anki:play:q:0] [anki:play:q:1]<hr id=answer>[anki:play:a:0][anki:play:a:9]"
    out = web_side(side, question, answer, url_of)
    assert '<audio class="sound" controls preload="none" src="/m/meow.mp3?t=T"' in out
    assert 'data-file="meow.mp3"' in out
    assert '<span class="tts" lang="es_ES" data-voices="Ana" data-speed="1.5">hola</span>' in out
    assert 'src="/m/a%20b.ogg?t=T"' in out
    assert "[anki:play" not in out  # an out-of-range reference plays nothing


def test_css_files_in_style_blocks_and_note_type_css() -> None:
    css = '.card { background: url("_bg.png") } .x { background: url(https://x.org/y.png) }'
    assert web_css(css, url_of) == (
        '.card { background: url("/m/_bg.png?t=T") } .x { background: url(https://x.org/y.png) }'
    )
    side = f"<style>{css}</style>text url(_bg.png)"
    out = web_side(side, (), (), url_of)
    assert out.startswith('<style>.card { background: url("/m/_bg.png?t=T") }')
    assert out.endswith("text url(_bg.png)")  # outside a style block: text, kept


def test_a_huge_tag_is_kept_and_what_follows_still_pointed() -> None:
    html = "<img " * 20_000 + '><img src="x.png">' + "<style>" + "url(" * 20_000
    out = web_side(html, (), (), url_of)
    assert "/m/x.png?t=T" in out


@pytest.mark.parametrize(
    "html",
    [
        "<style>" + "url(" * 50_000,
        "<style>" + 'url("' * 50_000,
        "<img" + ' src="' * 50_000 + ">",
        "<img " * 50_000,
    ],
)
def test_each_hostile_shape_is_fast(html: str) -> None:
    started = time.perf_counter()
    web_side(html, (), (), url_of)
    # Linear: milliseconds; quadratic on these inputs: minutes. Room for a loaded machine.
    assert time.perf_counter() - started < 20.0
