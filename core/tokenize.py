"""Word tokens with character offsets, for any script: two tokenizers.

Spans are stored as character offsets and tags are computed against these tokens, so
the tokenizer decides where an entity may begin or end. A project chooses one of
``TOKENIZERS`` for the new text it gets (``Project.tokenizer()``); both are a compiled
regex run with ``finditer``, fast enough for a million documents.

``corpus`` (the default) splits text the way the common English NER corpora are split
(Penn Treebank / CoNLL-2003), so that a model trained on such a corpus sees raw text cut
into the words it learned from. Its rules, one line each in ``_CORPUS_TOKEN``:

- contractions and possessives are split: ``do n't``, ``John 's``, ``we 're``, ``I 'm``;
- kept whole: abbreviations (``U.S.``, ``e.g.``, ``Mr.``, ``Inc.``, an initial ``F.``),
  hyphenated words (``Bre-X``, ``state-of-the-art``), numbers (``1,000.50``), dates
  (``1996-12-06``), times (``10:30``), fractions (``1/2``), scores (``2-0``), URLs,
  e-mail addresses, ``@handles`` and ``#hashtags``, ``--``, ``...``, emoticons;
- a sentence's last period, quotes, brackets and other punctuation are tokens of their own;
- CJK, other scripts, emoji and whitespace as in ``basic``.

``basic`` is deliberately simple and predictable:

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

from core.domain import DEFAULT_TOKENIZER, TOKENIZERS
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

# The corpus tokenizer's pieces. A word is cut before a clitic (``'s`` ``n't`` ...), and
# held together across a hyphen, an apostrophe that is not a clitic's (O'Neill), an
# ampersand between letters (AT&T), and ``. , : /`` between digits (1,000.50 10:30 1/2).
_APOSTROPHE = "['\u2019]"
_CLITIC_END = r"(?:[sS]|[rR][eE]|[lL][lL]|[vV][eE]|[mM]|[dD])(?![^\W_])"
_CLITIC = rf"{_APOSTROPHE}{_CLITIC_END}"
_NOT = rf"[nN]{_APOSTROPHE}[tT](?![^\W_])"
_ALPHA = rf"[^\W\d_{_CJK_CLASS}]"  # a letter of an alphabet (not a digit, not CJK)
_JOIN = (
    rf"(?:[-\u2010](?={_LETTER})"  # Bre-X, state-of-the-art, 1996-12-06, 2-0
    rf"|{_APOSTROPHE}(?!{_CLITIC_END})(?={_ALPHA})"  # O'Neill, o'clock
    rf"|&(?={_ALPHA})"  # AT&T, S&P
    r"|(?<=\d)[.,:/](?=\d))"  # 1,000.50  10:30  1/2  12/06/1996
)
#: Abbreviations that keep their period (a sentence's last period is a token of its own).
_ABBREVIATIONS = (
    "Mr|Mrs|Ms|Messrs|Dr|Prof|Rev|Gen|Lt|Col|Maj|Capt|Sgt|Gov|Sen|Rep|Pres|Sr|Jr|St|Mt|Ft"
    "|Inc|Corp|Co|Ltd|Bros|Plc|Cie|No|Nos|Vol|Dept|Univ|Ave|Blvd|Rd"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|vs|etc|approx|cf|al"
    # the U.S. states as news agencies abbreviate them (Sen. Bob Dole, R-Kan.)
    "|Ala|Ariz|Ark|Calif|Colo|Conn|Del|Fla|Ga|Ill|Ind|Kan|Ky|La|Mass|Md|Mich|Minn|Miss|Mo"
    "|Mont|Neb|Nev|Okla|Ore|Pa|Tenn|Tex|Va|Vt|Wash|Wis|Wyo"
)
#: A word, hyphenated or joined as above: Bre-X  1996-12-06  O'Neill  AT&T  1,000.50
_JOINED = rf"{_WORD}(?:{_JOIN}{_WORD})*"
_URL_END = "[^\\s<>\"'\u2019.,;:!?()\\[\\]{}]"  # a URL does not end on punctuation

_CORPUS_TOKEN = re.compile(
    r"[A-Za-z]+(?=[\s,;!?)\]\"]|\Z)"  # the common case first: a plain word, nothing joined
    rf"|[{_CJK_CLASS}]{_MARK}*"  # one CJK character, as in basic
    r"|[\U0001f1e6-\U0001f1ff]{2}"  # a flag
    rf"|(?:(?:https?|ftp)://|www\.)[^\s<>\"]*{_URL_END}"  # https://x.org/a?b=1
    r"|\w[\w.+-]*@[^\W_](?:[\w-]*\w)?(?:\.[^\W_](?:[\w-]*\w)?)+"  # an e-mail address
    rf"|[@#](?:[^\W{_CJK_CLASS}]|{_MARK})+"  # @handle, #hashtag (with digits and _)
    r"|(?<![^\n])\d{1,3}\.(?=[ \t])"  # a list's number at the start of a line: 1. 10.
    r"|(?<![\w.+])(?:\+(?=\d)|\.(?=\d))"  # a sign or a leading point belongs to its number:
    rf"{_JOINED}"  # +44  +0.05  +91-22-265  .496
    r"|(?<![\w=])\d{1,3}=(?=\s|\Z)"  # a shared place in a ranking: 1=
    rf"|(?:{_ALPHA}\.){{2,}}(?:-{_JOINED})?"  # U.S. e.g. a.m. U.S.-led
    r"|[A-Z]{1,3}\$(?=\s*\d)"  # a currency: US$ 18, C$ 3.25
    rf"|(?:[A-Z]-)?(?:{_ABBREVIATIONS})\.(?!{_LETTER})"  # Mr. Inc. Jan. R-Kan.
    rf"|[A-Z]\.(?=\s+{_ALPHA})"  # an initial: John F. Kennedy
    rf"|{_ALPHA}+?(?={_NOT})"  # do|n't, ca|n't
    rf"|{_NOT}|{_CLITIC}"  # n't 's 're 'll 've 'm 'd
    rf"|{_JOINED}"  # a word, hyphenated or joined as above
    r"|--+|\.\.+|[!?]{2,}"  # -- ... !!! ?! stay whole
    r"|&(?:amp|lt|gt|quot|apos|nbsp|#\d+);"  # an HTML entity left in web text
    r"|(?<![^\W_])[:;]-?[()\[\]DPpO/\\|*3](?![^\W_])"  # an emoticon :) ;-( :D
    rf"|{_SYMBOL}(?:\u200d{_SYMBOL})*"  # punctuation, symbol or emoji, as in basic
)

Token = tuple[int, int]
_PATTERNS = {"corpus": _CORPUS_TOKEN, "basic": _TOKEN}


def tokenize(text: str, tokenizer: str = DEFAULT_TOKENIZER) -> list[Token]:
    """Split ``text`` into word tokens with ``tokenizer`` (one of ``TOKENIZERS``);
    returns ``(start, end)`` character offsets."""
    try:
        pattern = _PATTERNS[tokenizer]
    except KeyError:
        raise ValueError(
            f"unknown tokenizer {tokenizer!r}: use one of {', '.join(TOKENIZERS)}"
        ) from None
    return [m.span() for m in pattern.finditer(text)]


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
