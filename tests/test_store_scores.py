"""Usefulness scores in the store: what needs scoring, what is kept, the useful order of
the document lists, the active-learning settings, and an existing version-5 project
migrated to one with a score table."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from core import migrations
from core.errors import ProjectFileError, ValidationError
from core.store import Project
from core.tokenize import tokenize

TEXTS = ["alice went to paris .", "bob met carol", "erin saw rome", "dave went home"]


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.spanlab", labels=["PER"]) as p:
        p.add_documents({"text": text} for text in TEXTS)
        yield p


def score_all(project: Project, scores: dict[int, float], key: str = "run-1") -> int:
    """Score every stale document with ``scores`` (by id) as model ``key``, then rank."""
    docs = project.documents_to_score("mnlp", key)
    saved = project.save_scores(
        "mnlp", key, None, [(d["id"], scores[d["id"]], d["text_hash"]) for d in docs]
    )
    project.rank_documents("mnlp")
    return saved


def test_documents_to_score_are_the_new_ones_with_their_words(project: Project) -> None:
    project.set_status(2, "annotated")
    project.add_document("far away", group="story")
    docs = project.documents_to_score("mnlp", "run-1")
    assert [d["id"] for d in docs] == [1, 3, 4, 5]
    assert docs[0]["text"] == TEXTS[0]
    assert docs[0]["tokens"] == [list(token) for token in tokenize(TEXTS[0])]
    assert docs[-1]["group"] == "story" and docs[0]["group"] is None
    assert len({d["text_hash"] for d in docs}) == 4


def test_the_pool_leaves_dev_and_test_to_chance(project: Project) -> None:
    # A model chooses training data: dev and test documents are never served by it.
    project.set_split([1], "dev")
    project.set_split([2], "test")
    project.set_split([3], "train")
    assert project.pool_size() == 2
    assert [d["id"] for d in project.documents_to_score("mnlp", "run-1")] == [3, 4]
    score_all(project, {3: 0.2, 4: 0.9})
    assert [d["id"] for d in project.ranked_documents("mnlp")] == [4, 3]
    assert project.document_ids(order="useful")[:2] == [4, 3]


def test_only_what_changed_is_scored_again(project: Project) -> None:
    assert score_all(project, {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4}) == 4
    assert project.documents_to_score("mnlp", "run-1") == []
    assert project.scoring_state("mnlp", "run-1") == {
        "model_key": "run-1",
        "run_id": 1,
        "scored": 4,
        "stale": 0,
    }
    project.edit_text(3, "erin saw rome today")
    assert [d["id"] for d in project.documents_to_score("mnlp", "run-1")] == [3]
    assert project.scoring_state("mnlp", "run-1")["stale"] == 1
    # Another model, or another strategy, needs every document scored.
    assert len(project.documents_to_score("mnlp", "run-2")) == 4
    assert len(project.documents_to_score("bald", "run-1")) == 4


def test_a_score_of_a_text_edited_while_scoring_is_not_stored(project: Project) -> None:
    docs = project.documents_to_score("mnlp", "run-1")
    project.edit_text(2, "bob met carol again")  # the person edits; the worker scores on
    project.delete_document(4)
    rows = [(d["id"], 0.5, d["text_hash"]) for d in docs]
    assert project.save_scores("mnlp", "run-1", None, rows) == 2
    assert project.document_scores("mnlp", [1, 2, 3, 4]) == {1: 0.5, 3: 0.5}
    assert [d["id"] for d in project.documents_to_score("mnlp", "run-1")] == [2]


def test_a_score_that_is_not_a_number_is_refused(project: Project) -> None:
    doc = project.documents_to_score("mnlp", "run-1")[0]
    with pytest.raises(ValidationError, match="not a finite number"):
        project.save_scores("mnlp", "run-1", None, [(doc["id"], float("nan"), doc["text_hash"])])
    assert project.document_scores("mnlp", [doc["id"]]) == {}
    with pytest.raises(ValidationError, match="Unknown strategy 'greedy'"):
        project.documents_to_score("greedy", "run-1")


def test_scores_remember_their_run_and_outlive_it(project: Project) -> None:
    run_id = project.create_run({}, "tiny", status="done")
    docs = project.documents_to_score("mnlp", f"run-{run_id}")
    project.save_scores(
        "mnlp", f"run-{run_id}", run_id, [(d["id"], 1.0, d["text_hash"]) for d in docs]
    )
    assert project.scoring_state("mnlp") == {
        "model_key": f"run-{run_id}",
        "run_id": run_id,
        "scored": 4,
        "stale": 0,
    }
    project.delete_run(run_id)
    assert project.document_scores("mnlp", [1, 2, 3, 4]) == dict.fromkeys([1, 2, 3, 4], 1.0)
    project.delete_document(1)
    assert project.document_scores("mnlp", [1]) == {}


def test_without_a_model_nothing_is_stale(project: Project) -> None:
    assert project.scoring_state("mnlp") == {
        "model_key": None,
        "run_id": None,
        "scored": 0,
        "stale": 0,
    }


def test_the_useful_order_puts_ranked_documents_first(project: Project) -> None:
    project.add_document("zed")  # 5: never scored
    score_all(project, {1: 0.1, 2: 0.9, 3: 0.5, 4: 0.7, 5: 0.0})
    project.set_status(5, "skipped")  # not new any more: loses its rank on the next ranking
    project.rank_documents("mnlp")
    assert project.document_ids() == [1, 2, 3, 4, 5]
    assert project.document_ids(order="useful") == [2, 4, 3, 1, 5]
    rows = project.list_documents(order="useful", limit=2)
    assert [(r["id"], r["score"]) for r in rows] == [(2, 0.9), (4, 0.7)]
    assert [r["id"] for r in project.list_documents(order="useful", offset=3)] == [1, 5]
    assert project.count_documents(order="useful") == 5
    assert project.document_ids(order="useful", status="new") == [2, 4, 3, 1]
    assert project.document_ids(order="useful", search="went") == [4, 1]
    assert project.ranked_documents("mnlp", 2) == [
        {"id": 2, "score": 0.9, "text": TEXTS[1], "rank": 1},
        {"id": 4, "score": 0.7, "text": TEXTS[3], "rank": 2},
    ]
    with pytest.raises(ValidationError, match="Unknown order 'best'"):
        project.document_ids(order="best")


def test_neighbours_follow_the_useful_order(project: Project) -> None:
    project.add_document("zed")  # 5 and 6: never scored
    project.add_document("zoe")
    score_all(project, {1: 0.1, 2: 0.9, 3: 0.5, 4: 0.7, 5: 0.0, 6: 0.0})
    project._conn.execute("UPDATE scores SET rank = NULL WHERE document_id IN (5, 6)")
    order = [2, 4, 3, 1, 5, 6]
    assert project.document_ids(order="useful") == order

    def neighbour(doc_id: int, step: int, **filters) -> int | None:
        return project.neighbour_document(doc_id, step, order="useful", **filters)

    assert [neighbour(i, 1) for i in order] == [4, 3, 1, 5, 6, None]
    assert [neighbour(i, -1) for i in order] == [None, 2, 4, 3, 1, 5]
    assert neighbour(2, 3) == 1 and neighbour(6, -2) == 1  # across the ranked/unranked edge
    # Done-and-next: the document just annotated keeps its place until the next ranking.
    project.set_status(4, "annotated")
    assert neighbour(4, 1, status="new") == 3
    project.rank_documents("mnlp")  # 4 loses its rank, 5 and 6 get theirs
    assert project.document_ids(order="useful") == [2, 3, 1, 5, 6, 4]
    assert neighbour(4, 1, status="new") == 2  # out of the list: the most useful is next
    assert neighbour(4, -1, status="new") is None
    assert neighbour(4, -1) == 6  # in the list: among the unranked, by id


def test_the_useful_order_follows_the_projects_strategy(project: Project) -> None:
    score_all(project, {1: 0.1, 2: 0.9, 3: 0.5, 4: 0.7})
    docs = project.documents_to_score("random", "run-1")
    project.save_scores(
        "random", "run-1", None, [(d["id"], -d["id"], d["text_hash"]) for d in docs]
    )
    project.rank_documents("random")
    assert project.document_ids(order="useful") == [2, 4, 3, 1]
    project.set_setting("strategy", "random")
    assert project.document_ids(order="useful") == [1, 2, 3, 4]
    assert [r["score"] for r in project.list_documents()] == [-1, -2, -3, -4]


def test_ranking_serves_near_duplicates_last(project: Project) -> None:
    project.add_document("Alice went to Paris!")  # 5: 1 again, but for case and punctuation
    score_all(project, {1: 0.5, 2: 0.1, 3: 0.2, 4: 0.3, 5: 0.9})
    assert project.document_ids(order="useful") == [5, 4, 3, 2, 1]


def test_active_learning_settings(project: Project) -> None:
    assert project.strategy() == "mnlp" and project.retrain_every() == 20
    assert project.settings() == {"tokenizer": "corpus", "strategy": "mnlp", "retrain_every": "20"}
    project.set_setting("strategy", "bald")
    project.set_setting("retrain_every", " 0 ")
    assert (project.strategy(), project.retrain_every()) == ("bald", 0)
    project.set_setting("retrain_every", "50")
    assert project.retrain_every() == 50
    for bad in ("-1", "ten", "2.5", "+5", "", "1000001"):
        with pytest.raises(ValidationError, match="retrain_every is a whole number from 0"):
            project.set_setting("retrain_every", bad)
    with pytest.raises(ValidationError, match="Unknown strategy 'greedy'"):
        project.set_setting("strategy", "greedy")
    assert project.retrain_every() == 50


def test_a_stored_setting_this_version_does_not_know_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "p.spanlab"
    Project.create(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('retrain_every', 'often')")
    conn.close()
    with Project.open(path) as project, pytest.raises(ProjectFileError, match="'often'.*whole"):
        project.retrain_every()


# -- migration ---------------------------------------------------------------------------------


def write_version_5(path: Path, texts: list[str]) -> None:
    """A project as schema version 5 wrote it: new documents and a finished run."""
    db = Database(sqlite3.connect(path, isolation_level=None))
    for migration in migrations.MIGRATIONS[:5]:
        migration(db)
    conn = db.conn
    for text in texts:
        conn.execute(
            "INSERT INTO documents (text, tokens, created, updated) VALUES (?, ?, 'then', 'then')",
            [text, json.dumps(tokenize(text))],
        )
    conn.execute(
        "INSERT INTO runs (config, status, created, base_model) VALUES ('{}', 'done', 'then', 'x')"
    )
    conn.execute(f"PRAGMA application_id = {migrations.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 5")
    conn.close()


def test_a_version_5_project_gets_an_empty_score_table(tmp_path: Path) -> None:
    path = tmp_path / "old.spanlab"
    write_version_5(path, TEXTS[:2])
    with Project.open(path) as project:
        assert project.schema_version == migrations.LATEST >= 6
        assert project.scoring_state("mnlp") == {
            "model_key": "run-1",
            "run_id": 1,
            "scored": 0,
            "stale": 2,
        }
        assert project.document_ids(order="useful") == [1, 2]
        assert [r["score"] for r in project.list_documents()] == [None, None]
        assert score_all(project, {1: 0.1, 2: 0.2}, key="run-1") == 2
        assert project.document_ids(order="useful") == [2, 1]
    with Project.open(path, readonly=True) as again:  # kept: reopening keeps the order
        assert again.document_ids(order="useful") == [2, 1]
