"""Character spans <-> word tags: one test per tricky shape."""

from __future__ import annotations

import pytest

from core.errors import OverlapError, SpanAlignmentError, TagSequenceError
from core.spancheck import snap_range, token_at
from core.tagging import (
    align_spans,
    bioes_to_iob2,
    decode_tags,
    detect_scheme,
    iob1_to_iob2,
    iob2_to_bioes,
    snap_span,
    spans_to_tags,
    tags_to_spans,
    to_iob2,
    validate_tags,
)
from core.tokenize import tokenize

EN = "EU rejects German call to boycott British lamb ."
EN_SPANS = [(0, 2, "ORG"), (11, 17, "MISC"), (34, 41, "MISC")]
EN_TAGS = ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
ZH = "我在北京大学读书。"
ZH_SPANS = [(2, 6, "ORG")]
ZH_TAGS = ["O", "O", "B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "O", "O"]


def test_spans_to_tags_and_back_in_english() -> None:
    tokens = tokenize(EN)
    assert spans_to_tags(tokens, EN_SPANS) == EN_TAGS
    assert tags_to_spans(tokens, EN_TAGS) == EN_SPANS


def test_cjk_entity_spans_one_tag_per_character() -> None:
    tokens = tokenize(ZH)
    assert spans_to_tags(tokens, ZH_SPANS) == ZH_TAGS
    assert tags_to_spans(tokens, ZH_TAGS) == ZH_SPANS
    assert ZH[2:6] == "北京大学"


def test_store_rows_are_accepted_as_spans() -> None:
    rows = [{"start": 0, "end": 2, "label": "ORG", "origin": "human"}]
    assert spans_to_tags(tokenize(EN), rows)[0] == "B-ORG"


def test_bioes_single_token_and_multi_token_entities() -> None:
    text = "Angela Merkel met Obama in Berlin ."
    tokens = tokenize(text)
    spans = [(0, 13, "PER"), (18, 23, "PER"), (27, 33, "LOC")]
    tags = spans_to_tags(tokens, spans, scheme="bioes")
    assert tags == ["B-PER", "E-PER", "O", "S-PER", "O", "S-LOC", "O"]
    assert tags_to_spans(tokens, tags) == spans
    assert bioes_to_iob2(tags) == spans_to_tags(tokens, spans)


def test_span_cutting_a_token_is_reported_not_dropped() -> None:
    tokens = tokenize(EN)
    with pytest.raises(SpanAlignmentError, match="word boundaries") as caught:
        spans_to_tags(tokens, [(0, 2, "ORG"), (12, 17, "MISC")])  # "erman"
    assert caught.value.spans == [(12, 17, "MISC")]
    assert "snap" in str(caught.value)


def test_snap_grows_a_span_to_the_enclosing_tokens() -> None:
    tokens = tokenize(EN)
    assert spans_to_tags(tokens, [(12, 20, "MISC")], snap=True)[2:4] == ["B-MISC", "I-MISC"]
    assert snap_span(tokens, (12, 20, "MISC")) == (11, 22, "MISC")
    assert snap_span(tokenize(ZH), (3, 4, "LOC")) == (3, 4, "LOC")


def test_snap_of_a_span_over_whitespace_only_is_an_error() -> None:
    with pytest.raises(SpanAlignmentError, match="covers no word"):
        spans_to_tags(tokenize("a   b"), [(2, 3, "X")], snap=True)


def test_overlapping_spans_are_rejected() -> None:
    tokens = tokenize(EN)
    with pytest.raises(OverlapError, match="flat NER"):
        spans_to_tags(tokens, [(11, 22, "MISC"), (18, 22, "X")])
    with pytest.raises(OverlapError):  # overlap that only appears after snapping
        spans_to_tags(tokens, [(11, 13, "A"), (14, 17, "B")], snap=True)


def test_align_spans_sorts_instead_of_raising() -> None:
    tokens = tokenize(EN)
    aligned, misaligned = align_spans(tokens, [(0, 2, "ORG"), (1, 2, "X"), (5, 5, "Y")])
    assert aligned == [(0, 2, "ORG")]
    assert misaligned == [(1, 2, "X"), (5, 5, "Y")]


def test_iob1_converts_to_iob2() -> None:
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert iob1_to_iob2(iob1) == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"]
    assert to_iob2(iob1, "iob1") == iob1_to_iob2(iob1)
    assert iob1_to_iob2(EN_TAGS) == EN_TAGS  # valid IOB2 passes unchanged


def test_iob2_to_bioes_and_back() -> None:
    iob2 = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]
    bioes = ["B-PER", "I-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC"]
    assert iob2_to_bioes(iob2) == bioes
    assert bioes_to_iob2(bioes) == iob2
    assert to_iob2(bioes, "bioes") == iob2


def test_stray_inside_tag_starts_an_entity_when_decoding() -> None:
    tokens = tokenize("a b c d")
    assert tags_to_spans(tokens, ["O", "I-X", "I-X", "I-Y"]) == [(2, 5, "X"), (6, 7, "Y")]


