"""The word tokenizer: character offsets, punctuation apart, one token per CJK character."""

from __future__ import annotations

import pytest

from core.migrations import search_text
from core.tokenize import contains_cjk, is_cjk, join_tokens, tokenize


def words(text: str) -> list[str]:
    return [text[start:end] for start, end in tokenize(text)]


def test_offsets_index_the_text() -> None:
    text = "EU rejects  German call."
    assert tokenize(text) == [(0, 2), (3, 10), (12, 18), (19, 23), (23, 24)]


def test_punctuation_is_split_off() -> None:
    assert words("Hello, world! Don't (stop).") == [
        "Hello", ",", "world", "!", "Don", "'", "t", "(", "stop", ")", ".",
    ]  # fmt: skip


def test_each_cjk_character_is_a_token() -> None:
    assert words("我爱北京天安门。") == ["我", "爱", "北", "京", "天", "安", "门", "。"]
    assert words("東京タワーへ行く") == ["東", "京", "タ", "ワ", "ー", "へ", "行", "く"]
    assert words("한국어 텍스트") == ["한", "국", "어", "텍", "스", "트"]


def test_latin_inside_chinese_stays_a_word() -> None:
    assert words("苹果公司Apple发布iPhone 15，很好") == [
        "苹", "果", "公", "司", "Apple", "发", "布", "iPhone", "15", "，", "很", "好",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Müller lebt in Köln.", ["Müller", "lebt", "in", "Köln", "."]),
        ("e\u0301cole", ["e\u0301cole"]),  # a combining accent stays in its word
        ("مَرْحَبًا بِكُمْ", ["مَرْحَبًا", "بِكُمْ"]),  # vowelled Arabic
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # Devanagari vowel signs are marks
        ("می\u200cخواهم", ["می\u200cخواهم"]),  # a zero-width non-joiner inside a word
        ("ภาษาไทย ดี", ["ภาษาไทย", "ดี"]),  # Thai vowel marks
        ("\u1112\u1161\u11ab", ["\u1112\u1161\u11ab"]),  # decomposed hangul stays whole
    ],
)
def test_words_keep_their_combining_marks(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_emoji_sequences_stay_whole() -> None:
    text = "ok 👍🏽 👨\u200d👩\u200d👧 🇩🇪!"
    assert words(text) == ["ok", "👍🏽", "👨\u200d👩\u200d👧", "🇩🇪", "!"]


def test_whitespace_is_never_a_token() -> None:
    assert tokenize("") == []
    assert tokenize(" \t\n\u3000\u200b ") == []
    assert words("a\u3000b") == ["a", "b"]  # the ideographic space


def test_tokens_are_in_order_and_never_overlap() -> None:
    text = "Dr. Smith's U.S.A. trip — 3.14% of 东京 😀 costs $5."
    previous_end = 0
    for start, end in tokenize(text):
        assert previous_end <= start < end
        assert not text[start:end].isspace()
        previous_end = end


def test_is_cjk() -> None:
    assert is_cjk("中") and is_cjk("か") and is_cjk("한") and is_cjk("。") and is_cjk("，")
    assert not is_cjk("a") and not is_cjk("ä") and not is_cjk("") and not is_cjk("\u3000")
    assert contains_cjk("abc中") and not contains_cjk("abc")


def test_join_tokens_puts_single_spaces_between_words() -> None:
    text, offsets = join_tokens(["EU", "rejects", "German", "call", "."])
    assert text == "EU rejects German call ."
    assert [text[s:e] for s, e in offsets] == ["EU", "rejects", "German", "call", "."]


def test_join_tokens_puts_no_space_between_cjk_characters() -> None:
    parts = ["我", "爱", "北京", "Apple", "公", "司", "。", "ok"]
    text, offsets = join_tokens(parts)
    assert text == "我爱北京 Apple 公司。 ok"
    assert [text[s:e] for s, e in offsets] == parts


def test_join_tokens_of_nothing() -> None:
    assert join_tokens([]) == ("", [])


@pytest.mark.parametrize(
    "ch",
    ["北", "あ", "한", "、", "\u3190", "\u3200", "\ufe30", "！", "\U0001b001", "\U0001f200"],
)
def test_the_search_index_splits_what_the_tokenizer_splits(ch):
    # One list of ranges (core.scripts): a character that is a token of its own is a
    # word of its own in the full-text index too, so searching for it finds it.
    assert tokenize(ch * 2) == [(0, 1), (1, 2)]
    assert search_text(ch * 2).split() == [ch, ch]
