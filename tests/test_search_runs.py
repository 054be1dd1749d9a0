"""Runs tagged with the study and trial of a search (schema version 7)."""

from __future__ import annotations

import sqlite3

import pytest

from core import migrations
from core.errors import ValidationError
from core.store import Project
from core.training.config import TrainConfig
from core.training.session import RunSession

from training_support import sentence_corpus


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "runs.spanlab", labels=["PER", "LOC"]) as project:
        yield project


def test_runs_carry_their_study_and_trial(project):
    plain = project.create_run({}, "m")
    trial = project.create_run({}, "m", study="wnut", trial=3)
    final = project.create_run({}, "m", study="wnut")
    runs = {run["id"]: run for run in project.runs()}
    assert (runs[plain]["study"], runs[plain]["trial"]) == (None, None)
    assert (runs[trial]["study"], runs[trial]["trial"]) == ("wnut", 3)
    assert (runs[final]["study"], runs[final]["trial"]) == ("wnut", None)
    assert [run["id"] for run in project.runs(study="wnut")] == [final, trial]
    assert project.get_run(trial)["trial"] == 3


@pytest.mark.parametrize(
    ("study", "trial", "message"),
    [
        (None, 2, "needs its study"),
        ("s", -1, "0 or above"),
        ("s", True, "0 or above"),
        (" ", None, "non-empty"),
    ],
)
def test_bad_tags_are_refused(project, study, trial, message):
    with pytest.raises(ValidationError, match=message):
        project.create_run({}, "m", study=study, trial=trial)
    assert project.runs() == []


def test_a_version_6_project_gains_the_columns(tmp_path):
    path = tmp_path / "old.spanlab"
    Project.create(path).close()
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP INDEX runs_study; ALTER TABLE runs DROP COLUMN study; "
        "ALTER TABLE runs DROP COLUMN trial; DROP TABLE reviews; PRAGMA user_version = 6;"
    )
    conn.execute("INSERT INTO runs (config, created, base_model) VALUES ('{}', 'then', 'm')")
    conn.commit()
    conn.close()
    with Project.open(path) as project:
        assert project.schema_version == migrations.LATEST >= 7
        assert [(r["study"], r["trial"]) for r in project.runs()] == [(None, None)]


def test_prepare_tags_the_run(project, tiny_model_dir):
    for doc in sentence_corpus(4):
        project.add_document(doc["text"], split="train", status="annotated", spans=doc["spans"])
    config = TrainConfig(base_model=str(tiny_model_dir))
    session = RunSession.prepare(project, config, study="s1", trial=0)
    run = project.get_run(session.run_id)
    assert (run["status"], run["study"], run["trial"]) == ("queued", "s1", 0)
    assert project.get_run(RunSession.prepare(project, config).run_id)["study"] is None
