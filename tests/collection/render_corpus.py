"""Note types and notes for comparing our card rendering with real Anki's.

Custom note types may hold templates Anki refuses to save (unbalanced conditionals,
unknown fields): they are saved with valid templates first and then replaced with
Anki's checks skipped, as a collection from an older client could hold them.
"""

from __future__ import annotations

from dataclasses import dataclass

LONG = "long text " * 300  # over 2 KiB: several BLAKE3 chunks for the hint id


@dataclass(frozen=True)
class CustomType:
    name: str
    fields: tuple[str, ...]
    # (name, question format, answer format)
    templates: tuple[tuple[str, str, str], ...]
    css: str = ".card { color: black; }"
    cloze: bool = False


@dataclass(frozen=True)
class NoteCase:
    case_id: str
    notetype: str
    fields: tuple[str, ...]
    tags: tuple[str, ...] = ()
    deck: str = "Default"


CUSTOM_TYPES: tuple[CustomType, ...] = (
    CustomType(
        "Five",
        ("One", "Two", "Three", "Four", "Five"),
        (
            ("Plain", "{{One}}|{{Two}}", "{{FrontSide}}<hr id=answer>{{Three}}{{Four}}{{Five}}"),
            ("Cond", "{{#Two}}two:{{Two}}{{/Two}}{{^Three}}no three{{/Three}}", "{{One}}"),
            ("Nested", "{{#One}}{{#Two}}{{Three}}{{/Two}}{{/One}}", "{{FrontSide}}!{{Four}}"),
            ("Neg", "{{^One}}{{Four}}{{/One}}", "neg {{Five}}"),
            ("Typed", "{{type:Five}}", "{{One}}{{type:Five}}"),
            ("Special", "{{Tags}}|{{Deck}}|{{Subdeck}}|{{Card}}|{{Type}}|{{CardFlag}}", "{{c1}}"),
        ),
        css=".card { font-family: serif; }\n.rtl { direction: rtl; }",
    ),
    CustomType(
        "Filters",
        ("Front", "Back", "Reading"),
        (
            (
                "F1",
                "{{text:Front}}|{{hint:Back}}|{{text:hint:Front}}|{{kana:Reading}}",
                "{{FrontSide}}<hr id=answer>{{furigana:Reading}}|{{kanji:Reading}}"
                "|{{unknownfilter:Back}}|{{text:unknownfilter:Back}}|{{unknownfilter:text:Back}}"
                "|{{::Front}}|{{unknown:}}|{{tts en_US:}}",
            ),
            (
                "F2",
                "{{tts en_US:Front}}{{tts ja_JP voices=Apple_Otoya,Microsoft_Haruka speed=0.8:"
                "Reading}}{{Back}}",
                "{{FrontSide}}<hr id=answer>{{Back}}[sound:back.mp3]{{tts fr_FR:Back}}",
            ),
        ),
    ),
    CustomType(
        "Conditions",
        ("A", "B"),
        (
            ("Tags", "{{#Tags}}{{A}}{{/Tags}}", "{{A}}"),
            ("NoTags", "{{^Tags}}untagged {{A}}{{/Tags}}", "{{A}}"),
            ("Deck", "{{#Deck}}in {{Deck}}{{/Deck}}", "{{B}}"),
            ("Cloze cond", "{{#c2}}c2{{/c2}}{{#c1}}{{A}}{{/c1}}", "{{B}}"),
            ("Comment", "<!-- {{B}} -->{{A}}<!-- {{#X}} -->", "{{B}}"),
            ("Spaces", "{{ A }}{{# B }}b{{/B}}{{{A}}}", "{{B}}"),
        ),
    ),
    CustomType(
        "Broken",
        ("Front", "Back"),
        (
            ("Unknown field", "{{Front}}{{Nope}}", "{{Back}}"),
            ("Unclosed", "{{#Front}}{{Front}}", "{{Back}}"),
            ("Wrong close", "{{#Front}}{{Front}}{{/Back}}", "{{Back}}"),
            ("Not open", "{{Front}}{{/Front}}", "{{Back}}"),
            ("Unknown cond", "{{Front}}{{#Nope}}x{{/Nope}}", "{{Back}}"),
            ("Back broken", "{{Front}}!", "{{text:Nope}}"),
            ("Empty key", "{{Front}}{{}}", "{{Back}}"),
            ("Half open", "{{Front}} {{Back", "{{Back}}}} {{"),
        ),
    ),
    CustomType(
        "Legacy",
        ("Front", "Back"),
        (("Alt", "  {{=<% %>=}}<%Front%> <%#Back%>and <%Back%><%/Back%>", "<%Back%>{{Front}}"),),
    ),
    CustomType(
        "Cloze Two",
        ("Text", "Extra", "More"),
        (("Cloze", "{{cloze:Text}}|{{cloze:More}}", "{{cloze:Text}}<br>{{Extra}}|{{cloze:More}}"),),
        cloze=True,
    ),
    CustomType(
        "Cloze Only",
        ("Text", "Extra"),
        (
            (
                "Cloze",
                "{{cloze:Text}}|{{cloze-only:Text}}|{{type:cloze:Text}}|{{text:cloze:Text}}",
                "{{cloze:Text}}|{{cloze-only:Text}}|{{type:nc:Text}}|{{FrontSide}}",
            ),
        ),
        cloze=True,
    ),
)

