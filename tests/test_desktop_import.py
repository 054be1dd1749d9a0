"""Import and export through the dialogs' worker: progress, errors with file and line,
nothing half-imported, and the GUI re-reads the project afterwards."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QWidget

from desktop.controller import ProjectController
from desktop.document_list import DocumentList
from desktop.transfer import ExportDialog, ImportDialog, Transfers

from annotate_support import make_project


@pytest.fixture
def setup(qtbot, tmp_path):
    controller = ProjectController()
    controller.set_project(make_project(tmp_path))
    window = QWidget()
    qtbot.addWidget(window)
    docs = DocumentList(controller, window)
    transfers = Transfers(controller, window)
    errors: list[str] = []
    messages: list[str] = []
    controller.error.connect(errors.append)
    transfers.finished.connect(messages.append)
    yield controller, transfers, docs, errors, messages
    controller.close_project()


def wait_done(qtbot, worker) -> None:
    assert worker is not None
    with qtbot.waitSignal(worker.finished, timeout=10000):
        pass


def test_jsonl_import_lands_and_the_list_refreshes(qtbot, tmp_path, setup) -> None:
    controller, transfers, docs, errors, messages = setup
    path = tmp_path / "new.jsonl"
    lines = [
        {"text": "Anna Berg lives in Oslo.", "spans": [{"start": 0, "end": 9, "label": "PER"}]},
        {"text": "Kora Solar is in Ghana.", "spans": [{"start": 0, "end": 10, "label": "COMPANY"}]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    worker = transfers.start_import(str(path), {"split": "dev"})
    wait_done(qtbot, worker)
    assert errors == []
    assert controller.project.count_documents() == 6
    assert controller.project.count_documents(split="dev") == 2
    assert docs.model.rowCount() == 6
    assert "COMPANY" in [row["name"] for row in controller.labels()]
    assert messages and messages[-1].startswith("Imported 2 documents")


def test_bad_file_shows_file_line_reason_and_changes_nothing(qtbot, tmp_path, setup) -> None:
    controller, transfers, docs, errors, _ = setup
    before = controller.project.count_documents()
    path = tmp_path / "bad.conll"
    path.write_text("Anna B-PER\nBerg I-PER\n\nin O\nOslo I-LOC\n", encoding="utf-8")
    worker = transfers.start_import(str(path), {"scheme": "iob2"})
    wait_done(qtbot, worker)
    assert len(errors) == 1
    assert f"File: {path}" in errors[0] and "Line: " in errors[0] and "Reason: " in errors[0]
    assert controller.project.count_documents() == before
    assert transfers.worker is None and transfers.progress is None


def test_cancel_leaves_the_project_unchanged(qtbot, tmp_path, setup) -> None:
    controller, transfers, _, errors, messages = setup
    before = controller.project.count_documents()
    path = tmp_path / "many.txt"
    path.write_text("".join(f"Line number {i} of the text.\n" for i in range(5000)), "utf-8")
    worker = transfers.start_import(str(path))
    worker.quit()  # as the progress dialog's Cancel button does
    wait_done(qtbot, worker)
    assert errors == []
    assert controller.project.count_documents() == before
    assert messages == ["Import cancelled; the project is unchanged."]


def test_export_writes_the_file(qtbot, tmp_path, setup) -> None:
    controller, transfers, _, errors, messages = setup
    out = tmp_path / "out.jsonl"
    worker = transfers.start_export(str(out), {"format": "jsonl"})
    wait_done(qtbot, worker)
    assert errors == []
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(rows) == 4
    assert messages[-1].startswith("Exported 4 documents")


def test_dialogs_hand_over_their_options(qtbot) -> None:
    dialog = ImportDialog(None, "/data/x.conll")
    qtbot.addWidget(dialog)
    dialog.split.setCurrentIndex(dialog.split.findData("train"))
    dialog.lock_labels.setChecked(True)
    assert dialog.path() == "/data/x.conll"
    assert dialog.options() == {
        "format": None, "split": "train", "scheme": "auto", "lock_labels": True,
    }  # fmt: skip
    export = ExportDialog(None, "/data/out.conll")
    qtbot.addWidget(export)
    export.format.setCurrentIndex(export.format.findData("doccano"))
    assert export.path() == "/data/out.jsonl"
    assert export.options() == {"format": "doccano", "split": None}
