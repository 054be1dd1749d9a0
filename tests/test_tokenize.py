"""The word tokenizers: character offsets, one token per CJK character; the basic one puts
every punctuation mark apart (the corpus-style rules: test_tokenize_corpus_style.py)."""

from __future__ import annotations

import pytest

from core.migrations import search_text
from core.tokenize import TOKENIZERS, contains_cjk, is_cjk, join_tokens, tokenize


@pytest.fixture(params=TOKENIZERS)
def tokenizer(request: pytest.FixtureRequest) -> str:
    """Each tokenizer in turn: what a test asserts holds for both."""
    return request.param


def words(text: str, tokenizer: str = "corpus") -> list[str]:
    return [text[start:end] for start, end in tokenize(text, tokenizer)]


def test_offsets_index_the_text(tokenizer: str) -> None:
    text = "EU rejects  German call."
    assert tokenize(text, tokenizer) == [(0, 2), (3, 10), (12, 18), (19, 23), (23, 24)]


def test_basic_splits_off_every_punctuation_mark() -> None:
    assert words("Hello, world! Don't (stop).", "basic") == [
        "Hello", ",", "world", "!", "Don", "'", "t", "(", "stop", ")", ".",
    ]  # fmt: skip


def test_unknown_tokenizer_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tokenizer 'spacy'"):
        tokenize("a b", "spacy")


def test_each_cjk_character_is_a_token(tokenizer: str) -> None:
    assert words("我爱北京天安门。", tokenizer) == ["我", "爱", "北", "京", "天", "安", "门", "。"]
    assert words("東京タワーへ行く", tokenizer) == ["東", "京", "タ", "ワ", "ー", "へ", "行", "く"]
    assert words("한국어 텍스트", tokenizer) == ["한", "국", "어", "텍", "스", "트"]


def test_latin_inside_chinese_stays_a_word(tokenizer: str) -> None:
    assert words("苹果公司Apple发布iPhone 15，很好", tokenizer) == [
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
def test_words_keep_their_combining_marks(text: str, expected: list[str], tokenizer: str) -> None:
    assert words(text, tokenizer) == expected


def test_emoji_sequences_stay_whole(tokenizer: str) -> None:
    text = "ok 👍🏽 👨\u200d👩\u200d👧 🇩🇪!"
    assert words(text, tokenizer) == ["ok", "👍🏽", "👨\u200d👩\u200d👧", "🇩🇪", "!"]


def test_whitespace_is_never_a_token(tokenizer: str) -> None:
    assert tokenize("", tokenizer) == []
    assert tokenize(" \t\n\u3000\u200b ", tokenizer) == []
    assert words("a\u3000b", tokenizer) == ["a", "b"]  # the ideographic space


def test_tokens_are_in_order_and_never_overlap(tokenizer: str) -> None:
    text = "Dr. Smith's U.S.A. trip — 3.14% of 东京 😀 costs $5. I don't've 'em -- ok..."
    previous_end = 0
    for start, end in tokenize(text, tokenizer):
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
def test_the_search_index_splits_what_the_tokenizer_splits(ch: str, tokenizer: str) -> None:
    # One list of ranges (core.scripts): a character that is a token of its own is a
    # word of its own in the full-text index too, so searching for it finds it.
    assert tokenize(ch * 2, tokenizer) == [(0, 1), (1, 2)]
    assert search_text(ch * 2).split() == [ch, ch]
