"""What rendering a card adds to `GET /api/review`, timed in this process (no HTTP).

Since cards are shown as their note type has them, the next card's response carries
its rendered question and answer: the route reads the card's note and note type and
renders them (`collection.card_faces.card_face`), issues a media token
(`TokenService.issue_media`, through `api.deps.get_media_token`) and points the media
at their URLs with sounds made playable (`api.media.web_card`). That path is timed
here, on a real collection file, for a corpus of cards of different kinds; the rest of
the request (choosing the card, HTTP, storage) is what the review sessions measure.

Each run starts with a fresh `Col` and `DeckIndex`, as each request does (the deck
index is built by the queue anyway and is not timed; the note types, `col.models`, are
parsed for the card's face only, so that parse is timed). The kinds take turns, so a
busy moment on the machine falls on all of them alike.
"""

from __future__ import annotations

import copy
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from api.media import web_card
from auth.tokens import TokenService
from bench.stats import percentile
from collection.card_faces import card_face
from collection.col import Col
from collection.decks import DeckIndex
from collection.enums import OriginalStockKind
from collection.notes import add_note
from collection.schema import create_collection

# Untimed runs of each kind first (imports, caches, the regexes compiled).
WARMUP: Final = 50
NOW: Final = 1_767_225_600.0  # 2026-01-01, any fixed time
USERNAME: Final = "bench-learner"
SECRET: Final = "a benchmark signing secret, 32 bytes or more"  # noqa: S105

# A Japanese vocabulary note type: five fields, conditionals, a hint, furigana, a
# picture on the answer and two sounds; its CSS has a font of the collection's media.
CUSTOM_CSS: Final = """\
@font-face {
    font-family: "Noto Serif JP";
    src: url("_NotoSerifJP-Regular.woff2") format("woff2");
    font-weight: normal;
}
@font-face {
    font-family: "Noto Serif JP";
    src: url("_NotoSerifJP-Bold.woff2") format("woff2");
    font-weight: bold;
}
.card {
    font-family: "Noto Serif JP", "Hiragino Mincho ProN", serif;
    font-size: 24px;
    line-height: 1.5;
    text-align: center;
    color: #1d1d1f;
    background-color: #fbfaf7;
    margin: 0 auto;
    max-width: 42em;
    padding: 1em;
}
.expression {
    font-size: 2.4em;
    font-weight: bold;
    letter-spacing: 0.05em;
    margin-bottom: 0.3em;
}
.reading {
    font-size: 1.4em;
    color: #555;
}
.reading ruby rt {
    font-size: 0.55em;
    color: #8a8a8a;
}
.meaning {
    font-size: 1.1em;
    margin-top: 0.8em;
    padding: 0.4em 0.8em;
    border-left: 4px solid #c0392b;
    text-align: left;
}
.part-of-speech {
    display: inline-block;
    font-size: 0.7em;
    text-transform: uppercase;
    color: #fff;
    background: #7f8c8d;
    border-radius: 0.3em;
    padding: 0.1em 0.5em;
    margin-right: 0.5em;
}
.notes {
    font-size: 0.85em;
    color: #444;
    margin-top: 1em;
    text-align: left;
}
a.hint {
    color: #2980b9;
    text-decoration: none;
    border-bottom: 1px dashed #2980b9;
}
.picture img {
    max-width: 60%;
    max-height: 12em;
    border-radius: 0.4em;
    box-shadow: 0 1px 4px rgba(0, 0, 0, 0.25);
    margin-top: 0.8em;
}
.audio {
    margin-top: 0.6em;
}
.nightMode .card, .card.nightMode {
    color: #e8e6e3;
    background-color: #1e1f22;
}
.nightMode .reading, .nightMode .notes {
    color: #b8b5b0;
}
.nightMode .meaning {
    border-left-color: #e74c3c;
}
.nightMode .part-of-speech {
    background: #566573;
}
.nightMode a.hint {
    color: #5dade2;
    border-bottom-color: #5dade2;
}
.tags {
    margin-top: 1.5em;
    font-size: 0.6em;
    color: #999;
}
@media (max-width: 480px) {
    .card { font-size: 20px; padding: 0.5em; }
    .expression { font-size: 2em; }
    .picture img { max-width: 90%; }
}
"""
CUSTOM_FIELDS: Final = ("Expression", "Reading", "Meaning", "Notes", "Audio")
CUSTOM_QUESTION: Final = """\
<div class="expression">{{Expression}}</div>
{{#Notes}}<div class="notes">{{hint:Notes}}</div>{{/Notes}}
{{^Audio}}<div class="audio">(no audio)</div>{{/Audio}}
"""
CUSTOM_ANSWER: Final = """\
{{FrontSide}}

<hr id=answer>

<div class="reading">{{furigana:Reading}}</div>
<div class="meaning">{{Meaning}}</div>
{{#Audio}}<div class="audio">{{Audio}}</div>{{/Audio}}
<div class="tags">{{Tags}} · {{Deck}}</div>
"""
CUSTOM_NOTE: Final = {
    "Expression": "日本語を勉強する",
    "Reading": "日本語[にほんご]を 勉強[べんきょう]する",
    "Meaning": '<span class="part-of-speech">verb</span> to study Japanese'
    '<div class="picture"><img src="nihongo-no-benkyou.jpg"></div>',
    "Notes": "<b>勉強</b> is written with 勉 (exertion) and 強 (strong); "
    "<i>する</i> makes the noun a verb.",
    "Audio": "[sound:nihongo.mp3][sound:benkyou-suru.mp3]",
}

