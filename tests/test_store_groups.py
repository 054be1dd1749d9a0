"""Document groups in the store: written by both doors, given to training, checked, and
an existing version-4 project migrated to documents without a group."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from core import migrations
from core.domain import ReaderDocument
from core.errors import ValidationError
from core.store import Project
from core.tokenize import tokenize


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.spanlab") as p:
        yield p


def test_both_doors_store_the_group(project: Project) -> None:
    text = "Alice met Bob"
    project.add_documents([{"text": text, "group": "story"}, {"text": text}])
    reader = ReaderDocument(text=text, tokens=tokenize(text), spans=[], group="news#2")
    project.add_reader_documents([reader])
    one = project.add_document(text, group="story")
    groups = [project.get_document(i)["group"] for i in project.document_ids()]
    assert groups == ["story", None, "news#2", "story"]
    assert project.get_document(one)["group"] == "story"


@pytest.mark.parametrize("group", ["", 3, "x" * 1001])
def test_a_group_that_names_nothing_is_refused(project: Project, group: object) -> None:
    with pytest.raises(ValidationError, match="Document 2: The document's group"):
        project.add_documents([{"text": "fine"}, {"text": "bad", "group": group}])
    assert project.count_documents() == 0


def test_examples_carry_their_group(project: Project) -> None:
    for text, group in [("a b", "d1"), ("c d", None), ("e f", "d1")]:
        doc_id = project.add_document(text, group=group, split="train")
        project.set_status(doc_id, "annotated")
    assert [(ex["text"], ex["group"]) for ex in project.examples("train")] == [
        ("a b", "d1"),
        ("c d", None),
        ("e f", "d1"),
    ]


def write_version_4(path: Path, texts: list[str]) -> None:
    """A project as schema version 4 wrote it: annotated training sentences, no groups."""
    db = Database(sqlite3.connect(path, isolation_level=None))
    for migration in migrations.MIGRATIONS[:4]:
        migration(db)
    conn = db.conn
    conn.execute(
        "INSERT INTO labels (name, colour, shortcut, position) VALUES ('PER', '#8dd3c7', '1', 0)"
    )
    for text in texts:
        cursor = conn.execute(
            "INSERT INTO documents (text, tokens, split, status, created, updated)"
            " VALUES (?, ?, 'train', 'annotated', 'then', 'then')",
            [text, json.dumps(tokenize(text))],
        )
        conn.execute(
            'INSERT INTO spans (document_id, "start", "end", label_id) VALUES (?, 0, ?, 1)',
            [cursor.lastrowid, text.index(" ")],
        )
    conn.execute(f"PRAGMA application_id = {migrations.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 4")
    conn.close()


def test_a_version_4_project_gets_documents_without_a_group(tmp_path: Path) -> None:
    path = tmp_path / "old.spanlab"
    write_version_4(path, ["alice went to paris .", "bob went to rome ."])
    with Project.open(path) as project:
        assert project.schema_version == migrations.LATEST >= 5
        assert [project.get_document(i)["group"] for i in project.document_ids()] == [None, None]
        examples = project.examples("train")
        assert [ex["group"] for ex in examples] == [None, None]
        assert [ex["spans"] for ex in examples] == [[(0, 5, "PER")], [(0, 3, "PER")]]
        project.add_document("carol went to oslo .", group="new#1")  # new ones can have one
        assert project.get_document(3)["group"] == "new#1"


def test_a_migrated_version_4_project_still_trains(tmp_path: Path, tiny_model_dir: Path) -> None:
    from core.training.config import TrainConfig
    from core.training.events import Done, Log
    from core.training.session import run_training

    from training_support import sentence_corpus

    path = tmp_path / "old.spanlab"
    write_version_4(path, [ex["text"] for ex in sentence_corpus(12)])
    with Project.open(path) as project:
        config = TrainConfig(base_model=str(tiny_model_dir), epochs=1, batch_size=4)
        events: list = []
        session = run_training(project, config, on_event=events.append)
        assert isinstance(session.final, Done), session.final
    logged = [event.message for event in events if isinstance(event, Log)]
    assert logged and not any(message.startswith("Context") for message in logged)


def test_group_neighbours_hold_enough_words_on_each_side(project: Project) -> None:
    ids = [project.add_document(f"w{i} x y", group="d") for i in range(6)]
    other = project.add_document("far away", group="e")
    alone = project.add_document("on its own")
    before, after = project.group_neighbours(ids[3], words=4)
    assert [d["id"] for d in before] == ids[1:3]  # two sentences of three words each
    assert [d["id"] for d in after] == ids[4:6]
    assert before[0]["text"] == "w1 x y" and before[0]["tokens"] == [[0, 2], [3, 4], [5, 6]]
    before, after = project.group_neighbours(ids[0], words=100)
    assert before == [] and [d["id"] for d in after] == ids[1:]
    assert project.group_neighbours(other, words=10) == ([], [])
    assert project.group_neighbours(alone, words=10) == ([], [])
