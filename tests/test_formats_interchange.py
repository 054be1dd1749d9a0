"""Round trips through Label Studio, brat, Hugging Face datasets and spaCy DocBin, on
English and Chinese documents: the entities come back identical, and the tokens too
where the format carries tokens. Also the CLI's --format choices and --text-key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import main
from core.formats import export_file, import_file
from core.store import Project

from formats_support import EN_CONLL, ZH_CONLL, write

CORPORA = {"en": EN_CONLL, "zh": ZH_CONLL}
#: format -> (the name exported to, whether the format carries the tokens)
FORMATS = {
    "label-studio": ("tasks.json", False),
    "brat": ("brat", False),
    "hf-dataset": ("dataset", True),
    "hf-parquet": ("parquet", True),
}


def conll_project(tmp_path: Path, language: str) -> Project:
    project = Project.create(tmp_path / f"{language}.spanlab")
    source = write(tmp_path, f"{language}.conll", CORPORA[language])
    import_file(project, source, split="train")
    return project


def contents(project: Project) -> list[tuple[str, list[tuple[int, int, str]], str]]:
    out = []
    for doc_id in sorted(project.document_ids()):
        doc = project.get_document(doc_id)
        spans = [(s["start"], s["end"], s["label"]) for s in project.spans(doc_id)]
        out.append((doc["text"], spans, doc["split"]))
    return out


def row_text(row: dict) -> str:
    return " ".join(row["tokens"])


def tokens(project: Project) -> list[list]:
    return [project.get_document(i)["tokens"] for i in sorted(project.document_ids())]


@pytest.mark.parametrize("language", sorted(CORPORA))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_round_trip_keeps_the_entities(tmp_path: Path, fmt: str, language: str) -> None:
    source = conll_project(tmp_path, language)
    name, carries_tokens = FORMATS[fmt]
    target = tmp_path / name
    assert export_file(source, target, format=fmt) == 3
    back = Project.create(tmp_path / "back.spanlab")
    result = import_file(back, target)  # the format is guessed from the file or folder
    assert result.format == ("hf-dataset" if fmt == "hf-parquet" else fmt)
    assert result.documents == 3 and result.spans == 5
    assert contents(back) == contents(source)
    if carries_tokens:
        assert tokens(back) == tokens(source)


def test_a_folder_export_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    source = conll_project(tmp_path, "en")
    target = tmp_path / "brat"
    export_file(source, target, format="brat")
    before = sorted(p.name for p in target.iterdir())
    assert export_file(source, target, format="brat", should_stop=lambda: True) == 0
    assert sorted(p.name for p in target.iterdir()) == before  # the old export stays
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".brat.")] == []
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.docx").write_text("mine")
    with pytest.raises(Exception, match="other files"):
        export_file(source, other, format="brat")
    assert [p.name for p in other.iterdir()] == ["thesis.docx"]


def test_spacy_docbin_reads_back_with_spacy(tmp_path: Path) -> None:
    spacy = pytest.importorskip("spacy", reason="spaCy is an optional extra (spanlab[spacy])")
    from spacy.tokens import DocBin

    for language in CORPORA:
        folder = tmp_path / language
        folder.mkdir()
        source = conll_project(folder, language)
        target = tmp_path / f"{language}.spacy"
        assert export_file(source, target, format="spacy") == 3
        docs = list(DocBin().from_disk(target).get_docs(spacy.blank("xx").vocab))
        expected = contents(source)
        assert [d.text for d in docs] == [text for text, _, _ in expected]
        assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in docs] == [
            spans for _, spans, _ in expected
        ]
        words = [[t.text for t in d if not t.is_space] for d in docs]
        assert words == [
            [text[a:b] for a, b in toks]
            for (text, _, _), toks in zip(expected, tokens(source), strict=True)
        ]


def test_spacy_export_without_spacy_says_how_to_install_it(tmp_path: Path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_spacy(name: str, *args, **kwargs):
        if name == "spacy" or name.startswith("spacy."):
            raise ImportError("No module named 'spacy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_spacy)
    source = conll_project(tmp_path, "en")
    target = tmp_path / "train.spacy"
    with pytest.raises(Exception, match=r"pip install 'spanlab\[spacy\]'"):
        export_file(source, target, format="spacy")
    assert not target.exists()


def test_hf_dataset_reads_back_with_load_from_disk(tmp_path: Path) -> None:
    import datasets

    source = conll_project(tmp_path, "en")
    doc = sorted(source.document_ids())[0]
    source.set_split(doc, "dev")
    target = tmp_path / "dataset"
    export_file(source, target, format="hf-dataset")
    loaded = datasets.load_from_disk(str(target))
    assert list(loaded) == ["train", "validation"]  # dev is the Hub's "validation"
    names = loaded["train"].features["ner_tags"].feature.names
    assert names[0] == "O" and set(names[1:]) == {
        f"{p}-{label}" for label in ("ORG", "MISC", "PER") for p in "BI"
    }
    row = loaded["validation"][0]
    assert row["tokens"] == [
        "EU",
        "rejects",
        "German",
        "call",
        "to",
        "boycott",
        "British",
        "lamb",
        ".",
    ]
    assert [names[t] for t in row["ner_tags"]] == [
        "B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O",
    ]  # fmt: skip
    back = Project.create(tmp_path / "back.spanlab")
    import_file(back, target)
    splits = {text: split for text, _, split in contents(back)}
    assert splits[row_text(row)] == "dev" and sorted(splits.values()) == ["dev", "train", "train"]


def test_hf_parquet_files_read_back_with_load_dataset(tmp_path: Path) -> None:
    import datasets

    source = conll_project(tmp_path, "zh")
    target = tmp_path / "parquet"
    export_file(source, target, format="hf-parquet")
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*.parquet"))
    assert files == ["data/train-00000-of-00001.parquet"]
    loaded = datasets.load_dataset("parquet", data_files={"train": str(target / files[0])})
    features = loaded["train"].features
    assert isinstance(features["ner_tags"].feature, datasets.ClassLabel)
    assert loaded["train"][2]["tokens"] == ["张", "三", "去", "了", "上", "海"]
    single = Project.create(tmp_path / "one.spanlab")
    assert import_file(single, target / files[0]).documents == 3  # one .parquet file


def test_cli_import_and_export_every_format(tmp_path: Path, capsys) -> None:
    source = conll_project(tmp_path, "en")
    source.close()
    for fmt, (name, _) in FORMATS.items():
        out = tmp_path / f"out-{name}"
        assert main(["export", str(tmp_path / "en.spanlab"), str(out), "--format", fmt]) == 0
        assert f"Exported 3 documents to {out}" in capsys.readouterr().out
        project = tmp_path / f"p-{fmt}.spanlab"
        assert main(["init", str(project)]) == 0
        assert main(["import", str(project), str(out), "--format", fmt]) == 0
        assert "Imported 3 documents with 5 entities" in capsys.readouterr().out


def test_cli_text_key_names_the_label_studio_field(tmp_path: Path, capsys) -> None:
    tasks = [
        {"id": 7, "data": {"review": "Anna Berg likes Oslo .", "title": "x"}},
        {"id": 8, "data": {"review": "Kora met Yan .", "title": "y"}},
    ]
    path = write(tmp_path, "tasks.json", json.dumps(tasks))
    project = tmp_path / "p.spanlab"
    main(["init", str(project)])
    capsys.readouterr()
    assert main(["import", str(project), str(path)]) != 0  # two string fields, no "text"
    error = capsys.readouterr().err
    assert "task 7" in error and "--text-key" in error and "'review', 'title'" in error
    assert main(["import", str(project), str(path), "--text-key", "review"]) == 0
    with Project.open(project) as opened:
        texts = [opened.get_document(i)["text"] for i in sorted(opened.document_ids())]
    assert texts == ["Anna Berg likes Oslo .", "Kora met Yan ."]
    out = tmp_path / "back.json"
    assert (
        main(["export", str(project), str(out), "--format", "label-studio", "--text-key", "review"])
        == 0
    )
    assert [t["data"] for t in json.loads(out.read_text("utf-8"))] == [
        {"review": "Anna Berg likes Oslo ."},
        {"review": "Kora met Yan ."},
    ]
