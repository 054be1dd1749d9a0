"""The trainer end to end on a tiny BERT: events, output folder, stop, bad input."""

from __future__ import annotations

import json

import pytest
import torch

import core.training.trainer as trainer_module
from core.errors import TrainingError
from core.training.config import TrainConfig
from core.training.evaluation import evaluate
from core.training.events import (
    Cancelled,
    Checkpoint,
    Done,
    Eval,
    Failed,
    Log,
    Start,
    Step,
    from_dict,
)
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
    corpus = data(n_test=20)
    events = list(train(config(tiny_model_dir), corpus, out))
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("eval") == 2 and "checkpoint" in kinds and "step" in kinds
    start = events[0]
    assert isinstance(start, Start)
    assert start.total_steps == 2 * start.steps_per_epoch == 20
    assert start.labels == ["LOC", "PER"] and start.device == "cpu"
    step = next(e for e in events if isinstance(e, Step))
    assert step.throughput > 0 and step.eta_s >= 0 and step.loss > 0
    evals = [e for e in events if isinstance(e, Eval)]
    assert [e.epoch for e in evals] == [1, 2]
    done = events[-1]
    assert isinstance(done, Done) and done.output_dir == str(out)
    metrics = done.metrics
    best = max(evals, key=lambda e: e.f1)
    assert metrics["best_epoch"] == best.epoch and metrics["f1"] == best.f1
    assert metrics["dev"]["entity"]["micro avg"]["f1"] == metrics["f1"]
    # The test scores are those of the model folder left behind (the best epoch's).
    test = evaluate(str(out), corpus["test"])
    assert metrics["test"]["f1"] == pytest.approx(test["f1"])
    assert metrics["test"]["entity"]["micro avg"]["support"] == 40  # 20 sentences, 2 each

    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "metrics.json"} <= names
    assert {"train_config.json", "events.jsonl"} <= names
    assert not any(n.endswith(".bin") for n in names)
    saved = TrainConfig.from_json((out / "train_config.json").read_text())
    assert saved == config(tiny_model_dir)
    logged = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [from_dict(e) for e in logged] == events
    model_config = json.loads((out / "config.json").read_text())
    assert model_config["id2label"]["1"] == "B-LOC" and model_config["label2id"]["I-PER"] == 4
    assert leftovers(out.parent) == []

    from transformers import pipeline

    pipe = pipeline("token-classification", model=str(out), aggregation_strategy="first")
    found = [(e["entity_group"], e["word"]) for e in pipe("alice went to paris .")]
    assert found == [("PER", "alice"), ("LOC", "paris")]


def test_stop_mid_run_leaves_no_model_folder(tmp_path, tiny_model_dir):
    out = tmp_path / "run-2"
    events = []

    def should_stop():  # asked once the first best model has been written
        return any(isinstance(e, Checkpoint) for e in events)

    for event in train(config(tiny_model_dir), data(), out, should_stop=should_stop):
        events.append(event)
    # The run stops before the next step: nothing after the checkpoint but the end.
    assert isinstance(events[-2], Checkpoint) and events[-2].epoch == 1
    assert events[-1] == Cancelled()
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_two_runs_back_to_back_with_different_settings(tmp_path, tiny_model_dir):
    # accelerate keeps process-wide state; each run must get its own precision.
    first = list(train(config(tiny_model_dir, epochs=1, precision="bf16"), data(), tmp_path / "a"))
    second = list(train(config(tiny_model_dir, epochs=1, precision="no"), data(), tmp_path / "b"))
    assert first[0].precision == "bf16" and isinstance(first[-1], Done)
    assert second[0].precision == "no" and isinstance(second[-1], Done)
    from accelerate.state import AcceleratorState

    assert AcceleratorState().mixed_precision == "no"


def test_no_dev_split_holds_out_ten_percent(tmp_path, tiny_model_dir):
    events = list(
        train(config(tiny_model_dir, epochs=1), {"train": sentence_corpus(50)}, tmp_path / "r")
    )
    start = events[0]
    assert (start.train_documents, start.dev_documents) == (45, 5)
    notes = [e.message for e in events if isinstance(e, Log)]
    assert any("holding out 5 of the 50" in n for n in notes)
    assert events[-1].metrics["dev_held_out"] is True


