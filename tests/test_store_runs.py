"""Training runs and their event log."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from core.errors import NotFoundError, ValidationError
from core.store import Project

from store_support import committed_rows


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "runs.spanlab", labels=["PER"]) as project:
        yield project


def test_create_and_get_run(project):
    run_id = project.create_run({"epochs": 3, "lr": 5e-5}, "default")
    run = project.get_run(run_id)
    assert run["config"] == {"epochs": 3, "lr": 5e-5}
    assert (run["status"], run["base_model"], run["metrics"]) == ("queued", "default", None)
    assert run["created"] and run["started"] is None


def test_update_run(project):
    run_id = project.create_run({}, "default")
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    project.update_run(run_id, status="running", started=started)
    run = project.update_run(
        run_id,
        status="done",
        finished="2026-01-02T03:10:00+00:00",
        output_dir=Path("/models/run-1"),
        metrics={"micro avg": {"f1": 0.91}},
    )
    assert run["started"] == "2026-01-02T03:04:05.000+00:00"
    assert run["output_dir"] == "/models/run-1"
    assert run["metrics"] == {"micro avg": {"f1": 0.91}}
    assert run["status"] == "done"


def test_bad_run_updates_change_nothing(project):
    run_id = project.create_run({}, "default")
    before = committed_rows(project.path)
    with pytest.raises(ValidationError):
        project.update_run(run_id, status="exploded")
    with pytest.raises(TypeError, match="colour"):
        project.update_run(run_id, colour="red")
    with pytest.raises(NotFoundError):
        project.update_run(99, status="done")
    with pytest.raises(ValidationError):
        project.create_run({}, "default", status="sleeping")
    assert committed_rows(project.path) == before


def test_events_keep_columns_and_extra_data(project):
    run_id = project.create_run({}, "default")
    project.add_run_events(
        run_id,
        [
            {"kind": "step", "step": 1, "epoch": 0.1, "loss": 2.5, "lr": 1e-4, "eta_s": 30},
            {"kind": "eval", "epoch": 1, "data": {"f1": 0.5}},
        ],
    )
    assert project.add_run_events(run_id, [{"kind": "done", "throughput": 12.5}]) == 1
    events = project.run_events(run_id)
    assert [e["kind"] for e in events] == ["step", "eval", "done"]
    assert (events[0]["step"], events[0]["loss"], events[0]["data"]) == (1, 2.5, {"eta_s": 30})
    assert events[1]["data"] == {"f1": 0.5}
    assert events[2]["throughput"] == 12.5
    assert all(e["time"] for e in events)


def test_bad_events_change_nothing(project):
    run_id = project.create_run({}, "default")
    before = committed_rows(project.path)
    with pytest.raises(ValidationError, match="kind"):
        project.add_run_events(run_id, [{"kind": "step"}, {"step": 2}])
    with pytest.raises(NotFoundError):
        project.add_run_events(99, [{"kind": "step"}])
    assert committed_rows(project.path) == before


def test_runs_newest_first_and_latest(project):
    first = project.create_run({"n": 1}, "default")
    second = project.create_run({"n": 2}, "default")
    third = project.create_run({"n": 3}, "default")
    project.update_run(first, status="done")
    project.update_run(second, status="done")
    project.update_run(third, status="failed", error="out of memory")
    assert [run["id"] for run in project.runs()] == [third, second, first]
    assert project.latest_run()["id"] == second
    assert project.latest_run(status="failed")["error"] == "out of memory"
    assert project.latest_run(status=None)["id"] == third
    assert project.latest_run(status="cancelled") is None


def test_delete_run_removes_its_events(project):
    run_id = project.create_run({}, "default")
    project.add_run_events(run_id, [{"kind": "start"}])
    project.delete_run(run_id)
    with pytest.raises(NotFoundError):
        project.get_run(run_id)
    with pytest.raises(NotFoundError):
        project.run_events(run_id)
    assert committed_rows(project.path)["run_events"] == []
