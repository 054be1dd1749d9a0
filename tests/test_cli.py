"""The ``spanlab`` command line, run in-process: exit codes, messages, stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import format_stats, main, project_path
from core.store import Project

from formats_support import EN_CONLL, ZH_CONLL, snapshot, write


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with three labels; returns its path."""
    assert main(["init", str(tmp_path / "demo"), "--labels", "PER,ORG,LOC"]) == 0
    return tmp_path / "demo.spanlab"


def test_init_creates_the_project_with_its_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["init", str(tmp_path / "new"), "--labels", "PER, ORG"]) == 0
    assert "Created" in capsys.readouterr().out
    with Project.open(tmp_path / "new.spanlab") as opened:
        assert [lb["name"] for lb in opened.labels()] == ["PER", "ORG"]


def test_init_refuses_an_existing_file(project: Path, capsys: pytest.CaptureFixture) -> None:
    capsys.readouterr()
    assert main(["init", str(project)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("spanlab: error: ") and "already exists" in err


def test_import_export_round_trip(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = write(tmp_path, "in.conll", EN_CONLL + ZH_CONLL)
    assert main(["import", str(project), str(source), "--split", "train"]) == 0
    out = capsys.readouterr().out
    assert "Imported 6 documents with 10 entities" in out and "IOB2" in out
    assert "New labels: MISC, PROD." in out
    exported = tmp_path / "out.conll"
    assert main(["export", str(project), str(exported), "--split", "train"]) == 0
    assert exported.read_bytes() == source.read_bytes()
    assert main(["export", str(project), str(tmp_path / "dev.conll"), "--split", "dev"]) == 0
    assert (tmp_path / "dev.conll").read_bytes() == b""


def test_import_jsonl_and_export_doccano(project: Path, tmp_path: Path) -> None:
    line = {"text": "张三在北京。", "spans": [{"start": 0, "end": 2, "label": "PER"}]}
    source = write(tmp_path, "in.jsonl", json.dumps(line, ensure_ascii=False) + "\n")
    assert main(["import", str(project), str(source), "--lock-labels"]) == 0
    out = tmp_path / "out.jsonl"
    assert main(["export", str(project), str(out), "--format", "doccano"]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == {
        "text": "张三在北京。",
        "label": [[0, 2, "PER"]],
    }


def test_import_error_goes_to_stderr_and_writes_nothing(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = write(tmp_path, "bad.conll", "in\tO\nParis\tI-LOC\n\n")
    with Project.open(project) as opened:
        before = snapshot(opened)
    capsys.readouterr()
    assert main(["import", str(project), str(bad), "--scheme", "iob2"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"spanlab: error: {bad}:2: I-LOC follows O")
    with Project.open(project) as opened:
        assert snapshot(opened) == before
    assert main(["import", str(project), str(bad), "--scheme", "iob2", "--lenient"]) == 0


def test_locked_labels_on_the_command_line(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source = write(tmp_path, "in.conll", EN_CONLL)
    assert main(["import", str(project), str(source), "--lock-labels"]) == 1
    assert "unknown label 'MISC'" in capsys.readouterr().err


def test_missing_project(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["stats", str(tmp_path / "nope")]) == 1
    assert "spanlab init" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["import", "p.spanlab"],  # FILE missing
        ["import", "p.spanlab", "f.conll", "--format", "xml"],
        ["export", "p.spanlab", "f", "--split", "training"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("init", "import", "export", "stats"))


def test_stats_json_and_table(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main(["import", str(project), str(write(tmp_path, "en.conll", EN_CONLL)), "--split", "train"])
    main(["import", str(project), str(write(tmp_path, "zh.conll", ZH_CONLL)), "--split", "dev"])
    capsys.readouterr()
    assert main(["stats", str(project), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["documents"] == 6
    assert stats["splits"]["train"]["entities"]["ORG"] == 2
    assert stats["splits"]["dev"]["entities"]["ORG"] == 2
    assert stats["splits"]["dev"]["annotated"] == 3
    assert main(["stats", str(project)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "demo.spanlab: 6 documents"
    assert table[1].split() == ["train", "dev", "test", "unassigned", "total"]
    assert table[2].split() == ["documents", "3", "3", "0", "0", "6"]
    assert "  ORG" in "\n".join(table) and any(r.split()[0] == "PROD" for r in table[4:])


def test_format_stats_without_labels() -> None:
    empty = {"documents": 0, "labels": [], "splits": {}}
    empty["splits"] = {
        s: {"documents": 0, "annotated": 0, "entities": {}}
        for s in ("train", "dev", "test", "unassigned")
    }
    assert "No labels yet" in format_stats(empty)


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    """Opening the app is desktop.launch's job: core never imports the GUI."""
    assert main([]) == 2
    assert "choose a command" in capsys.readouterr().err


def test_project_path_adds_the_suffix() -> None:
    assert project_path("demo") == Path("demo.spanlab")
    assert project_path("dir/demo.spanlab") == Path("dir/demo.spanlab")
