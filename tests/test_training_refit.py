"""Refit: dev chooses the epoch, then the saved model trains on train + dev."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from safetensors.torch import load_file

from core.run_owner import remove_dead_scratch
from core.store import Project
from core.training.config import TrainConfig
from core.training.events import Cancelled, Done, Eval, Log, Start, Step
from core.training.refit import refit_applies
from core.training.session import run_training, training_data
from core.training.trainer import train

from training_support import sentence_corpus

TRAIN, DEV, TEST = 48, 16, 12


@pytest.fixture
def project(tmp_path):
    project = Project.create(tmp_path / "demo.spanlab", labels=["LOC", "PER"])
    for split, docs in (
        ("train", sentence_corpus(TRAIN)),
        ("dev", sentence_corpus(DEV, seed=1, start_id=500)),
        ("test", sentence_corpus(TEST, seed=2, start_id=900)),
    ):
        for doc in docs:
            project.add_document(doc["text"], split=split, status="annotated", spans=doc["spans"])
    yield project
    project.close()


def tiny_config(model_dir, **changes) -> TrainConfig:
    values = dict(
        base_model=str(model_dir), epochs=3, learning_rate=5e-3, batch_size=8, warmup=0,
        patience=0, device="cpu",
    )  # fmt: skip
    return TrainConfig(**{**values, **changes})


def weights(folder) -> dict:
    return load_file(str(Path(folder) / "model.safetensors"))


def test_a_run_with_a_dev_split_saves_the_model_refit_on_train_and_dev(project, tiny_model_dir):
    seen = []
    session = run_training(project, tiny_config(tiny_model_dir), on_event=seen.append)
    done = session.final
    assert isinstance(done, Done)
    metrics = done.metrics
    best = [e for e in seen if isinstance(e, Eval) and e.best][-1]

    # Dev chose the epoch in the first pass, and its dev scores are the run's.
    assert metrics["best_epoch"] == best.epoch and metrics["f1"] == pytest.approx(best.f1)
    assert metrics["dev_held_out"] is False and metrics["dev_documents"] == DEV
    refit = metrics["refit"]
    assert refit["epochs"] == best.epoch and refit["train_documents"] == TRAIN + DEV
    assert isinstance(refit["first_pass_test_f1"], float)

    # One run: one Start, steps counted on across both passes, ending where they said.
    assert sum(isinstance(e, Start) for e in seen) == 1
    steps = [e for e in seen if isinstance(e, Step)]
    numbers = [e.step for e in steps]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert steps[-1].step == steps[-1].total_steps == metrics["steps"]
    assert steps[0].total_steps > steps[0].step + refit["steps"] - 1  # the ETA counts the refit
    second = [e for e in steps if e.phase == "refit"]
    assert second and all(e.epochs == best.epoch and e.epoch <= best.epoch for e in second)
    first_steps = metrics["steps"] - refit["steps"]
    assert all(e.step > first_steps for e in second)  # numbered on after the first pass
    assert all(e.phase == "" for e in steps if e.step <= first_steps)
    messages = [e.message for e in seen if isinstance(e, Log)]
    assert any(m.startswith(f"Refit: dev F1 was best at epoch {best.epoch}") for m in messages)
    assert len(messages) == len(set(messages))

    # The folder is the refit model's, with the run's metrics, events and card.
    out = Path(done.output_dir)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["refit"] == refit and saved["f1"] == metrics["f1"]
    chosen = json.loads((out / "train_config.json").read_text())["chosen"]
    assert chosen["refit_epochs"] == best.epoch and chosen["epochs"] == best.epoch
    logged = [json.loads(line)["kind"] for line in (out / "events.jsonl").open()]
    assert logged.count("start") == 1 and logged[-1] == "done"
    assert "trained on train + dev" in (out / "README.md").read_text()
    assert sorted(p.name for p in project.models_dir.iterdir()) == [out.name]

    # It is what training on train + dev for the best epoch count gives, seed for seed.
    examples = training_data(project)
    same = project.models_dir.parent / "same"
    config = replace(tiny_config(tiny_model_dir), refit=False, epochs=best.epoch)
    data = {"train": examples["train"] + examples["dev"], "dev": [], "hold_out": False}
    assert isinstance(list(train(config, data, same))[-1], Done)
    expected, got = weights(same), weights(out)
    assert all((expected[k] == got[k]).all() for k in expected)


def test_refit_off_keeps_the_first_pass_model(project, tiny_model_dir):
    session = run_training(project, tiny_config(tiny_model_dir, refit=False))
    metrics = session.final.metrics
    assert "refit" not in metrics and metrics["train_documents"] == TRAIN
    events = project.run_events(session.run_id)
    assert not any(e.get("message", "").startswith("Refit") for e in events)


def test_refit_needs_a_dev_split_of_its_own_one_process_and_no_time_budget(monkeypatch):
    data = {"train": [{}], "dev": [{}]}
    assert refit_applies(TrainConfig(), data)
    assert not refit_applies(TrainConfig(refit=False), data)
    assert not refit_applies(TrainConfig(), {"train": [{}], "dev": []})  # dev held out
    assert not refit_applies(TrainConfig(time_budget_s=60), data)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert not refit_applies(TrainConfig(), data)


def test_cancelling_during_the_refit_leaves_no_model_and_no_scratch(project, tiny_model_dir):
    seen = []

    def stop() -> bool:
        return any(isinstance(e, Log) and e.message.startswith("Refit") for e in seen)

    session = run_training(
        project, tiny_config(tiny_model_dir), should_stop=stop, on_event=seen.append
    )
    assert isinstance(session.final, Cancelled)
    assert project.get_run(session.run_id)["status"] == "cancelled"
    assert list(project.models_dir.iterdir()) == []  # no model, no first pass, no scratch


def test_a_dead_runs_refit_scratch_is_removed(tmp_path):
    dead = 2**22 + 7  # above the kernel's pid_max default: no such process
    for name in (f".run-3.first.partial-{dead}", f"..run-3.first.partial-{dead}.partial-{dead}"):
        (tmp_path / name).mkdir()
    alive = tmp_path / f".run-4.refit.partial-{os.getpid()}"
    alive.mkdir()
    removed = remove_dead_scratch(tmp_path)
    assert len(removed) == 2 and [p.name for p in tmp_path.iterdir()] == [alive.name]


def test_the_cli_takes_refit_yes_or_no(capsys):
    from core.cli import build_parser
    from core.cli.train import config_from_args

    parser = build_parser()
    assert (
        config_from_args(parser.parse_args(["train", "p.spanlab", "--refit", "no"])).refit is False
    )
    assert config_from_args(parser.parse_args(["train", "p.spanlab"])).refit is True
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "p.spanlab", "--refit", "maybe"])
    assert "'maybe' is not yes or no" in capsys.readouterr().err