@pytest.mark.parametrize(("interval", "reported"), [(1e9, "last"), (0.0, "all")])
def test_step_events_are_throttled(tmp_path, tiny_model_dir, monkeypatch, interval, reported):
    monkeypatch.setattr(trainer_module, "EVENT_INTERVAL_S", interval)
    events = list(train(config(tiny_model_dir, epochs=2), data(40, 10), tmp_path / "r"))
    steps = [e.step for e in events if isinstance(e, Step)]
    total = events[0].total_steps
    # Within the interval no step is reported, except the last one, which always is.
    assert steps == ([total] if reported == "last" else list(range(1, total + 1)))


def test_warm_start_merges_new_labels(tmp_path, tiny_trained_model):
    docs = sentence_corpus(40)
    for i, doc in enumerate(docs[:20]):  # a new label, ORG, on "river"
        text = doc["text"] + " river"
        docs[i] = example(doc["id"], text, [*doc["spans"], (len(text) - 5, len(text), "ORG")])
    cfg = config("default", epochs=1, warm_start=str(tiny_trained_model))
    events = list(train(cfg, {"train": docs, "dev": docs[:10]}, tmp_path / "warm"))
    assert isinstance(events[-1], Done), events[-1]
    assert events[0].tags == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    notes = [e.message for e in events if isinstance(e, Log)]
    assert any("New label(s) added to the model: ORG" in n for n in notes)
    saved = json.loads((tmp_path / "warm" / "config.json").read_text())
    assert saved["id2label"]["5"] == "B-ORG"


def test_warm_start_from_a_model_without_iob2_labels_fails_clearly(tmp_path, tiny_model_dir):
    cfg = config(tiny_model_dir, warm_start=str(tiny_model_dir))
    final = list(train(cfg, data(), tmp_path / "r"))[-1]
    assert isinstance(final, Failed) and "Cannot continue training" in final.error


@pytest.mark.parametrize(
    ("training_data", "message"),
    [
        ({"train": []}, "No annotated documents"),
        ({"train": [example(1, "alice went home", [])] * 3}, "only one class"),
    ],
)
def test_bad_data_fails_with_a_clear_message(tmp_path, tiny_model_dir, training_data, message):
    events = list(train(config(tiny_model_dir), training_data, tmp_path / "r"))
    assert [e.kind for e in events] == ["failed"]
    assert message in events[0].error and events[0].run_fields()["output_dir"] is None
    assert not (tmp_path / "r").exists()


def test_missing_model_and_not_a_model(tmp_path, tiny_model_dir):
    final = list(train(config(tmp_path / "nope"), data(), tmp_path / "r1"))[-1]
    assert isinstance(final, Failed) and "not found" in final.error
    (tmp_path / "empty").mkdir()
    final = list(train(config(tmp_path / "empty"), data(), tmp_path / "r2"))[-1]
    assert isinstance(final, Failed) and "not a model" in final.error
    assert final.error_type == "ModelLoadError"


def test_slow_tokenizer_is_refused(monkeypatch, tmp_path, tiny_model_dir):
    from transformers import BertTokenizerLegacy

    slow = BertTokenizerLegacy(vocab_file=str(tiny_model_dir / "vocab.txt"))
    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", lambda *a, **k: slow)
    final = list(train(config(tiny_model_dir), data(), tmp_path / "r"))[-1]
    assert isinstance(final, Failed) and "slow (Python) tokenizer" in final.error


def test_out_of_memory_suggests_a_smaller_batch(tmp_path, tiny_model_dir):
    def oom():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    final = list(train(config(tiny_model_dir, batch_size=32), data(), tmp_path / "r", oom))[-1]
    assert isinstance(final, Failed) and "smaller batch size (e.g. 16)" in final.error
    assert not (tmp_path / "r").exists() and leftovers(tmp_path) == []


