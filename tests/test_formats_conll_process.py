"""A large CoNLL import read by a second process: the same project as reading it in the
importing process, errors at their line with nothing written, cancel and progress."""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import pytest

import core.formats.conll_process as conll_process
from core.errors import ImportFormatError, SpanlabError
from core.formats import import_file
from core.store import Project
from core.store.document_rows import CHUNK_DOCUMENTS
from core.store.values import MAX_LABEL_CHARS

from formats_support import EN_CONLL, ZH_CONLL, snapshot, write
from store_support import committed_rows

ZH_SENTENCE = ZH_CONLL.split("\n\n")[0] + "\n\n"  # 我在北京大学读书。

# More sentences than one chunk holds, so rows cross the pipe in several messages.
SENTENCES = 2 * CHUNK_DOCUMENTS + 500


def corpus(sentences: int = SENTENCES, bad: str | None = None, bad_at: int = 0) -> str:
    """English and Chinese sentences in -DOCSTART- groups; ``bad`` replaces sentence
    ``bad_at``."""
    pieces = []
    for number in range(sentences):
        if number % 1000 == 999:
            pieces.append("-DOCSTART- -X- O O\n\n")
        if bad is not None and number == bad_at:
            pieces.append(bad)
        else:
            pieces.append(f"Name{number}\tB-PER\nsaid\tO\n.\tO\n\n" if number % 3 else ZH_SENTENCE)
    return "".join(pieces)


def line_of_sentence(number: int) -> int:
    """The 1-based line where sentence ``number`` of ``corpus`` starts."""
    head = corpus(number + 1, bad="\x00", bad_at=number)
    return head[: head.index("\x00")].count("\n") + 1


@pytest.fixture
def by_process(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen]:
    """Every CoNLL file is read by a second process; returns the processes started."""
    started: list[subprocess.Popen] = []
    popen = subprocess.Popen

    def recording_popen(args: list[str], **kwargs: object) -> subprocess.Popen:
        started.append(popen(args, **kwargs))
        return started[-1]

    monkeypatch.setattr(conll_process, "PROCESS_MIN_BYTES", 0)
    monkeypatch.setattr(conll_process.subprocess, "Popen", recording_popen)
    return started


def stored(project: Project) -> tuple[dict, list[tuple]]:
    rows = project._conn.execute(
        "SELECT id, text, tokens, split, status, source, meta, group_key FROM documents ORDER BY id"
    ).fetchall()
    return snapshot(project), rows


def test_the_reading_process_stores_what_the_importing_process_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_process: list
) -> None:
    path = write(tmp_path, "news.conll", corpus())
    projects = {}
    for way in ("process", "in-process"):
        if way == "in-process":
            monkeypatch.setattr(conll_process, "PROCESS_MIN_BYTES", 1 << 62)
        project = Project.create(tmp_path / f"{way}.spanlab", labels=["PER"])
        result = import_file(project, path, split="train")
        assert (result.documents, result.scheme, result.cancelled) == (SENTENCES, "iob2", False)
        assert result.new_labels == ["ORG"]
        projects[way] = (result.spans, stored(project))
        if way == "process":
            assert project.list_documents(search="name4321")[0]["preview"] == "Name4321 said ."
            assert project.count_documents(search="北") == (SENTENCES + 2) // 3
        project.close()
    # Only the first import was read by a second process, which ended on its own.
    assert [reader.returncode for reader in by_process] == [0]
    assert projects["process"] == projects["in-process"]
    _, (_, rows) = projects["process"]
    groups = [row[-1] for row in rows]  # -DOCSTART- groups kept
    assert groups[998] is None and groups[999] == "news.conll#1"
    assert groups[-1] == f"news.conll#{SENTENCES // 1000}"


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("lonely\n\n", "one column ('lonely')"),
        ("Paris\tI-LOC\n\n", "I-LOC"),
        (f"Paris\tB-{'X' * (MAX_LABEL_CHARS + 1)}\n\n", "long"),  # refused by the store
    ],
)
def test_an_error_in_a_later_chunk_names_its_line_and_writes_nothing(
    tmp_path: Path, by_process: list, bad: str, problem: str
) -> None:
    at = CHUNK_DOCUMENTS + 7
    path = write(tmp_path, "bad.conll", corpus(bad=bad, bad_at=at))
    with Project.create(tmp_path / "p.spanlab", labels=["PER"]) as project:
        before = committed_rows(project.path)
        with pytest.raises(ImportFormatError) as caught:
            import_file(project, path)
        assert committed_rows(project.path) == before
        assert project.count_documents() == 0
    assert by_process
    line = line_of_sentence(at)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert problem in caught.value.reason


def test_a_sentence_over_the_callers_limit_is_refused_by_the_reading_process(
    tmp_path: Path, by_process: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conll_process.common, "MAX_DOCUMENT_CHARS", 1000)
    path = write(tmp_path, "long.conll", EN_CONLL + "w" * 1001 + "\tO\n")
    with (
        Project.create(tmp_path / "p.spanlab") as project,
        pytest.raises(ImportFormatError) as caught,
    ):
        import_file(project, path)
    assert caught.value.line == EN_CONLL.count("\n") + 1
    assert "longer than 1,000 characters" in caught.value.reason


def test_cancel_mid_import_writes_nothing_and_stops_the_reader(
    tmp_path: Path, by_process: list
) -> None:
    path = write(tmp_path, "news.conll", corpus())
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 2  # after the first chunk or two are written

    with Project.create(tmp_path / "p.spanlab", labels=["PER"]) as project:
        before = committed_rows(project.path)
        result = import_file(project, path, should_stop=should_stop)
        assert result.cancelled and result.documents == 0
        assert committed_rows(project.path) == before
        # The project takes the next write straight away: the import's lock has gone.
        assert project.add_document("Peter said .") > 0
    assert [reader.returncode is not None for reader in by_process] == [True]


def test_progress_follows_the_reader_to_the_end(tmp_path: Path, by_process: list) -> None:
    path = write(tmp_path, "news.conll", corpus())
    reports: list[tuple[int, int]] = []
    with Project.create(tmp_path / "p.spanlab") as project:
        import_file(project, path, progress=lambda done, total: reports.append((done, total)))
    size = path.stat().st_size
    assert reports[-1] == (size, size)
    assert all(total == size for _, total in reports)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_a_reading_process_that_dies_is_an_error_and_nothing_is_written(
    tmp_path: Path, by_process: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conll_process, "_CHILD", "import os; os._exit(3)")
    path = write(tmp_path, "news.conll", EN_CONLL)
    with Project.create(tmp_path / "p.spanlab") as project:
        with pytest.raises(SpanlabError, match="exit code 3. Nothing was imported"):
            import_file(project, path)
        assert project.count_documents() == 0


def test_a_small_file_is_read_in_the_importing_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("a small file started a reading process")

    monkeypatch.setattr(conll_process.subprocess, "Popen", no_process)
    path = write(tmp_path, "news.conll", EN_CONLL)
    with Project.create(tmp_path / "p.spanlab") as project:
        assert import_file(project, path).documents == 3


def test_an_import_error_crosses_a_process_boundary_whole() -> None:
    error = ImportFormatError("a.conll", 7, "one column ('x')", "put the tag last")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.line, copy.reason, copy.hint, str(copy)) == (
        error.path,
        error.line,
        error.reason,
        error.hint,
        str(error),
    )
