"""Document context: neighbouring sentences of the same group around a sentence, labels
and scores on the sentence only, never across a group, long sentences still windowed."""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import astuple

import pytest

from core.training.config import TrainConfig
from core.training.context import encode_in_context
from core.training.data import IGNORE, add_labels, encode, hold_out
from core.training.events import Done, Eval, Log

from training_support import sentence_corpus

A = ["alice", "went", "to", "paris"]
B = ["bob", "saw", "the", "river"]
C = ["carol", "met", "dave", "in", "rome"]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from core.training.loading import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


def one_call(tokenizer, words: list[str]) -> list[int]:
    return tokenizer(words, is_split_into_words=True)["input_ids"]


def test_the_centre_sentence_alone_is_labelled(tokenizer) -> None:
    windows = encode_in_context(tokenizer, [A, B, C], ["d", "d", "d"], 128, 32, 64)
    middle = windows[1]
    # exactly what the tokenizer gives for the three sentences read as one text
    assert middle.input_ids == one_call(tokenizer, A + B + C)
    assert (middle.first_word, middle.end_word) == (0, len(B))
    tags = [["O"] * len(A), ["B-PER", "O", "O", "O"], ["O"] * len(C)]
    add_labels(windows, tags, {"O": 0, "B-PER": 1, "I-PER": 2})
    before = len(one_call(tokenizer, A)) - 1  # [CLS] and A's sub-tokens
    labelled = [i for i, label in enumerate(middle.labels) if label != IGNORE]
    assert labelled == [before + k for k in range(len(B))]  # one sub-token per word here
    assert middle.labels[before] == 1
    assert all(label == IGNORE for label in middle.labels[:before])
    assert all(label == IGNORE for label in middle.labels[before + len(B) :])
    assert middle.context == len(middle.input_ids) - len(one_call(tokenizer, B))


def test_context_never_crosses_a_group(tokenizer) -> None:
    windows = encode_in_context(tokenizer, [A, B, C], ["d1", "d1", "d2"], 128, 32, 64)
    assert windows[1].input_ids == one_call(tokenizer, A + B)  # C is another document
    assert windows[2].input_ids == one_call(tokenizer, C)  # alone in its group
    assert windows[2].context == 0


def test_a_sentence_without_a_group_is_encoded_as_today(tokenizer) -> None:
    windows = encode_in_context(tokenizer, [A, B, C], ["d", None, "d"], 128, 32, 64)
    assert windows[1].input_ids == one_call(tokenizer, B)
    assert windows[2].input_ids == one_call(tokenizer, A + C)  # its neighbour in the group


def test_context_is_whole_words_up_to_the_budget(tokenizer) -> None:
    long_word = ["paris"] * 3 + ["zzzzzzzz"]  # the last word is eight sub-tokens
    windows = encode_in_context(tokenizer, [long_word, B], ["d", "d"], 128, 32, 5)
    # 5 sub-tokens of left context: the 8-piece word does not fit, so nothing does
    assert windows[1].input_ids == one_call(tokenizer, B)
    windows = encode_in_context(tokenizer, [B, A], ["d", "d"], 128, 32, 2)
    assert windows[1].input_ids == one_call(tokenizer, ["the", "river", *A])


def test_context_shrinks_to_fit_the_window(tokenizer) -> None:
    n_b = len(one_call(tokenizer, B))
    max_length = n_b + 4  # room for four sub-tokens of context
    windows = encode_in_context(tokenizer, [A, B, C], ["d"] * 3, max_length, 2, 64)
    middle = windows[1]
    assert len(middle.input_ids) == max_length and middle.context == 4
    # both sides want more than half the room: each gets half, nearest words first
    assert middle.input_ids == one_call(tokenizer, ["to", "paris", *B, "carol", "met"])


def test_a_sentence_longer_than_the_window_is_windowed_as_before(tokenizer) -> None:
    long = (A + B + C) * 4
    docs = [A, long, C]
    windows = encode_in_context(tokenizer, docs, ["d"] * 3, 24, 6, 64)
    plain = encode(tokenizer, [long], 24, 6)
    mine = [w for w in windows if w.doc == 1]
    assert len(mine) == len(plain) > 1
    for w, p in zip(mine, plain, strict=True):
        assert (w.input_ids, w.first_word, w.end_word, w.word_starts) == (
            p.input_ids,
            p.first_word,
            p.end_word,
            p.word_starts,
        )
    assert all(len(w) <= 24 for w in windows)
    assert [w.doc for w in windows] == sorted(w.doc for w in windows)
    # the long sentence still lends its edge words to its neighbours, within the window
    n_c = len(one_call(tokenizer, C))
    assert windows[-1].context == 24 - n_c
    assert windows[-1].input_ids == one_call(tokenizer, long[-(24 - n_c) :] + C)
    assert windows[0].input_ids == one_call(tokenizer, A + long[: 24 - len(one_call(tokenizer, A))])


