"""When the model re-trains: newly annotated documents counted against the newest run,
the every-N policy, and the one-line status of the model in the loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.active.retrain import RetrainPolicy, annotated_since, status_line, trained_documents
from core.store import Project


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.spanlab", labels=["PER"]) as p:
        p.add_documents({"text": f"doc {i}", "split": "train"} for i in range(30))
        p.add_documents(
            {"text": f"dev {i}", "split": "dev", "status": "annotated"} for i in range(5)
        )
        yield p


def annotate(project: Project, n: int) -> None:
    for doc_id in project.document_ids(status="new", split="train")[:n]:
        project.set_status(doc_id, "annotated")


def finish_run(project: Project, metrics: dict | None) -> int:
    run_id = project.create_run({}, "tiny", status="done")
    project.update_run(run_id, metrics=metrics)
    return run_id


def test_without_a_run_every_annotated_train_document_is_new(project: Project) -> None:
    assert annotated_since(project) == 0
    annotate(project, 7)
    assert annotated_since(project) == 7  # the annotated dev documents do not count


def test_newly_annotated_counts_from_the_newest_finished_run(project: Project) -> None:
    annotate(project, 12)
    finish_run(project, {"train_documents": 12, "dev_documents": 5, "f1": 0.5})
    assert annotated_since(project) == 0
    annotate(project, 4)
    assert annotated_since(project) == 4
    project.create_run({}, "tiny", status="failed")  # a failed re-train changes nothing
    assert annotated_since(project) == 4


def test_a_run_that_held_dev_out_of_train_read_all_of_train(project: Project) -> None:
    annotate(project, 10)
    metrics = {"train_documents": 9, "dev_documents": 1, "dev_held_out": True}
    assert trained_documents({"metrics": metrics}) == 10
    finish_run(project, metrics)
    assert annotated_since(project) == 0


def test_a_run_from_before_runs_counted_documents_counts_none(project: Project) -> None:
    annotate(project, 3)
    finish_run(project, {"f1": 0.4})
    assert annotated_since(project) == 3
    finish_run(project, None)
    assert annotated_since(project) == 3


@pytest.mark.parametrize(
    "every, new, due, remaining",
    [
        (20, 0, False, 20),
        (20, 19, False, 1),
        (20, 20, True, 0),
        (20, 45, True, 0),
        (0, 500, False, None),
    ],
)
def test_the_policy(every: int, new: int, due: bool, remaining: int | None) -> None:
    policy = RetrainPolicy(every)
    assert policy.due(new) is due
    assert policy.remaining(new) == remaining


def test_the_status_line(project: Project) -> None:
    assert status_line(project) == "no model yet: train one to order documents by usefulness"
    annotate(project, 20)
    run_id = finish_run(project, {"train_documents": 20, "dev_documents": 5, "f1": 0.7123})
    annotate(project, 8)
    assert status_line(project) == (
        f"model run {run_id} · trained on 20 documents · dev F1 0.71 · re-trains after 12 more"
    )
    project.set_setting("retrain_every", "5")
    assert status_line(project).endswith("· re-train due")
    project.set_setting("retrain_every", "0")
    assert status_line(project).endswith("dev F1 0.71 · re-training off")
    run_id = finish_run(project, {"f1": None})
    assert status_line(project) == f"model run {run_id} · re-training off"


def test_the_status_line_after_a_failed_retrain_and_during_one(project: Project) -> None:
    annotate(project, 20)
    finish_run(project, {"train_documents": 20, "dev_documents": 5, "f1": 0.7123})
    annotate(project, 8)
    project.set_setting("retrain_every", "5")
    assert status_line(project).endswith("· re-train due")
    # A re-train that failed used 6 of the 8: the next waits for 5 beyond them.
    assert status_line(project, used=6).endswith("dev F1 0.71 · re-trains after 3 more")
    # One under way is said in place of "due", beside a count that is not due.
    assert status_line(project, retraining=9).endswith("dev F1 0.71 · re-training (run 9)…")
    assert status_line(project, used=6, retraining=9).endswith(
        "· re-trains after 3 more · re-training (run 9)…"
    )
