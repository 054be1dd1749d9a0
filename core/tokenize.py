"""Word tokens with character offsets, for any script.

Spans are stored as character offsets and tags are computed against these tokens, so
the tokenizer decides where an entity may begin or end. It is deliberately simple and
predictable, and fast enough for a million documents (one compiled regex, ``finditer``):

- a run of letters and digits (any script, with its combining marks) is one word;
- every other visible character (punctuation, symbol, emoji) is its own token; an emoji
  keeps its modifiers and zero-width-joined parts, a flag its two regional indicators;
- every CJK character — Han, kana, hangul, CJK punctuation and full-width punctuation —
  is its own token, because those scripts do not put spaces between words;
- whitespace (and zero-width spaces) is never a token.

A Hangul syllable written as conjoining jamo (NFD text) stays one word, so it is not
split letter by letter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from core.scripts import CJK_CLASS as _CJK_CLASS


def _mark_classes() -> tuple[str, str]:
    """Regex class bodies for every combining mark (Mn, Mc, Me): one for the BMP, one beyond.

    Built from ``unicodedata`` once at import (~30 ms): Python's ``\\w`` leaves marks out,
    which would cut Devanagari, Thai or vowelled Arabic words apart. The two halves are
    kept apart because ``re`` tests a BMP class as a bitmap but astral ranges one by one.
    """
    bmp: list[str] = []
    astral: list[str] = []
    start = prev = -2
    scan = (*range(0x20000), *range(0xE0000, 0xE1000))  # no marks live elsewhere
    for cp in (*scan, -1):
        if cp >= 0 and unicodedata.category(chr(cp))[0] == "M":
            if cp == prev + 1:
                prev = cp
                continue
        elif cp >= 0:
            continue
        if start >= 0:
            (bmp if start < 0x10000 else astral).append(_class_range(start, prev))
        start = prev = cp
    return "".join(bmp), "".join(astral)


def _class_range(first: int, last: int) -> str:
    if first == last:
        return f"\\U{first:08x}"
    return f"\\U{first:08x}-\\U{last:08x}"


_MARKS_BMP, _MARKS_ASTRAL = _mark_classes()
_JOINERS = "\u200c\u200d\u00ad"  # ZWNJ, ZWJ and soft hyphen join the parts of a word
_IGNORED = "\u200b\u2060\ufeff" + _JOINERS  # never a token on their own
_EMOJI_EXTRA = "\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f"  # skin tones, tag characters

_ASTRAL = r"(?=[\U00010000-\U0010ffff])"  # cheap guard before a long list of astral ranges
_MARK = rf"(?:[{_MARKS_BMP}]|{_ASTRAL}[{_MARKS_ASTRAL}])"
_EXTEND = rf"(?:[{_MARKS_BMP}]|{_ASTRAL}[{_MARKS_ASTRAL}{_EMOJI_EXTRA}])"
_LETTER = rf"[^\W_{_CJK_CLASS}]"  # a letter or digit of any script, CJK aside
_LETTERS_AND_MARKS = rf"{_LETTER}*(?:{_MARK}+{_LETTER}*)*"
_WORD = rf"{_LETTER}{_LETTERS_AND_MARKS}(?:[{_JOINERS}](?:{_LETTER}|{_MARK}){_LETTERS_AND_MARKS})*"
_SYMBOL = rf"[^\s{_IGNORED}]{_EXTEND}*"

_TOKEN = re.compile(
    rf"[{_CJK_CLASS}]{_MARK}*"  # one CJK character (with an ideographic variation selector)
    r"|[\U0001f1e6-\U0001f1ff]{2}"  # a flag: two regional indicators
    rf"|{_WORD}"
    rf"|{_SYMBOL}(?:\u200d{_SYMBOL})*"  # punctuation, symbol or emoji (ZWJ) sequence
)
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")

Token = tuple[int, int]


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into word tokens; returns ``(start, end)`` character offsets."""
    return [m.span() for m in _TOKEN.finditer(text)]


def is_cjk(ch: str) -> bool:
    """True for a character that the tokenizer makes a token of its own (Han, kana, hangul…)."""
    return bool(ch) and _CJK_CHAR.match(ch) is not None


def contains_cjk(text: str) -> bool:
    """True when ``text`` holds at least one CJK character (a quick pre-check)."""
    return _CJK_CHAR.search(text) is not None


def join_tokens(words: Sequence[str]) -> tuple[str, list[Token]]:
    """Build a text from ``words``: single spaces between them, none between two CJK characters.

    Returns the text and each word's ``(start, end)`` offsets in it. Used by the CoNLL
    importer, which keeps the file's own tokens as the document's tokens.
    """
    text = " ".join(words)
    if text.isascii() or _CJK_CHAR.search(text) is None:  # the common case: no CJK
        offsets: list[Token] = []
        pos = 0
        for word in words:
            end = pos + len(word)
            offsets.append((pos, end))
            pos = end + 1
        return text, offsets
    return _join_cjk(words)


def _join_cjk(words: Sequence[str]) -> tuple[str, list[Token]]:
    parts: list[str] = []
    offsets: list[Token] = []
    pos = 0
    previous = ""
    for word in words:
        if parts and not (_CJK_CHAR.match(previous[-1:]) and _CJK_CHAR.match(word[:1])):
            parts.append(" ")
            pos += 1
        parts.append(word)
        offsets.append((pos, pos + len(word)))
        pos += len(word)
        previous = word
    return "".join(parts), offsets
