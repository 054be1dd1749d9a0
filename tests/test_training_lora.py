"""LoRA as a training method on a tiny BERT: what trains, what is saved, how it loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from core.errors import TrainingError
from core.training.config import TrainConfig
from core.training.evaluation import evaluate
from core.training.events import Done, Failed, Log
from core.training.lora import target_modules
from core.training.trainer import train

from training_support import sentence_corpus

# LoRA learns through rank-8 adapters on a 32-wide model: it needs a larger step than
# full fine-tuning to find the entities within two epochs.
LR = 5e-2
SENTENCE = "alice went to paris ."


def config(model_dir, **changes) -> TrainConfig:
    values = dict(
        base_model=str(model_dir),
        epochs=2,
        learning_rate=LR,
        batch_size=8,
        warmup=0,
        method="lora",
        precision="no",
    )
    values.update(changes)
    return TrainConfig(**values)


def data(n_train=80, n_dev=20, n_test=0):
    out = {"train": sentence_corpus(n_train), "dev": sentence_corpus(n_dev, seed=1, start_id=500)}
    if n_test:
        out["test"] = sentence_corpus(n_test, seed=2, start_id=900)
    return out


def notes(events) -> list[str]:
    return [e.message for e in events if isinstance(e, Log)]


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, tmp_path_factory):
    """One LoRA run (2 epochs) with a test split: (events, output folder, corpus)."""
    out = tmp_path_factory.mktemp("lora") / "run-1"
    corpus = data(n_test=20)
    events = list(train(config(tiny_model_dir), corpus, out))
    return events, out, corpus


def test_lora_run_ends_done_and_logs_what_it_trains(lora_run):
    events, out, _ = lora_run
    done = events[-1]
    assert isinstance(done, Done), done
    assert done.metrics["f1"] > 0.3  # it learned something through the adapters
    # 2 layers x (query, value) x r * (in + out) = 2 * 2 * 8 * (32 + 32), and the head
    # (32 -> 5 tags, with its bias).
    trained = 2 * 2 * 8 * (32 + 32) + 32 * 5 + 5
    line = next(n for n in notes(events) if n.startswith("LoRA"))
    assert line.startswith(
        "LoRA (rank 8, alpha 16, dropout 0.1) on query, value in all layers, and the "
        f"classification head: {trained:,} of "
    )
    saved = TrainConfig.from_json((out / "train_config.json").read_text())
    assert (saved.method, saved.lora_r, saved.lora_alpha) == ("lora", 8, 16)


def test_only_the_adapters_and_the_head_change(lora_run, tiny_model_dir):
    _, out, _ = lora_run
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    adapter = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    # A plain model: no adapter keys, no peft wrappers.
    assert not [k for k in after if "lora" in k or "base_layer" in k or "modules_to_save" in k]
    for name in (
        "embeddings.word_embeddings.weight",
        "encoder.layer.0.attention.self.key.weight",
        "encoder.layer.1.output.dense.weight",
        "encoder.layer.0.attention.self.query.bias",
    ):
        assert torch.equal(before[name], after[f"bert.{name}"]), name
    # The adapted weights are the base ones plus the adapter's update, merged.
    prefix = "base_model.model.bert.encoder.layer.0.attention.self.query"
    a, b = adapter[f"{prefix}.lora_A.weight"], adapter[f"{prefix}.lora_B.weight"]
    query = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before[query], after[f"bert.{query}"])
    merged = before[query] + (16 / 8) * b @ a
    assert torch.allclose(after[f"bert.{query}"], merged, atol=1e-6)
    head = {k for k in adapter if "classifier" in k}
    assert head == {"base_model.model.classifier.weight", "base_model.model.classifier.bias"}
    assert torch.equal(adapter["base_model.model.classifier.weight"], after["classifier.weight"])


def test_adapter_folder_is_small_and_describes_itself(lora_run, tiny_model_dir):
    _, out, _ = lora_run
    folder = out / "adapter"
    assert {p.name for p in folder.iterdir()} == {
        "adapter_config.json",
        "adapter_model.safetensors",
    }
    model_size = (out / "model.safetensors").stat().st_size
    assert (folder / "adapter_model.safetensors").stat().st_size < model_size / 5
    described = json.loads((folder / "adapter_config.json").read_text())
    assert described["r"] == 8 and described["lora_alpha"] == 16
    assert described["task_type"] == "TOKEN_CLS" and described["peft_type"] == "LORA"
    assert sorted(described["target_modules"]) == ["query", "value"]
    assert "classifier" in described["modules_to_save"]
    assert described["base_model_name_or_path"] == str(tiny_model_dir)
    # No adapter file at the top: transformers would try to load the folder with peft.
    assert not (out / "adapter_config.json").exists()


def test_merged_folder_loads_without_peft_and_predicts_as_the_run_did(lora_run, tiny_model_dir):
    _, out, corpus = lora_run
    done = lora_run[0][-1]
    # The run scored test with its model in memory (the peft model, adapters unmerged);
    # the folder, read as a plain model, scores the same.
    assert evaluate(str(out), corpus["test"])["f1"] == pytest.approx(done.metrics["test"]["f1"])

    code = (
        "import json, sys\n"
        "sys.modules['peft'] = None  # as if peft were not installed\n"
        "import torch\n"
        "from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline\n"
        f"folder = {str(out)!r}\n"
        "model = AutoModelForTokenClassification.from_pretrained(folder).eval()\n"
        "tok = AutoTokenizer.from_pretrained(folder)\n"
        "with torch.no_grad():\n"
        f"    logits = model(**tok({SENTENCE!r}, return_tensors='pt')).logits\n"
        "pipe = pipeline('token-classification', model=folder, aggregation_strategy='first')\n"
        f"found = [(e['entity_group'], e['word']) for e in pipe({SENTENCE!r})]\n"
        "print(json.dumps({'logits': logits.tolist(), 'found': found}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert run.returncode == 0, run.stderr
    plain = json.loads(run.stdout.strip().splitlines()[-1])

    # The same model rebuilt in memory from the base and the adapter, merged by peft.
    from peft import PeftModel
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    model_config = json.loads((out / "config.json").read_text())
    id2label = {int(k): v for k, v in model_config["id2label"].items()}
    base = AutoModelForTokenClassification.from_pretrained(
        str(tiny_model_dir), num_labels=len(id2label), id2label=id2label
    )
    merged = PeftModel.from_pretrained(base, str(out / "adapter")).merge_and_unload().eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    with torch.no_grad():
        logits = merged(**tokenizer(SENTENCE, return_tensors="pt")).logits
    assert torch.allclose(logits, torch.tensor(plain["logits"]), atol=1e-5)
    pipe = pipeline(
        "token-classification", model=merged, tokenizer=tokenizer, aggregation_strategy="first"
    )
    found = [[e["entity_group"], e["word"]] for e in pipe(SENTENCE)]
    assert found == plain["found"] and found  # it finds entities, the same ones


def test_top_layers_only_under_bf16(tmp_path, tiny_model_dir):
    out = tmp_path / "r"
    cfg = config(tiny_model_dir, epochs=1, freeze="top-1", precision="bf16")
    events = list(train(cfg, data(40, 10), out))
    assert isinstance(events[-1], Done), events[-1]
    assert events[0].precision == "bf16"
    assert any("on query, value in the top 1 of 2 layers" in n for n in notes(events))
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    bottom, top = (f"encoder.layer.{i}.attention.self.query.weight" for i in (0, 1))
    assert torch.equal(before[bottom], after[f"bert.{bottom}"])
    assert not torch.equal(before[top], after[f"bert.{top}"])


def test_lora_on_top_of_a_fully_trained_model(tmp_path, tiny_trained_model):
    cfg = config("default", epochs=1, warm_start=str(tiny_trained_model))
    events = list(train(cfg, data(40, 10), tmp_path / "warm"))
    assert isinstance(events[-1], Done), events[-1]
    assert events[0].tags == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert any(n.startswith("Continuing from the model in") for n in notes(events))
    # The warm start is the base the adapter applies to.
    described = json.loads((tmp_path / "warm" / "adapter" / "adapter_config.json").read_text())
    assert described["base_model_name_or_path"] == str(tiny_trained_model)
    # The LoRA run starts from what the full run learned.
    assert events[-1].metrics["f1"] > 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "adapters"}, "method must be one of full, lora"),
        ({"lora_r": 0}, "LoRA rank (lora_r) must be at least 1"),
        ({"lora_alpha": 0}, "LoRA alpha must be above 0"),
        ({"lora_dropout": 1.0}, "LoRA dropout must be between 0 and 1"),
        ({"freeze": "head"}, "leaves nothing for LoRA to adapt"),
    ],
)
def test_bad_lora_settings_are_refused(tiny_model_dir, changes, message):
    with pytest.raises(TrainingError, match="Invalid training setting") as caught:
        config(tiny_model_dir, **changes).validate()
    assert message in str(caught.value)


def test_freezing_the_head_alone_is_fine_without_lora(tiny_model_dir):
    config(tiny_model_dir, method="full", freeze="head").validate()


def test_a_refused_setting_ends_the_run_failed(tmp_path, tiny_model_dir):
    final = list(train(config(tiny_model_dir, lora_r=0), data(), tmp_path / "r"))[-1]
    assert isinstance(final, Failed) and "LoRA rank" in final.error
    assert not (tmp_path / "r").exists()


def test_lora_without_peft_installed_says_so(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)
    final = list(train(config(tiny_model_dir), data(), tmp_path / "r"))[-1]
    assert isinstance(final, Failed), final
    assert "needs the peft package" in final.error and "method 'full'" in final.error


class _Fake(nn.Module):
    def __init__(self, model_type: str, *names: str) -> None:
        super().__init__()
        self.config = SimpleNamespace(model_type=model_type)
        self.layer = nn.ModuleDict({name: nn.Linear(4, 4) for name in names})


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (_Fake("distilbert", "q_lin", "k_lin", "v_lin", "out_lin"), ["q_lin", "v_lin"]),
        (_Fake("deberta-v2", "query_proj", "key_proj", "value_proj"), ["query_proj", "value_proj"]),
        (_Fake("mpnet", "q", "k", "v", "o"), ["q", "v"]),
        (_Fake("newformer", "q_proj", "k_proj", "v_proj"), ["q_proj", "v_proj"]),
    ],
)
def test_target_modules_by_architecture(model, expected):
    assert target_modules(model) == expected


def test_a_model_without_query_and_value_is_refused_clearly():
    with pytest.raises(TrainingError, match="no query/value projection layers") as caught:
        target_modules(_Fake("weird", "dense", "proj"))
    assert "method 'full'" in str(caught.value)


def test_cli_flags(capsys):
    from core.cli import build_parser, main
    from core.cli.train import config_from_args

    parser = build_parser()
    args = parser.parse_args(
        ["train", "p.spanlab", "--method", "lora", "--lora-r", "4", "--lora-alpha", "8"]
    )
    cfg = config_from_args(args)
    assert (cfg.method, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == ("lora", 4, 8, 0.1)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "p.spanlab", "--method", "adapters"])
    capsys.readouterr()
    main(["train", "--help"])
    shown = capsys.readouterr().out
    assert "--method {full,lora}" in shown and "--lora-dropout" in shown


def test_the_saved_adapter_is_brought_back_into_a_lora_model(lora_run, tiny_model_dir):
    # What the run does when an earlier epoch was the best: the adapter and head saved
    # then are loaded back into the model in training.
    from core.training.distributed import load_weights
    from core.training.lora import apply_lora
    from core.training.modeling import build_model
    from core.training.predict import Predictor

    _, out, corpus = lora_run
    texts = [ex["text"] for ex in corpus["test"]]

    def spans(predictor):
        return [
            [(e["start"], e["end"], e["label"]) for e in doc] for doc in predictor.predict(texts)
        ]

    model, tokenizer, _, _ = build_model(str(tiny_model_dir), ["LOC", "PER"])
    model, _ = apply_lora(model, config(tiny_model_dir), None)
    plain = spans(Predictor(str(out), precision="no"))
    assert spans(Predictor.from_model(model, tokenizer)) != plain  # untrained: other guesses
    load_weights(model, out)
    assert spans(Predictor.from_model(model, tokenizer)) == plain


def test_a_small_learning_rate_is_pointed_out(tiny_model_dir):
    from core.training.lora import apply_lora
    from core.training.modeling import build_model

    for lr, warned in ((1e-4, True), (LR, False)):
        model, _, _, _ = build_model(str(tiny_model_dir), ["LOC", "PER"])
        _, note = apply_lora(model, config(tiny_model_dir, learning_rate=lr), None)
        assert ("needs a larger learning rate" in note) is warned, note
