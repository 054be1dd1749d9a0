"""``spanlab tune``: a search from the command line, one process or several sharing a study."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.store import Project

from process_support import CLI, TIMEOUT_S, child_env
from training_support import sentence_corpus

SPACE = {"learning_rate": {"low": 2e-3, "high": 8e-3, "log": True}, "epochs": {"low": 1, "high": 2}}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "demo.spanlab"
    with Project.create(path, labels=["LOC", "PER"]) as project:
        for split, docs in (
            ("train", sentence_corpus(40)),
            ("dev", sentence_corpus(10, seed=1, start_id=500)),
            ("test", sentence_corpus(10, seed=2, start_id=900)),
        ):
            for doc in docs:
                project.add_document(
                    doc["text"], split=split, status="annotated", spans=doc["spans"]
                )
    return path


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SPACE), encoding="utf-8")
    return path


def tune_args(project: Path, space: Path, model: Path, *more: str) -> list[str]:
    common = ["--space", str(space), "--base-model", str(model), "--batch-size", "8"]
    return ["tune", str(project), *common, "--warmup", "0", *more]


def test_tune_prints_a_json_line_per_trial_then_a_summary(
    project, space_file, tiny_model_dir, capsys
):
    assert main(tune_args(project, space_file, tiny_model_dir, "--trials", "2", "--json")) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    trials, summary = lines[:-1], lines[-1]
    assert [t["trial"] for t in trials] == [0, 1]
    assert all(t["state"] == "complete" and set(t["params"]) == set(SPACE) for t in trials)
    assert [len(t["scores"]) for t in trials] == [t["params"]["epochs"] for t in trials]
    assert summary["summary"] is True and summary["trials_run"] == 2
    assert summary["stopped"] == "trials" and summary["study"] == "demo"
    assert summary["best"]["number"] == trials[-1]["best_number"]
    with Project.open(project) as opened:
        runs = opened.runs(study="demo")
    assert sorted((r["trial"], r["id"]) for r in runs) == [
        (t["trial"], t["run_id"]) for t in trials
    ]


def test_tune_lines_and_train_best(project, space_file, tiny_model_dir, capsys):
    assert main(tune_args(project, space_file, tiny_model_dir, "--trials", "1")) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("trial 0  learning_rate=") and "done" in out[0]
    assert "best" in out[0] and out[1].startswith("Best: trial 0, dev F1 ")
    assert main(["tune", str(project), "--train-best", "--with-dev", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trial"] == 0 and result["with_dev"] is True
    assert isinstance(result["test_f1"], float)
    with Project.open(project) as opened:
        run = opened.get_run(result["run_id"])
    assert (run["status"], run["study"], run["trial"]) == ("done", "demo", None)


def test_tune_refuses_bad_input(project, space_file, tiny_model_dir, tmp_path, capsys):
    assert main(["tune", str(project)]) == 1
    assert "Give a budget: --trials N" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": {"low": 3, "high": 1}}', encoding="utf-8")
    assert main(["tune", str(project), "--trials", "1", "--space", str(bad)]) == 1
    assert f"{bad}: 'epochs': low 3 is above high 1: swap them" in capsys.readouterr().err
    assert main(["tune", str(project), "--trials", "1", "--storage", "nope://x"]) == 1
    assert "is malformed" in capsys.readouterr().err
    assert main(["tune", str(project), "--train-best", "--study", "none-yet"]) == 1
    assert "There is no study 'none-yet'" in capsys.readouterr().err


def test_two_processes_share_one_study_on_a_journal_file(
    project, space_file, tiny_model_dir, tmp_path
):
    journal = tmp_path / "shared" / "study.log"
    journal.parent.mkdir()
    args = tune_args(project, space_file, tiny_model_dir, "--trials", "2", "--json")
    args += ["--storage", f"journal://{journal}", "--study", "shared"]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", CLI, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=TIMEOUT_S * 2) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    numbers = [[json.loads(line)["trial"] for line in out.splitlines()[:-1]] for out, _ in outputs]
    assert all(len(mine) == 2 for mine in numbers)  # each process ran its own two
    assert sorted(numbers[0] + numbers[1]) == [0, 1, 2, 3]  # and no number twice
    summaries = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert max(s["trials_in_study"] for s in summaries) == 4
    with Project.open(project) as opened:
        runs = opened.runs(study="shared")
    assert sorted(r["trial"] for r in runs) == [0, 1, 2, 3]
    assert all(r["status"] == "done" for r in runs)
