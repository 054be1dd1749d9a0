"""JSONL import and export: spaCy/Prodigy ``spans`` and doccano ``label`` styles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ImportFormatError
from core.formats import export_file, import_file, read_jsonl
from core.store import Project

from formats_support import EN_CONLL, snapshot, write

EN = "Angela Merkel visited Paris."
ZH = "张三在北京工作。"


def jsonl(*objects: object) -> str:
    return "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects)


SPACY = jsonl(
    {"text": EN, "spans": [{"start": 0, "end": 13, "label": "PER"}, {"start": 22, "end": 27, "label": "LOC"}]},
    {"text": ZH, "spans": [{"start": 0, "end": 2, "label": "PER"}, {"start": 3, "end": 5, "label": "LOC"}],
     "meta": {"source": "news"}, "split": "dev"},
    {"text": "Nothing to see here."},
)  # fmt: skip
DOCCANO = jsonl(
    {"text": EN, "label": [[0, 13, "PER"], [22, 27, "LOC"]]},
    {"text": ZH, "label": [[0, 2, "PER"], [3, 5, "LOC"]], "meta": {"source": "news"}, "split": "dev"},
    {"text": "Nothing to see here."},
)  # fmt: skip


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.spanlab") as project:
        yield project


def documents(project: Project) -> list[dict]:
    out = []
    for doc_id in project.document_ids():
        doc = project.get_document(doc_id)
        spans = [(s["start"], s["end"], s["label"]) for s in project.spans(doc_id)]
        out.append({k: doc[k] for k in ("text", "split", "status", "meta")} | {"spans": spans})
    return out


@pytest.mark.parametrize("content", [SPACY, DOCCANO], ids=["spacy", "doccano"])
def test_import_both_styles(project: Project, tmp_path: Path, content: str) -> None:
    result = import_file(project, write(tmp_path, "in.jsonl", content))
    assert (result.documents, result.spans, result.new_labels) == (3, 4, ["PER", "LOC"])
    docs = documents(project)
    assert docs[0]["spans"] == [(0, 13, "PER"), (22, 27, "LOC")]
    assert docs[0]["status"] == "annotated" and docs[0]["split"] == "unassigned"
    assert docs[1] == {
        "text": ZH,
        "split": "dev",
        "status": "annotated",
        "meta": {"source": "news"},
        "spans": [(0, 2, "PER"), (3, 5, "LOC")],
    }
    assert docs[2]["status"] == "new"  # no spans key: not annotated yet


def test_other_span_shapes(tmp_path: Path) -> None:
    """doccano's newer ``entities`` objects, and spaCy's old ``entities`` triples."""
    doccano = {
        "text": EN,
        "entities": [{"id": 1, "start_offset": 0, "end_offset": 6, "label": "PER"}],
    }
    spacy_v2 = {"text": EN, "entities": [[0, 6, "PER"]]}
    triples = {"text": EN, "spans": [[0, 6, "PER"]]}
    path = write(tmp_path, "e.jsonl", jsonl(doccano, spacy_v2, triples))
    assert [doc["spans"] for doc in read_jsonl(path)] == [[(0, 6, "PER")]] * 3


def test_split_given_on_import_wins(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path, "in.jsonl", SPACY), split="train")
    assert {d["split"] for d in documents(project)} == {"train"}


@pytest.mark.parametrize("style, key", [("jsonl", "spans"), ("doccano", "label")])
def test_export_then_import_gives_the_same_documents(
    project: Project, tmp_path: Path, style: str, key: str
) -> None:
    import_file(project, write(tmp_path, "in.jsonl", SPACY))
    out = tmp_path / "out.jsonl"
    assert export_file(project, out, format=style) == 3
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert key in lines[0] and key not in lines[2]
    assert lines[1]["split"] == "dev" and lines[1]["meta"] == {"source": "news"}
    with Project.create(tmp_path / "copy.spanlab") as copy:
        import_file(copy, out)
        assert documents(copy) == documents(project)


def test_exported_doccano_line(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path, "in.jsonl", DOCCANO))
    out = tmp_path / "out.jsonl"
    export_file(project, out, format="doccano", split="dev")
    assert out.read_text(encoding="utf-8") == jsonl(
        {"text": ZH, "label": [[0, 2, "PER"], [3, 5, "LOC"]], "meta": {"source": "news"}, "split": "dev"}
    )  # fmt: skip


def test_conll_tokens_survive_a_jsonl_round_trip(project: Project, tmp_path: Path) -> None:
    """Tokens the tokenizer would not give back ("S.AFRICA") travel in the JSONL file."""
    import_file(
        project, write(tmp_path, "in.conll", "S.AFRICA\tB-MISC\nofficials\tO\n\n" + EN_CONLL)
    )
    out = tmp_path / "out.jsonl"
    export_file(project, out, format=None)  # by the extension
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert [t["text"] for t in first["tokens"]] == ["S.AFRICA", "officials"]
    assert "tokens" not in json.loads(out.read_text(encoding="utf-8").splitlines()[1])
    with Project.create(tmp_path / "copy.spanlab") as copy:
        import_file(copy, out)
        back = tmp_path / "back.conll"
        export_file(copy, back)
    assert back.read_text(encoding="utf-8") == "S.AFRICA\tB-MISC\nofficials\tO\n\n" + EN_CONLL


def test_snap_grows_spans_that_cut_words(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "cut.jsonl", jsonl({"text": EN, "label": [[0, 10, "PER"]]}))
    with pytest.raises(ImportFormatError, match="word boundaries"):
        import_file(project, path)
    import_file(project, path, snap=True)
    assert documents(project)[0]["spans"] == [(0, 13, "PER")]


BAD_LINES = {
    "bad json": ('{"text": "a"', "bad JSON"),
    "not an object": ('["text"]', "a JSON list"),
    "missing text": ('{"spans": []}', 'missing "text"'),
    "text not a string": ('{"text": 3}', '"text" is a int'),
    "empty text": ('{"text": " "}', '"text" is empty'),
    "span out of range": (jsonl({"text": ZH, "label": [[5, 40, "LOC"]]}), "out of range"),
    "negative offset": (jsonl({"text": EN, "label": [[-1, 6, "PER"]]}), "out of range"),
    "span not a span": (jsonl({"text": EN, "spans": [{"start": 0, "label": "PER"}]}), "is not a span"),
    "text-classification label": (jsonl({"text": EN, "label": ["positive"]}), "is not a span"),
    "overlapping spans": (
        jsonl({"text": EN, "label": [[0, 13, "PER"], [7, 13, "PER"]]}),
        "overlapping spans [0, 13, 'PER'] and [7, 13, 'PER']",
    ),
    "span cuts a word": (jsonl({"text": EN, "label": [[0, 3, "PER"]]}), "word boundaries"),
    "label with a space": (jsonl({"text": EN, "label": [[0, 6, "A B"]]}), "bad label"),
    "unknown split": (jsonl({"text": EN, "split": "training"}), "unknown split 'training'"),
    "meta not an object": (jsonl({"text": EN, "meta": "x"}), '"meta" is not an object'),
    "bad tokens": (jsonl({"text": EN, "tokens": [[0, 99]]}), "runs past the text"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_LINES, ids=list(BAD_LINES))
def test_bad_line_names_the_line_and_writes_nothing(
    project: Project, tmp_path: Path, case: str
) -> None:
    bad, message = BAD_LINES[case]
    import_file(project, write(tmp_path, "good.jsonl", SPACY))
    before = snapshot(project)
    path = write(tmp_path, "bad.jsonl", SPACY + "\n" + bad.rstrip("\n") + "\n")
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, path)
    assert caught.value.line == 5  # the blank line 4 is skipped but counted
    assert message in str(caught.value)
    assert snapshot(project) == before


def test_unknown_label_with_locked_labels(project: Project, tmp_path: Path) -> None:
    project.add_label("PER")
    before = snapshot(project)
    with pytest.raises(ImportFormatError, match="unknown label 'LOC'") as caught:
        import_file(project, write(tmp_path, "in.jsonl", SPACY), lock_labels=True)
    assert caught.value.line == 1
    assert snapshot(project) == before


def test_not_utf8(project: Project, tmp_path: Path) -> None:
    data = SPACY.encode() + '{"text": "Köln"}\n'.encode("cp1252")
    with pytest.raises(ImportFormatError, match="not UTF-8") as caught:
        import_file(project, write(tmp_path, "bad.jsonl", data))
    assert caught.value.line == 4
    assert project.document_ids() == []


def test_empty_file(project: Project, tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="empty"):
        import_file(project, write(tmp_path, "empty.jsonl", ""))
    with pytest.raises(ImportFormatError, match="no documents"):
        import_file(project, write(tmp_path, "blank.jsonl", "\n  \n"))


def test_an_explicit_status_is_kept_and_survives_export(tmp_path):
    from core.formats import export_file, import_file
    from core.store import Project

    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"text": "Alice went home.", "spans": [], "status": "new"}\n'
        '{"text": "Bob stayed.", "spans": [{"start": 0, "end": 3, "label": "PER"}]}\n'
        '{"text": "Nothing here.", "status": "skipped"}\n',
        encoding="utf-8",
    )
    with Project.create(tmp_path / "p.spanlab") as project:
        import_file(project, src)
        statuses = [d["status"] for d in project.list_documents()]
        assert sorted(statuses) == ["annotated", "new", "skipped"]
        out = tmp_path / "out.jsonl"
        export_file(project, out, format="jsonl")
    with Project.create(tmp_path / "q.spanlab") as again:
        import_file(again, out)
        assert sorted(d["status"] for d in again.list_documents()) == sorted(statuses)


def test_an_unknown_status_names_the_line(tmp_path):
    from core.errors import ImportFormatError
    from core.formats import import_file
    from core.store import Project

    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "ok"}\n{"text": "Alice", "status": "done"}\n', encoding="utf-8")
    with Project.create(tmp_path / "p.spanlab") as project:
        with pytest.raises(ImportFormatError, match="status") as caught:
            import_file(project, src)
        assert caught.value.line == 2
        assert project.count_documents() == 0