CLOZE_TEXT: Final = (
    "<b>{{c1::Canberra::a city}}</b> is the capital of {{c2::Australia}}, "
    "chosen in <i>1908</i> as a compromise between {{c3::Sydney}} and Melbourne."
    "<br><ul><li>Parliament House opened in 1988</li></ul>"
)

# A long field: about 5 KB of HTML, the kind a note pasted from a web page holds.
_LONG_PARTS: Final = (
    "<h3>The Krebs cycle</h3>",
    "<p>The <b>citric acid cycle</b> (also the <i>tricarboxylic acid cycle</i>) is a "
    "series of reactions in the mitochondrial matrix that oxidise "
    '<span style="color: rgb(192, 57, 43);">acetyl-CoA</span> to CO<sub>2</sub>, '
    "passing the electrons to NAD<sup>+</sup> and FAD.</p>",
    '<div><img src="krebs-cycle.png" alt="the cycle"></div>',
    "<ol><li>Citrate synthase: acetyl-CoA + oxaloacetate → citrate</li>"
    "<li>Aconitase: citrate → isocitrate</li>"
    "<li>Isocitrate dehydrogenase: isocitrate → &alpha;-ketoglutarate + CO<sub>2</sub></li>"
    "<li>&alpha;-ketoglutarate dehydrogenase → succinyl-CoA + CO<sub>2</sub></li></ol>",
    "<table><tr><th>product</th><th>per turn</th></tr>"
    "<tr><td>NADH</td><td>3</td></tr><tr><td>FADH<sub>2</sub></td><td>1</td></tr>"
    "<tr><td>GTP</td><td>1</td></tr><tr><td>CO<sub>2</sub></td><td>2</td></tr></table>",
    "<p><u>Regulation</u>: inhibited by high ATP/ADP and NADH/NAD<sup>+</sup> ratios; "
    "citrate synthase, isocitrate dehydrogenase and &alpha;-ketoglutarate dehydrogenase are "
    'the control points.&nbsp;See <a href="https://en.wikipedia.org/wiki/'
    'Citric_acid_cycle">the article</a>.</p>',
)
LONG_FIELD_BYTES: Final = 5000


def long_field(size: int = LONG_FIELD_BYTES) -> str:
    parts: list[str] = []
    while sum(len(p.encode()) for p in parts) < size:
        parts.append(_LONG_PARTS[len(parts) % len(_LONG_PARTS)])
    return "".join(parts)


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    card_ids: list[int]
    field_bytes: int
    css_bytes: int


def _custom_note_type(col: Col, basic: dict[str, Any]) -> int:
    """A note type of our own, copied from Basic's shape and stored in `col.models`."""
    model_id = max(int(m) for m in col.models) + 1
    model = copy.deepcopy(basic)
    field = basic["flds"][0]
    model |= {
        "id": model_id,
        "name": "Japanese vocabulary",
        "originalStockKind": OriginalStockKind.UNKNOWN,
        "flds": [
            {**field, "name": name, "ord": i, "id": model_id + i}
            for i, name in enumerate(CUSTOM_FIELDS)
        ],
        "tmpls": [
            {**basic["tmpls"][0], "qfmt": CUSTOM_QUESTION, "afmt": CUSTOM_ANSWER, "id": model_id}
        ],
        "css": CUSTOM_CSS,
        "req": [[0, "any", [0]]],
    }
    col.models[str(model_id)] = model
    col.mark_changed("models")
    col.save(now=NOW)
    return model_id