def test_no_context_tokens_is_exactly_todays_encoding(tokenizer) -> None:
    docs = [A, B, (A + B + C) * 4, [], C]
    today = encode(tokenizer, docs, 24, 6)
    for groups in (["d"] * 5, None):
        assert [astuple(w) for w in encode_in_context(tokenizer, docs, groups, 24, 6, 0)] == [
            astuple(w) for w in today
        ]
    ungrouped = encode_in_context(tokenizer, docs, [None] * 5, 24, 6, 64)
    assert [astuple(w) for w in ungrouped] == [astuple(w) for w in today]


def test_held_out_dev_takes_whole_groups() -> None:
    examples = sentence_corpus(40)
    for i, ex in enumerate(examples):
        ex["group"] = f"doc{i // 5}"
    train, dev = hold_out(examples, 0.2, seed=3)
    assert len(dev) == 10 and len(train) == 30
    assert not {ex["group"] for ex in train} & {ex["group"] for ex in dev}
    plain = sentence_corpus(40)  # without groups: the sentences drawn as before
    picked = sorted(random.Random(3).sample(range(40), 8))
    assert [ex["id"] for ex in hold_out(plain, 0.2, seed=3)[1]] == [plain[i]["id"] for i in picked]


def grouped(examples: list[dict], size: int) -> list[dict]:
    for ex in examples:
        ex["group"] = f"doc{ex['id'] // size}"
    return examples


def test_training_with_groups_reads_context_and_records_dev_f1(tmp_path, tiny_model_dir):
    from core.training.evaluation import evaluate
    from core.training.predict import Predictor
    from core.training.trainer import train

    data = {
        "train": grouped(sentence_corpus(60), 6),
        "dev": grouped(sentence_corpus(20, seed=1, start_id=500), 5),
    }
    config = TrainConfig(
        base_model=str(tiny_model_dir), epochs=2, learning_rate=5e-3, batch_size=8, warmup=0
    )
    events = list(train(config, data, tmp_path / "model"))
    done = events[-1]
    assert isinstance(done, Done), done
    notes = [e.message for e in events if isinstance(e, Log)]
    assert any(
        n.startswith("Context: each of 60 training sentences of 11 documents") for n in notes
    )
    evals = [e for e in events if isinstance(e, Eval)]
    assert len(evals) == 2 and all(0 <= e.f1 <= 1 for e in evals)
    assert done.metrics["f1"] == max(e.f1 for e in evals)
    saved = json.loads((tmp_path / "model" / "train_config.json").read_text("utf-8"))
    assert saved["context_tokens"] == 64
    # Dev is scored once more with each sentence alone; context stays for prediction
    # unless that was better, and the log says which.
    with_context, alone, kept = context_verdict(notes)
    assert with_context == pytest.approx(done.metrics["f1"], abs=1e-4)
    assert kept == (alone <= with_context)
    assert saved["chosen"]["context_tokens"] == (64 if kept else 0)

    predictor = Predictor(tmp_path / "model", device="cpu")
    assert predictor.context_tokens == saved["chosen"]["context_tokens"]
    predictor.context_tokens = 64
    seen: list = []
    encode_of = predictor.encode
    predictor.encode = lambda words, groups=None: seen.append(groups) or encode_of(words, groups)
    result = evaluate(predictor, data["dev"])
    assert seen[-1] == [ex["group"] for ex in data["dev"]]  # evaluation reads context too
    assert result["f1"] == pytest.approx(done.metrics["f1"])
    assert len(predictor.predict(["alice went to paris ."])) == 1  # one text: no context


def context_verdict(notes: list[str]) -> tuple[float, float, bool]:
    """(dev F1 with context, without, whether context was kept) from the run log."""
    pattern = (
        r"Document context: dev F1 ([0-9.]+) with 64 sub-tokens of context on each side, "
        r"([0-9.]+) with each sentence on its own; context is (kept|left off) when"
    )
    found = [m for m in (re.match(pattern, n) for n in notes) if m]
    assert len(found) == 1, notes
    return float(found[0][1]), float(found[0][2]), found[0][3] == "kept"


