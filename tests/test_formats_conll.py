"""CoNLL import and export: byte-identical round trip, scheme conversion, all-or-nothing."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from core.domain import ReaderDocument
from core.errors import ImportFormatError, SpanAlignmentError, SpanlabError
from core.formats import export_file, guess_format, import_file, read_conll
from core.store import Project

from formats_support import EN_CONLL, ZH_CONLL, snapshot, write
from store_support import committed_rows


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.spanlab", labels=["PER"]) as project:
        yield project


@pytest.mark.parametrize("corpus", [EN_CONLL, ZH_CONLL, EN_CONLL + ZH_CONLL])
def test_round_trip_is_byte_identical(project: Project, tmp_path: Path, corpus: str) -> None:
    source = write(tmp_path, "in.conll", corpus)
    result = import_file(project, source)
    assert result.documents == corpus.count("\n\n")
    assert result.scheme == "iob2"
    out = tmp_path / "out.conll"
    assert export_file(project, out) == result.documents
    assert out.read_bytes() == source.read_bytes()


def test_documents_keep_the_file_tokens(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path, "zh.conll", ZH_CONLL), split="train")
    first, second, _ = (project.get_document(i) for i in project.document_ids())
    assert first["text"] == "我在北京大学读书。"  # no spaces between CJK characters
    assert second["text"] == "苹果公司发布 iPhone 15 。"  # "5" is not CJK
    assert second["tokens"][6:8] == [[7, 13], [14, 16]]
    assert first["split"] == "train" and first["status"] == "annotated"
    assert first["source"] == "zh.conll"
    spans = [(s["start"], s["end"], s["label"]) for s in project.spans(second["id"])]
    assert spans == [(0, 4, "ORG"), (7, 16, "PROD")]
    assert second["text"][7:16] == "iPhone 15"


def test_labels_found_are_created(project: Project, tmp_path: Path) -> None:
    result = import_file(project, write(tmp_path, "en.conll", EN_CONLL))
    assert result.new_labels == ["ORG", "MISC"]
    assert [lb["name"] for lb in project.labels()] == ["PER", "ORG", "MISC"]
    assert result.spans == 5


def test_export_bioes(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path, "en.conll", EN_CONLL))
    out = tmp_path / "out.bioes"
    export_file(project, out, format="conll-bioes")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["EU\tS-ORG", "rejects\tO", "German\tS-MISC"]
    assert lines[10:12] == ["Peter\tB-PER", "Blackburn\tE-PER"]


IOB1 = (
    "Peter\tI-PER\nBlackburn\tI-PER\nmet\tO\nMary\tI-PER\nJane\tB-PER\n\n上\tI-LOC\n海\tI-LOC\n\n"
)
IOB1_AS_IOB2 = (
    "Peter\tB-PER\nBlackburn\tI-PER\nmet\tO\nMary\tB-PER\nJane\tB-PER\n\n上\tB-LOC\n海\tI-LOC\n\n"
)
BIOES = "Peter\tB-PER\nBlackburn\tE-PER\nmet\tO\nMary\tS-PER\n\n上\tB-LOC\n海\tE-LOC\n\n"
BIOES_AS_IOB2 = "Peter\tB-PER\nBlackburn\tI-PER\nmet\tO\nMary\tB-PER\n\n上\tB-LOC\n海\tI-LOC\n\n"


@pytest.mark.parametrize(
    "corpus, scheme, expected",
    [
        (IOB1, "auto", IOB1_AS_IOB2),
        (IOB1, "iob1", IOB1_AS_IOB2),
        (BIOES, "auto", BIOES_AS_IOB2),
        (BIOES, "bioes", BIOES_AS_IOB2),
    ],
)
def test_iob1_and_bioes_convert_to_iob2(
    project: Project, tmp_path: Path, corpus: str, scheme: str, expected: str
) -> None:
    result = import_file(project, write(tmp_path, "in.conll", corpus), scheme=scheme)
    assert result.scheme == ("iob1" if corpus is IOB1 else "bioes")
    out = tmp_path / "out.conll"
    export_file(project, out)
    assert out.read_text(encoding="utf-8") == expected


def test_multi_column_input_keeps_first_and_last_column(project: Project, tmp_path: Path) -> None:
    conll2003 = (
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n\n"
        "-DOCSTART- -X- -X- O\n\nPeter NNP B-NP B-PER\n"  # no blank line at the very end
    )
    import_file(project, write(tmp_path, "eng.train", conll2003))
    out = tmp_path / "out.conll"
    export_file(project, out)
    assert out.read_text(encoding="utf-8") == (
        "-DOCSTART- -X- O O\n\nEU\tB-ORG\nrejects\tO\nGerman\tB-MISC\n\n"
        "-DOCSTART- -X- O O\n\nPeter\tB-PER\n\n"
    )


def test_windows_line_ends_and_a_byte_order_mark(project: Project, tmp_path: Path) -> None:
    data = "\ufeffEU B-ORG\r\nsaid O\r\n\r\n北 B-LOC\r\n京 I-LOC\r\n".encode()
    import_file(project, write(tmp_path, "crlf.conll", data))
    texts = [project.get_document(i)["text"] for i in project.document_ids()]
    assert texts == ["EU said", "北京"]


def test_reader_streams(tmp_path: Path) -> None:
    """Documents come out one at a time: a bad line further down is not read yet."""
    path = write(tmp_path, "late.conll", EN_CONLL + "oops\tX-PER\n\n")
    docs = read_conll(path)
    assert inspect.isgenerator(docs)
    assert next(docs)["text"] == "EU rejects German call to boycott British lamb ."
    with pytest.raises(ImportFormatError, match="Bad tag 'X-PER'"):
        list(docs)


def _bad(tmp_path: Path, content: str | bytes, name: str = "bad.conll") -> Path:
    return write(tmp_path, name, content)


BAD_INPUTS = {  # content, scheme, line, message
    "bad tag": (EN_CONLL + "Paris\tX-LOC\n\n", "auto", 22, "Bad tag 'X-LOC'"),
    "empty label": ("Paris\tB-\n\n", "auto", 1, "Bad tag 'B-'"),
    "inside after outside": ("in\tO\nParis\tI-LOC\n\n", "iob2", 2, "I-LOC follows O"),
    "inside after outside, detected": (
        EN_CONLL + "in\tO\nParis\tI-LOC\n\n",
        "auto",
        23,
        "I-LOC follows O",
    ),
    "inside of another type": ("New\tB-LOC\nYork\tI-ORG\n\n", "auto", 2, "I-ORG follows B-LOC"),
    "one column": ("EU\tB-ORG\nrejects\n\n", "auto", 2, "one column ('rejects')"),
    "bioes not closed": ("New\tB-LOC\nYork\tO\n\n", "bioes", 2, "not closed"),
    "scheme changes": (BIOES_AS_IOB2 + "Paris\tS-LOC\n\n", "auto", 9, "detected from line 1"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_names_the_line_and_writes_nothing(
    project: Project, tmp_path: Path, case: str
) -> None:
    content, scheme, line, message = BAD_INPUTS[case]
    import_file(project, write(tmp_path, "good.conll", ZH_CONLL))  # something to keep
    before = snapshot(project)
    path = _bad(tmp_path, content)
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, path, scheme=scheme)
    error = caught.value
    assert (error.path, error.line) == (str(path), line)
    assert message in str(error)
    assert str(error).startswith(f"{path}:{line}: ")
    assert snapshot(project) == before


def test_lenient_accepts_a_stray_inside_tag(project: Project, tmp_path: Path) -> None:
    path = _bad(tmp_path, "in\tO\nParis\tI-LOC\n\n")
    result = import_file(project, path, scheme="iob2", strict=False)
    assert result.documents == 1
    assert [s["label"] for s in project.spans(project.document_ids()[0])] == ["LOC"]


def test_not_utf8_reports_the_line_of_the_bad_byte(project: Project, tmp_path: Path) -> None:
    before = snapshot(project)
    path = _bad(tmp_path, "EU\tB-ORG\n\nK\xf6ln\tB-LOC\n\n".encode("latin-1"))
    with pytest.raises(ImportFormatError, match="not UTF-8") as caught:
        import_file(project, path)
    assert caught.value.line == 3
    assert "save the file as UTF-8" in str(caught.value)
    assert snapshot(project) == before


@pytest.mark.parametrize("content, message", [("", "empty"), ("\n\n-DOCSTART- O\n\n", "no doc")])
def test_empty_file(project: Project, tmp_path: Path, content: str, message: str) -> None:
    before = snapshot(project)
    with pytest.raises(ImportFormatError, match=message):
        import_file(project, _bad(tmp_path, content))
    assert snapshot(project) == before


def test_unknown_label_with_locked_labels(project: Project, tmp_path: Path) -> None:
    before = snapshot(project)
    path = _bad(tmp_path, "Peter\tB-PER\n\nin\tO\nParis\tB-LOC\n\n")
    with pytest.raises(ImportFormatError, match="unknown label 'LOC'") as caught:
        import_file(project, path, lock_labels=True)
    assert caught.value.line == 4
    assert "locked" in str(caught.value)
    assert snapshot(project) == before


def test_error_after_many_sentences_rolls_everything_back(project: Project, tmp_path: Path) -> None:
    """The store writes in chunks; a bad line far down must still undo all of them."""
    body = "".join(f"Sentence\tO\nnumber\tO\n{i}\tB-NUM\n\n" for i in range(12_000))
    path = _bad(tmp_path, body + "last\tI-NUM\n\n")
    before = snapshot(project)
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, path)
    assert caught.value.line == 48_001
    assert snapshot(project) == before


def test_cancel_writes_nothing(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "many.conll", EN_CONLL * 50)
    before = snapshot(project)
    calls = []
    result = import_file(project, path, should_stop=lambda: calls.append(1) or len(calls) > 20)
    assert result.cancelled and result.documents == 0
    assert snapshot(project) == before


def test_progress_reports_bytes(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "en.conll", EN_CONLL)
    seen: list[tuple[int, int]] = []
    import_file(project, path, progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert seen[-1] == (size, size)


def test_export_one_split_only_annotated(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path, "en.conll", EN_CONLL), split="train")
    import_file(project, write(tmp_path, "zh.conll", ZH_CONLL), split="dev")
    project.add_document("Not annotated yet.", split="dev")
    out = tmp_path / "dev.conll"
    assert export_file(project, out, split="dev") == 3
    assert out.read_text(encoding="utf-8") == ZH_CONLL


def test_export_is_all_or_nothing(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path, "en.conll", EN_CONLL))
    out = write(tmp_path, "out.conll", "old contents\n")
    assert export_file(project, out, should_stop=lambda: True) == 0
    assert out.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []
    with pytest.raises(SpanlabError, match="does not exist"):
        export_file(project, tmp_path / "missing" / "out.conll")


def test_guess_format(tmp_path: Path) -> None:
    assert guess_format(write(tmp_path, "a.conll", "")) == "conll"
    assert guess_format(write(tmp_path, "a.jsonl", "")) == "jsonl"
    assert guess_format(write(tmp_path, "eng.train", EN_CONLL)) == "conll"
    assert guess_format(write(tmp_path, "b.txt", "-DOCSTART- -X- O\n\nEU B-ORG\n")) == "conll"
    assert guess_format(write(tmp_path, "e.txt", "-DOCSTART-\n\nEU B-ORG\n")) == "conll"
    assert guess_format(write(tmp_path, "c.txt", "Just some text.\nMore of it.\n")) == "text"
    assert guess_format(write(tmp_path, "d.txt", '{"text": "x"}\n')) == "jsonl"


def test_tokens_that_are_unicode_spaces_survive(project: Project, tmp_path: Path) -> None:
    """Columns split on ASCII whitespace only, so a full-width space can be a token."""
    corpus = "张\tB-PER\n三\tI-PER\n\u3000\tO\n好\tO\n\n10\u00a0000\tB-NUM\neuros\tO\n\n"
    source = write(tmp_path, "spaces.conll", corpus)
    import_file(project, source)
    out = tmp_path / "out.conll"
    export_file(project, out)
    assert out.read_bytes() == source.read_bytes()


def test_reader_documents_are_stored_as_fully_checked_ones(tmp_path: Path) -> None:
    # The reader's documents skip the store's token and span checks (they are built
    # from one tokenization); they must land exactly as the checked path writes them,
    # search index included (the CJK sentences take its other path).
    docs = list(read_conll(write(tmp_path, "in.conll", EN_CONLL + ZH_CONLL)))
    assert all(type(doc) is ReaderDocument for doc in docs)
    paths = tmp_path / "fast.spanlab", tmp_path / "checked.spanlab"
    with Project.create(paths[0]) as fast, Project.create(paths[1]) as checked:
        assert fast.add_reader_documents(docs) == checked.add_documents(dict(d) for d in docs)
        assert fast._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    fast_rows, checked_rows = (committed_rows(path) for path in paths)
    for rows in (fast_rows, checked_rows):
        # without created and updated (group_key, added by schema 5, comes after them)
        rows["documents"] = [row[:-3] + row[-1:] for row in rows["documents"]]
    assert fast_rows == checked_rows
    assert len(fast_rows["spans"]) == EN_CONLL.count("B-") + ZH_CONLL.count("B-")


def test_only_reader_documents_skip_the_checks(project: Project) -> None:
    # A plain dict cannot take the trusted door, and a ReaderDocument given to
    # add_documents is checked like any other document.
    plain = {"text": "Peter went", "tokens": [(0, 5), (6, 10)], "spans": [(0, 3, "PER")]}
    with pytest.raises(TypeError, match="not a ReaderDocument"):
        project.add_reader_documents([plain])
    with pytest.raises(SpanAlignmentError, match="word boundaries"):
        project.add_documents([ReaderDocument(plain)])
    assert project.count_documents() == 0
