"""Finding the next occurrence of something in a text scanned left to right.

`NextMatch.find(pos)` answers `pattern.search(text, pos)` (its start, or -1) for
non-decreasing `pos`, reusing the previous answer while `pos` has not passed it, so a
scanner that asks at every step stays linear instead of searching to the end of the
text again and again.
"""

from __future__ import annotations

import re


class NextMatch:
    def __init__(self, text: str, pattern: str | re.Pattern[str]) -> None:
        self._text = text
        self._pattern = pattern
        self._from = -1
        self._found = -1

    def find(self, pos: int) -> int:
        if self._from >= 0 and self._from <= pos and (self._found < 0 or pos <= self._found):
            return self._found
        if isinstance(self._pattern, str):
            found = self._text.find(self._pattern, pos)
        else:
            match = self._pattern.search(self._text, pos)
            found = -1 if match is None else match.start()
        self._from, self._found = pos, found
        return found
