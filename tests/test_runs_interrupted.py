"""A run whose process is killed is not left "running": the next open closes it.

The training command runs in a process of its own and is killed from outside (SIGKILL
at a step; SIGTERM and SIGHUP, which must end it as Ctrl+C does).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.store import Project

from process_support import CLI, TIMEOUT_S, child_env, spanlab
from training_support import sentence_corpus


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "demo.spanlab"
    with Project.create(path, labels=["LOC", "PER"]) as created:
        for split, docs in (("train", sentence_corpus(60)), ("dev", sentence_corpus(12, seed=1))):
            for doc in docs:
                created.add_document(
                    doc["text"], split=split, status="annotated", spans=doc["spans"]
                )
    return path


def start_training(project: Path, model: Path) -> subprocess.Popen:
    """``spanlab train`` with JSON events on stdout, long enough to be interrupted."""
    args = ["train", str(project), "--base-model", str(model), "--epochs", "200"]
    args += ["--batch-size", "4", "--json-events"]
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def wait_for(process: subprocess.Popen, kind: str) -> None:
    """Read the run's JSON events until one of this kind has been printed."""
    assert process.stdout is not None
    for line in process.stdout:
        if json.loads(line)["kind"] == kind:
            return
    raise AssertionError(f"training ended before a {kind} event: {process.stderr.read()}")


def spanlab_json(*args: str) -> object:
    result = spanlab(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_run_killed_with_sigkill_is_marked_interrupted(project, tiny_model_dir):
    process = start_training(project, tiny_model_dir)
    try:
        wait_for(process, "checkpoint")  # the best model so far is in the scratch folder
        # the first pass of a refit (its folder and the trainer's scratch inside its name)
        scratch = list((project.parent / "demo").glob(".*run-1.*partial-*"))
        process.send_signal(signal.SIGKILL)
        process.wait(TIMEOUT_S)
    finally:
        process.kill()
    # A reader (read-only, beside nobody) already sees the verdict...
    (run,) = spanlab_json("runs", str(project), "--json")
    assert run["status"] == "failed" and run["error"].startswith("Interrupted")
    assert f"pid {process.pid}" in run["error"]
    # ...and the next open for writing records it and removes the killed run's scratch.
    with Project.open(project) as opened:
        assert opened.get_run(1)["status"] == "failed"
    with Project.open(project, readonly=True) as opened:
        row = opened._one("SELECT status, error FROM runs WHERE id = 1")
    assert row["status"] == "failed" and "killed" in row["error"]
    assert scratch and not any(folder.exists() for folder in scratch)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_run_like_ctrl_c(project, tiny_model_dir, signum):
    process = start_training(project, tiny_model_dir)
    try:
        wait_for(process, "step")
        process.send_signal(signum)
        _, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "stopping after this step" in err and "Traceback" not in err
    with Project.open(project, readonly=True) as opened:
        assert opened.get_run(1)["status"] == "cancelled"
    assert not (project.parent / "demo" / "run-1").exists()
    assert not list((project.parent / "demo").glob(".*run-1.*partial-*"))


def dead_owner() -> str:
    """The owner value of a process that has ended."""
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    return json.dumps({"host": socket.gethostname(), "pid": probe.pid, "start": "1"})


def make_run(path: Path, status: str) -> int:
    with Project.open(path) as opened:
        run_id = opened.create_run({"epochs": 1}, "default")
        if status == "running":
            opened.update_run(run_id, status="running")
        opened._conn.execute("UPDATE runs SET owner = ? WHERE id = ?", [dead_owner(), run_id])
    return run_id


def test_a_complete_model_renamed_in_place_before_the_kill_is_linked(project):
    run_id = make_run(project, "running")
    folder = project.parent / "demo" / f"run-{run_id}"
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_text("{}")
    (folder / "metrics.json").write_text(json.dumps({"f1": 0.75, "best_epoch": 2}))
    with Project.open(project) as opened:
        run = opened.get_run(run_id)
    assert run["status"] == "done" and run["output_dir"] == str(folder)
    assert run["metrics"]["f1"] == 0.75 and run["finished"]


def test_a_queued_run_of_a_gone_process_fails_with_the_reason(project):
    run_id = make_run(project, "queued")
    with Project.open(project) as opened:
        run = opened.get_run(run_id)
    assert run["status"] == "failed" and "before it started" in run["error"]


def test_a_run_of_a_live_process_is_left_running(project):
    with Project.open(project) as opened:
        run_id = opened.create_run({"epochs": 1}, "default")
        opened.update_run(run_id, status="running")
        with Project.open(project) as second:  # the same, live process
            assert second.get_run(run_id)["status"] == "running"
