"""Damaged, truncated and write-protected project files: called what they are, never
written to, and the way out named."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from core.errors import ProjectDamagedError, ProjectFileError
from core.store import Project

from process_support import CLI, READ_ONLY_MOUNT, python_in_namespace, spanlab
from store_support import filled_project


@pytest.fixture
def big_project(tmp_path: Path) -> Path:
    """A project of several hundred pages, closed (its WAL folded into the file)."""
    path = tmp_path / "p.spanlab"
    with filled_project(path) as project:
        project.add_documents(
            {"text": f"Alice in Paris , document number {i} .", "spans": [(0, 5, "PER")]}
            for i in range(3000)
        )
    return path


def overwrite_middle(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as handle:  # the project is closed: no connection in this process
        handle.seek(size // 2)
        handle.write(b"\xff" * 8192)


def test_bytes_overwritten_in_the_middle_are_called_damaged_and_nothing_is_written(
    big_project, tmp_path
):
    overwrite_middle(big_project)
    before = big_project.read_bytes()
    with pytest.raises(ProjectDamagedError, match="is damaged"):
        Project.open(big_project)
    source = tmp_path / "more.txt"
    source.write_text("Bob went to Rome .\n")
    result = spanlab("import", str(big_project), str(source))
    assert result.returncode == 1
    assert "is damaged" in result.stderr and "Traceback" not in result.stderr
    assert big_project.read_bytes() == before


def test_a_truncated_project_is_damaged_not_a_stranger(big_project):
    size = big_project.stat().st_size
    with big_project.open("r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(ProjectDamagedError, match="is damaged"):
        Project.open(big_project)
    result = spanlab("stats", str(big_project))
    assert result.returncode == 1 and "damaged" in result.stderr
    assert "Traceback" not in result.stderr and "create a new project" not in result.stderr


def test_the_damaged_message_points_to_the_backup_made_before_an_import(big_project, tmp_path):
    source = tmp_path / "more.txt"
    source.write_text("Bob went to Rome .\n")
    assert spanlab("import", str(big_project), str(source)).returncode == 0
    backup = big_project.with_name("p.spanlab.bak")
    with Project.open(backup, readonly=True) as copy:
        assert copy.count_documents() == 3004  # as it was before the import
    overwrite_middle(big_project)
    with pytest.raises(ProjectDamagedError, match="p.spanlab.bak"):
        Project.open(big_project)


def test_a_non_project_file_is_still_not_a_project(tmp_path):
    path = tmp_path / "notes.spanlab"
    path.write_text("hello")
    with pytest.raises(ProjectFileError, match="not a Spanlab project"):
        Project.open(path)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ProjectFileError, match="not a Spanlab project"):
        Project.open(other, readonly=True)


def spanlab_read_only(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """``spanlab`` with ``folder`` (and the project in it) write-protected."""
    if os.geteuid() != 0:  # permission bits do the work (the fixture set them)
        return spanlab(*args)
    return python_in_namespace(
        READ_ONLY_MOUNT, folder, f"import sys; sys.argv[1:] = {list(args)!r}\n{CLI}"
    )


@pytest.fixture
def locked_copy(big_project, tmp_path):
    """The project in a folder of its own that the command may read but not write."""
    folder = tmp_path / "locked"
    folder.mkdir()
    path = folder / "p.spanlab"
    shutil.copy(big_project, path)
    if os.geteuid() == 0:
        probe = spanlab_read_only(folder, "--help")
        if probe.returncode != 0:
            pytest.skip(f"cannot mount a folder read-only here: {probe.stderr.strip()}")
    else:
        os.chmod(path, 0o444)
        os.chmod(folder, 0o555)
    yield path
    os.chmod(folder, 0o755)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_a_write_protected_project_can_be_read_and_refuses_writes_clearly(locked_copy, tmp_path):
    folder = locked_copy.parent
    result = spanlab_read_only(folder, "stats", str(locked_copy))
    assert result.returncode == 0, result.stderr
    assert "3,004" in result.stdout
    before = locked_copy.read_bytes()
    source = tmp_path / "more.txt"
    source.write_text("Bob .\n")
    result = spanlab_read_only(folder, "import", str(locked_copy), str(source))
    assert result.returncode == 1
    assert "read-only" in result.stderr and "Traceback" not in result.stderr
    assert locked_copy.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["p.spanlab"]