NOTES: tuple[NoteCase, ...] = (
    NoteCase("basic", "Basic", ("front", "back")),
    NoteCase("basic-empty-back", "Basic", ("front", "")),
    NoteCase("basic-empty-front", "Basic", ("", "back")),
    NoteCase("basic-br-front", "Basic", ("<br><div> </div>", "back")),
    NoteCase("basic-nbsp-front", "Basic", ("&nbsp;", "back")),
    NoteCase("basic-zwsp-front", "Basic", ("\u200b", "back")),
    NoteCase("basic-html", "Basic", ('<b>bold</b> &amp; <img src="pic.png">', "a<br>b")),
    NoteCase("basic-sounds", "Basic", ("[sound:one.mp3] q [sound:two.mp3]", "[sound:a&amp;b.mp3]")),
    NoteCase(
        "basic-directives",
        "Basic",
        (
            "[anki:tts]x[/anki:tts] [anki:tts lang=en_US speed=fast]y [...][/anki:tts]"
            " [anki:foo\na=b]z[/anki:foo] [sound:] [sound:dir/f.mp3] [anki:tts lang=x",
            '[anki:tts lang=de_DE voices="a b" x=1]<div>z</div>w&amp;[/anki:tts][sound:[x]',
        ),
    ),
    NoteCase("basic-rtl", "Basic", ("مرحبا بالعالم", "שלום עולם")),
    NoteCase("basic-cjk", "Basic", ("日本語のテキスト", "中文文本"), tags=("日本語",)),
    NoteCase("basic-deck", "Basic", ("f", "b"), tags=("a", "b::c"), deck="Parent::Child"),
    NoteCase("reversed", "Basic (and reversed card)", ("front", "back")),
    NoteCase("reversed-empty-back", "Basic (and reversed card)", ("front", "")),
    NoteCase("optional", "Basic (optional reversed card)", ("front", "back", "")),
    NoteCase("optional-on", "Basic (optional reversed card)", ("front", "back", "y")),
    NoteCase("typed", "Basic (type in the answer)", ("front", "back")),
    NoteCase("typed-empty", "Basic (type in the answer)", ("front", "")),
    NoteCase("cloze", "Cloze", ("a {{c1::b}} c {{c2::d::hint}}", "extra")),
    NoteCase("cloze-no-extra", "Cloze", ("{{c1::only}}", "")),
    NoteCase("cloze-gap", "Cloze", ("{{c1::a}} {{c3::c}}", "")),
    NoteCase("cloze-twice", "Cloze", ("{{c1::a}} and {{c1::b::h}}", "")),
    NoteCase("cloze-empty", "Cloze", ("x {{c1::}} y {{c2::z}}", "")),
    NoteCase("cloze-nested", "Cloze", ("{{c1::outer {{c2::inner}} end}} {{c3::x {{c1::y}}}}", "")),
    NoteCase("cloze-escapes", "Cloze", ('{{c1::a-b é & "q" <i>i</i> 日本 &amp; tab\tx}}', "")),
    NoteCase("cloze-mathjax", "Cloze", (r"\(x^{<b>2</b>}\) {{c1::\[<i>y</i>\]}}", "")),
    NoteCase("cloze-unclosed", "Cloze", ("{{c1::a}} {{c2::b", "")),
    NoteCase("cloze-stray-close", "Cloze", ("}} {{c1::a}} }}", "")),
    NoteCase("cloze-c0", "Cloze", ("{{c0::zero}} {{c2::two}}", "")),
    NoteCase("cloze-big", "Cloze", ("{{c12::twelve}} {{c1000::many}}", "")),
    NoteCase("cloze-none", "Cloze", ("no cloze here", "extra")),
    NoteCase("cloze-in-extra", "Cloze", ("{{c1::t}}", "{{c2::e}}")),
    NoteCase("cloze-sound", "Cloze", ("{{c1::[sound:c.mp3]}} [sound:d.mp3]", "[sound:e.mp3]")),
    NoteCase("cloze-rtl-cjk", "Cloze", ("{{c1::مرحبا}} {{c2::日本語::ヒント}}", "")),
    NoteCase(
        "cloze-deep", "Cloze", ("".join(f"{{{{c{i}::l{i} " for i in range(1, 13)) + "}}" * 12, "")
    ),
    NoteCase(
        "five-full",
        "Five",
        ("one", "two", "three", "four", "five"),
        tags=("t1", "t2"),
        deck="A::B::C",
    ),
    NoteCase("five-sparse", "Five", ("", "", "three", "four", "")),
    NoteCase("five-only-two", "Five", ("", "two", "", "", "")),
    NoteCase("five-rtl", "Five", ("<div dir=rtl>עברית</div>", "العربية", "", "", "x")),
    NoteCase(
        "filters",
        "Filters",
        ("<b>bold</b> &lt;b&gt; x&nbsp;y a<br>b", "the back", "日本[にほん] 語[ご] x[sound:s.mp3]"),
    ),
    NoteCase("filters-empty", "Filters", ("f", "", "")),
    NoteCase("filters-space-hint", "Filters", ("f", "   ", "")),
    NoteCase("filters-long-hint", "Filters", ("f", LONG, "")),
    NoteCase("filters-cjk-hint", "Filters", ("漢字", "ヒント 日本語", " 漢字[かんじ]を 読[よ]む")),
    NoteCase("filters-tts", "Filters", ("hello <b>world</b>", "[...] blank", "日本語[にほんご]")),
    NoteCase("conditions-tags", "Conditions", ("a", "b"), tags=("x",)),
    NoteCase("conditions-notags", "Conditions", ("a", "b")),
    NoteCase("conditions-empty", "Conditions", ("", "")),
    NoteCase("broken", "Broken", ("front", "back")),
    NoteCase("broken-empty", "Broken", ("", "back")),
    NoteCase("legacy", "Legacy", ("front", "back")),
    NoteCase("cloze-two", "Cloze Two", ("{{c1::a}}", "extra", "{{c2::m}}")),
    NoteCase("cloze-two-same", "Cloze Two", ("{{c1::a}} {{c2::b}}", "", "{{c1::m::mh}}")),
    NoteCase("cloze-only", "Cloze Only", ("{{c1::a::ha}} {{c1::b}} {{c2::c {{c1::d}}}}", "")),
)
