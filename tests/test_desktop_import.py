"""Import and export through the dialogs' worker: progress, errors with file and line,
nothing half-imported, and the GUI re-reads the project afterwards."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QWidget

from desktop.controller import ProjectController
from desktop.document_list import DocumentList
from desktop.transfer import ExportDialog, ImportDialog, Transfers

from annotate_support import collect_errors, make_project


@pytest.fixture
def setup(qtbot, tmp_path):
    controller = ProjectController()
    controller.set_project(make_project(tmp_path))
    window = QWidget()
    qtbot.addWidget(window)
    docs = DocumentList(controller, window)
    transfers = Transfers(controller, window)
    errors = collect_errors(controller)
    messages: list[str] = []
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
        "text_key": None,
    }  # fmt: skip
    export = ExportDialog(None, "/data/out.conll")
    qtbot.addWidget(export)
    export.format.setCurrentIndex(export.format.findData("doccano"))
    assert export.path() == "/data/out.jsonl"
    assert export.options() == {"format": "doccano", "split": None}


# -- through the main window's File menu, as a person does ---------------------------------


@pytest.fixture
def window(qtbot, tmp_path, isolated_settings):
    from desktop.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.adopt_project(make_project(tmp_path))
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()


def file_action(window, text: str):
    file_menu = window.menuBar().actions()[0].menu()
    return next(a for a in file_menu.actions() if a.text().replace("&", "") == text)


def export_through_the_menu(qtbot, window, out, fmt: str | None = None) -> None:
    """File ▸ Export annotations…: type ``out`` into the dialog (choosing ``fmt`` when
    given, else leaving the format box alone), click Export, wait for the export."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    def answer() -> None:
        shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, ExportDialog)]
        dialog = next(w for w in shown if w.isVisible())
        if fmt is not None:
            dialog.format.setCurrentIndex(dialog.format.findData(fmt))
        dialog.file.edit.clear()
        QTest.keyClicks(dialog.file.edit, str(out))
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
        QTest.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, answer)
    with qtbot.waitSignal(window.transfers.finished, timeout=10_000):
        file_action(window, "Export annotations…").trigger()