def test_tag_count_must_match_token_count() -> None:
    with pytest.raises(TagSequenceError, match="one tag per token"):
        tags_to_spans(tokenize("a b"), ["O"])


@pytest.mark.parametrize("bad", ["X-PER", "B-", "BPER", "b-PER", "B_PER", ""])
def test_bad_tag_strings(bad: str) -> None:
    with pytest.raises(TagSequenceError, match="Bad tag") as caught:
        validate_tags(["O", bad], "iob2")
    assert caught.value.index == 1


def test_strict_iob2_rejects_inside_after_outside() -> None:
    with pytest.raises(TagSequenceError, match="I-PER follows O") as caught:
        validate_tags(["B-LOC", "O", "I-PER"], "iob2")
    assert caught.value.index == 2
    with pytest.raises(TagSequenceError, match="follows B-LOC"):
        validate_tags(["B-LOC", "I-PER"], "iob2")
    validate_tags(["B-LOC", "O", "I-PER"], "iob2", strict=False)


def test_strict_iob1_and_bioes_rules() -> None:
    validate_tags(["I-PER", "B-PER", "O"], "iob1")
    with pytest.raises(TagSequenceError, match="IOB1"):
        validate_tags(["O", "B-PER"], "iob1")
    validate_tags(["B-PER", "E-PER", "S-LOC"], "bioes")
    with pytest.raises(TagSequenceError, match="not closed") as caught:
        validate_tags(["B-PER", "O"], "bioes")
    assert caught.value.index == 1
    with pytest.raises(TagSequenceError, match="end of the sentence"):
        validate_tags(["B-PER"], "bioes")
    with pytest.raises(TagSequenceError, match="does not continue"):
        validate_tags(["O", "E-PER"], "bioes")
    with pytest.raises(TagSequenceError, match="Bad tag"):
        validate_tags(["S-PER"], "iob2")


def test_decode_tags_gives_token_indices() -> None:
    assert decode_tags(["B-A", "I-A", "O", "S-B"], scheme="bioes", strict=False) == [
        (0, 1, "A"),
        (3, 3, "B"),
    ]


def test_labels_may_contain_dashes() -> None:
    tokens = tokenize("New York")
    assert tags_to_spans(tokens, ["B-GPE-CITY", "I-GPE-CITY"]) == [(0, 8, "GPE-CITY")]


@pytest.mark.parametrize(
    "tags, scheme",
    [
        (["O", "B-PER", "I-PER"], "iob2"),
        (["O", "I-PER", "I-PER"], "iob1"),
        (["B-PER", "E-PER"], "bioes"),
        (["S-LOC"], "bioes"),
        (["O", "O"], "iob2"),
        ([], "iob2"),
        ([["O"], ["I-LOC", "O"]], "iob1"),  # an entity opened by I- in a later sentence
        ([["B-PER"], ["I-LOC"]], "iob2"),  # B- opens one too: broken IOB2, not IOB1
        ([["B-PER", "I-PER"], ["O"]], "iob2"),
    ],
)
def test_detect_scheme(tags: list, scheme: str) -> None:
    assert detect_scheme(tags) == scheme


def test_strict_iob2_decoding_agrees_with_the_general_decoder() -> None:
    """The fast strict-IOB2 path and the general lenient one read valid IOB2 the same."""
    import random

    rng = random.Random(3)
    for _ in range(300):
        spans = []
        position = 0
        n = rng.randint(1, 12)
        while position < n:
            length = rng.randint(1, 3)
            if rng.random() < 0.4 and position + length <= n:
                spans.append((position, position + length - 1, rng.choice("AB")))
                position += length
            else:
                position += 1
        tags = ["O"] * n
        for first, last, label in spans:
            tags[first : last + 1] = [f"B-{label}"] + [f"I-{label}"] * (last - first)
        assert decode_tags(tags, "iob2", strict=True) == spans
        assert decode_tags(tags, scheme=None, strict=False) == spans


# -- selections in the annotation view --------------------------------------------------------


def test_a_selection_snaps_to_the_words_it_touches():
    tokens = tokenize("EU rejects German call")
    assert snap_range(tokens, 4, 13) == (3, 17)  # "jects Ger" -> "rejects German"
    assert snap_range(tokens, 2, 3) is None  # only the space between two words
    assert snap_range(tokens, 5, 5) is None
    assert token_at(tokens, 12) == (11, 17) and token_at(tokens, 10) is None


def test_the_token_index_follows_the_list_it_is_given():
    # Two documents' token lists of one length, one after the other: the second one is
    # read, not the first one's index (a freed list's id can be reused).
    first = [[0, 2], [3, 10]]
    assert snap_range(first, 0, 1) == (0, 2)
    second = [[5, 8], [9, 12]]
    assert snap_range(second, 6, 7) == (5, 8)
    assert token_at(second, 10) == (9, 12)
