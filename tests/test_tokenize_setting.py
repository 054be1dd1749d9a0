"""The project's tokenizer: which one new text gets, kept per project, seen and changed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from core import migrations
from core.cli import main
from core.errors import ImportFormatError, ProjectFileError, ValidationError
from core.formats import import_file
from core.store import Project
from core.tokenize import tokenize

from formats_support import write

TEXT = "Mr. Smith's U.S. trip"
CORPUS = ["Mr.", "Smith", "'s", "U.S.", "trip"]
BASIC = ["Mr", ".", "Smith", "'", "s", "U", ".", "S", ".", "trip"]


def words(doc: dict) -> list[str]:
    return [doc["text"][s:e] for s, e in doc["tokens"]]


def write_version_4(path: Path, texts: list[str]) -> None:
    """A project as schema version 4 wrote it, its tokens from the basic tokenizer."""
    db = Database(sqlite3.connect(path, isolation_level=None))
    for migration in migrations.MIGRATIONS[:4]:
        migration(db)
    for text in texts:
        db.conn.execute(
            "INSERT INTO documents (text, tokens, created, updated) VALUES (?, ?, 'then', 'then')",
            [text, json.dumps([[0, 2], [2, 3]])],
        )
    db.conn.execute(f"PRAGMA application_id = {migrations.APPLICATION_ID}")
    db.conn.execute("PRAGMA user_version = 4")
    db.conn.close()


def test_a_new_project_splits_text_as_ner_corpora_are(tmp_path: Path) -> None:
    with Project.create(tmp_path / "new.spanlab") as project:
        assert project.tokenizer() == "corpus"
        assert project.settings()["tokenizer"] == "corpus"
        doc_id = project.add_document(TEXT)
        assert words(project.get_document(doc_id)) == CORPUS


def test_an_older_project_keeps_the_basic_tokenizer_and_its_tokens(tmp_path: Path) -> None:
    path = tmp_path / "old.spanlab"
    write_version_4(path, ["Mr."])
    with Project.open(path) as project:
        assert project.tokenizer() == "basic"
        assert project.get_document(1)["tokens"] == [[0, 2], [2, 3]]  # as stored
        assert words(project.get_document(project.add_document(TEXT))) == BASIC


def test_an_older_project_without_documents_gets_the_new_default(tmp_path: Path) -> None:
    path = tmp_path / "empty.spanlab"
    write_version_4(path, [])
    with Project.open(path) as project:
        assert project.tokenizer() == "corpus"


def test_the_choice_is_kept_in_the_project_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "p.spanlab"
    with Project.create(path) as project:
        project.set_tokenizer("basic")
        with pytest.raises(ValidationError, match="Unknown tokenizer 'spacy'"):
            project.set_tokenizer("spacy")
        with pytest.raises(ValidationError, match="Unknown setting 'colour'"):
            project.set_setting("colour", "red")
    with Project.open(path, readonly=True) as project:
        assert project.tokenizer() == "basic"
    with Project.open(path) as project:
        project.set_tokenizer("corpus")
        assert project.tokenizer() == "corpus"


def test_a_value_this_version_does_not_know_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "p.spanlab"
    Project.create(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('tokenizer', 'future')")
    conn.close()
    with Project.open(path) as project, pytest.raises(ProjectFileError, match="'future'"):
        project.tokenizer()


@pytest.mark.parametrize("tokenizer, expected", [("corpus", CORPUS), ("basic", BASIC)])
def test_adding_many_and_editing_use_the_projects_tokenizer(
    tmp_path: Path, tokenizer: str, expected: list[str]
) -> None:
    with Project.create(tmp_path / "p.spanlab") as project:
        project.set_tokenizer(tokenizer)
        project.add_documents([{"text": TEXT}, {"text": "x", "tokens": [[0, 1]]}])
        assert words(project.get_document(1)) == expected
        assert words(project.get_document(2)) == ["x"]  # given tokens are kept
        project.edit_text(2, TEXT)
        assert words(project.get_document(2)) == expected


@pytest.mark.parametrize("tokenizer, expected", [("corpus", CORPUS), ("basic", BASIC)])
def test_text_and_jsonl_imports_use_the_projects_tokenizer(
    tmp_path: Path, tokenizer: str, expected: list[str]
) -> None:
    text_file = write(tmp_path, "a.txt", TEXT + "\n")
    # A span on "Smith" fits both tokenizations; "Mr." would not fit the basic one.
    jsonl = write(tmp_path, "a.jsonl", json.dumps({"text": TEXT, "label": [[4, 9, "PER"]]}) + "\n")
    with Project.create(tmp_path / "p.spanlab") as project:
        project.set_tokenizer(tokenizer)
        import_file(project, text_file)
        import_file(project, jsonl)
        assert [words(project.get_document(i)) for i in project.document_ids()] == [expected] * 2
        assert [(s["start"], s["end"]) for s in project.spans(2)] == [(4, 9)]


def test_a_jsonl_span_is_checked_against_the_projects_tokenizer(tmp_path: Path) -> None:
    jsonl = write(tmp_path, "a.jsonl", json.dumps({"text": TEXT, "label": [[0, 2, "T"]]}) + "\n")
    with Project.create(tmp_path / "p.spanlab") as project:
        with pytest.raises(ImportFormatError, match="a.jsonl:1: .*word boundaries"):
            import_file(project, jsonl)  # "Mr." is one corpus token: "Mr" cuts it
        project.set_tokenizer("basic")
        import_file(project, jsonl)  # "Mr" "." in the basic tokens
        assert [(s["start"], s["end"]) for s in project.spans(1)] == [(0, 2)]


def test_the_cli_chooses_shows_and_changes_the_tokenizer(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "p.spanlab"
    assert main(["init", str(path), "--tokenizer", "basic"]) == 0
    capsys.readouterr()
    assert main(["settings", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "tokenizer = basic"
    assert main(["settings", str(path), "tokenizer", "corpus"]) == 0
    assert capsys.readouterr().out == "tokenizer = corpus\n"
    assert main(["settings", str(path), "tokenizer", "spacy"]) == 1
    assert "Unknown tokenizer 'spacy'" in capsys.readouterr().err
    with Project.open(path) as project:
        assert project.tokenizer() == "corpus"


def test_a_model_splits_raw_text_as_its_project_did(tmp_path, tiny_model_dir, monkeypatch):
    import core.training.predict as predict_module
    from core.training.config import TrainConfig
    from core.training.predict import Predictor
    from core.training.session import run_training

    from training_support import sentence_corpus

    project = Project.create(tmp_path / "p.spanlab", labels=["PER", "LOC"])
    project.set_tokenizer("basic")
    for ex in sentence_corpus(12):
        doc_id = project.add_document(ex["text"], split="train", status="annotated")
        for start, end, label in ex["spans"]:
            project.add_span(doc_id, start, end, label)
    config = TrainConfig(base_model=str(tiny_model_dir), epochs=1, batch_size=8)
    session = run_training(project, config)
    folder = Path(session.final.output_dir)
    saved = json.loads((folder / "train_config.json").read_text(encoding="utf-8"))
    assert saved["word_tokenizer"] == "basic"
    assert project.get_run(session.run_id)["config"]["word_tokenizer"] == "basic"

    seen = []

    def spy(text, name):
        seen.append(name)
        return tokenize(text, name)

    monkeypatch.setattr(predict_module, "tokenize", spy)
    predictor = Predictor(folder)
    assert predictor.word_tokenizer == "basic"
    predictor.predict([TEXT])
    predictor.predict([TEXT], "corpus")  # asked for by name: that one
    assert seen == ["basic", "corpus"]


def test_a_model_without_a_saved_tokenizer_splits_as_corpora_are(tiny_trained_model):
    from core.training.predict import Predictor

    saved = json.loads((tiny_trained_model / "train_config.json").read_text(encoding="utf-8"))
    assert saved["word_tokenizer"] == ""  # trained outside a project
    assert Predictor(tiny_trained_model).word_tokenizer == "corpus"
