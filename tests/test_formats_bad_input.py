"""Bad input to import and export: each gives one clear line (what, where, what to do),
never a traceback, and writes nothing."""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from core import formats
from core.cli import main
from core.errors import ExportError, ImportFormatError
from core.formats import common as formats_common
from core.formats import export as formats_export
from core.formats import export_file, import_file
from core.store import Project

from formats_support import EN_CONLL, snapshot, write


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.spanlab", labels=["PER"]) as project:
        yield project


def refused(project: Project, path: Path, **kwargs: object) -> ImportFormatError:
    """Import ``path``, expect an ImportFormatError, and check that nothing was written."""
    before = snapshot(project)
    with pytest.raises(ImportFormatError) as caught:
        import_file(project, path, **kwargs)
    assert snapshot(project) == before
    message = str(caught.value)
    assert "\n" not in message and len(message) < 600, message
    return caught.value


GOOD_LINE = '{"text": "Angela Merkel visited Paris."}\n'


# -- 1-3: JSON that parses in Python but cannot be stored or written back -------------------


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"text": "ab \\ud800 cd"}', '"text"'),
        ('{"text": "ab cd", "spans": [{"start": 0, "end": 2, "label": "P\\udc00"}]}', '"spans"'),
        ('{"text": "ab cd", "label": [[0, 2, "P\\uDBFF"]]}', '"label"'),
        ('{"text": "ab cd", "meta": {"note": "x\\ud83d"}}', '"meta"'),
        ('{"text": "ab cd", "meta": {"\\ud800": 1}}', '"meta"'),
    ],
    ids=["text", "span-label", "doccano-label", "meta-value", "meta-key"],
)
def test_lone_surrogate_escapes_are_refused(
    project: Project, tmp_path: Path, line: str, field: str
) -> None:
    path = write(tmp_path, "in.jsonl", GOOD_LINE + line + "\n")
    error = refused(project, path)
    assert error.line == 2
    assert field in error.reason and "lone surrogate" in error.reason


def test_a_surrogate_pair_is_one_character(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path, "in.jsonl", '{"text": "ok \\ud83d\\ude00 ok"}\n'))
    assert project.get_document(project.document_ids()[0])["text"] == "ok \U0001f600 ok"


