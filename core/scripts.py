"""Which characters are written without spaces between words: the one list of CJK ranges.

Chinese, Japanese and Korean put no spaces between words, so the tokenizer makes each
of these characters a token of its own, and the full-text index sees each as a word of
its own. Both read the ranges from here, so a character is never a token for one and
part of a longer word for the other.
"""

from __future__ import annotations

#: Regex class body of the characters that are each one token: CJK symbols and
#: punctuation (not the ideographic space U+3000), kana, bopomofo, compatibility jamo,
#: Kanbun, enclosed CJK, Han (all extensions), Hangul syllables, CJK compatibility forms,
#: full-width punctuation, half-width kana and hangul, the kana supplements and enclosed
#: ideographs beyond the BMP.
CJK_CLASS = (
    "\u2e80-\u2fdf\u3001-\u303f\u3040-\u33ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f"
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\uff66-\uffdc"
    "\U0001b000-\U0001b16f\U0001f200-\U0001f2ff\U00020000-\U0003ffff"
)

#: Regex class body of the conjoining Hangul jamo (NFD Korean). The tokenizer keeps a
#: syllable written in jamo together as letters of one word; the full-text index spaces
#: them apart, so that a syllable typed in the search box is found inside a longer word.
HANGUL_JAMO_CLASS = "\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff"
