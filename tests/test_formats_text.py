"""Plain-text import: one new document per non-blank line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ImportFormatError
from core.formats import import_file, read_text
from core.store import Project

from formats_support import write


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.spanlab") as project:
        yield project


def test_one_document_per_line(project: Project, tmp_path: Path) -> None:
    path = write(
        tmp_path, "in.txt", "\ufeffAngela Merkel visited Paris.\n\n  张三在北京工作。  \r\n"
    )
    result = import_file(project, path, split="test")
    assert (result.documents, result.spans, result.scheme) == (2, 0, None)
    docs = [project.get_document(i) for i in project.document_ids()]
    assert [d["text"] for d in docs] == ["Angela Merkel visited Paris.", "张三在北京工作。"]
    assert {(d["status"], d["split"], d["source"]) for d in docs} == {("new", "test", "in.txt")}
    assert docs[1]["tokens"] == [[i, i + 1] for i in range(8)]  # one token per CJK character


def test_reader_yields_plain_dicts(tmp_path: Path) -> None:
    docs = list(read_text(write(tmp_path, "in.txt", "a b\nc\n")))
    assert docs == [
        {"text": "a b", "split": None, "status": "new", "source": "in.txt"},
        {"text": "c", "split": None, "status": "new", "source": "in.txt"},
    ]


def test_not_utf8_names_the_line(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "in.txt", "fine\nalso fine\nM\xfcller\n".encode("latin-1"))
    with pytest.raises(ImportFormatError, match="not UTF-8") as caught:
        import_file(project, path, format="text")
    assert caught.value.line == 3
    assert "byte 0xfc" in str(caught.value)
    assert project.document_ids() == []


def test_empty_file(project: Project, tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="empty"):
        import_file(project, write(tmp_path, "empty.txt", ""), format="text")
    with pytest.raises(ImportFormatError, match="no documents"):
        import_file(project, write(tmp_path, "blank.txt", "\n \n\t\n"), format="text")


def test_cancel_writes_nothing(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "in.txt", "line\n" * 100)
    result = import_file(project, path, should_stop=lambda: True)
    assert result.cancelled
    assert project.document_ids() == []