def test_json_nested_very_deeply_is_refused(project: Project, tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    path = write(tmp_path, "in.jsonl", GOOD_LINE + '{"text": "x", "meta": {"a": ' + deep + "}}\n")
    error = refused(project, path)
    assert error.line == 2 and "nested" in error.reason


def test_meta_nested_past_the_limit_is_refused(project: Project, tmp_path: Path) -> None:
    depth = formats.MAX_JSON_DEPTH + 5  # readable by Python, but not worth storing
    meta = "[" * depth + "]" * depth
    path = write(tmp_path, "in.jsonl", '{"text": "x", "meta": {"a": ' + meta + "}}\n")
    error = refused(project, path)
    assert error.line == 1 and f"more than {formats.MAX_JSON_DEPTH} levels" in error.reason


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused(project: Project, tmp_path: Path, number: str) -> None:
    path = write(tmp_path, "in.jsonl", GOOD_LINE + '{"text": "x", "meta": {"v": ' + number + "}}\n")
    error = refused(project, path)
    assert error.line == 2 and number in error.reason and "NaN or Infinity" in error.reason


def strict_loads(line: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(line, parse_constant=refuse)


def test_export_writes_strict_json_or_refuses(project: Project, tmp_path: Path) -> None:
    project.add_document("Angela Merkel", meta={"score": 0.5})
    out = tmp_path / "out.jsonl"
    export_file(project, out, format="jsonl")
    assert [strict_loads(line) for line in out.read_text().splitlines()]
    bad = project.add_document("Paris", meta={"score": float("nan")})
    for format in ("jsonl", "doccano"):
        with pytest.raises(ExportError, match=f"Document {bad} has NaN or Infinity"):
            export_file(project, out, format=format)
        assert "NaN" not in out.read_text()  # the earlier export is left as it was
    assert not list(tmp_path.glob(".out.jsonl.*.part"))


# -- 4: CoNLL columns are cut at tabs and spaces only ---------------------------------------


@pytest.mark.parametrize(
    "space",
    ["\v", "\f", "\x1c", "\x1f", "\x85", "\xa0", "\u2000", "\u2028", "\u202f", "\u3000"],
    ids=lambda s: f"U+{ord(s):04X}",
)
@pytest.mark.parametrize("layout", ["{t}\tB-PER", "{t} NNP B-NP B-PER"], ids=["2col", "4col"])
def test_other_whitespace_stays_inside_the_token(
    project: Project, tmp_path: Path, space: str, layout: str
) -> None:
    token = f"Jo{space}hn"
    path = write(tmp_path, "in.conll", layout.format(t=token) + "\nsaid\tO\n\n")
    import_file(project, path)
    doc = project.get_document(project.document_ids()[0])
    assert doc["text"] == f"{token} said"
    assert doc["tokens"] == [[0, 5], [6, 10]]
    spans = [(s["start"], s["end"], s["label"]) for s in project.spans(doc["id"])]
    assert spans == [(0, 5, "PER")]
    out = tmp_path / "out.conll"
    export_file(project, out)
    assert out.read_text(encoding="utf-8") == f"{token}\tB-PER\nsaid\tO\n\n"


def test_whitespace_only_lines_still_end_sentences(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "in.conll", "EU\tB-ORG\n\v\nPeter\tB-PER\n\xa0 \nsaid\tO\n")
    assert import_file(project, path).documents == 3


def test_a_no_break_space_in_a_tag_is_named(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "in.conll", "EU\tB-ORG\n\nJohn\tB-PER\xa0SON\n\n")
    error = refused(project, path)
    assert error.line == 3
    assert "no-break space (U+00A0)" in error.reason and "'PER_SON'" in error.reason


# -- 5: scale ---------------------------------------------------------------------------------


def many_labels(tmp_path: Path, n: int) -> Path:
    return write(tmp_path, "labels.conll", "".join(f"w{i}\tB-L{i}\n\n" for i in range(n)))


def test_past_max_labels_the_import_is_refused_quickly(project: Project, tmp_path: Path) -> None:
    from core.store import MAX_LABELS

    error = refused(project, many_labels(tmp_path, MAX_LABELS + 500))
    assert error.line == 2 * MAX_LABELS - 1  # the label that would be one too many
    assert f"at most {MAX_LABELS:,} labels" in error.reason


def test_the_success_line_summarises_many_new_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project_path = tmp_path / "p.spanlab"
    Project.create(project_path).close()
    assert main(["import", str(project_path), str(many_labels(tmp_path, 400))]) == 0
    out = capsys.readouterr().out
    assert "New labels: L0, L1," in out and "L19 … and 380 more." in out
    assert "L20" not in out and len(out) < 400


def test_messages_quote_a_giant_line_briefly(project: Project, tmp_path: Path) -> None:
    giant = "x" * 2_000_000
    cases = {
        "one-column.conll": f"EU\tB-ORG\n\n{giant}\n",
        "bad-tag.conll": f"EU\tB-ORG\n\nEU\tB-{giant}\n",
        "bad-label.jsonl": json.dumps({"text": "ab", "spans": [[0, 2, giant + " x"]]}),
        "store-label.jsonl": json.dumps({"text": "ab", "spans": [[0, 2, giant + "\xa0x"]]}),
        "status.jsonl": json.dumps({"text": "ab", "status": giant}),
    }
    for name, content in cases.items():
        error = refused(project, write(tmp_path, name, content))
        assert error.line in (1, 3), name
        assert len(str(error)) < 600, name


@pytest.fixture
def small_documents(monkeypatch: pytest.MonkeyPatch) -> int:
    """A document limit of 1,000 characters, so the tests need no 10 MB files."""
    monkeypatch.setattr(formats_common, "MAX_DOCUMENT_CHARS", 1000)
    monkeypatch.setattr(formats_common, "MAX_JSONL_LINE_CHARS", 4000)
    return 1000


@pytest.mark.parametrize("ending", ["\n", ""], ids=["newline", "last-line"])
def test_a_text_line_over_the_limit_is_refused(
    project: Project, tmp_path: Path, small_documents: int, ending: str
) -> None:
    fits = write(tmp_path, "fits.txt", "a\n" + "b" * small_documents + ending)
    assert import_file(project, fits).documents == 2
    path = write(tmp_path, "in.txt", "a\nb\n" + "c" * (small_documents + 1) + ending)
    error = refused(project, path)
    assert error.line == 3 and f"{small_documents:,} characters" in error.reason


def test_a_jsonl_text_or_line_over_the_limit_is_refused(
    project: Project, tmp_path: Path, small_documents: int
) -> None:
    long_text = json.dumps({"text": "a" * (small_documents + 1)})
    error = refused(project, write(tmp_path, "text.jsonl", GOOD_LINE + long_text + "\n"))
    assert error.line == 2 and f"{small_documents:,} characters" in error.reason
    long_line = json.dumps({"text": "a", "meta": {"x": "y" * 5000}})
    error = refused(project, write(tmp_path, "line.jsonl", GOOD_LINE + long_line + "\n"))
    assert error.line == 2 and "4,000 characters" in error.reason


def test_a_conll_line_or_sentence_over_the_limit_is_refused(
    project: Project, tmp_path: Path, small_documents: int
) -> None:
    long_line = "w" * (small_documents + 1) + "\tO\n"
    error = refused(project, write(tmp_path, "line.conll", EN_CONLL + long_line))
    assert error.line == EN_CONLL.count("\n") + 1
    sentence = "word\tO\n" * (small_documents // 4)
    error = refused(project, write(tmp_path, "sentence.conll", EN_CONLL + sentence))
    assert error.line == EN_CONLL.count("\n") + 1 and "sentence" in error.reason


def test_a_folder_a_device_and_a_pipe_are_refused_up_front(
    project: Project, tmp_path: Path
) -> None:
    assert "folder" in refused(project, tmp_path).reason
    assert "not a regular file" in refused(project, Path(os.devnull)).reason
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    caught: list[BaseException] = []
    # On a thread of its own (with its own connection): it must return at once instead
    # of waiting for a writer on the pipe.
    worker = threading.Thread(target=_import_into, args=(project.path, fifo, caught), daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # let the blocked open() go, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=10)
        pytest.fail("importing a pipe blocked")
    assert len(caught) == 1 and isinstance(caught[0], ImportFormatError), caught
    assert "pipe" in str(caught[0])


def _import_into(project_path: Path, path: Path, caught: list[BaseException]) -> None:
    try:
        with Project.open(project_path) as project:
            import_file(project, path)
    except BaseException as error:  # noqa: BLE001 - handed to the test's thread
        caught.append(error)


def test_the_project_file_itself_is_refused(project: Project) -> None:
    assert "project's own file" in refused(project, project.path, format="text").reason


# -- 7: messages ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16"])
def test_utf16_is_named(project: Project, tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, "in.conll", EN_CONLL.encode(encoding))
    error = refused(project, path)
    assert error.line == 1 and "UTF-16" in error.reason and "UTF-8" in error.hint


def test_a_binary_file_is_named(project: Project, tmp_path: Path) -> None:
    path = write(tmp_path, "in.txt", b"some text\nmore text\n\x00\x01\x02 binary stuff" * 3)
    error = refused(project, path)
    assert error.line == 3 and "binary" in error.reason


@pytest.mark.parametrize(
    ("name", "content", "format"),
    [("in.txt", "\n  \n\n", "text"), ("in.jsonl", "\n\n", "jsonl")],
)
def test_a_blank_file_says_so_in_its_own_terms(
    project: Project, tmp_path: Path, name: str, content: str, format: str
) -> None:
    error = refused(project, write(tmp_path, name, content), format=format)
    assert "only blank lines" in error.reason and "DOCSTART" not in str(error)


# -- 8: export keeps files as they were, and reading errors are clear ---------------------------


@pytest.fixture
def annotated(project: Project, tmp_path: Path) -> Project:
    import_file(project, write(tmp_path, "in.conll", EN_CONLL))
    return project


def leftovers(folder: Path) -> list[Path]:
    return list(folder.glob(".*.part"))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_export_keeps_the_old_files_permissions(
    annotated: Project, tmp_path: Path, mode: int
) -> None:
    out = tmp_path / "out.conll"
    out.write_text("old")
    out.chmod(mode)
    export_file(annotated, out)
    assert stat.S_IMODE(out.stat().st_mode) == mode and out.read_text() == EN_CONLL


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_export_follows_the_umask(
    annotated: Project, tmp_path: Path, umask: int, mode: int
) -> None:
    old = os.umask(umask)
    try:
        export_file(annotated, tmp_path / "out.conll")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.conll").stat().st_mode) == mode


def test_export_refuses_a_read_only_file(annotated: Project, tmp_path: Path) -> None:
    out = tmp_path / "out.conll"
    out.write_text("keep me")
    out.chmod(0o444)
    with pytest.raises(ExportError, match="read-only"):
        export_file(annotated, out)
    assert out.read_text() == "keep me" and not leftovers(tmp_path)


def test_export_through_a_symlink_replaces_its_target(annotated: Project, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "real.conll"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.conll"
    link.symlink_to(target)
    export_file(annotated, link)
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text() == EN_CONLL and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert not leftovers(tmp_path) and not leftovers(target.parent)


def test_export_into_a_folder_it_cannot_write(
    annotated: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def denied(path: str, *args: object, **kwargs: object) -> int:
        if str(path).endswith(".part"):  # as a read-only folder does (root is never denied)
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(ExportError) as caught:
        export_file(annotated, tmp_path / "out.conll")
    assert "Permission denied" in str(caught.value) and "writable" in str(caught.value)
    assert not (tmp_path / "out.conll").exists() and not leftovers(tmp_path)


def test_export_on_a_full_disk_leaves_nothing_behind(
    annotated: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.conll"
    out.write_text("old")

    def full(stream: io.TextIOBase, doc: dict, spans: list[dict]) -> None:
        stream.write("EU\tB-ORG\n")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setitem(formats_export._WRITERS, "conll", full)
    with pytest.raises(ExportError) as caught:
        export_file(annotated, out)
    message = str(caught.value)
    assert "No space left on device" in message and "free some space" in message
    assert out.read_text() == "old" and not leftovers(tmp_path)


def test_the_cli_prints_one_line_for_an_export_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project_path = tmp_path / "p.spanlab"
    Project.create(project_path).close()
    out = tmp_path / "out.conll"
    out.write_text("")
    out.chmod(0o444)
    assert main(["export", str(project_path), str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "read-only" in err and "Traceback" not in err


class _FailingFile(io.FileIO):
    def readinto(self, buffer: object) -> int:
        raise OSError(errno.EIO, os.strerror(errno.EIO))


def test_a_read_error_is_reported(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "in.conll", EN_CONLL)

    def failing_open(file: object, *args: object, **kwargs: object) -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BufferedReader(_FailingFile(file)), encoding="utf-8-sig")

    monkeypatch.setattr(formats_common, "open", failing_open, raising=False)
    error = refused(project, path, format="conll")
    assert "cannot read it (Input/output error)" in error.reason
