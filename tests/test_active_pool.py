"""Scoring a project's pool with a model: which model, what is rescored, cancelling,
labels that differ, and the order read back (a fake scorer stands in for the model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.active.pool import (
    EMPTY_POOL_MESSAGE,
    NO_RUN_MESSAGE,
    label_mismatch,
    next_documents,
    require_pool,
    resolve_model,
    score_pool,
)
from core.active.scoring import ScoringCancelled
from core.errors import NotFoundError, TrainingError, ValidationError
from core.store import Project


class FakeScorer:
    """Scores a document by its length; remembers what it was asked to score."""

    def __init__(self, labels: list[str] = ("PER", "LOC"), stop_after: int | None = None):
        self.labels = list(labels)
        self.calls: list[list[int]] = []
        self.stop_after = stop_after  # raise ScoringCancelled on this call (0-based)

    def score(self, docs, strategy, should_stop, progress):
        if self.stop_after is not None and len(self.calls) == self.stop_after:
            raise ScoringCancelled("Scoring was cancelled.")
        self.calls.append([doc["id"] for doc in docs])
        if progress is not None:
            progress((len(docs), len(docs)))
        return [float(len(doc["text"])) for doc in docs]


def model_folder(path: Path, labels: list[str]) -> Path:
    """A folder that looks like a saved model to everything but the loader."""
    path.mkdir(parents=True)
    tags = ["O"] + [f"{p}-{label}" for label in labels for p in "BI"]
    config = {"id2label": {str(i): tag for i, tag in enumerate(tags)}}
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


def finished_run(project: Project, folder: Path) -> int:
    run_id = project.create_run({}, "tiny", status="done")
    project.update_run(run_id, output_dir=str(folder))
    return run_id


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.spanlab", labels=["PER", "LOC"]) as p:
        p.add_documents({"text": "x" * n + " ."} for n in (3, 9, 1, 5, 7))
        yield p


def test_without_a_finished_run_it_says_to_train_first(project: Project) -> None:
    with pytest.raises(TrainingError) as error:
        score_pool(project, "mnlp", scorer=FakeScorer())
    assert str(error.value) == NO_RUN_MESSAGE and "train a model first" in NO_RUN_MESSAGE
    project.create_run({}, "tiny", status="failed")
    with pytest.raises(TrainingError, match="No finished run yet"):
        resolve_model(project)


def test_the_model_is_the_latest_run_a_chosen_run_or_a_folder(
    project: Project, tmp_path: Path
) -> None:
    first = finished_run(project, model_folder(tmp_path / "run-1", ["PER", "LOC"]))
    second = finished_run(project, model_folder(tmp_path / "run-2", ["PER", "LOC"]))
    assert resolve_model(project).run_id == second
    assert resolve_model(project).model_key == f"run-{second}"
    assert resolve_model(project, str(first)).folder == tmp_path / "run-1"
    assert resolve_model(project, f"run-{first}").model_key == f"run-{first}"
    folder = model_folder(tmp_path / "elsewhere", ["PER"])
    choice = resolve_model(project, str(folder))
    assert choice.run_id is None and choice.model_key.startswith(f"dir:{folder}:")
    with pytest.raises(NotFoundError, match="no training run 99"):
        resolve_model(project, "99")
    with pytest.raises(TrainingError, match="neither a run of this project nor a model folder"):
        resolve_model(project, str(tmp_path / "nowhere"))
    failed = project.create_run({}, "tiny", status="failed")
    with pytest.raises(TrainingError, match=f"Run {failed} is failed"):
        resolve_model(project, str(failed))


def test_only_stale_documents_are_scored_and_all_are_ranked(
    project: Project, tmp_path: Path
) -> None:
    finished_run(project, model_folder(tmp_path / "run-1", ["PER", "LOC"]))
    scorer = FakeScorer()
    seen: list[tuple[int, int]] = []
    result = score_pool(project, "mnlp", scorer=scorer, chunk=2, progress=seen.append)
    assert scorer.calls == [[1, 2], [3, 4], [5]]
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert (result.scored, result.reused, result.total, result.warning) == (5, 0, 5, None)
    assert [doc["id"] for doc in next_documents(project, 3, "mnlp")] == [2, 5, 4]
    assert next_documents(project, 1, "mnlp") == [
        {"id": 2, "score": 11.0, "text": "xxxxxxxxx .", "rank": 1}
    ]

    project.edit_text(3, "x" * 20 + " .")
    project.set_status(2, "annotated")
    result = score_pool(project, "mnlp", scorer=scorer)
    assert scorer.calls[-1] == [3]
    assert (result.scored, result.reused, result.total) == (1, 3, 4)
    assert [doc["id"] for doc in next_documents(project, 10, "mnlp")] == [3, 5, 4, 1]
    assert project.document_ids(order="useful", status="new") == [3, 5, 4, 1]


def test_a_new_run_scores_everything_again(project: Project, tmp_path: Path) -> None:
    finished_run(project, model_folder(tmp_path / "run-1", ["PER", "LOC"]))
    score_pool(project, "mnlp", scorer=FakeScorer())
    finished_run(project, model_folder(tmp_path / "run-2", ["PER", "LOC"]))
    scorer = FakeScorer()
    result = score_pool(project, "mnlp", scorer=scorer)
    assert scorer.calls == [[1, 2, 3, 4, 5]] and result.model_key == "run-2"
    assert project.scoring_state("mnlp")["stale"] == 0


def test_a_cancel_keeps_the_chunks_already_scored(project: Project, tmp_path: Path) -> None:
    finished_run(project, model_folder(tmp_path / "run-1", ["PER", "LOC"]))
    result = score_pool(project, "mnlp", scorer=FakeScorer(stop_after=1), chunk=2)
    assert result.cancelled and result.scored == 2
    assert [doc["id"] for doc in next_documents(project, 10, "mnlp")] == [2, 1]
    assert project.scoring_state("mnlp")["stale"] == 3
    asked = iter([False, True])
    result = score_pool(
        project, "mnlp", scorer=FakeScorer(), chunk=2, should_stop=lambda: next(asked)
    )
    assert result.cancelled and result.scored == 2
    assert project.scoring_state("mnlp")["stale"] == 1


def test_labels_that_differ_are_named(project: Project, tmp_path: Path) -> None:
    assert label_mismatch(project, ["LOC", "PER"]) is None
    message = label_mismatch(project, ["PER", "ORG", "MISC"])
    assert "the project's LOC is not in the model" in message
    assert "the model's ORG, MISC are not in the project" in message
    finished_run(project, model_folder(tmp_path / "run-1", ["PER"]))
    result = score_pool(project, "mnlp", scorer=FakeScorer(labels=["PER"]))
    assert result.warning and "LOC is not in the model" in result.warning
    # Nothing stale: the model is not loaded, its labels come from its config.
    result = score_pool(project, "mnlp")
    assert result.scored == 0 and "LOC is not in the model" in result.warning


def test_an_empty_pool_is_said_so(project: Project) -> None:
    assert require_pool(project) == 5
    for doc_id in project.document_ids():
        project.set_status(doc_id, "annotated")
    with pytest.raises(ValidationError) as error:
        require_pool(project)
    assert str(error.value) == EMPTY_POOL_MESSAGE
