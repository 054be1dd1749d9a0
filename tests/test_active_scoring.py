"""PoolScorer: a trained tiny model's usefulness of each document, batch by batch."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.active.acquisition import random_score, token_entropy
from core.active.scoring import (
    DEFAULT_DROPOUT,
    DEFAULT_STRATEGY,
    STRATEGIES,
    PoolScorer,
    ScoringCancelled,
    head_dropout,
)
from core.errors import ValidationError
from core.tokenize import tokenize
from core.training.predict import Predictor

TEXTS = [
    "alice went to paris .",
    "the cat saw the river and erin went to oslo today",
    "bob",
    "zq went to xv kk .",
    "in rome , carol met dave and they went to berlin and madrid",
    "heidi went to lisbon today .",
    "a cat in vienna",
]


def docs_of(texts: list[str], start: int = 1, group: str | None = None) -> list[dict]:
    return [
        {"id": start + i, "text": t, "tokens": tokenize(t), "group": group}
        for i, t in enumerate(texts)
    ]


@pytest.fixture(scope="module")
def scorer(tiny_trained_model) -> PoolScorer:
    return PoolScorer(Predictor(tiny_trained_model, device="cpu", batch_size=3))


def test_strategies_and_the_default():
    assert STRATEGIES == ("mnlp", "entropy", "bald", "random")
    assert DEFAULT_STRATEGY == "mnlp"


def test_an_unknown_strategy_is_refused_naming_the_strategies(scorer):
    with pytest.raises(ValidationError, match="'margin'.*mnlp, entropy, bald, random"):
        scorer.score(docs_of(TEXTS), "margin")


def test_mnlp_is_the_mean_negative_log_probability_of_the_predicted_tags(scorer):
    docs = docs_of(TEXTS)
    scores = scorer.score(docs, "mnlp")
    tagged = scorer.predictor.predict_tags([d["text"] for d in docs], [d["tokens"] for d in docs])
    expected = [sum(-math.log(p) for p in probs) / len(probs) for _, probs in tagged]
    assert scores == pytest.approx(expected, rel=1e-4)
    assert all(s > 0 for s in scores)  # a tiny model is never quite sure
    assert len(set(scores)) == len(scores)


def test_entropy_is_read_at_the_first_sub_token_of_each_word(tiny_trained_model):
    """Against the model run by hand (both in fp32): a word split into sub-tokens ("zq" ->
    z ##q) is read at its first one, the special tokens never."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_trained_model)
    model = AutoModelForTokenClassification.from_pretrained(tiny_trained_model).eval()
    (doc,) = docs_of(["zq went to xv kk ."])
    words = [doc["text"][s:e] for s, e in doc["tokens"]]
    enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    word_ids = enc.word_ids(0)
    firsts = [word_ids.index(w) for w in range(len(words))]
    assert len(enc["input_ids"][0]) > len(words) + 2  # some word has several sub-tokens
    with torch.no_grad():
        probs = model(**enc).logits[0, firsts].softmax(-1)
    exact = PoolScorer(Predictor(tiny_trained_model, device="cpu", precision="no"))
    (score,) = exact.score([doc], "entropy")
    assert score == pytest.approx(token_entropy(probs), rel=1e-5)
    assert 0 < score <= math.log(len(exact.predictor.tags))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_scores_do_not_depend_on_batch_size_or_document_order(tiny_trained_model, strategy):
    docs = docs_of(TEXTS)
    one = PoolScorer(Predictor(tiny_trained_model, device="cpu", batch_size=1))
    many = PoolScorer(Predictor(tiny_trained_model, device="cpu", batch_size=5))
    scores = one.score(docs, strategy)
    assert all(math.isfinite(s) and s >= 0 for s in scores)
    assert many.score(docs, strategy) == pytest.approx(scores, rel=1e-4, abs=1e-7)
    backwards = many.score(docs[::-1], strategy)[::-1]
    assert backwards == pytest.approx(scores, rel=1e-4, abs=1e-7)


def test_bald_runs_the_encoder_once_per_window_and_dropout_on_the_head(scorer):
    model = scorer.predictor.model
    encoder_rows: list[int] = []
    head_inputs: list[tuple[int, ...]] = []
    hooks = [
        model.base_model.embeddings.register_forward_hook(
            lambda _m, _args, out: encoder_rows.append(out.shape[0])
        ),
        model.classifier.register_forward_hook(
            lambda _m, args, _out: head_inputs.append(tuple(args[0].shape[:-1]))
        ),
    ]
    docs = docs_of(TEXTS)
    try:
        scores = scorer.score(docs, "bald")
    finally:
        for hook in hooks:
            hook.remove()
    # 7 one-window documents in batches of 3: the encoder reads 3 + 3 + 1 rows, once each
    assert encoder_rows == [3, 3, 1]
    # the head: once in the forward pass (batch x length), then once more for all the
    # MC passes over the words of the batch (passes x words), never the encoder again
    forward, passes = head_inputs[::2], head_inputs[1::2]
    assert [shape[0] for shape in forward] == [3, 3, 1]
    assert {shape[0] for shape in passes} == {scorer.passes}
    assert sum(shape[1] for shape in passes) == sum(len(d["tokens"]) for d in docs)
    assert all(s > 0 for s in scores)
    assert max(scores) < math.log(len(scorer.predictor.tags))


def test_bald_is_deterministic_per_seed(tiny_trained_model):
    predictor = Predictor(tiny_trained_model, device="cpu", batch_size=4)
    docs = docs_of(TEXTS)
    first = PoolScorer(predictor, seed=3).score(docs, "bald")
    assert PoolScorer(predictor, seed=3).score(docs, "bald") == first
    assert PoolScorer(predictor, seed=4).score(docs, "bald") != first
    assert head_dropout(predictor.model) == pytest.approx(0.1)  # BERT's hidden dropout


def test_head_dropout_falls_back_when_the_model_has_none(tiny_trained_model):
    model = Predictor(tiny_trained_model, device="cpu").model
    model.dropout.p = 0.25
    assert head_dropout(model) == 0.25
    model.dropout.p = 0.0
    model.config.classifier_dropout = None
    model.config.hidden_dropout_prob = 0.0
    assert head_dropout(model) == DEFAULT_DROPOUT


def test_random_is_deterministic_per_seed_and_follows_the_document_id(scorer):
    docs = docs_of(TEXTS, start=100)
    scores = scorer.score(docs, "random")
    assert scores == [random_score(d["id"], 0) for d in docs]
    assert scorer.score(docs[::-1], "random") == scores[::-1]
    other = PoolScorer(scorer.predictor, seed=9).score(docs, "random")
    assert other != scores and all(0 <= s < 1 for s in other)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_document_without_words_scores_zero(scorer, strategy):
    docs = docs_of(["", "alice went to paris .", "   "])
    scores = scorer.score(docs, strategy)
    assert scores[0] == 0.0 and scores[2] == 0.0
    assert scores[1] > 0


def test_a_long_document_is_read_in_windows_each_word_once(tiny_trained_model):
    narrow = Predictor(tiny_trained_model, device="cpu", max_length=16, batch_size=4)
    text = " ".join(["alice went to paris and the cat saw the river"] * 6)
    docs = docs_of([text, "bob went to rome"])
    assert len(narrow.encode([d["text"].split() for d in docs])) > 3
    scores = PoolScorer(narrow).score(docs, "mnlp")
    tagged = narrow.predict_tags([d["text"] for d in docs], [d["tokens"] for d in docs])
    expected = [sum(-math.log(p) for p in probs) / len(probs) for _, probs in tagged]
    assert scores == pytest.approx(expected, rel=1e-4)


def test_sentences_of_a_group_are_read_in_context_as_the_predictor_reads_them(scorer):
    grouped = docs_of(TEXTS[:4], group="doc-1")
    scores = scorer.score(grouped, "mnlp")
    tagged = scorer.predictor.predict_tags(
        [d["text"] for d in grouped], [d["tokens"] for d in grouped], [d["group"] for d in grouped]
    )
    expected = [sum(-math.log(p) for p in probs) / len(probs) for _, probs in tagged]
    assert scores == pytest.approx(expected, rel=1e-4)
    assert scores != pytest.approx(scorer.score(docs_of(TEXTS[:4]), "mnlp"), rel=1e-4)


def test_progress_counts_documents_batch_by_batch(scorer):
    seen: list[tuple[int, int]] = []
    scorer.score(docs_of(["", *TEXTS]), "entropy", progress=seen.append)
    assert len(seen) == 3  # 7 documents with words, batches of 3
    assert seen[-1] == (8, 8)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert all(total == 8 for _, total in seen)


@pytest.mark.parametrize("strategy", ["mnlp", "entropy", "bald"])
def test_a_stop_request_cancels_between_batches(scorer, strategy):
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 1  # let the first batch through, then stop

    seen: list[tuple[int, int]] = []
    with pytest.raises(ScoringCancelled, match="cancelled after 3 of 7 documents"):
        scorer.score(docs_of(TEXTS), strategy, should_stop=should_stop, progress=seen.append)
    assert seen == [(3, 7)]


def test_a_stop_request_cancels_random_scoring_too(scorer):
    with pytest.raises(ScoringCancelled, match="cancelled"):
        scorer.score(docs_of(TEXTS), "random", should_stop=lambda: True)


def test_from_folder_gives_the_models_labels(tiny_trained_model):
    scorer = PoolScorer.from_folder(tiny_trained_model, device="cpu", batch_size=2, seed=5)
    assert scorer.labels == ["LOC", "PER"]
    assert scorer.seed == 5 and scorer.predictor.batch_size == 2
    with pytest.raises(ValidationError, match="at least 2"):
        PoolScorer(scorer.predictor, passes=1)


def test_importing_core_active_loads_no_torch():
    """The desktop reads the strategies at start-up; torch loads only when it scores."""
    code = (
        "import sys, core.active, core.active.scoring\n"
        "print(core.active.STRATEGIES, 'torch' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "('mnlp', 'entropy', 'bald', 'random') False"


@pytest.mark.parametrize("strategy", ["mnlp", "entropy", "bald"])
def test_a_batch_whose_words_all_lack_sub_tokens_scores_zero(scorer, strategy):
    """A lone combining accent is a word to the word tokenizer but nothing to an uncased
    BERT tokenizer: its window has no first sub-token to read."""
    (doc,) = docs_of(["\u0301"])
    assert doc["tokens"] and scorer.predictor.encode([["\u0301"]])[0].word_starts == [-1]
    assert scorer.score([doc], strategy) == [0.0]