def build_corpus(conn: sqlite3.Connection) -> list[Kind]:
    """A new collection on `conn` with one note of each kind; the cards to time."""
    create_collection(conn, now=NOW)
    col = Col(conn)
    by_name = {str(m["name"]): m for m in col.models.values()}
    basic = by_name["Basic"]
    custom = _custom_note_type(col, basic)
    conn.commit()

    def add(notetype: dict[str, Any] | int, fields: dict[str, str]) -> list[int]:
        model_id = notetype if isinstance(notetype, int) else int(notetype["id"])
        note = add_note(conn, model_id, fields, tags=["bench"], now=NOW)
        conn.commit()
        return note.card_ids

    def size(fields: dict[str, str]) -> int:
        return sum(len(v.encode()) for v in fields.values())

    def css(name: str) -> int:
        return len(str(by_name[name]["css"]).encode())

    basic_note = {"Front": "What is the capital of France?", "Back": "Paris"}
    reversed_note = {"Front": "der Apfel", "Back": "the apple"}
    cloze_note = {"Text": CLOZE_TEXT, "Back Extra": "Canberra: <i>meeting place</i>"}
    long_note = {"Front": "The citric acid cycle: steps, products, regulation", "Back": ""}
    long_note["Back"] = long_field()
    reversed_ids = add(by_name["Basic (and reversed card)"], reversed_note)
    return [
        Kind("basic", "Basic", add(basic, basic_note), size(basic_note), css("Basic")),
        Kind(
            "reversed",
            "Basic (and reversed card), the reverse card",
            reversed_ids[1:],
            size(reversed_note),
            css("Basic (and reversed card)"),
        ),
        Kind(
            "cloze",
            "Cloze: 3 clozes (one with a hint), HTML; each of its 3 cards",
            add(by_name["Cloze"], cloze_note),
            size(cloze_note),
            css("Cloze"),
        ),
        Kind(
            "custom",
            "Custom note type: 5 fields, conditionals, hint, furigana, a picture, "
            "2 sounds, a font in the CSS",
            add(custom, CUSTOM_NOTE),
            size(CUSTOM_NOTE),
            len(CUSTOM_CSS.encode()),
        ),
        Kind(
            "long", "Basic, a long HTML field", add(basic, long_note), size(long_note), css("Basic")
        ),
    ]


def figures_ms(samples_ns: list[int]) -> dict[str, float]:
    ms = [ns / 1e6 for ns in samples_ns]
    return {
        "p50": round(percentile(ms, 50), 3),
        "p95": round(percentile(ms, 95), 3),
        "mean": round(sum(ms) / len(ms), 3) if ms else float("nan"),
        "n": len(ms),
    }


def time_rendering(runs: int, *, warmup: int = WARMUP) -> dict[str, Any]:
    """`runs` timed renderings of each kind (after `warmup` untimed), taking turns."""
    tokens = TokenService(SECRET)
    with (
        tempfile.TemporaryDirectory(prefix="javumbo-render-") as tmp,
        closing(sqlite3.connect(Path(tmp) / "collection.anki2")) as conn,
    ):
        kinds = build_corpus(conn)
        (models,) = conn.execute("select models from col").fetchone()
        samples: dict[str, list[int]] = {kind.key: [] for kind in kinds}
        for run in range(warmup + runs):
            for kind in kinds:
                card_id = kind.card_ids[run % len(kind.card_ids)]
                col = Col(conn)  # a request's own
                decks = DeckIndex(col)  # built by the queue before the card is shown
                started = time.perf_counter_ns()
                face = card_face(conn, col, decks, card_id)
                token = tokens.issue_media(USERNAME, 0, "bench-token")
                web_card(face, token)
                elapsed = time.perf_counter_ns() - started
                if run >= warmup:
                    samples[kind.key].append(elapsed)
    return {
        "runsPerKind": runs,
        "warmupPerKind": warmup,
        "modelsJsonBytes": len(str(models).encode()),
        "kinds": {
            kind.key: {
                "label": kind.label,
                "cards": len(kind.card_ids),
                "fieldBytes": kind.field_bytes,
                "cssBytes": kind.css_bytes,
                "latencyMs": figures_ms(samples[kind.key]),
            }
            for kind in kinds
        },
        "all": figures_ms([ns for found in samples.values() for ns in found]),
    }
