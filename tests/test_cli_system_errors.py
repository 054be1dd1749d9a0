"""The command line meets the operating system: a closed pipe, a full disk, a
write-protected folder. One line on stderr, a non-zero exit, nothing half-written.

The full disk is real: a 1 MiB tmpfs mounted in a mount namespace of the command's own
(root only; skipped where mounting is not allowed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.store import Project

from process_support import (
    CLI,
    READ_ONLY_MOUNT,
    SMALL_DISK_MOUNT,
    can_mount,
    child_env,
    python_in_namespace,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "p.spanlab"
    with Project.create(path, labels=["PER"]) as created:
        created.add_documents(
            {"text": f"Alice met Bob , meeting number {i} of many .", "spans": [(0, 5, "PER")]}
            for i in range(20000)
        )
    return path


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spanlab: error: "), result.stderr
    return lines[0]


def test_a_closed_pipe_ends_quietly(project):
    result = subprocess.run(
        f"'{sys.executable}' -c '{CLI}' stats '{project}' | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip()
    assert result.stderr == ""


def test_export_to_a_full_disk_says_so_and_leaves_nothing(project, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if not can_mount(disk):
        pytest.skip("mounting a small tmpfs needs root and mount namespaces")
    script = (
        f"import os, sys; sys.argv[1:] = ['export', {str(project)!r}, {str(disk / 'out.jsonl')!r}]\n"
        "from core.cli import main\n"
        "code = main()\n"
        "print(sorted(os.listdir(" + repr(str(disk)) + ")))\n"
        "sys.exit(code)"
    )
    result = python_in_namespace(SMALL_DISK_MOUNT, disk, script)
    line = one_line_error(result)
    assert "No space left on device" in line and "free some space" in line.lower()
    assert result.stdout.strip() == "[]"  # no partial export, no temporary file


def test_import_into_a_project_on_a_full_disk_says_so_and_changes_nothing(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if not can_mount(disk):
        pytest.skip("mounting a small tmpfs needs root and mount namespaces")
    source = tmp_path / "big.txt"
    source.write_text("".join(f"Carol met Dave in Rome , line {i} .\n" for i in range(40000)))
    project = disk / "p.spanlab"
    script = (
        "import sys\n"
        "from core.store import Project\n"
        "from core.cli import main\n"
        f"Project.create({str(project)!r}, labels=['PER']).close()\n"
        f"code = main(['import', {str(project)!r}, {str(source)!r}])\n"
        f"with Project.open({str(project)!r}, readonly=True) as p: print(p.count_documents())\n"
        "sys.exit(code)"
    )
    result = python_in_namespace(SMALL_DISK_MOUNT, disk, script)
    line = one_line_error(result)
    assert "full" in line and "free some space" in line.lower()
    assert result.stdout.strip() == "0"


def test_export_into_a_read_only_folder_says_so(project, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    if not can_mount(folder):
        pytest.skip("a read-only bind mount needs root and mount namespaces")
    script = (
        f"import sys; sys.argv[1:] = ['export', {str(project)!r}, {str(folder / 'out.conll')!r}]\n"
        "from core.cli import main\n"
        "sys.exit(main())"
    )
    line = one_line_error(python_in_namespace(READ_ONLY_MOUNT, folder, script))
    assert "out.conll" in line or str(folder) in line
    assert "Read-only file system" in line or "read-only" in line
    assert list(folder.iterdir()) == []
