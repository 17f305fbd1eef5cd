"""Template problems and the English HTML Anki shows in their place.

Anki's messages come from its Fluent strings (ftl/core/card-template-rendering.ftl);
Fluent wraps each inserted value in Unicode isolation marks (U+2068 … U+2069), and
Anki's output keeps them, so these messages do too.
"""

from __future__ import annotations

from typing import Final

from collection.text import encode_minimal

_FSI: Final = "\u2068"
_PDI: Final = "\u2069"
ERROR_LINK: Final = "https://docs.ankiweb.net/templates/errors.html#template-syntax-error"
BLANK_LINK: Final = "https://docs.ankiweb.net/templates/errors.html#front-of-card-is-blank"
BLANK_CLOZE_LINK: Final = (
    "https://docs.ankiweb.net/templates/errors.html#no-cloze-filter-on-cloze-note-type"
)
MORE_INFO: Final = "More information"


def isolate(value: str) -> str:
    """A Fluent placeable as Anki inserts it."""
    return f"{_FSI}{value}{_PDI}"


class TemplateError(Exception):
    """A template that Anki cannot render; `details()` is Anki's English message."""

    def details(self) -> str:
        raise NotImplementedError


class ConditionalNotClosed(TemplateError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def details(self) -> str:
        return f"Missing '{isolate('{{/' + self.key + '}}')}'"


class ConditionalNotOpen(TemplateError):
    def __init__(self, closed: str, currently_open: str | None) -> None:
        super().__init__(closed, currently_open)
        self.closed = closed
        self.currently_open = currently_open

    def details(self) -> str:
        found = isolate("{{/" + self.closed + "}}")
        if self.currently_open is not None:
            expected = isolate("{{/" + self.currently_open + "}}")
            return f"Found '{found}', but expected '{expected}'"
        missing1 = isolate("{{#" + self.closed + "}}")
        missing2 = isolate("{{^" + self.closed + "}}")
        return f"Found '{found}', but missing '{missing1}' or '{missing2}'"


class FieldNotFound(TemplateError):
    def __init__(self, field: str, filters: tuple[str, ...]) -> None:
        super().__init__(field, filters)
        self.field = field
        self.filters = filters

    def details(self) -> str:
        prefix = "".join(f"{name}:" for name in reversed(self.filters))
        found = isolate("{{" + prefix + self.field + "}}")
        return f"Found '{found}', but there is no field called '{isolate(self.field)}'"


class NoSuchConditional(TemplateError):
    def __init__(self, prefixed_key: str) -> None:
        super().__init__(prefixed_key)
        self.prefixed_key = prefixed_key

    def details(self) -> str:
        found = isolate("{{" + self.prefixed_key + "}}")
        return f"Found '{found}', but there is no field called '{isolate(self.prefixed_key[1:])}'"


def template_error_html(error: TemplateError, *, question_side: bool) -> str:
    """The text Anki renders on both sides of a card whose template has `error`."""
    header = "Front template has a problem:" if question_side else "Back template has a problem:"
    details = encode_minimal(error.details())
    return f"{header}<br>{details}<br><a href='{ERROR_LINK}'>{MORE_INFO}</a>"


def empty_front_html() -> str:
    return f"<div>The front of this card is blank.<br><a href='{BLANK_LINK}'>{MORE_INFO}</a></div>"


def missing_cloze_html(number: int) -> str:
    text = (
        f"No cloze {isolate(str(number))} found on card.\n"
        "Please either add a cloze deletion, or use the Empty Cards tool."
    )
    return f"<div>{text}<br><a href='{BLANK_CLOZE_LINK}'>{MORE_INFO}</a></div>"
