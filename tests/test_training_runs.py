"""Runs in the store (RunSession, RunRecorder) and the training CLI commands."""

from __future__ import annotations

import io
import json

import pytest

from core.cli.progress import ProgressPrinter
from core.durations import format_eta
from core.errors import NotFoundError, TrainingError
from core.store import Project
from core.training.config import TrainConfig
from core.training.events import Cancelled, Done, Eval, Failed, Start, Step
from core.training.recorder import RunRecorder
from core.training.session import RunSession, resolve_warm_start, run_training

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
    """The command line as a person runs it; errors meant for them are raised here."""
    from core.cli import build_parser

    args = build_parser().parse_args(list(argv))
    return args.func(args)


def tiny_config(model_dir, **changes):
    values = dict(base_model=str(model_dir), epochs=2, learning_rate=5e-3, batch_size=8, warmup=0)
    return TrainConfig(**{**values, **changes})


def test_run_training_records_the_run_and_its_events(project, tiny_model_dir):
    seen = []
    session = run_training(project, tiny_config(tiny_model_dir), on_event=seen.append)
    final = session.final
    assert isinstance(final, Done) and seen[-1] is final
    run = project.get_run(session.run_id)
    assert run["status"] == "done" and run["started"] and run["finished"]
    assert run["output_dir"] == final.output_dir == str(project.models_dir / f"run-{run['id']}")
    assert run["metrics"] == final.metrics and run["metrics"]["test"] is not None
    assert run["config"]["epochs"] == 2
    stored = project.run_events(session.run_id)
    assert [e["kind"] for e in stored] == [e.kind for e in seen]
    evals = [e for e in stored if e["kind"] == "eval"]
    seen_evals = [e for e in seen if isinstance(e, Eval)]
    assert [(e["epoch"], e["data"]["f1"]) for e in evals] == [(e.epoch, e.f1) for e in seen_evals]
    assert project.latest_run()["id"] == session.run_id


def test_failed_run_is_recorded_with_its_reason(project, tmp_path):
    session = run_training(project, TrainConfig(base_model=str(tmp_path / "missing")))
    run = project.get_run(session.run_id)
    assert isinstance(session.final, Failed) and run["error"] == session.final.error
    assert run["status"] == "failed" and "not found" in run["error"]
    assert not (project.models_dir / f"run-{session.run_id}").exists()


def test_cancelled_run_is_recorded(project, tiny_model_dir):
    session = run_training(project, tiny_config(tiny_model_dir), should_stop=lambda: True)
    assert session.final == Cancelled()
    assert project.get_run(session.run_id)["status"] == "cancelled"


def test_recorder_buffers_steps_and_flushes_on_other_events(project):
    run_id = project.create_run({}, "default")
    recorder = RunRecorder(project, run_id)
    recorder.record(START)
    assert project.get_run(run_id)["status"] == "running"
    recorder.record(STEP)
    assert [e["kind"] for e in project.run_events(run_id)] == ["start"]
    recorder.record(EVAL)
    assert [e["kind"] for e in project.run_events(run_id)] == ["start", "step", "eval"]
    step = project.run_events(run_id)[1]
    assert (step["step"], step["loss"], step["lr"], step["throughput"]) == (1, 1.0, 0.1, 9.0)
    recorder.record(Failed(error="out of memory"))
    run = project.get_run(run_id)
    assert run["status"] == "failed" and run["error"] == "out of memory"


def test_recorder_keeps_everything_while_the_store_may_not_be_written(project):
    run_id = project.create_run({}, "default")
    blocked = [True]
    recorder = RunRecorder(project, run_id, may_write=lambda: not blocked[0])
    for event in (START, STEP, EVAL, Failed(error="out of memory")):
        recorder.record(event)
    assert project.run_events(run_id) == [] and project.get_run(run_id)["status"] == "queued"
    assert recorder.pending and recorder.pending_run_fields["status"] == "failed"
    assert recorder.flush() is False
    blocked[0] = False
    assert recorder.flush() is True and not recorder.pending
    assert [e["kind"] for e in project.run_events(run_id)] == ["start", "step", "eval", "failed"]
    run = project.get_run(run_id)
    assert run["status"] == "failed" and run["error"] == "out of memory"
    # The times are those of the events, not of the late write.
    assert run["started"] <= project.run_events(run_id)[1]["time"] <= run["finished"]


