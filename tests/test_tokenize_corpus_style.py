"""The corpus tokenizer: raw text split the way Penn Treebank / CoNLL-2003 split it.

One test per shape. Each checks the exact offsets: the expected words are found in the
text left to right, and the tokens must be exactly those stretches.
"""

from __future__ import annotations

import pytest

from core.tokenize import DEFAULT_TOKENIZER, tokenize


def offsets_of(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Where ``words`` lie in ``text``, each found after the previous one."""
    found, pos = [], 0
    for word in words:
        start = text.index(word, pos)
        assert not text[pos:start].strip(), f"{text[pos:start]!r} skipped before {word!r}"
        found.append((start, start + len(word)))
        pos = start + len(word)
    assert not text[pos:].strip(), f"{text[pos:]!r} left over"
    return found


def check(text: str, words: list[str]) -> None:
    tokens = tokenize(text, "corpus")
    assert [text[s:e] for s, e in tokens] == words
    assert tokens == offsets_of(text, words)


def test_corpus_is_the_default() -> None:
    assert DEFAULT_TOKENIZER == "corpus"
    assert tokenize("don't") == [(0, 2), (2, 5)]


@pytest.mark.parametrize(
    "text, words",
    [
        ("don't", ["do", "n't"]),
        ("can't", ["ca", "n't"]),
        ("won't", ["wo", "n't"]),
        ("DOESN'T", ["DOES", "N'T"]),
        ("didn\u2019t", ["did", "n\u2019t"]),  # a typographic apostrophe
        ("John's", ["John", "'s"]),
        ("we're", ["we", "'re"]),
        ("they'll", ["they", "'ll"]),
        ("I've", ["I", "'ve"]),
        ("I'm", ["I", "'m"]),
        ("she'd", ["she", "'d"]),
        ("Bre-X's", ["Bre-X", "'s"]),
        ("do n't", ["do", "n't"]),  # already split, as a corpus's text joined by spaces
        ("John 's", ["John", "'s"]),
    ],
)
def test_contractions_and_possessives_are_split(text: str, words: list[str]) -> None:
    check(text, words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("O'Neill", ["O'Neill"]),
        ("o'clock", ["o'clock"]),
        ("the Joneses' car", ["the", "Joneses", "'", "car"]),  # a plural possessive
        ("'quoted'", ["'", "quoted", "'"]),
    ],
)
def test_other_apostrophes(text: str, words: list[str]) -> None:
    check(text, words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("the U.S. market", ["the", "U.S.", "market"]),
        ("U.S.A.", ["U.S.A."]),
        ("e.g. this", ["e.g.", "this"]),
        ("at 5 p.m. today", ["at", "5", "p.m.", "today"]),
        ("Mr. Smith", ["Mr.", "Smith"]),
        ("Acme Inc. said", ["Acme", "Inc.", "said"]),
        ("Dr. No", ["Dr.", "No"]),
        ("on Jan. 5", ["on", "Jan.", "5"]),
        ("John F. Kennedy", ["John", "F.", "Kennedy"]),  # an initial
        ("in the U.S.", ["in", "the", "U.S."]),  # the abbreviation ends the sentence
    ],
)
def test_abbreviations_keep_their_period(text: str, words: list[str]) -> None:
    check(text, words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("It rained.", ["It", "rained", "."]),
        ("in 1996.", ["in", "1996", "."]),
        ("Plan B.", ["Plan", "B", "."]),  # a capital at the very end is not an initial
        ("Mrs Smith left.", ["Mrs", "Smith", "left", "."]),
        ("Done. Next", ["Done", ".", "Next"]),
    ],
)
def test_a_sentence_final_period_is_a_token(text: str, words: list[str]) -> None:
    check(text, words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("Bre-X", ["Bre-X"]),
        ("state-of-the-art", ["state-of-the-art"]),
        ("18-year-old", ["18-year-old"]),
        ("pre- and post-war", ["pre", "-", "and", "post-war"]),
        ("AT&T and S&P", ["AT&T", "and", "S&P"]),
    ],
)
def test_hyphenated_words_stay_whole(text: str, words: list[str]) -> None:
    check(text, words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("1,000.50", ["1,000.50"]),
        ("$18.5 billion", ["$", "18.5", "billion"]),
        ("3.5%", ["3.5", "%"]),
        ("1996-12-06", ["1996-12-06"]),
        ("12/06/1996", ["12/06/1996"]),
        ("10:30 GMT", ["10:30", "GMT"]),
        ("21 1/2", ["21", "1/2"]),
        ("won 2-0,", ["won", "2-0", ","]),
        ("1, 2", ["1", ",", "2"]),  # a list, not a number
    ],
)
def test_numbers_dates_times_fractions_and_scores_stay_whole(text: str, words: list[str]) -> None:
    check(text, words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("see https://example.com/a?b=1.", ["see", "https://example.com/a?b=1", "."]),
        ("(www.reuters.com)", ["(", "www.reuters.com", ")"]),
        ("mail john.doe+x@example.co.uk,", ["mail", "john.doe+x@example.co.uk", ","]),
        ("@john_doe: hi", ["@john_doe", ":", "hi"]),
        ("#NER2017!", ["#NER2017", "!"]),
    ],
)
def test_urls_emails_handles_and_hashtags_stay_whole(text: str, words: list[str]) -> None:
    check(text, words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("Geneva -- if", ["Geneva", "--", "if"]),
        ("wait...", ["wait", "..."]),
        ("really?!", ["really", "?!"]),
        ('"Yes," he said.', ['"', "Yes", ",", '"', "he", "said", "."]),
        ("(R-Kan) [sic] {x}", ["(", "R-Kan", ")", "[", "sic", "]", "{", "x", "}"]),
        ("fish &amp; chips", ["fish", "&amp;", "chips"]),
        ("great :) but :(", ["great", ":)", "but", ":("]),
        ("note:Done", ["note", ":", "Done"]),  # not an emoticon inside a word
    ],
)
def test_punctuation(text: str, words: list[str]) -> None:
    check(text, words)


@pytest.mark.parametrize(
    "text, words",
    [
        ("我爱北京。", ["我", "爱", "北", "京", "。"]),
        ("苹果公司Apple's", ["苹", "果", "公", "司", "Apple", "'s"]),
        ("東京don't", ["東", "京", "do", "n't"]),
        ("Müller's Café-Bar", ["Müller", "'s", "Café-Bar"]),
        ("e\u0301cole d'e\u0301te\u0301", ["e\u0301cole", "d'e\u0301te\u0301"]),
        ("Москва-Сити", ["Москва-Сити"]),
        ("हिन्दी भाषा।", ["हिन्दी", "भाषा", "।"]),
        ("مَرْحَبًا بِكُمْ", ["مَرْحَبًا", "بِكُمْ"]),
        ("ok 👍🏽 👨\u200d👩\u200d👧 🇩🇪!", ["ok", "👍🏽", "👨\u200d👩\u200d👧", "🇩🇪", "!"]),
        ("love😀it", ["love", "😀", "it"]),
    ],
)
def test_cjk_other_scripts_and_emoji(text: str, words: list[str]) -> None:
    check(text, words)


def test_tokens_never_overlap_and_never_hold_a_space() -> None:
    text = (
        "Mr. O'Neill's U.S.-based firm--AT&T's rival--didn't say: 1,000.50 on 1996-12-06 "
        "at https://x.org/?q=1... e.g. @a #b 我们 😀 'tis ca'nt "
    ) * 3
    previous_end = 0
    for start, end in tokenize(text):
        assert previous_end <= start < end
        assert not any(ch.isspace() for ch in text[start:end])
        previous_end = end
    assert "".join(text[s:e] for s, e in tokenize(text)) == "".join(text.split())


@pytest.mark.parametrize(
    "text, words",
    [
        ("to C$ 3.25", ["to", "C$", "3.25"]),
        ("US$18 million", ["US$", "18", "million"]),
        ("$ 5", ["$", "5"]),
        ("ABCD$ 5", ["ABCD", "$", "5"]),
    ],
)
def test_currencies_with_a_country_prefix_stay_whole(text: str, words: list[str]) -> None:
    check(text, words)


@pytest.mark.parametrize(
    "text, words",
    [
        # a list's number at the start of a line, as in results tables
        (
            "1. Jesper Ronnback ( Sweden ) 25.76",
            ["1.", "Jesper", "Ronnback", "(", "Sweden", ")", "25.76"],
        ),
        ("Men\n10. Troy Benson", ["Men", "10.", "Troy", "Benson"]),
        ("He finished 2. Then he left.", ["He", "finished", "2", ".", "Then", "he", "left", "."]),
        # a sign or a leading point stays with its number
        ("up +0.05 at .496", ["up", "+0.05", "at", ".496"]),
        ("Tel +44 171 542 4000", ["Tel", "+44", "171", "542", "4000"]),
        ("call +91-22-265 now", ["call", "+91-22-265", "now"]),
        ("3+4", ["3", "+", "4"]),  # between digits it is an operator
        ("the end.5 more", ["the", "end", ".", "5", "more"]),  # no space before: not a number
        # a shared place in a ranking
        ("1= Ernie Els", ["1=", "Ernie", "Els"]),
        # a state abbreviation keeps its period; an abbreviation leads a hyphenated word
        (
            "Sen. Bob Dole ( R-Kan. ) of Calif. said",
            ["Sen.", "Bob", "Dole", "(", "R-Kan.", ")", "of", "Calif.", "said"],
        ),
        ("the U.S.-led force", ["the", "U.S.-led", "force"]),
    ],
)
def test_news_conventions_for_numbers_lists_and_abbreviations(text: str, words: list[str]) -> None:
    check(text, words)
