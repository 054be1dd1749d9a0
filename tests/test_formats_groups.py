"""Documents keep their grouping through import and export: CoNLL ``-DOCSTART-``
sections, JSONL ``meta.doc``; a file without groups is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ImportFormatError
from core.formats import export_file, import_file
from core.store import Project

from formats_support import EN_CONLL, write

TWO_DOCUMENTS = (
    "-DOCSTART- -X- -X- O\n\n"
    "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
    "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
    "-DOCSTART- -X- -X- O\n\n"
    "BRUSSELS NNP B-NP B-LOC\n\n"
)


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.spanlab") as p:
        yield p


def groups(project: Project) -> list[tuple[str, str | None]]:
    docs = [project.get_document(i) for i in project.document_ids()]
    return [(doc["text"], doc["group"]) for doc in docs]


def test_docstart_sections_become_groups_in_file_order(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path, "eng.train", TWO_DOCUMENTS))
    assert groups(project) == [
        ("EU rejects", "eng.train#1"),
        ("Peter Blackburn", "eng.train#1"),
        ("BRUSSELS", "eng.train#2"),
    ]
    examples = project.examples()
    assert [ex["group"] for ex in examples] == ["eng.train#1", "eng.train#1", "eng.train#2"]
    assert [ex["id"] for ex in examples] == sorted(ex["id"] for ex in examples)


def test_sentences_before_the_first_docstart_have_no_group(project: Project, tmp_path: Path):
    content = "Alone B-PER\n\n-DOCSTART- -X- O O\n\nEU B-ORG\n\n"
    import_file(project, write(tmp_path, "a.conll", content))
    assert groups(project) == [("Alone", None), ("EU", "a.conll#1")]


def test_conll_export_writes_docstart_before_each_group(project: Project, tmp_path: Path):
    import_file(project, write(tmp_path, "eng.train", TWO_DOCUMENTS))
    out = tmp_path / "out.conll"
    export_file(project, out)
    assert out.read_text(encoding="utf-8") == (
        "-DOCSTART- -X- O O\n\nEU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\nBlackburn\tI-PER\n\n"
        "-DOCSTART- -X- O O\n\nBRUSSELS\tB-LOC\n\n"
    )
    with Project.create(tmp_path / "again.spanlab") as again:  # and reads back the same
        import_file(again, out)
        back = tmp_path / "back.conll"
        export_file(again, back)
        assert [g for _, g in groups(again)] == ["out.conll#1", "out.conll#1", "out.conll#2"]
    assert back.read_bytes() == out.read_bytes()


def test_a_file_without_docstart_still_round_trips_byte_for_byte(project, tmp_path):
    source = write(tmp_path, "plain.conll", EN_CONLL)
    import_file(project, source)
    assert {g for _, g in groups(project)} == {None}
    out = tmp_path / "out.conll"
    export_file(project, out)
    assert out.read_bytes() == source.read_bytes()


def test_jsonl_lines_sharing_meta_doc_form_a_group(project: Project, tmp_path: Path) -> None:
    lines = [
        {"text": "Alice went home .", "meta": {"doc": "story-1"}},
        {"text": "She slept .", "meta": {"doc": "story-1"}},
        {"text": "Bob stayed .", "doc": 7},  # a top-level key, a number
        {"text": "Nobody's .", "meta": {"source": "web"}},
    ]
    path = write(tmp_path, "in.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    import_file(project, path)
    assert [g for _, g in groups(project)] == ["story-1", "story-1", "7", None]
    out = tmp_path / "out.jsonl"
    export_file(project, out, format="jsonl")
    metas = [json.loads(line).get("meta") for line in out.read_text("utf-8").splitlines()]
    assert metas == [{"doc": "story-1"}, {"doc": "story-1"}, {"doc": "7"}, {"source": "web"}]


def test_conll_groups_are_written_to_jsonl_as_meta_doc(project: Project, tmp_path: Path):
    import_file(project, write(tmp_path, "eng.train", TWO_DOCUMENTS))
    out = tmp_path / "out.jsonl"
    export_file(project, out, format="jsonl")
    metas = [json.loads(line)["meta"] for line in out.read_text("utf-8").splitlines()]
    assert metas == [{"doc": "eng.train#1"}, {"doc": "eng.train#1"}, {"doc": "eng.train#2"}]


@pytest.mark.parametrize(
    "line, key",
    [
        ('{"text": "b", "meta": {"doc": [1]}}', "meta.doc"),
        ('{"text": "b", "doc": ""}', "doc"),
        ('{"text": "b", "document": "\\ud800"}', "document"),
    ],
)
def test_a_doc_that_names_nothing_is_refused_with_its_line(project, tmp_path, line, key):
    path = write(tmp_path, "bad.jsonl", '{"text": "a"}\n' + line + "\n")
    with pytest.raises(ImportFormatError, match=f'"{key}" is') as caught:
        import_file(project, path)
    assert caught.value.line == 2
    assert project.count_documents() == 0


def test_text_files_have_no_groups(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path, "notes.txt", "One line .\n\nAnother one .\n"))
    assert [g for _, g in groups(project)] == [None, None]