def test_unexpected_error_is_reported_then_raised(tmp_path, tiny_model_dir):
    def boom():
        raise RuntimeError("disk on fire")

    events = []
    with pytest.raises(RuntimeError, match="disk on fire"):
        for event in train(config(tiny_model_dir), data(), tmp_path / "r", boom):
            events.append(event)
    assert isinstance(events[-1], Failed) and "disk on fire" in events[-1].error
    assert events[-1].error_type == "RuntimeError"
    assert leftovers(tmp_path) == []


def test_existing_output_folder_is_refused(tmp_path, tiny_model_dir):
    (tmp_path / "r").mkdir()
    final = list(train(config(tiny_model_dir), data(), tmp_path / "r"))[-1]
    assert isinstance(final, Failed) and "already exists" in final.error


def test_invalid_settings_are_refused(tmp_path, tiny_model_dir):
    final = list(train(config(tiny_model_dir, freeze="middle"), data(), tmp_path / "r"))[-1]
    assert isinstance(final, Failed) and "freeze must be" in final.error


@pytest.mark.parametrize("how", ["embeddings", "top-1", "head"])
def test_freezing_keeps_frozen_weights(tmp_path, tiny_model_dir, how):
    from safetensors.torch import load_file

    out = tmp_path / "r"
    final = list(train(config(tiny_model_dir, epochs=1, freeze=how), data(40, 10), out))[-1]
    assert isinstance(final, Done), final
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


def test_rounds_that_each_take_their_part_of_the_schedule_make_the_whole_schedule():
    from core.training.schedule import schedule_span

    assert schedule_span(100, 0.1) == (0, 100, 10)  # a run's own schedule
    whole = [lr_at(s, 500, 50, 1.0) for s in range(500)]
    rounds = []
    for r in range(1, 6):  # five rounds of 100 steps: the warmup once, one decay
        first, total, warmup = schedule_span(100, 0.1, (r - 1) / 5, r / 5)
        assert (first, total, warmup) == (100 * (r - 1), 500, 50)
        rounds += [lr_at(first + s, total, warmup, 1.0) for s in range(100)]
    assert rounds == pytest.approx(whole)
    with pytest.raises(TrainingError, match="schedule's part"):
        TrainConfig(schedule_from=0.5, schedule_to=0.5).validate()


def test_a_round_of_a_federation_trains_on_its_part_of_the_schedule(tmp_path, tiny_model_dir):
    data = {"train": sentence_corpus(32), "dev": sentence_corpus(8, seed=1, start_id=500)}
    config = TrainConfig(base_model=str(tiny_model_dir), epochs=1, batch_size=8,
                         learning_rate=1e-3, warmup=0.1, schedule_from=0.75, schedule_to=1.0)  # fmt: skip
    steps = [e for e in train(config, data, tmp_path / "r") if e.kind == "step"]
    # The last quarter of a 16-step schedule: no warmup, the rate falls toward 0.
    assert steps[-1].total_steps == 4
    assert steps[-1].lr == pytest.approx(1e-3 / 15)  # step 15 of 16, warmup 1


def test_a_time_budget_ends_the_run_with_its_best_epoch(tmp_path, tiny_model_dir):
    # A budget spent by the first step: that epoch is cut short, scored on dev and kept,
    # and the log says why the run ended before its plan.
    out = tmp_path / "r"
    events = list(train(config(tiny_model_dir, epochs=3, time_budget_s=1e-6), data(), out))
    start, done = events[0], events[-1]
    assert isinstance(done, Done) and out.is_dir()
    assert done.metrics["steps"] == 1 < start.total_steps
    assert done.metrics["epochs_run"] == 1 and done.metrics["best_epoch"] == 1
    assert done.metrics["time_budget_spent"] is True
    assert [e.epoch for e in events if isinstance(e, Eval)] == [1]
    notes = [e.message for e in events if isinstance(e, Log)]
    assert any("Time budget of 1e-06 s spent during epoch 1 of 3" in n for n in notes)
    assert done.metrics["train_documents"] == 80 and done.metrics["dev_documents"] == 20


def test_without_a_time_budget_the_plan_runs_out(tmp_path, tiny_model_dir):
    events = list(train(config(tiny_model_dir, epochs=2, patience=0), data(40, 10), tmp_path / "r"))
    assert events[-1].metrics["time_budget_spent"] is False
    assert events[-1].metrics["steps"] == events[0].total_steps
