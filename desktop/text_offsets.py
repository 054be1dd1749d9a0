"""Python string offsets <-> Qt text positions.

Spans and entities are character offsets into a Python string (code points). Qt counts
positions in UTF-16 code units, where a character outside the Basic Multilingual Plane
(an emoji, a rare CJK ideograph) takes two. Every widget that puts a Python offset into
a ``QTextCursor``, or reads one back, goes through :class:`OffsetMap`.
"""

from __future__ import annotations

from bisect import bisect_left


class OffsetMap:
    """Maps offsets of one text between Python (code points) and Qt (UTF-16 units)."""

    def __init__(self, text: str) -> None:
        self._astral = [i for i, ch in enumerate(text) if ord(ch) > 0xFFFF]
        # where each astral character starts in Qt positions (each one before it adds 1)
        self._qt_astral = [i + n for n, i in enumerate(self._astral)]

    def to_qt(self, pos: int) -> int:
        """The Qt position of Python offset ``pos``."""
        return pos + bisect_left(self._astral, pos) if self._astral else pos

    def from_qt(self, pos: int) -> int:
        """The Python offset of Qt position ``pos`` (the middle of a pair rounds down)."""
        if not self._astral:
            return pos
        # each astral character that starts before `pos` takes one more Qt unit
        return pos - bisect_left(self._qt_astral, pos)