def test_context_is_left_off_for_prediction_where_dev_is_better_without(
    tmp_path, tiny_model_dir, monkeypatch
):
    import core.training.trainer as trainer_module
    from core.training.predict import Predictor
    from core.training.trainer import train

    real_evaluate = trainer_module.evaluate

    def sentences_alone_do_better(predictor, examples):
        result = real_evaluate(predictor, examples)
        if predictor.context_tokens == 0:
            result["f1"] = 1.0  # above any F1 the run reached with context
        return result

    monkeypatch.setattr(trainer_module, "evaluate", sentences_alone_do_better)
    data = {
        "train": grouped(sentence_corpus(30), 6),
        "dev": grouped(sentence_corpus(10, seed=1, start_id=500), 5),
        "test": grouped(sentence_corpus(10, seed=2, start_id=900), 5),
    }
    config = TrainConfig(base_model=str(tiny_model_dir), epochs=1, learning_rate=5e-3)
    events = list(train(config, data, tmp_path / "model"))
    assert isinstance(events[-1], Done), events[-1]
    _, alone, kept = context_verdict([e.message for e in events if isinstance(e, Log)])
    assert (alone, kept) == (1.0, False)
    saved = json.loads((tmp_path / "model" / "train_config.json").read_text("utf-8"))
    assert (saved["context_tokens"], saved["chosen"]["context_tokens"]) == (64, 0)
    assert Predictor(tmp_path / "model", device="cpu").context_tokens == 0
    # Test is scored the way the model will predict: without context.
    assert events[-1].metrics["test"]["f1"] == 1.0


def test_without_groups_in_dev_there_is_nothing_to_compare(tmp_path, tiny_model_dir):
    from core.training.trainer import train

    data = {"train": sentence_corpus(30), "dev": sentence_corpus(10, seed=1, start_id=500)}
    config = TrainConfig(base_model=str(tiny_model_dir), epochs=1, learning_rate=5e-3)
    events = list(train(config, data, tmp_path / "model"))
    notes = [e.message for e in events if isinstance(e, Log)]
    assert not any(n.startswith("Document context") for n in notes)
    saved = json.loads((tmp_path / "model" / "train_config.json").read_text("utf-8"))
    assert saved["chosen"]["context_tokens"] == 64  # nothing showed it does worse


def test_the_predictor_reads_a_group_in_context(tiny_trained_model, tmp_path) -> None:
    from core.tokenize import tokenize
    from core.training.predict import Predictor

    texts = ["alice went to paris .", "bob went to rome .", "carol saw the river ."]
    tokens = [tokenize(t) for t in texts]
    older = shutil.copytree(tiny_trained_model, tmp_path / "older")
    saved = json.loads((older / "train_config.json").read_text("utf-8"))
    del saved["context_tokens"]  # a model trained before there was context
    del saved["chosen"]["context_tokens"]
    (older / "train_config.json").write_text(json.dumps(saved), "utf-8")
    alone = Predictor(older, device="cpu")
    assert alone.context_tokens == 0  # trained before context: unchanged
    words = [[t[s:e] for s, e in toks] for t, toks in zip(texts, tokens, strict=True)]
    assert all(w.context == 0 for w in alone.encode(words, ["d"] * 3))
    reader = Predictor(tiny_trained_model, device="cpu")
    assert reader.context_tokens == 64  # saved by its run
    reader.context_tokens = 5  # each sentence is five words of one sub-token each
    assert [w.context for w in reader.encode(words, ["d"] * 3)] == [5, 10, 5]
    tagged = reader.predict_tags(texts, tokens, ["d"] * 3)
    assert [len(tags) for tags, _ in tagged] == [5, 5, 5]
    assert reader.predict_tags(texts, tokens) == alone.predict_tags(texts, tokens)


def test_pre_annotation_reads_a_document_between_its_stored_neighbours(
    tiny_trained_model, tmp_path
) -> None:
    from core.store import Project
    from core.training.assist import suggest_spans
    from core.training.predict import Predictor

    predictor = Predictor(tiny_trained_model, device="cpu")
    calls: list = []
    encode_of = predictor.encode

    def spy(words, groups=None, read=None):
        windows = encode_of(words, groups, read)
        calls.append((words, read, windows))
        return windows

    predictor.encode = spy
    with Project.create(tmp_path / "p.spanlab") as project:
        project.add_document("alice went to paris .", group="d", status="annotated")
        new = project.add_document("bob went to rome .", group="d")
        project.add_document("carol saw the river .", group="d", status="annotated")
        lonely = project.add_document("dave went to oslo .")
        suggest_spans(project, predictor, [new, lonely])
    words, read, windows = calls[-1]
    assert [" ".join(w) for w in words] == [
        "alice went to paris .",
        "bob went to rome .",
        "carol saw the river .",
        "dave went to oslo .",
    ]
    assert read == [False, True, False, True]  # the neighbours are context only
    assert [(w.doc, w.context) for w in windows] == [(1, 10), (3, 0)]
