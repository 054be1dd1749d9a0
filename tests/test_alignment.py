"""Spans -> word tags -> first-sub-token labels, windows for long documents, batches."""

from __future__ import annotations

from itertools import pairwise

import pytest

from core.training.data import (
    IGNORE,
    LengthGroupedBatches,
    add_labels,
    best_window_per_word,
    collate,
    encode,
    hold_out,
    plan_windows,
    tag_names,
    word_tags,
    words_of,
)
from core.training.loading import load_tokenizer

from training_support import example

TAGS = tag_names(["LOC", "PER"])
TAG2ID = {t: i for i, t in enumerate(TAGS)}


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return load_tokenizer(str(tiny_model_dir))


def encode_one(tokenizer, ex, max_length=64, overlap=8):
    tags, _ = word_tags(ex)
    windows = encode(tokenizer, [words_of(ex)], max_length, overlap)
    add_labels(windows, [tags], TAG2ID)
    return windows


def test_word_split_in_three_beside_special_tokens(tokenizer):
    # "xyz" is not in the vocabulary: x ##y ##z. It is first (beside [CLS]) and last
    # (beside [SEP]); only its first sub-token carries the tag.
    ex = example(1, "xyz went to xyz", [(0, 3, "PER"), (12, 15, "LOC")])
    (w,) = encode_one(tokenizer, ex)
    pieces = tokenizer.convert_ids_to_tokens(w.input_ids)
    assert pieces == ["[CLS]", "x", "##y", "##z", "went", "to", "x", "##y", "##z", "[SEP]"]
    assert w.labels == [
        IGNORE,
        TAG2ID["B-PER"],
        IGNORE,
        IGNORE,
        TAG2ID["O"],
        TAG2ID["O"],
        TAG2ID["B-LOC"],
        IGNORE,
        IGNORE,
        IGNORE,
    ]
    assert w.word_starts == [1, 4, 5, 6]


def test_multi_word_entity_gets_b_then_i(tokenizer):
    ex = example(1, "alice bob went to new paris", [(0, 9, "PER"), (18, 27, "LOC")])
    tags, misaligned = word_tags(ex)
    assert tags == ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]
    assert misaligned == []


def test_misaligned_span_is_masked_not_o(tokenizer):
    # "ali" cuts the word "alice": reported and left out of the loss.
    ex = example(1, "alice went to paris", [(0, 3, "PER"), (14, 19, "LOC")])
    tags, misaligned = word_tags(ex)
    assert misaligned == [(0, 3, "PER")]
    assert tags == [None, "O", "O", "B-LOC"]
    (w,) = encode_one(tokenizer, ex)
    assert w.labels[1] == IGNORE  # the first sub-token of "alice"
    assert w.labels[4] == TAG2ID["B-LOC"]


def test_cjk_characters_are_words(tokenizer):
    text = "東京に行った"
    ex = example(1, text, [(0, 2, "LOC")])
    assert len(ex["tokens"]) == 6  # every CJK character is a token
    tags, _ = word_tags(ex)
    assert tags == ["B-LOC", "I-LOC", "O", "O", "O", "O"]
    (w,) = encode_one(tokenizer, ex)
    assert len(w.word_starts) == 6 and all(pos > 0 for pos in w.word_starts)
    assert [w.labels[p] for p in w.word_starts] == [TAG2ID[t] for t in tags]


def test_plan_windows_cover_every_word_with_overlap():
    counts = [3, 1, 1, 2, 4, 1, 1, 1, 2, 3, 1, 1]
    ranges = plan_windows(counts, budget=8, overlap=3)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(counts)
    for (a, b), (c, _) in pairwise(ranges):
        assert a < c <= b  # moves forward, and neighbours touch or overlap
        assert sum(counts[c:b]) <= 3
    for a, b in ranges:
        assert sum(counts[a:b]) <= 8 or b - a == 1


