"""brat standoff folders: notes, attributes, relations and events are skipped and
counted; a discontinuous span is an error naming the .ann file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ImportFormatError
from core.formats import export_file, import_file
from core.store import Project

from formats_support import snapshot

TEXT = "Barack Obama visited Nairobi in 2015.\nHe met Uhuru Kenyatta there.\n"
ANN = (
    "T1\tPerson 0 12\tBarack Obama\n"
    "T2\tLocation 21 28\tNairobi\n"
    "#1\tAnnotatorNotes T1\tthe 44th president\n"
    "A1\tNegated T2\n"
    "R1\tVisited Arg1:T1 Arg2:T2\n"
    "E1\tTravel:T1 Destination:T2\n"
    "N1\tReference T2 Wikipedia:Nairobi\tNairobi\n"
    "\n"
    "T3\tPerson 45 59\tUhuru Kenyatta\n"
)


def brat_folder(tmp_path: Path, ann: str = ANN) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "visit.txt").write_text(TEXT, encoding="utf-8")
    (folder / "visit.ann").write_text(ann, encoding="utf-8")
    (folder / "plain.txt").write_text("No annotation file for this one.\n", encoding="utf-8")
    (folder / "annotation.conf").write_text("[entities]\nPerson\nLocation\n", encoding="utf-8")
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.create(tmp_path / "p.spanlab")


def test_text_bound_spans_import_and_the_rest_is_counted(project: Project, tmp_path: Path) -> None:
    result = import_file(project, brat_folder(tmp_path))  # a folder: guessed as brat
    assert result.format == "brat" and (result.documents, result.spans) == (2, 3)
    assert result.skipped == {
        "note lines": 1,
        "attribute lines": 1,
        "relation lines": 1,
        "event lines": 1,
        "normalization lines": 1,
    }
    plain, visit = sorted(project.document_ids())
    assert project.get_document(plain)["source"] == "plain.txt"
    assert project.get_document(plain)["status"] == "new" and project.spans(plain) == []
    doc = project.get_document(visit)
    assert doc["text"] == TEXT and doc["source"] == "visit.txt" and doc["status"] == "annotated"
    spans = [(s["start"], s["end"], s["label"]) for s in project.spans(visit)]
    assert spans == [(0, 12, "Person"), (21, 28, "Location"), (45, 59, "Person")]


def test_a_discontinuous_span_names_the_ann_file_and_line(project: Project, tmp_path: Path) -> None:
    ann = ANN + "T4\tLocation 0 6;7 12\tBarack Obama\n"
    before = snapshot(project)
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, brat_folder(tmp_path, ann))
    error = caught.value
    assert error.path.endswith("visit.ann") and error.line == ANN.count("\n") + 1
    assert "discontinuous" in error.reason and "0 6;7 12" in error.reason
    assert snapshot(project) == before


def test_overlapping_spans_and_wrong_text_are_refused(project: Project, tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, brat_folder(tmp_path, ANN + "T9\tPerson 7 12\tObama\n"))
    assert caught.value.line == ANN.count("\n") + 1 and "overlap" in caught.value.reason
    (tmp_path / "corpus").rename(tmp_path / "first")
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, brat_folder(tmp_path, "T1\tPerson 0 12\tBarack Obamb\n"))
    assert caught.value.line == 1 and "'Barack Obamb'" in caught.value.reason
    assert project.count_documents() == 0


def test_export_writes_pairs_brat_reads(project: Project, tmp_path: Path) -> None:
    import_file(project, brat_folder(tmp_path))
    plain, visit = sorted(project.document_ids())
    project.set_split(visit, "train")
    out = tmp_path / "out"
    assert export_file(project, out, format="brat") == 2
    assert (out / "train" / "visit.ann").read_text("utf-8") == (
        "T1\tPerson 0 12\tBarack Obama\nT2\tLocation 21 28\tNairobi\nT3\tPerson 45 59\tUhuru Kenyatta\n"
    )
    assert (out / "train" / "visit.txt").read_bytes() == TEXT.encode("utf-8")
    assert (out / "plain.txt").is_file() and not (out / "plain.ann").exists()  # a new document
    assert "[entities]\nPerson\nLocation" in (out / "annotation.conf").read_text("utf-8")
    back = Project.create(tmp_path / "back.spanlab")
    import_file(back, out)
    assert snapshot(back)["spans"] == snapshot(project)["spans"]
    assert [back.get_document(i)["split"] for i in sorted(back.document_ids())] == [
        "unassigned",
        "train",
    ]
