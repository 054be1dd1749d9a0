"""Predictor: texts -> character-offset entities, the same way training saw them."""

from __future__ import annotations

import pytest

from core.errors import ModelLoadError
from core.training.predict import Predictor


@pytest.fixture(scope="module")
def predictor(tiny_trained_model):
    return Predictor(tiny_trained_model, device="cpu", batch_size=4)


def test_entities_have_character_offsets_labels_and_scores(predictor):
    text = "today alice went to paris ."
    (entities,) = predictor.predict([text])
    assert [(e["text"], e["label"]) for e in entities] == [("alice", "PER"), ("paris", "LOC")]
    for e in entities:
        assert text[e["start"] : e["end"]] == e["text"]
        assert 0 < e["score"] <= 1
    assert predictor.labels == ["LOC", "PER"]
    assert predictor.device_name.startswith("CPU")


def test_batches_keep_the_input_order(predictor):
    texts = ["bob went to rome", "", "the cat saw the river and erin went to oslo today", "   "]
    together = predictor.predict(texts)
    alone = [predictor.predict([t])[0] for t in texts]
    assert together == alone
    assert together[1] == [] and together[3] == []


def test_long_text_is_read_in_windows(tiny_trained_model):
    narrow = Predictor(tiny_trained_model, device="cpu", max_length=16)
    text = " ".join(["alice went to paris and the cat saw the river"] * 8)
    (entities,) = narrow.predict([text])
    assert [e["text"] for e in entities] == ["alice", "paris"] * 8
    wide = Predictor(tiny_trained_model, device="cpu")
    assert [e["text"] for e in wide.predict([text])[0]] == ["alice", "paris"] * 8


def test_same_entities_as_the_transformers_pipeline(tiny_trained_model, predictor):
    from transformers import pipeline

    texts = ["alice went to paris .", "in rome , bob met carol", "heidi went to lisbon today"]
    pipe = pipeline(
        "token-classification", model=str(tiny_trained_model), aggregation_strategy="first"
    )
    theirs = [[(e["start"], e["end"], e["entity_group"]) for e in found] for found in pipe(texts)]
    ours = [
        [(e["start"], e["end"], e["label"]) for e in found] for found in predictor.predict(texts)
    ]
    assert ours == theirs


def test_predictions_round_trip_into_the_store_as_model_spans(tmp_path, predictor):
    from core.store import Project

    project = Project.create(tmp_path / "p.spanlab", labels=["LOC", "PER"])
    text = "alice went to paris ."
    doc = project.add_document(text, split="train", status="annotated", spans=[(0, 5, "PER")])
    (entities,) = predictor.predict([text])
    project.set_model_spans(doc, entities)
    model = [(s["start"], s["end"], s["label"]) for s in project.spans(doc, origin="model")]
    human = [(s["start"], s["end"], s["label"]) for s in project.spans(doc, origin="human")]
    assert model == [(14, 19, "LOC")]  # "alice" is already a human span: left alone
    assert human == [(0, 5, "PER")]
    assert all(s["score"] > 0 for s in project.spans(doc, origin="model"))
    project.close()


def test_missing_folder_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        Predictor(tmp_path / "nowhere")


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError, match="not a model"):
        Predictor(tmp_path)


def test_model_without_iob2_labels(tiny_model_dir):
    # The base model has no NER head: its labels are LABEL_0, LABEL_1.
    with pytest.raises(ModelLoadError, match="IOB2"):
        Predictor(tiny_model_dir)


def test_weights_only_from_safetensors(tmp_path, tiny_trained_model):
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "bin-only"
    shutil.copytree(tiny_trained_model, folder)
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="safetensors"):
        Predictor(folder)


def test_suggest_spans_writes_model_spans_and_keeps_human_ones(tmp_path, predictor):
    from core.store import Project
    from core.training.assist import suggest_spans

    project = Project.create(tmp_path / "p.spanlab", labels=["LOC", "PER"])
    first = project.add_document("bob went to rome", spans=[(12, 16, "PER")])
    second = project.add_document("heidi went to oslo today")
    assert suggest_spans(project, predictor, [first, second]) == 3
    spans = {
        d: [(s["start"], s["end"], s["label"], s["origin"]) for s in project.spans(d)]
        for d in (first, second)
    }
    assert spans[first] == [(0, 3, "PER", "model"), (12, 16, "PER", "human")]
    assert spans[second] == [(0, 5, "PER", "model"), (14, 18, "LOC", "model")]
    project.close()


def test_raw_text_is_split_as_ner_corpora_are_unless_told(predictor, monkeypatch):
    seen = []
    monkeypatch.setattr(predictor, "predict_tokens", lambda texts, tokens: seen.append(tokens))
    predictor.predict(["alice's U.S. trip"])
    predictor.predict(["alice's U.S. trip"], "basic")
    assert seen[0] == [[(0, 5), (5, 7), (8, 12), (13, 17)]]
    assert seen[1] == [[(0, 5), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (11, 12), (13, 17)]]


def test_batch_lengths_are_rounded_up_so_shapes_repeat(tiny_trained_model, monkeypatch):
    """Batches are padded to a multiple of LENGTH_BUCKET sub-tokens (hidden by the
    attention mask): the model sees few distinct shapes, and the entities are unchanged."""
    import core.training.predict as predict_module

    sentence = "alice went to paris and the cat saw bob in rome with carol"
    words = sentence.split()
    texts = [" ".join(words[k % len(words)] for k in range(n)) for n in range(1, 40)]
    predictor = Predictor(tiny_trained_model, device="cpu", batch_size=5)
    bucket = predict_module.LENGTH_BUCKET
    lengths: list[int] = []

    def record(_module, _args, kwargs):
        lengths.append(kwargs["input_ids"].shape[1])

    handle = predictor.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        bucketed = predictor.predict(texts)
        seen = sorted(set(lengths))
        lengths.clear()
        monkeypatch.setattr(predict_module, "LENGTH_BUCKET", 1)
        exact = predictor.predict(texts)
    finally:
        handle.remove()
    assert bucket > 1 and all(n % bucket == 0 for n in seen), seen
    assert len(seen) < len(set(lengths)), (seen, sorted(set(lengths)))
    assert any(exact), "the texts have entities to compare"
    for ours, theirs in zip(bucketed, exact, strict=True):
        assert [(e["start"], e["end"], e["label"]) for e in ours] == [
            (e["start"], e["end"], e["label"]) for e in theirs
        ]
        assert [e["score"] for e in ours] == pytest.approx([e["score"] for e in theirs], abs=1e-3)