def test_plan_windows_gives_an_overlong_word_its_own_window():
    assert plan_windows([2, 50, 2], budget=10, overlap=2) == [(0, 1), (1, 2), (2, 3)]


def test_long_document_is_split_into_windows_and_nothing_is_cut(tokenizer):
    words = ["alice", "went", "to", "paris", "and", "the", "river"] * 12
    text = " ".join(words)
    spans = []
    pos = 0
    for word in words:
        if word == "alice":
            spans.append((pos, pos + 5, "PER"))
        pos += len(word) + 1
    ex = example(1, text, spans)
    windows = encode_one(tokenizer, ex, max_length=24, overlap=6)
    assert len(windows) > 3
    assert all(len(w) <= 24 for w in windows)
    covered = set()
    for w in windows:
        covered.update(range(w.first_word, w.end_word))
        pieces = tokenizer.convert_ids_to_tokens(w.input_ids)
        assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
        for j, p in enumerate(w.word_starts):  # labels follow the right words
            expected = "B-PER" if words[w.first_word + j] == "alice" else "O"
            assert w.labels[p] == TAG2ID[expected]
    assert covered == set(range(len(words)))
    # Each word is read from exactly one window: the one where it has most context.
    best = best_window_per_word(windows, len(words))
    assert all(k >= 0 for k, _ in best)
    for word, (k, _) in enumerate(best):
        w = windows[k]
        assert w.first_word <= word < w.end_word


def test_stitching_prefers_the_window_where_the_word_is_central(tokenizer):
    ex = example(1, " ".join(["river"] * 30), [])
    windows = encode_one(tokenizer, ex, max_length=12, overlap=4)
    best = best_window_per_word(windows, 30)
    # A word in the overlap of windows 0 and 1 near the end of window 0 goes to window 1.
    w0, w1 = windows[0], windows[1]
    shared = range(w1.first_word, w0.end_word)
    assert len(shared) >= 2
    assert best[shared[-1]][0] == 1
    assert best[0][0] == 0  # document edges are not cut edges


def test_document_without_words_gives_no_window(tokenizer):
    assert encode(tokenizer, [[], ["alice"]], 16, 4)[0].doc == 1


def test_length_grouped_batches_cover_all_and_group_lengths():
    lengths = [5, 40, 6, 39, 7, 38, 8, 37, 9, 36, 10, 35]
    sampler = LengthGroupedBatches(lengths, batch_size=2, seed=3, group=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 6
    assert sorted(i for b in batches for i in b) == list(range(12))
    sampler.set_epoch(1)
    again = list(sampler)
    assert again != batches  # new mixes each epoch
    sampler.set_epoch(1)
    assert list(sampler) == again  # but reproducible
    # Within a mega-batch the batches are sorted, so padding is small.
    whole = LengthGroupedBatches(lengths, batch_size=2, seed=3, group=100)
    for batch in whole:
        a, b = (lengths[i] for i in batch)
        assert abs(a - b) <= 2


def test_collate_pads_to_the_longest_in_the_batch(tokenizer):
    exs = [example(1, "alice went to paris", []), example(2, "bob", [])]
    windows = encode(tokenizer, [words_of(e) for e in exs], 256, 64)
    add_labels(windows, [["O"] * 4, ["O"]], TAG2ID)
    batch = collate(windows, pad_id=0)
    assert batch["input_ids"].shape == (2, 6)  # not 256
    assert batch["attention_mask"][1].tolist() == [1, 1, 1, 0, 0, 0]
    assert batch["labels"][1].tolist()[3:] == [IGNORE] * 3


def test_hold_out_is_seeded_and_disjoint():
    docs = [{"id": i} for i in range(50)]
    train, dev = hold_out(docs, 0.1, seed=13)
    assert len(dev) == 5 and len(train) == 45
    assert {d["id"] for d in train}.isdisjoint({d["id"] for d in dev})
    assert hold_out(docs, 0.1, seed=13)[1] == dev
    assert hold_out(docs[:1], 0.1, seed=13) == (docs[:1], [])