def answer_import_dialog(path, tries: int = 200) -> list[ImportDialog]:
    """Once the (modal) import dialog is up, type ``path`` into it and click Import."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QDialogButtonBox

    seen: list[ImportDialog] = []

    def answer(left: int) -> None:
        shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, ImportDialog)]
        shown = [w for w in shown if w.isVisible()]
        if not shown:
            if left:
                QTimer.singleShot(10, lambda: answer(left - 1))
            return
        dialog = shown[0]
        seen.append(dialog)
        QTest.keyClicks(dialog.file.edit, str(path))
        buttons = dialog.findChild(QDialogButtonBox)
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        QTest.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, lambda: answer(tries))
    return seen


def two_documents(tmp_path):
    path = tmp_path / "two.jsonl"
    lines = [
        {"text": "Anna Berg lives in Oslo.", "spans": [{"start": 0, "end": 9, "label": "PER"}]},
        {"text": "Kora Solar is in Ghana.", "spans": [{"start": 17, "end": 22, "label": "LOC"}]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_file_menu_import_opens_the_dialog_and_imports(qtbot, tmp_path, window) -> None:
    project = window.controller.project
    before = project.count_documents()
    seen = answer_import_dialog(two_documents(tmp_path))
    with qtbot.waitSignal(window.transfers.finished, timeout=10_000) as done:
        file_action(window, "Import documents…").trigger()
    assert len(seen) == 1 and seen[0].path().endswith("two.jsonl")
    assert window.errors.messages == []
    assert done.args[0].startswith("Imported 2 documents")
    assert project.count_documents() == before + 2
    assert project.count_documents(search="Kora") == 1
    qtbot.waitUntil(lambda: window.annotate.documents.model.rowCount() == before + 2)
    assert window.statusBar().currentMessage().startswith("Imported 2 documents")


def test_ctrl_i_opens_the_import_dialog(qtbot, tmp_path, window) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    project = window.controller.project
    before = project.count_documents()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    seen = answer_import_dialog(two_documents(tmp_path))
    with qtbot.waitSignal(window.transfers.finished, timeout=10_000):
        QTest.keyClick(
            window.annotate.annotator.view, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier
        )
    assert len(seen) == 1
    assert window.errors.messages == []
    assert project.count_documents() == before + 2


def test_export_from_the_file_menu(qtbot, tmp_path, window) -> None:
    out = tmp_path / "out.jsonl"
    export_through_the_menu(qtbot, window, out, "jsonl")
    assert len(out.read_text("utf-8").splitlines()) == 4


def test_edits_after_a_menu_export_and_another_reader_reach_the_file(
    qtbot, tmp_path, window
) -> None:
    """The app keeps its write-ahead log through an export and a second process's read:
    an edit made afterwards is in the file that a new process opens."""
    import subprocess
    import sys
    from pathlib import Path

    from process_support import spanlab

    project = window.controller.project
    export_through_the_menu(qtbot, window, tmp_path / "out.conll")
    stats = spanlab("stats", str(project.path))  # another process reads the project
    assert stats.returncode == 0, stats.stderr
    doc = project.add_document("Zed met Yan .")  # an edit the GUI thread commits
    reader = (  # plain SQLite, read-only: what any other program would see
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n"
        "print(conn.execute('SELECT text FROM documents WHERE id = ?', [sys.argv[2]]).fetchone()[0])"
    )
    seen = subprocess.run(
        [sys.executable, "-c", reader, str(project.path), str(doc)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.strip() == "Zed met Yan ."
    assert Path(f"{project.path}-wal").exists()


# -- the import is a long write job: the GUI refuses edits instead of freezing -------------


def test_an_edit_during_a_slow_import_is_refused_at_once(
    qtbot, tmp_path, window, monkeypatch
) -> None:
    import sqlite3
    import threading

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from desktop import transfer

    from annotate_support import drag_select, human_spans

    holding, release = threading.Event(), threading.Event()
    real_import = transfer.import_file

    def slow_import(project, path, *, should_stop, **options):
        """The real import, which waits inside its transaction after the first document."""
        calls = 0

        def stop_after_waiting() -> bool:
            nonlocal calls
            calls += 1
            if calls == 2:  # the first document is written: the write lock is held
                holding.set()
                assert release.wait(20), "the test never released the import"
            return should_stop()

        return real_import(project, path, should_stop=stop_after_waiting, **options)

    monkeypatch.setattr(transfer, "import_file", slow_import)
    controller, project = window.controller, window.controller.project
    annotator = window.annotate.annotator
    doc_id = project.document_ids()[0]
    annotator.open_document(doc_id)
    drag_select(annotator.view, 0, 5)  # "Maria"
    QTest.keyClicks(annotator.view, "1")  # one edit before: Ctrl+Z has something to undo
    spans_before = project.spans(doc_id)
    documents_before = project.count_documents()
    path = tmp_path / "slow.jsonl"
    path.write_text(
        "".join(json.dumps({"text": f"Document {i} of the slow file."}) + "\n" for i in range(3)),
        encoding="utf-8",
    )
    answer_import_dialog(path)
    file_action(window, "Import documents…").trigger()
    qtbot.waitUntil(holding.is_set, timeout=10_000)
    try:
        other = sqlite3.connect(project.path, timeout=0)  # the import really holds the lock
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
        assert controller.write_block_reason() == "The import of slow.jsonl"

        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=2000)
        drag_select(annotator.view, 25, 34)  # snaps to "bakery in Porto"
        QTest.keyClicks(annotator.view, "3")
        assert window.statusBar().currentMessage() == (
            "The import of slow.jsonl is writing to the project: this edit was not made. "
            "Try again when it has finished."
        )
        QTest.keyClick(annotator.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert (
            window.statusBar()
            .currentMessage()
            .startswith("The import of slow.jsonl is writing to the project: nothing was undone.")
        )
        assert project.spans(doc_id) == spans_before
        assert window.errors.messages == []  # a note in the status line, no dialog
    finally:
        release.set()
    with qtbot.waitSignal(controller.writes_unblocked, timeout=10_000):
        pass
    qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith("Imported 3"))
    assert controller.write_block_reason() is None
    assert project.count_documents() == documents_before + 3
    assert annotator.view.selected_range() == (21, 36)  # the words are still selected
    QTest.keyClicks(annotator.view, "3")  # the person tries again: now the edit is made
    assert (21, 36, "LOC") in human_spans(project, doc_id)
    assert window.errors.messages == []


def test_a_typed_jsonl_name_exports_json_lines(qtbot, tmp_path, window) -> None:
    import json

    out = tmp_path / "typed.jsonl"
    export_through_the_menu(qtbot, window, out)  # the format is left as it was
    lines = out.read_text("utf-8").splitlines()
    assert len(lines) == 4 and all("text" in json.loads(line) for line in lines)