def test_a_session_ends_a_run_once_even_when_the_trainer_does_not(project):
    session = RunSession.prepare(project, TrainConfig(epochs=1))
    assert project.get_run(session.run_id)["status"] == "queued"
    session.record(START)
    error = RuntimeError("the worker died")
    final = session.finish(error)
    assert isinstance(final, Failed) and final.error_type == "RuntimeError"
    assert "the worker died" in final.error
    assert session.finish() is final  # a second end changes nothing
    with pytest.raises(TrainingError, match="second final event"):
        session.record(Cancelled())
    run = project.get_run(session.run_id)
    assert run["status"] == "failed" and "the worker died" in run["error"]
    assert [e["kind"] for e in project.run_events(session.run_id)] == ["start", "failed"]


def test_a_session_copies_the_settings_with_the_warm_start_resolved(project):
    done = project.create_run({}, "default")
    project.update_run(done, status="done", output_dir="/models/run-1")
    config = TrainConfig(epochs=1, warm_start=f"run-{done}")
    session = RunSession.prepare(project, config)
    assert session.plan.config.warm_start == "/models/run-1"
    assert config.warm_start == f"run-{done}"  # the caller's settings are left alone
    assert {split: len(docs) for split, docs in session.plan.data.items()} == {
        "train": 60,
        "dev": 12,
        "test": 12,
    }
    assert session.plan.output_dir == project.models_dir / f"run-{session.run_id}"


def test_nothing_to_train_on_is_refused_before_a_run_is_recorded(tmp_path):
    with Project.create(tmp_path / "empty.spanlab", labels=["PER"]) as empty:
        with pytest.raises(TrainingError, match="No annotated documents in the train split"):
            RunSession.prepare(empty, TrainConfig())
        assert empty.runs() == []


START = Start(
    total_steps=4,
    steps_per_epoch=2,
    epochs=2,
    labels=["PER"],
    tags=["O", "B-PER", "I-PER"],
    device="cpu",
    device_name="CPU (1 threads)",
    precision="no",
    processes=1,
    base_model="default",
    train_documents=9,
    dev_documents=1,
    test_documents=0,
    train_windows=9,
    config={},
)
STEP = Step(
    step=1, total_steps=4, epoch=0.5, loss=1.0, lr=0.1, throughput=9.0, eta_s=3.0, elapsed_s=1.0
)
EVAL = Eval(
    epoch=1,
    step=2,
    split="dev",
    f1=0.5,
    precision=0.5,
    recall=0.5,
    best=True,
    metrics={},
    seconds=0.1,
)


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
    assert events[-1]["error"] is None  # every final event has output_dir, metrics, error

    assert cli("evaluate", path, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and 0 <= result["f1"] <= 1
    assert "micro avg" in result["entity"] and "B-PER" in result["tokens"]

    assert cli("evaluate", path, "--split", "dev", "--model", model_dir) == 0
    table = capsys.readouterr().out
    assert "micro avg" in table and "B-LOC" in table and "precision" in table

    assert cli("predict", model_dir, "alice went to paris .", "--json") == 0
    line = json.loads(capsys.readouterr().out)
    assert line["text"] == "alice went to paris ."
    assert [(e["label"], e["text"]) for e in line["entities"]] == [
        ("PER", "alice"),
        ("LOC", "paris"),
    ]

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
    out = io.StringIO()
    show = ProgressPrinter(out)
    show(START)
    show(Step(step=4, total_steps=4, epoch=2.0, loss=0.5, lr=1e-4, throughput=1234.0, eta_s=0.0,
              elapsed_s=3.0))  # fmt: skip
    show(Eval(epoch=2, step=4, split="dev", f1=0.75, precision=0.8, recall=0.7, best=True,
              metrics={}, seconds=0.1))  # fmt: skip
    show(Done(output_dir="m", metrics={"f1": 0.75, "best_epoch": 2, "test": None}, seconds=3.0))
    text = out.getvalue()
    assert "Training on CPU (1 threads): 9 documents, 2 epochs, 4 steps, labels PER" in text
    assert "step 4/4" in text and "1,234 tok/s" in text and "ETA 0 s" in text
    assert "\r" not in text
    assert "epoch 2: dev F1 0.7500" in text and "(best so far)" in text
    assert "best epoch 2: dev F1 0.7500" in text
    assert format_eta(3725) == "ETA 1 h 02 min" and format_eta(None) == ""


def test_import_progress_is_one_redrawn_line_on_a_terminal(monkeypatch):
    import core.cli.progress as progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)
    out = Terminal()
    printer = ProgressPrinter(out)
    show = printer.counter("importing", unit="bytes")
    show(500_000, 2_000_000)
    show(2_000_000, 2_000_000)
    printer.end()
    assert out.getvalue() == (
        "\r\x1b[2Kimporting  25.0% (0.5 MB)\r\x1b[2Kimporting 100.0% (2.0 MB)\n"
    )
