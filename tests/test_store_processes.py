"""Two processes on one project file: nothing committed is lost, readers never wait.

The writer runs in a child process driven line by line over stdin, so the test can act
from outside at exactly the moment that matters (another process reads the file; the
writer is killed with SIGKILL) and then look at what the file holds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.store import Project

from process_support import child_env, spanlab

TIMEOUT_S = 60

# Reads commands from stdin, one a line, and answers "ok" when each is done.
WRITER = textwrap.dedent(
    """
    import sys
    from core.store import Project

    project = Project.open(sys.argv[1])
    doc = project.list_documents()[0]["id"]
    for line in sys.stdin:
        command = line.split()
        if command[0] == "span":
            start, end = int(command[1]), int(command[2])
            project.add_span(doc, start, end, "PER")
        elif command[0] == "reopen":  # a second Project on the same file, opened and closed
            Project.open(sys.argv[1]).close()
        elif command[0] == "reopen-ro":
            Project.open(sys.argv[1], readonly=True).close()
        elif command[0] == "import":  # a long write job: hold the write lock until told
            project._conn.execute("BEGIN IMMEDIATE")
            project._conn.execute("UPDATE labels SET colour = colour")
        elif command[0] == "commit":
            project._conn.execute("COMMIT")
        print("ok", flush=True)
    """
)


class Writer:
    """A child process holding the project open for writing."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )

    def do(self, command: str) -> None:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok", f"writer failed on {command!r}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(TIMEOUT_S)


@pytest.fixture
def project_file(tmp_path: Path) -> Path:
    path = tmp_path / "p.spanlab"
    with Project.create(path, labels=["PER"]) as project:
        project.add_document("Alice met Bob and Carol today .")
    return path


def spans_in(path: Path) -> list[tuple[int, int]]:
    with Project.open(path, readonly=True) as project:
        doc = project.list_documents()[0]["id"]
        return [(s["start"], s["end"]) for s in project.spans(doc)]


@pytest.mark.parametrize("reopen", ["reopen", "reopen-ro"])
def test_edits_survive_a_reader_process_and_kill_9(project_file, reopen):
    writer = Writer(project_file)
    try:
        writer.do("span 0 5")
        writer.do(reopen)
        result = spanlab("stats", str(project_file))
        assert result.returncode == 0, result.stderr
        writer.do("span 10 13")
        # The WAL the writer commits into must still be the file's WAL on disk.
        assert Path(f"{project_file}-wal").exists()
    finally:
        writer.kill()
    assert spans_in(project_file) == [(0, 5), (10, 13)]


def test_readers_do_not_wait_for_a_long_write(project_file):
    writer = Writer(project_file)
    try:
        writer.do("import")  # holds the write lock, as an import does
        for command in (["stats", str(project_file)], ["runs", str(project_file)]):
            result = spanlab(*command)
            assert result.returncode == 0, result.stderr
        with Project.open(project_file, readonly=True) as project:
            assert project.count_documents() == 1
        writer.do("commit")
    finally:
        writer.kill()


def test_a_write_while_another_process_writes_says_busy_with_what_to_do(project_file):
    writer = Writer(project_file)
    try:
        writer.do("import")
        source = project_file.with_name("more.txt")
        source.write_text("Dan met Eve .\n", encoding="utf-8")
        result = spanlab("import", str(project_file), str(source))
        assert result.returncode == 1
        assert "busy" in result.stderr and "Try again" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        writer.kill()
