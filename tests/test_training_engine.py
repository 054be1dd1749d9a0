"""The trainer end to end on a tiny BERT: events, output folder, stop, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from core.training.config import TrainConfig
from core.training.trainer import auto_epochs, lr_at, train

from training_support import example, sentence_corpus


def config(model_dir, **changes) -> TrainConfig:
    values = dict(base_model=str(model_dir), epochs=2, learning_rate=5e-3, batch_size=8, warmup=0)
    values.update(changes)
    return TrainConfig(**values)


def data(n_train=80, n_dev=20, n_test=0):
    out = {"train": sentence_corpus(n_train), "dev": sentence_corpus(n_dev, seed=1, start_id=500)}
    if n_test:
        out["test"] = sentence_corpus(n_test, seed=2, start_id=900)
    return out


def leftovers(folder):
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


def test_train_two_epochs_events_and_output_folder(tmp_path, tiny_model_dir):
    out = tmp_path / "models" / "run-1"
    events = list(train(config(tiny_model_dir), data(n_test=20), out))
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("eval") == 2 and "checkpoint" in kinds and "step" in kinds
    start = events[0]
    assert start["total_steps"] == 2 * start["steps_per_epoch"] == 20
    assert start["labels"] == ["LOC", "PER"] and start["device"] == "cpu"
    step = next(e for e in events if e["kind"] == "step")
    assert {"step", "total_steps", "epoch", "loss", "lr", "throughput", "eta_s"} <= set(step)
    assert step["throughput"] > 0 and step["eta_s"] >= 0
    assert [e["epoch"] for e in events if e["kind"] == "eval"] == [1, 2]
    done = events[-1]
    assert done["output_dir"] == str(out) and done["error"] is None
    metrics = done["metrics"]
    assert metrics["best_epoch"] in (1, 2) and metrics["test"]["f1"] >= 0
    assert metrics["dev"]["entity"]["micro avg"]["f1"] == metrics["f1"]

    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "metrics.json"} <= names
    assert {"train_config.json", "events.jsonl"} <= names
    assert not any(n.endswith(".bin") for n in names)
    saved = TrainConfig.from_json((out / "train_config.json").read_text())
    assert saved == config(tiny_model_dir)
    logged = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in logged] == kinds
    model_config = json.loads((out / "config.json").read_text())
    assert model_config["id2label"]["1"] == "B-LOC" and model_config["label2id"]["I-PER"] == 4
    assert leftovers(out.parent) == []

    from transformers import pipeline

    pipe = pipeline("token-classification", model=str(out), aggregation_strategy="first")
    assert isinstance(pipe("alice went to paris ."), list)


def test_stop_mid_run_leaves_no_model_folder(tmp_path, tiny_model_dir):
    out = tmp_path / "run-2"
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 12  # in the second epoch, after one checkpoint was written

    events = list(train(config(tiny_model_dir), data(), out, should_stop=should_stop))
    assert "checkpoint" in [e["kind"] for e in events]
    assert events[-1] == {"kind": "cancelled", "output_dir": None, "metrics": None, "error": None}
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_two_runs_back_to_back_with_different_settings(tmp_path, tiny_model_dir):
    # accelerate keeps process-wide state; each run must get its own precision.
    first = list(train(config(tiny_model_dir, epochs=1, precision="bf16"), data(), tmp_path / "a"))
    second = list(train(config(tiny_model_dir, epochs=1, precision="no"), data(), tmp_path / "b"))
    assert first[0]["precision"] == "bf16" and first[-1]["kind"] == "done"
    assert second[0]["precision"] == "no" and second[-1]["kind"] == "done"
    from accelerate.state import AcceleratorState

    assert AcceleratorState().mixed_precision == "no"


def test_no_dev_split_holds_out_ten_percent(tmp_path, tiny_model_dir):
    events = list(
        train(config(tiny_model_dir, epochs=1), {"train": sentence_corpus(50)}, tmp_path / "r")
    )
    start = events[0]
    assert (start["train_documents"], start["dev_documents"]) == (45, 5)
    notes = [e["message"] for e in events if e["kind"] == "log"]
    assert any("holding out 5 of the 50" in n for n in notes)
    assert events[-1]["metrics"]["dev_held_out"] is True


def test_step_events_are_throttled(tmp_path, tiny_model_dir):
    events = list(train(config(tiny_model_dir, epochs=3, batch_size=2), data(), tmp_path / "r"))
    steps = [e for e in events if e["kind"] == "step"]
    total = events[0]["total_steps"]
    assert steps[-1]["step"] == total  # the last step is always reported
    seconds = events[-1]["seconds"]
    assert len(steps) <= seconds / 0.2 + 2 < total


def test_warm_start_merges_new_labels(tmp_path, tiny_trained_model):
    docs = sentence_corpus(40)
    for i, doc in enumerate(docs[:20]):  # a new label, ORG, on "river"
        text = doc["text"] + " river"
        docs[i] = example(doc["id"], text, [*doc["spans"], (len(text) - 5, len(text), "ORG")])
    cfg = config("default", epochs=1, warm_start=str(tiny_trained_model))
    events = list(train(cfg, {"train": docs, "dev": docs[:10]}, tmp_path / "warm"))
    assert events[-1]["kind"] == "done", events[-1]
    assert events[0]["tags"] == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    assert any("New label(s) added to the model: ORG" in e.get("message", "") for e in events)
    saved = json.loads((tmp_path / "warm" / "config.json").read_text())
    assert saved["id2label"]["5"] == "B-ORG"


def test_warm_start_from_a_model_without_iob2_labels_fails_clearly(tmp_path, tiny_model_dir):
    cfg = config(tiny_model_dir, warm_start=str(tiny_model_dir))
    final = list(train(cfg, data(), tmp_path / "r"))[-1]
    assert final["kind"] == "failed" and "Cannot continue training" in final["error"]


@pytest.mark.parametrize(
    ("training_data", "message"),
    [
        ({"train": []}, "No annotated documents"),
        ({"train": [example(1, "alice went home", [])] * 3}, "only one class"),
    ],
)
def test_bad_data_fails_with_a_clear_message(tmp_path, tiny_model_dir, training_data, message):
    events = list(train(config(tiny_model_dir), training_data, tmp_path / "r"))
    assert [e["kind"] for e in events] == ["failed"]
    assert message in events[0]["error"] and events[0]["output_dir"] is None
    assert not (tmp_path / "r").exists()


def test_missing_model_and_not_a_model(tmp_path, tiny_model_dir):
    final = list(train(config(tmp_path / "nope"), data(), tmp_path / "r1"))[-1]
    assert final["kind"] == "failed" and "not found" in final["error"]
    (tmp_path / "empty").mkdir()
    final = list(train(config(tmp_path / "empty"), data(), tmp_path / "r2"))[-1]
    assert final["kind"] == "failed" and "not a model" in final["error"]
    assert final["error_type"] == "ModelLoadError"


def test_slow_tokenizer_is_refused(monkeypatch, tmp_path, tiny_model_dir):
    from transformers import BertTokenizerLegacy

    slow = BertTokenizerLegacy(vocab_file=str(tiny_model_dir / "vocab.txt"))
    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", lambda *a, **k: slow)
    final = list(train(config(tiny_model_dir), data(), tmp_path / "r"))[-1]
    assert final["kind"] == "failed" and "slow (Python) tokenizer" in final["error"]


def test_out_of_memory_suggests_a_smaller_batch(tmp_path, tiny_model_dir):
    def oom():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    final = list(train(config(tiny_model_dir, batch_size=32), data(), tmp_path / "r", oom))[-1]
    assert final["kind"] == "failed" and "smaller batch size (e.g. 16)" in final["error"]
    assert not (tmp_path / "r").exists() and leftovers(tmp_path) == []


def test_unexpected_error_is_reported_then_raised(tmp_path, tiny_model_dir):
    def boom():
        raise RuntimeError("disk on fire")

    events = []
    with pytest.raises(RuntimeError, match="disk on fire"):
        for event in train(config(tiny_model_dir), data(), tmp_path / "r", boom):
            events.append(event)
    assert events[-1]["kind"] == "failed" and "disk on fire" in events[-1]["error"]
    assert leftovers(tmp_path) == []


def test_existing_output_folder_is_refused(tmp_path, tiny_model_dir):
    (tmp_path / "r").mkdir()
    final = list(train(config(tiny_model_dir), data(), tmp_path / "r"))[-1]
    assert final["kind"] == "failed" and "already exists" in final["error"]


def test_invalid_settings_are_refused(tmp_path, tiny_model_dir):
    final = list(train(config(tiny_model_dir, freeze="middle"), data(), tmp_path / "r"))[-1]
    assert final["kind"] == "failed" and "freeze must be" in final["error"]


@pytest.mark.parametrize("how", ["embeddings", "top-1", "head"])
def test_freezing_keeps_frozen_weights(tmp_path, tiny_model_dir, how):
    from safetensors.torch import load_file

    out = tmp_path / "r"
    assert (
        list(train(config(tiny_model_dir, epochs=1, freeze=how), data(40, 10), out))[-1]["kind"]
        == "done"
    )
    before, after = (
        load_file(str(tiny_model_dir / "model.safetensors")),
        load_file(str(out / "model.safetensors")),
    )
    word = "embeddings.word_embeddings.weight"
    assert torch.equal(before[word], after[f"bert.{word}"])
    layer0 = "encoder.layer.0.output.dense.weight"
    top = "encoder.layer.1.output.dense.weight"
    assert torch.equal(before[layer0], after[f"bert.{layer0}"]) == (how != "embeddings")
    assert torch.equal(before[top], after[f"bert.{top}"]) == (how == "head")


def test_schedule_and_auto_epochs():
    assert lr_at(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert lr_at(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert lr_at(100, 100, 10, 1.0) == 0.0
    assert lr_at(0, 10, 0, 2.0) == 2.0
    assert auto_epochs(10) == 20 and auto_epochs(200) == 5 and auto_epochs(5000) == 3
