"""``spanlab next``, run as a person runs it (a process of its own), on a project with a
tiny model trained in the test: the JSON shape, the table, the stored scores reused, and
the bad cases (no model, no new documents, labels that differ)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.store import Project

from process_support import spanlab
from training_support import sentence_corpus


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """PER/LOC sentences annotated in train and dev, 12 new ones, and one finished run."""
    from core.training.config import TrainConfig
    from core.training.events import Done
    from core.training.session import run_training

    path = tmp_path_factory.mktemp("next") / "p.spanlab"
    with Project.create(path, labels=["PER", "LOC"]) as project:
        for split, docs in [("train", sentence_corpus(40)), ("dev", sentence_corpus(10, seed=1))]:
            project.add_documents(
                {"text": d["text"], "spans": d["spans"], "split": split, "status": "annotated"}
                for d in docs
            )
        project.add_documents({"text": d["text"]} for d in sentence_corpus(12, seed=2))
        config = TrainConfig(base_model=str(tiny_model_dir), epochs=1, batch_size=8)
        session = run_training(project, config)
        assert isinstance(session.final, Done), session.final
    return path


@pytest.fixture
def project(trained_project: Path, tmp_path: Path) -> Path:
    """A copy of the trained project for one test (its run's model folder is shared)."""
    return Path(shutil.copy(trained_project, tmp_path / "p.spanlab"))


def new_ids(path: Path) -> list[int]:
    with Project.open(path, readonly=True) as opened:
        return opened.document_ids(status="new")


def test_json_lists_the_most_useful_new_documents(project: Project) -> None:
    result = spanlab("next", str(project), "--n", "5", "--json")
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)
    assert [sorted(doc) for doc in docs] == [["id", "rank", "score", "text"]] * 5
    assert [doc["rank"] for doc in docs] == [1, 2, 3, 4, 5]
    scores = [doc["score"] for doc in docs]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    assert {doc["id"] for doc in docs} <= set(new_ids(project))
    assert "Scored 12 new documents with run 1 (mnlp); 0 kept their score." in result.stderr
    with Project.open(project, readonly=True) as opened:  # stored: the app sees the order
        assert opened.document_ids(order="useful")[:5] == [doc["id"] for doc in docs]
        assert opened.scoring_state("mnlp")["stale"] == 0

    again = spanlab("next", str(project), "--n", "5", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == docs
    assert "Scored 0 new documents with run 1 (mnlp); 12 kept their score." in again.stderr


def test_the_table_strategy_and_model(project: Project) -> None:
    with Project.open(project, readonly=True) as opened:
        folder = opened.latest_run()["output_dir"]
    result = spanlab("next", str(project), "--n", "3", "--strategy", "bald", "--model", folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["rank", "id", "score", "text"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]
    assert f"with {folder} (bald)" in result.stderr
    ranked = spanlab("next", str(project), "--n", "12", "--strategy", "random", "--json")
    assert ranked.returncode == 0, ranked.stderr
    assert sorted(doc["id"] for doc in json.loads(ranked.stdout)) == new_ids(project)


def test_labels_that_differ_are_a_warning(project: Project) -> None:
    with Project.open(project) as opened:
        opened.add_label("ORG")
    result = spanlab("next", str(project), "--n", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert "warning: The model's labels differ from the project's: the project's ORG is not" in (
        result.stderr
    )
    assert len(json.loads(result.stdout)) == 2


def test_without_a_finished_run_it_says_to_train_first(tmp_path: Path) -> None:
    path = tmp_path / "fresh.spanlab"
    with Project.create(path, labels=["PER"]) as created:
        created.add_document("alice went to paris")
    result = spanlab("next", str(path), "--json")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "spanlab: error: No finished run yet: train a model first (Train tab or `spanlab "
        "train`); until then documents are served in document order.\n"
    )


def test_an_empty_pool_is_said_so(project: Project) -> None:
    with Project.open(project) as opened:
        for doc_id in opened.document_ids(status="new"):
            opened.set_status(doc_id, "skipped")
    result = spanlab("next", str(project))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "spanlab: error: No documents with status new in the train or unassigned split: "
        "nothing to choose from. Import more text or mark documents new (dev and test "
        "documents are not chosen by a model).\n"
    )


def test_asking_for_no_documents_is_refused(tmp_path: Path) -> None:
    result = spanlab("next", str(tmp_path / "p.spanlab"), "--n", "0")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == ("spanlab: error: --n 0: ask for at least 1 document (e.g. --n 10).\n")
