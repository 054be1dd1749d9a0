"""Runs in the store (RunRecorder, run_training) and the training CLI commands."""

from __future__ import annotations

import argparse
import json

import pytest

from core.cli_training import register
from core.errors import NotFoundError, TrainingError
from core.store import Project
from core.training.config import TrainConfig
from core.training.runs import RunRecorder, resolve_warm_start, run_training

from training_support import sentence_corpus


@pytest.fixture
def project(tmp_path):
    project = Project.create(tmp_path / "demo.spanlab", labels=["LOC", "PER"])
    for split, docs in (
        ("train", sentence_corpus(60)),
        ("dev", sentence_corpus(12, seed=1, start_id=500)),
        ("test", sentence_corpus(12, seed=2, start_id=900)),
    ):
        for doc in docs:
            project.add_document(doc["text"], split=split, status="annotated", spans=doc["spans"])
    yield project
    project.close()


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="spanlab")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def tiny_config(model_dir, **changes):
    values = dict(base_model=str(model_dir), epochs=2, learning_rate=5e-3, batch_size=8, warmup=0)
    return TrainConfig(**{**values, **changes})


def test_run_training_records_the_run_and_its_events(project, tiny_model_dir):
    seen = []
    final = run_training(project, tiny_config(tiny_model_dir), on_event=seen.append)
    assert final["kind"] == "done" and seen[-1]["kind"] == "done"
    run = project.get_run(final["run_id"])
    assert run["status"] == "done" and run["started"] and run["finished"]
    assert run["output_dir"] == str(project.models_dir / f"run-{final['run_id']}")
    assert run["metrics"]["best_epoch"] in (1, 2) and run["metrics"]["test"] is not None
    assert run["config"]["epochs"] == 2
    kinds = [e["kind"] for e in project.run_events(final["run_id"])]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("eval") == 2
    evals = [e for e in project.run_events(final["run_id"]) if e["kind"] == "eval"]
    assert evals[0]["data"]["f1"] >= 0 and evals[0]["epoch"] == 1
    assert project.latest_run()["id"] == final["run_id"]


def test_failed_run_is_recorded_with_its_reason(project, tmp_path):
    final = run_training(project, TrainConfig(base_model=str(tmp_path / "missing")))
    run = project.get_run(final["run_id"])
    assert run["status"] == "failed" and "not found" in run["error"]
    assert not (project.models_dir / f"run-{final['run_id']}").exists()


def test_cancelled_run_is_recorded(project, tiny_model_dir):
    final = run_training(project, tiny_config(tiny_model_dir), should_stop=lambda: True)
    assert project.get_run(final["run_id"])["status"] == "cancelled"


def test_recorder_buffers_steps_and_flushes_on_other_events(project):
    run_id = project.create_run({}, "default")
    recorder = RunRecorder(project, run_id)
    recorder.record({"kind": "start", "total_steps": 4})
    recorder.record({"kind": "step", "step": 1, "loss": 1.0, "lr": 0.1, "throughput": 9.0})
    assert [e["kind"] for e in project.run_events(run_id)] == ["start"]
    recorder.record({"kind": "eval", "epoch": 1, "f1": 0.5})
    assert [e["kind"] for e in project.run_events(run_id)] == ["start", "step", "eval"]
    step = project.run_events(run_id)[1]
    assert (step["step"], step["loss"], step["lr"], step["throughput"]) == (1, 1.0, 0.1, 9.0)
    recorder.record({"kind": "failed", "error": "out of memory", "output_dir": None})
    run = project.get_run(run_id)
    assert run["status"] == "failed" and run["error"] == "out of memory"


def test_warm_start_by_run_id(project):
    run_id = project.create_run({}, "default")
    with pytest.raises(TrainingError, match="finished run"):
        resolve_warm_start(project, run_id)
    project.update_run(run_id, status="done", output_dir="/models/run-1")
    assert resolve_warm_start(project, f"run-{run_id}") == "/models/run-1"
    assert resolve_warm_start(project, "/some/folder") == "/some/folder"
    with pytest.raises(TrainingError, match="run 99"):
        resolve_warm_start(project, "99")


def test_cli_train_evaluate_predict_runs(project, tiny_model_dir, capsys):
    path = str(project.path)
    project.close()  # the CLI opens the file itself
    code = cli(
        "train", path, "--base-model", str(tiny_model_dir), "--epochs", "2", "--lr", "5e-3",
        "--batch-size", "8", "--warmup", "0", "--json-events",
    )  # fmt: skip
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["kind"] == "start" and events[-1]["kind"] == "done"
    model_dir = events[-1]["output_dir"]

    assert cli("evaluate", path, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and 0 <= result["f1"] <= 1
    assert "micro avg" in result["entity"] and "B-PER" in result["tokens"]

    assert cli("evaluate", path, "--split", "dev", "--model", model_dir) == 0
    table = capsys.readouterr().out
    assert "micro avg" in table and "B-LOC" in table and "precision" in table

    assert cli("predict", model_dir, "alice went to paris .", "--json") == 0
    line = json.loads(capsys.readouterr().out)
    assert line["text"] == "alice went to paris ." and isinstance(line["entities"], list)

    assert cli("runs", path) == 0
    assert "done" in capsys.readouterr().out


def test_cli_evaluate_without_a_run(tmp_path):
    Project.create(tmp_path / "empty.spanlab").close()
    with pytest.raises(NotFoundError, match="no finished training run"):
        cli("evaluate", str(tmp_path / "empty.spanlab"))


def test_cli_train_failure_raises_the_reason(project, tmp_path, capsys):
    path = str(project.path)
    project.close()
    with pytest.raises(TrainingError, match="not found"):
        cli("train", path, "--base-model", str(tmp_path / "missing"))


def test_progress_printer_plain_lines_off_a_terminal():
    import io

    from core.cli_training import ProgressPrinter, format_eta

    out = io.StringIO()
    show = ProgressPrinter(out)
    show(
        {
            "kind": "start",
            "device_name": "CPU (1 threads)",
            "train_documents": 9,
            "epochs": 2,
            "total_steps": 4,
            "labels": ["LOC", "PER"],
        }
    )
    step = {"kind": "step", "step": 4, "total_steps": 4, "epoch": 2.0, "loss": 0.5, "lr": 1e-4}
    show({**step, "throughput": 1234.0, "eta_s": 0.0})
    show({"kind": "eval", "epoch": 2, "f1": 0.75, "precision": 0.8, "recall": 0.7, "best": True})
    text = out.getvalue()
    assert "Training on CPU (1 threads): 9 documents, 2 epochs, 4 steps" in text
    assert "step 4/4" in text and "1,234 tok/s" in text and "\r" not in text
    assert "epoch 2: dev F1 0.7500" in text and "(best so far)" in text
    assert format_eta(3725) == "1 h 02 min" and format_eta(65) == "1 min 05 s"
