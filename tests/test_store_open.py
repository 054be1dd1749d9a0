"""Creating and opening project files: refusals that leave the file alone, migrations,
transactions, and two connections to one file."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlite_utils import Database

import core.project_file
from core import migrations
from core.errors import ProjectFileError, SpanlabError, ValidationError
from core.store import Project
from core.tokenize import tokenize

from store_support import committed_rows, filled_project

REPO = Path(__file__).resolve().parents[1]


def fingerprint(path: Path) -> tuple:
    """Bytes and modification time of a file, and which sibling files exist."""
    siblings = sorted(p.name for p in path.parent.iterdir() if p.name != path.name)
    return path.read_bytes(), path.stat().st_mtime_ns, siblings


# -- creating ----------------------------------------------------------------------------


def test_create_open_and_models_dir(tmp_path):
    path = tmp_path / "news.spanlab"
    with Project.create(path, labels=["PER"]) as project:
        assert project.path == path
        assert project.models_dir == tmp_path / "news"
        assert project.schema_version == migrations.LATEST
    with Project.open(path) as project:
        assert [row["name"] for row in project.labels()] == ["PER"]
        assert project._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert project._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["news.spanlab"]  # no WAL left behind


def test_models_dir_of_a_file_without_suffix(tmp_path):
    with Project.create(tmp_path / "plain") as project:
        assert project.models_dir == tmp_path / "plain-models"


def test_create_refuses_an_existing_file(tmp_path):
    path = tmp_path / "taken.spanlab"
    path.write_text("mine")
    with pytest.raises(ProjectFileError, match="already exists"):
        Project.create(path)
    assert path.read_text() == "mine"
    with pytest.raises(ProjectFileError, match="does not exist"):
        Project.create(tmp_path / "no" / "such" / "folder.spanlab")


def test_failed_create_leaves_no_file(tmp_path):
    path = tmp_path / "p.spanlab"
    with pytest.raises(ValidationError):
        Project.create(path, labels=["PER", "BAD NAME"])
    assert list(tmp_path.iterdir()) == []


def test_open_or_create(tmp_path):
    path = tmp_path / "p.spanlab"
    with Project.open_or_create(path) as project:
        project.add_label("PER")
    with Project.open_or_create(path) as project:
        assert [row["name"] for row in project.labels()] == ["PER"]


def test_open_missing_file_or_folder(tmp_path):
    with pytest.raises(ProjectFileError, match="no project"):
        Project.open(tmp_path / "missing.spanlab")
    with pytest.raises(ProjectFileError, match="folder"):
        Project.open(tmp_path)


# -- refusing files that are not (this version's) projects ------------------------------


def write_other_sqlite(path: Path, wal: bool) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE documents (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO documents (text) VALUES ('not ours')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.write_bytes(os.urandom(5000)),
        lambda p: p.write_bytes(b""),
        lambda p: p.write_text("Alice lives in New York .\n"),
        lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50),
        lambda p: write_other_sqlite(p, wal=False),
        lambda p: write_other_sqlite(p, wal=True),
    ],
    ids=["random-bytes", "empty", "text", "short-header", "other-sqlite", "other-sqlite-wal"],
)
def test_not_a_project_is_refused_and_left_alone(tmp_path, make):
    path = tmp_path / "thing.spanlab"
    make(path)
    before = fingerprint(path)
    time.sleep(0.01)
    with pytest.raises(ProjectFileError, match="not a Spanlab project"):
        Project.open(path)
    with pytest.raises(ProjectFileError):
        Project.open_or_create(path)
    assert fingerprint(path) == before


def set_user_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


def test_newer_schema_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "future.spanlab"
    filled_project(path).close()
    set_user_version(path, migrations.LATEST + 1)
    before = fingerprint(path)
    time.sleep(0.01)
    with pytest.raises(ProjectFileError, match="newer version of Spanlab"):
        Project.open(path)
    assert fingerprint(path) == before


def test_newer_schema_still_in_the_write_ahead_log_is_refused(tmp_path):
    path = tmp_path / "future.spanlab"
    filled_project(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("PRAGMA wal_autocheckpoint = 0")
        other.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
        main_file = path.read_bytes()
        with pytest.raises(ProjectFileError, match="newer version"):
            Project.open(path)
        assert path.read_bytes() == main_file
        assert other.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST + 1
    finally:
        other.close()


def test_damaged_project_is_refused(tmp_path):
    path = tmp_path / "damaged.spanlab"
    filled_project(path).close()
    data = bytearray(path.read_bytes())
    data[100:1100] = os.urandom(1000)
    path.write_bytes(bytes(data))
    before = fingerprint(path)
    with pytest.raises(ProjectFileError):
        Project.open(path)
    assert fingerprint(path) == before


# -- migrations ------------------------------------------------------------------------------


def write_version_1(path: Path) -> None:
    """A project as the first release wrote it: tables only, no full-text index."""
    db = Database(sqlite3.connect(path, isolation_level=None))
    migrations.m001_create_tables(db)
    conn = db.conn
    conn.execute(
        "INSERT INTO labels (name, colour, shortcut, position) VALUES ('PER', '#8dd3c7', '1', 0)"
    )
    for text in ("Alice met Bob", "我 住 在 北京"):
        conn.execute(
            "INSERT INTO documents (text, tokens, created, updated) VALUES (?, ?, 'then', 'then')",
            [text, "[]"],
        )
    conn.execute('INSERT INTO spans (document_id, "start", "end", label_id) VALUES (1, 0, 5, 1)')
    conn.execute(f"PRAGMA application_id = {migrations.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_version_1_file_is_migrated_forward(tmp_path):
    path = tmp_path / "old.spanlab"
    write_version_1(path)
    with Project.open(path) as project:
        assert project.schema_version == migrations.LATEST
        assert [row["id"] for row in project.list_documents(search="alice")] == [1]
        assert [row["id"] for row in project.list_documents(search="北京")] == [2]
        assert project.spans(1)[0]["label"] == "PER"
        project.add_document("Carol too")
        assert [row["id"] for row in project.list_documents(search="carol")] == [3]
    with Project.open(path) as project:  # nothing left to migrate
        assert project.count_documents() == 3


# What search_text spaced apart up to schema version 3: fewer ranges than the tokenizer.
_VERSION_3_CJK = re.compile(
    "([\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uffdc"
    "\U00020000-\U0003134f])"
)
HENTAIGANA = "\U0001b001\U0001b002"  # kana supplement: one token each, not in that list


def write_version_3(path: Path, texts: list[str]) -> None:
    """A project as schema version 3 wrote it, its index built with that search_text."""
    db = Database(sqlite3.connect(path, isolation_level=None))
    migrations.m001_create_tables(db)
    conn = db.conn
    conn.execute("CREATE VIRTUAL TABLE documents_fts USING fts5 (text, content='')")
    for text in texts:
        cursor = conn.execute(
            "INSERT INTO documents (text, tokens, created, updated) VALUES (?, ?, 'then', 'then')",
            [text, json.dumps(tokenize(text, "basic"))],
        )
        indexed = _VERSION_3_CJK.sub(r" \1 ", text)
        conn.execute(
            "INSERT INTO documents_fts (rowid, text) VALUES (?, ?)", [cursor.lastrowid, indexed]
        )
    migrations.m003_run_owner(db)
    conn.execute(f"PRAGMA application_id = {migrations.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 3")
    conn.close()


def test_a_version_3_index_is_rebuilt_so_every_cjk_character_is_found(tmp_path):
    path = tmp_path / "old.spanlab"
    write_version_3(path, [f"{HENTAIGANA} is kana", "北京 and Alice"])
    with Project.open(path) as project:
        assert project.schema_version == migrations.LATEST >= 4
        assert project.document_ids(search=HENTAIGANA[0]) == [1]
        assert project.document_ids(search="京") == [2]
        assert project.document_ids(search="alice") == [2]
        # The rebuilt index repeats what it indexed, so a delete takes the row out whole.
        project.delete_document(1)
        assert project.document_ids(search=HENTAIGANA[0]) == []
        assert project.document_ids(search="kana") == []
        assert project.document_ids(search="alice") == [2]


def test_migrations_are_numbered_functions():
    assert len(migrations.MIGRATIONS) == migrations.LATEST
    assert [m.__name__[:4] for m in migrations.MIGRATIONS] == [
        f"m{n:03d}" for n in range(1, migrations.LATEST + 1)
    ]


# -- transactions ----------------------------------------------------------------------------


def test_atomic_groups_edits_and_rolls_back_on_error(tmp_path):
    with filled_project(tmp_path / "p.spanlab") as project:
        before = committed_rows(project.path)
        with pytest.raises(RuntimeError), project.atomic():
            project.add_label("ORG")
            project.set_status(1, "annotated")
            raise RuntimeError("changed my mind")
        assert committed_rows(project.path) == before
        with project.atomic():
            project.add_label("ORG")
            project.set_status(1, "annotated")
            assert committed_rows(project.path) == before  # not committed yet
        assert committed_rows(project.path) != before


def test_nested_failure_undoes_only_its_own_writes(tmp_path):
    with filled_project(tmp_path / "p.spanlab") as project:
        with project.atomic():
            project.add_label("ORG")
            with pytest.raises(ValidationError):
                project.add_label("ORG")
            project.add_label("MISC")
        assert [row["name"] for row in project.labels()] == ["PER", "LOC", "ORG", "MISC"]


# -- connections ------------------------------------------------------------------------------


def test_two_projects_on_one_file(tmp_path):
    path = tmp_path / "shared.spanlab"
    with filled_project(path) as first, Project.open(path) as second:
        first.add_document("Written by the first")
        assert second.count_documents() == 5
        second.add_label("ORG")
        assert [row["name"] for row in first.labels()][-1] == "ORG"


def test_a_writer_waits_for_another_connection_to_commit(tmp_path):
    path = tmp_path / "shared.spanlab"
    holding = threading.Event()
    errors: list[BaseException] = []

    def hold_the_write_lock() -> None:
        try:
            with Project.open(path) as other, other.atomic():
                other.add_document("From the other thread")
                holding.set()
                time.sleep(0.5)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
            holding.set()

    with filled_project(path) as project:
        worker = threading.Thread(target=hold_the_write_lock)
        worker.start()
        holding.wait(5)
        assert project.count_documents() == 4  # readers are not blocked
        started = time.monotonic()
        project.add_document("From the main thread")
        waited = time.monotonic() - started
        worker.join()
        assert not errors
        assert waited > 0.2
        assert project.count_documents() == 6


def test_a_writer_that_waits_too_long_gets_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "shared.spanlab"
    with filled_project(path) as project:
        monkeypatch.setattr(core.project_file, "BUSY_TIMEOUT_S", 0.1)
        with Project.open(path) as other:  # opened with the short timeout
            with project.atomic():
                project.add_label("ORG")
                with pytest.raises(SpanlabError, match="busy"):
                    other.add_label("MISC")
            assert [row["name"] for row in other.labels()] == ["PER", "LOC", "ORG"]


def test_another_process_can_write_while_open(tmp_path):
    path = tmp_path / "shared.spanlab"
    code = (
        "import sys; from core.store import Project\n"
        "with Project.open(sys.argv[1]) as p: p.add_document('From another process')\n"
    )
    with filled_project(path) as project:
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        assert [row["id"] for row in project.list_documents(search="process")] == [5]


def test_connection_belongs_to_the_opening_thread(tmp_path):
    caught: list[BaseException] = []
    with filled_project(tmp_path / "p.spanlab") as project:
        thread = threading.Thread(target=lambda: _try(project.labels, caught))
        thread.start()
        thread.join()
    assert len(caught) == 1 and isinstance(caught[0], sqlite3.ProgrammingError)


def _try(call, caught: list[BaseException]) -> None:
    try:
        call()
    except BaseException as error:
        caught.append(error)


def test_a_read_only_command_brings_an_older_project_up_to_date_first(tmp_path, capsys):
    from core.cli import main
    from core.errors import ProjectNeedsUpgradeError

    path = tmp_path / "old.spanlab"
    write_version_3(path, ["Alice met Bob .", "北京"])
    with pytest.raises(ProjectNeedsUpgradeError, match="older version"):
        Project.open(path, readonly=True)
    assert main(["stats", str(path)]) == 0
    assert "2" in capsys.readouterr().out
    with Project.open(path, readonly=True) as project:
        assert project.schema_version == migrations.LATEST
        assert project.count_documents() == 2
